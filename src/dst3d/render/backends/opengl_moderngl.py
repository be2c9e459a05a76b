"""The OpenGL backend's implementation: moderngl on a headless EGL context, milliseconds per view.

Same camera (K, R, t from camera.py), same light model as the Cycles backend (one shadowless sun plus a
uniform ambient: linear = albedo * (ambient + E / pi * max(0, n . l)), then sRGB), flat face normals
turned towards the camera (Cycles shades back faces the same way), face colours from the mesh.
Two passes per view: a multisampled colour pass (anti-aliased RGBA, alpha = coverage) and a
single-sample pass that writes the planar camera depth to a float target (the mask and the depth must
not be averaged across the silhouette). Only render worker processes import this module, through
:func:`.opengl.open`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import moderngl
import numpy as np

from dst3d.render.backends import Mesh
from dst3d.render.params import RenderConfig
from dst3d.render.plan import ViewSpec

if TYPE_CHECKING:  # the light module imports this one lazily, in open()
    from dst3d.render.backends.opengl import Params

NEAR, FAR = 0.01, 1000.0

_VERTEX = """
#version 330
uniform mat4 proj;     // OpenCV camera -> clip, built from K
uniform mat3 R;
uniform vec3 t;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
out vec3 v_normal;
out vec3 v_color;
out vec3 v_world;
out float v_z;
void main() {
    vec3 cam = R * in_pos + t;
    v_normal = in_normal;
    v_color = in_color;
    v_world = in_pos;
    v_z = cam.z;
    gl_Position = proj * vec4(cam, 1.0);
}
"""

_SHADE = """
#version 330
uniform vec3 cam_center;
uniform vec3 sun_dir;
uniform float sun_strength;
uniform float ambient;
in vec3 v_normal;
in vec3 v_color;
in vec3 v_world;
in float v_z;
out vec4 f_color;
vec3 srgb(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    return mix(12.92 * c, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c));
}
void main() {
    vec3 n = normalize(v_normal);
    if (dot(n, cam_center - v_world) < 0.0) n = -n;
    vec3 lin = v_color * (ambient + sun_strength / 3.14159265 * max(dot(n, sun_dir), 0.0));
    f_color = vec4(srgb(lin), 1.0);
}
"""

_DEPTH = """
#version 330
in vec3 v_normal;
in vec3 v_color;
in vec3 v_world;
in float v_z;
out float f_depth;
void main() { f_depth = v_z; }
"""


def projection(K: np.ndarray, width: int, height: int) -> np.ndarray:
    """OpenCV camera coordinates -> clip space, with NDC y = 2 v / H - 1 (rows read back top-first)."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    return np.array(
        [
            [2 * fx / width, 0.0, 2 * cx / width - 1.0, 0.0],
            [0.0, 2 * fy / height, 2 * cy / height - 1.0, 0.0],
            [0.0, 0.0, (FAR + NEAR) / (FAR - NEAR), -2 * FAR * NEAR / (FAR - NEAR)],
            [0.0, 0.0, 1.0, 0.0],
        ]
    )


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    n = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    length = np.linalg.norm(n, axis=1, keepdims=True)
    return n / np.where(length > 0, length, 1.0)


class OpenGLBackend:
    """Renders RGBA + planar depth with moderngl (EGL, no display needed)."""

    name = "opengl"
    transparent = True
    # The single-sample depth pass is an exact pixel-centre raster; the 4x MSAA alpha (llvmpipe's maximum)
    # only knows 0, 1/4, ... 1 and would round every half-covered pixel one way.
    mask_from_depth = True

    def __init__(self, params: Params, cfg: RenderConfig) -> None:
        self.params = params
        self.cfg = cfg
        try:
            self.ctx = moderngl.create_standalone_context(backend="egl")
        except Exception as err:  # no EGL driver: say what is missing
            raise RuntimeError(
                f"opengl backend: cannot create a headless EGL context ({err}); install an EGL "
                "driver (e.g. libegl1 + mesa) or use backend 'blenderproc'"
            ) from None
        self.shade = self.ctx.program(vertex_shader=_VERTEX, fragment_shader=_SHADE)
        self.depth = self.ctx.program(vertex_shader=_VERTEX, fragment_shader=_DEPTH)
        w, h = cfg.width, cfg.height
        samples = min(params.msaa, self.ctx.max_samples) if params.msaa > 1 else 0
        self.fbo_ms = self.ctx.framebuffer(
            color_attachments=[self.ctx.renderbuffer((w, h), 4, samples=samples)],
            depth_attachment=self.ctx.depth_renderbuffer((w, h), samples=samples),
        )
        self.fbo_rgba = self.ctx.framebuffer(color_attachments=[self.ctx.renderbuffer((w, h), 4)])
        self.fbo_depth = self.ctx.framebuffer(
            color_attachments=[self.ctx.renderbuffer((w, h), 1, dtype="f4")],
            depth_attachment=self.ctx.depth_renderbuffer((w, h)),
        )
        self.ctx.enable(moderngl.DEPTH_TEST)

    def _vaos(self, mesh: Mesh) -> tuple[moderngl.Buffer, list[moderngl.VertexArray]]:
        vertices, faces, colors = mesh
        tri = vertices[faces].reshape(-1, 3)
        normals = np.repeat(face_normals(vertices, faces), 3, axis=0)
        cols = np.repeat(np.clip(colors[:, :3], 0.0, 1.0), 3, axis=0)  # MTL Kd is linear, as Blender reads it
        data = np.hstack([tri, normals, cols]).astype("f4")
        vbo = self.ctx.buffer(data.tobytes())
        vaos = [
            self.ctx.vertex_array(self.shade, [(vbo, "3f 3f 3f", "in_pos", "in_normal", "in_color")]),
            # the depth program's linker drops the unused attributes: skip their bytes
            self.ctx.vertex_array(self.depth, [(vbo, "3f 6x4", "in_pos")]),
        ]
        return vbo, vaos

    def render(
        self, mesh_path: Path, mesh: Mesh, views: list[ViewSpec]
    ) -> Iterator[tuple[ViewSpec, np.ndarray, np.ndarray]]:
        if not views:
            return
        vbo, (vao_shade, vao_depth) = self._vaos(mesh)
        try:
            for view in views:
                yield (view, *self.render_view(view, vao_shade, vao_depth))
        finally:
            vao_shade.release()
            vao_depth.release()
            vbo.release()

    def render_view(
        self, view: ViewSpec, vao_shade: moderngl.VertexArray, vao_depth: moderngl.VertexArray
    ) -> tuple[np.ndarray, np.ndarray]:
        K, R, t = (np.asarray(x, dtype=np.float64) for x in (view.K, view.R, view.t))
        w, h = view.width, view.height
        proj = projection(K, w, h).astype("f4")
        for prog in (self.shade, self.depth):
            prog["proj"].write(proj.T.copy().tobytes())  # GLSL matrices are column-major
            prog["R"].write(R.astype("f4").T.copy().tobytes())
            prog["t"].value = tuple(float(x) for x in t)
        light = view.lighting
        self.shade["cam_center"].value = tuple(float(x) for x in -R.T @ t)
        self.shade["sun_dir"].value = tuple(float(x) for x in light.sun_direction)
        self.shade["sun_strength"].value = float(light.sun_strength)
        self.shade["ambient"].value = float(light.ambient)

        self.fbo_ms.use()
        self.fbo_ms.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        vao_shade.render(moderngl.TRIANGLES)
        self.ctx.copy_framebuffer(self.fbo_rgba, self.fbo_ms)  # MSAA resolve: alpha = coverage
        rgba = np.frombuffer(self.fbo_rgba.read(components=4, alignment=1), np.uint8).reshape(h, w, 4)

        self.fbo_depth.use()
        self.fbo_depth.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        vao_depth.render(moderngl.TRIANGLES)
        depth = np.frombuffer(self.fbo_depth.read(components=1, dtype="f4", alignment=1), np.float32).reshape(
            h, w
        )
        depth = np.where(depth > 0, depth, np.inf).astype(np.float32)
        return rgba.copy(), depth

    def close(self) -> None:
        self.ctx.release()
