"""Mesh files in and out, with the format allow-list.

Only formats that are pure data are accepted: a ``.blend`` file (or anything else that can carry
scripts) is refused by name before it is opened. Aligned meshes are written as OBJ + MTL (+ textures)
in the canonical frame (z up), which Blender, BlenderProc, trimesh and moderngl all read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import trimesh

from dst3d import atomic
from dst3d.errors import UserError
from dst3d.keyed import safe_name

ALLOWED_SUFFIXES: tuple[str, ...] = (".obj", ".glb", ".gltf", ".ply", ".stl", ".off")


class MeshError(UserError, ValueError):
    """A mesh file is missing, refused, unreadable, empty or degenerate."""


def check_format(path: Path) -> None:
    """Refuse anything but the pure-data mesh formats, naming the file."""
    suffix = path.suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        why = " (.blend files can run embedded Python)" if suffix == ".blend" else ""
        raise MeshError(f"{path}: refusing format {suffix or '(none)'}{why}; allowed: {', '.join(ALLOWED_SUFFIXES)}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_source(path: str | Path) -> trimesh.Trimesh:
    """Load a source mesh as one triangle mesh (all scene nodes baked, visuals kept where possible)."""
    path = Path(path)
    check_format(path)
    if not path.is_file():
        raise MeshError(f"{path}: mesh file not found")
    try:
        scene = trimesh.load(path, force="scene", process=False)
    except Exception as err:  # trimesh raises many types for corrupt files
        raise MeshError(f"{path}: cannot be read as a mesh: {type(err).__name__}: {err}") from None
    meshes = [g for g in scene.dump() if isinstance(g, trimesh.Trimesh)] if scene.geometry else []
    if not meshes:
        raise MeshError(f"{path}: contains no triangle faces")
    mesh = meshes[0] if len(meshes) == 1 else trimesh.util.concatenate(meshes)
    check_geometry(np.asarray(mesh.vertices), np.asarray(mesh.faces), path)
    return mesh


def check_geometry(vertices: np.ndarray, faces: np.ndarray, where: str | Path) -> None:
    """Empty, non-finite or flat-to-a-point meshes are errors naming ``where``."""
    if len(faces) == 0 or len(vertices) == 0:
        raise MeshError(f"{where}: mesh has no faces")
    if not np.all(np.isfinite(vertices)):
        raise MeshError(f"{where}: mesh has NaN or infinite vertex coordinates")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshError(f"{where}: face indices out of range")
    used = vertices[np.unique(faces)]
    extent = used.max(axis=0) - used.min(axis=0)
    if extent.max() <= 1e-12:
        raise MeshError(f"{where}: mesh has zero extent (all vertices coincide)")


def write_parts_obj(path: str | Path, parts: Sequence[tuple[str, np.ndarray, np.ndarray, Sequence[float]]]) -> None:
    """Write (name, vertices, faces, rgb) parts as one OBJ with one material per part (+ its MTL)."""
    path = Path(path)
    mtl_name = path.with_suffix(".mtl").name
    obj = [f"mtllib {mtl_name}\n"]
    mtl = []
    base = 1
    for i, (name, v, f, rgb) in enumerate(parts):
        mat = f"m{i}_{safe_name(name)}"
        r, g, b = (float(c) for c in rgb)
        mtl.append(f"newmtl {mat}\nKd {r:.4f} {g:.4f} {b:.4f}\nKa 0 0 0\nKs 0.1 0.1 0.1\nNs 20\nd 1\nillum 2\n\n")
        obj.append(f"o {safe_name(name)}\nusemtl {mat}\n")
        obj.append("".join(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in np.asarray(v, dtype=np.float64)))
        obj.append("".join(f"f {a + base} {b_ + base} {c + base}\n" for a, b_, c in np.asarray(f, dtype=np.int64)))
        base += len(v)
    atomic.write_text(path.with_suffix(".mtl"), "".join(mtl))
    atomic.write_text(path, "".join(obj))


def write_trimesh_obj(path: str | Path, mesh: trimesh.Trimesh) -> None:
    """Write an imported (already transformed) mesh as OBJ, keeping its material and texture files."""
    from trimesh.exchange.obj import export_obj

    path = Path(path)
    text, extra = export_obj(mesh, include_texture=True, return_texture=True, mtl_name=path.with_suffix(".mtl").name)
    for name, data in extra.items():
        atomic.write_bytes(path.parent / name, data)
    atomic.write_text(path, text)


def load_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertices (N,3), faces (M,3), face colours (M,3) in 0..1) of a mesh file, nodes baked."""
    path = Path(path)
    check_format(path)
    if not path.is_file():
        raise MeshError(f"{path}: mesh file not found")
    scene = trimesh.load(path, force="scene", process=False)
    vs, fs, cs = [], [], []
    base = 0
    for g in scene.dump():
        if not isinstance(g, trimesh.Trimesh) or len(g.faces) == 0:
            continue
        vs.append(np.asarray(g.vertices, dtype=np.float64))
        fs.append(np.asarray(g.faces, dtype=np.int64) + base)
        cs.append(_face_colors(g))
        base += len(g.vertices)
    if not fs:
        raise MeshError(f"{path}: contains no triangle faces")
    return np.concatenate(vs), np.concatenate(fs), np.concatenate(cs)


def _face_colors(mesh: trimesh.Trimesh) -> np.ndarray:
    """Per-face rgb in 0..1 from whatever visual the mesh carries (material colour, texture, colours)."""
    visual = mesh.visual
    try:
        if isinstance(visual, trimesh.visual.TextureVisuals):
            material = visual.material
            image = getattr(material, "image", None) or getattr(material, "baseColorTexture", None)
            if image is None or visual.uv is None:
                main = getattr(material, "main_color", None)
                rgb = np.asarray(main[:3] if main is not None else (180, 180, 180), dtype=np.float64) / 255.0
                return np.tile(rgb, (len(mesh.faces), 1))
            colored = visual.to_color()
            vc = np.asarray(colored.vertex_colors)[:, :3].astype(np.float64) / 255.0
            return vc[mesh.faces].mean(axis=1)
        fc = np.asarray(visual.face_colors)[:, :3].astype(np.float64) / 255.0
        return fc
    except Exception:  # a broken texture must not stop geometry users; fall back to grey
        return np.full((len(mesh.faces), 3), 0.7)
