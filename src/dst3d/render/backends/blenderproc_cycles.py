"""The BlenderProc backend's implementation: Cycles (CPU, or GPU where present) through BlenderProc 2.8.

Only render worker processes import this module (it imports bpy), through :func:`.blenderproc.open`.
All views of one mesh are rendered in one ``bproc.renderer.render()`` call: camera pose, sun, ambient
level and the Cycles seed are keyframed per frame, so each view keeps its own seeded noise and light
however the views are batched.
Views with a world map change the world image, which cannot be keyframed: they render one per call.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dst3d.render import blender_shim
from dst3d.render.backends import Mesh
from dst3d.render.params import RenderConfig
from dst3d.render.plan import ViewSpec
from dst3d.render.sampling import world_maps

if TYPE_CHECKING:  # the light module imports this one lazily, in open()
    from dst3d.render.backends.blenderproc import Params

bproc = blender_shim.import_blenderproc()
import bpy  # noqa: E402  (after the shim has made BlenderProc importable)

_FLIP_YZ = np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV camera axes -> Blender camera axes


def cam_to_world_blender(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 camera->world matrix in Blender's camera convention (x right, y up, looking down -z)."""
    T = np.eye(4)
    T[:3, :3] = R.T
    T[:3, 3] = -R.T @ t
    return T @ _FLIP_YZ


def blenderproc_K(K: np.ndarray) -> np.ndarray:
    """Our K (pixel centres at +0.5, camera.py) in BlenderProc's convention (pixel centres at integers).

    BlenderProc maps cx = (W - 1) / 2 to a centred principal point; without this shift every render
    would sit half a pixel off its annotation (the geometric-truth test catches it).
    """
    Kb = np.array(K, dtype=np.float64)
    Kb[0, 2] -= 0.5
    Kb[1, 2] -= 0.5
    return Kb


def sun_rotation(direction: np.ndarray) -> np.ndarray:
    """Rotation whose local +z is ``direction`` (a Blender sun shines along its local -z)."""
    z = direction / np.linalg.norm(direction)
    helper = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


class BlenderProcBackend:
    """Renders RGBA (or RGB over a world map), planar depth; Lambertian materials, seeded lights."""

    name = "blenderproc"

    def __init__(self, params: Params, cfg: RenderConfig, threads: int = 0) -> None:
        self.params = params
        self.cfg = cfg
        self.transparent = not cfg.light.hdr_background
        # alpha >= 0.5 (Cycles' filtered coverage) unless a visible world map makes alpha 1 everywhere
        self.mask_from_depth = not self.transparent
        blender_shim.init(use_gpu=params.device != "cpu", require_gpu=params.device == "gpu")
        scene = bpy.context.scene
        bproc.renderer.set_max_amount_of_samples(params.samples)
        bproc.renderer.set_noise_threshold(0)  # fixed sample count: reproducible and comparable timings
        bproc.renderer.set_denoiser(None)  # BlenderProc's compositor denoiser off; Cycles' own OIDN below
        scene.cycles.use_denoising = params.denoise != "none"
        bpy.context.view_layer.cycles.use_denoising = params.denoise != "none"
        if params.denoise != "none":
            scene.cycles.denoiser = "OPENIMAGEDENOISE"
            # 'ACCURATE' (Blender's default) first denoises the albedo and normal passes too: measured here
            # ~1.3 s per 256 px view on 2 cores, against ~0.05 s for 'FAST'.
            scene.cycles.denoising_prefilter = "ACCURATE" if params.denoise == "accurate" else "FAST"
        b = params.max_bounces
        bproc.renderer.set_light_bounces(
            diffuse_bounces=b,
            glossy_bounces=b,
            max_bounces=b,
            transmission_bounces=b,
            transparent_max_bounces=8,
        )
        bproc.renderer.set_cpu_threads(threads)
        bproc.renderer.set_output_format(
            file_format="PNG", color_depth=8, enable_transparency=self.transparent, view_transform="Standard"
        )  # plain sRGB, as the opengl backend
        bproc.renderer.enable_depth_output(activate_antialiasing=False)  # planar z, one sample per pixel
        self.sun = bproc.types.Light(light_type="SUN", name="dst3d_sun")
        self.sun.blender_obj.data.use_shadow = (
            False  # n.l only, like the opengl backend: no cast-shadow edges
        )
        self.sun.blender_obj.data.angle = 0.0
        self._world_nodes()
        self._maps = world_maps()

    def _world_nodes(self) -> None:
        world = bpy.context.scene.world
        world.use_nodes = True
        nodes, links = world.node_tree.nodes, world.node_tree.links
        self.background = next(n for n in nodes if n.type == "BACKGROUND")
        self.env = nodes.new("ShaderNodeTexEnvironment")
        self.mapping = nodes.new("ShaderNodeMapping")
        coords = nodes.new("ShaderNodeTexCoord")
        links.new(coords.outputs["Generated"], self.mapping.inputs["Vector"])
        links.new(self.mapping.outputs["Vector"], self.env.inputs["Vector"])
        self.links = links
        self._uniform_world()

    def _uniform_world(self) -> None:
        for link in list(self.background.inputs["Color"].links):
            self.links.remove(link)
        self.background.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)

    def _map_world(self, name: str, strength: float, rotation: float) -> None:
        self.env.image = bpy.data.images.load(str(self._maps[name]), check_existing=True)
        self.links.new(self.env.outputs["Color"], self.background.inputs["Color"])
        self.background.inputs["Strength"].default_value = strength
        self.mapping.inputs["Rotation"].default_value = (0.0, 0.0, rotation)

    def _load(self, mesh_path: Path) -> list:
        objs = bproc.loader.load_obj(
            str(mesh_path), forward_axis="Y", up_axis="Z"
        )  # the file is z-up already
        for obj in objs:
            for mat in obj.get_materials():
                if mat is None:
                    continue
                # Lambertian, like the opengl backend: no specular highlights to leak into the edge maps.
                mat.set_principled_shader_value("Specular IOR Level", 0.0)
                mat.set_principled_shader_value("Roughness", 1.0)
                mat.set_principled_shader_value("Metallic", 0.0)
        return objs

    def _keyframe(self, frame: int, view: ViewSpec) -> None:
        R, t = np.asarray(view.R), np.asarray(view.t)
        bproc.camera.add_camera_pose(cam_to_world_blender(R, t), frame=frame)
        light = view.lighting
        self.sun.set_rotation_mat(sun_rotation(np.asarray(light.sun_direction)), frame=frame)
        self.sun.set_energy(light.sun_strength, frame=frame)
        if not light.hdr:
            self.background.inputs["Strength"].default_value = light.ambient
            self.background.inputs["Strength"].keyframe_insert("default_value", frame=frame)
        scene = bpy.context.scene
        scene.cycles.seed = int(view.seed % (2**31 - 1))
        scene.cycles.keyframe_insert("seed", frame=frame)

    def render(
        self, mesh_path: Path, mesh: Mesh, views: list[ViewSpec]
    ) -> Iterator[tuple[ViewSpec, np.ndarray, np.ndarray]]:
        if not views:
            return
        objs = self._load(mesh_path)
        try:
            v0 = views[0]
            bproc.camera.set_intrinsics_from_K_matrix(
                blenderproc_K(np.asarray(v0.K)), v0.width, v0.height, clip_start=0.01, clip_end=1000.0
            )
            batches = [[v] for v in views] if any(v.lighting.hdr for v in views) else [views]
            for batch in batches:
                bproc.utility.reset_keyframes()
                if batch[0].lighting.hdr:
                    light = batch[0].lighting
                    self._map_world(light.hdr, light.hdr_strength, light.hdr_rotation)
                else:
                    self._uniform_world()
                for frame, view in enumerate(batch):
                    self._keyframe(frame, view)
                data = bproc.renderer.render()
                for frame, view in enumerate(batch):
                    colors = np.asarray(data["colors"][frame])
                    if colors.shape[2] == 3:
                        colors = np.concatenate(
                            [colors, np.full(colors.shape[:2] + (1,), 255, np.uint8)], axis=2
                        )
                    depth = np.asarray(data["depth"][frame], dtype=np.float32)
                    depth = np.where(depth < 1e6, depth, np.inf).astype(np.float32)  # background: 1e10 -> inf
                    yield view, colors.astype(np.uint8), depth
        finally:
            bproc.object.delete_multiple(objs, remove_all_offspring=True)
            for block in (bpy.data.meshes, bpy.data.materials, bpy.data.images):
                for item in list(block):
                    if item.users == 0 and getattr(item, "type", "IMAGE") == "IMAGE":
                        block.remove(item)  # free the model's data: a worker renders many models

    def close(self) -> None:
        """Nothing to release: the worker process ends with ``os._exit`` right after."""
