"""BOP object models: the aligned meshes as PLY in millimetres with vertex normals, and ``models_info``.

The meshes are the align stage's (``data/align/manifest.jsonl``: model id -> ``mesh``), found from the
data root of the manifest being exported, and loaded exactly as the renderers load them
(:func:`dst3d.assets.meshio.load_mesh`), so the exported model is the geometry that was rendered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from dst3d import atomic
from dst3d.assets import meshio
from dst3d.export.common import ExportError
from dst3d.schema import ModelRecord, read_manifest


@dataclass(frozen=True)
class Model:
    """One object model in canonical units (largest side 1): vertices, triangles, vertex colours (0..1)."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray


def align_meshes(root: Path, model_ids: Iterable[str]) -> dict[str, Path]:
    """Mesh file of each model id, from ``<root>/align/manifest.jsonl``; a one-line error names what is missing."""
    manifest = root / "align" / "manifest.jsonl"
    if not manifest.is_file():
        raise ExportError(f"{manifest}: align manifest not found; BOP models are the aligned meshes (run `align`)")
    meshes = {m.model_id: root / m.mesh for m in read_manifest(manifest, ModelRecord)}
    out = {}
    for model_id in model_ids:
        if model_id not in meshes:
            raise ExportError(f"{manifest}: no row for model {model_id} (its aligned mesh is needed for BOP models)")
        if not meshes[model_id].is_file():
            raise ExportError(f"{meshes[model_id]}: aligned mesh of model {model_id} missing")
        out[model_id] = meshes[model_id]
    return out


def load_model(path: Path) -> Model:
    """The aligned mesh (unreferenced vertices dropped: they are not part of the object) with vertex colours."""
    v, f, face_rgb = meshio.load_mesh(path)
    used, f = np.unique(f, return_inverse=True)
    f = f.reshape(-1, 3)
    v = v[used]
    # per-vertex colour = mean colour of the faces around it (PLY per-face colours break the BOP loader)
    rgb = np.zeros((len(v), 3))
    np.add.at(rgb, f.reshape(-1), np.repeat(face_rgb, 3, axis=0))
    rgb /= np.maximum(np.bincount(f.reshape(-1), minlength=len(v)), 1)[:, None]
    return Model(v, f, rgb)


def ply_bytes(model: Model, unit_scale: float) -> bytes:
    """ASCII PLY (as BOP ships its models) in mm: x y z, vertex normals, rgb, triangles."""
    mesh = trimesh.Trimesh(
        model.vertices * unit_scale,
        model.faces,
        vertex_colors=np.round(np.clip(model.colors, 0, 1) * 255).astype(np.uint8),
        process=False,
    )
    mesh.vertex_normals = vertex_normals(mesh)
    return trimesh.exchange.ply.export_ply(mesh, encoding="ascii", vertex_normal=True)


def vertex_normals(mesh: trimesh.Trimesh) -> np.ndarray:
    """Unit vertex normals: angle-weighted face normals (as MeshLab's, which BOP used), never zero.

    Where the weighted sum vanishes (a vertex only on two-sided faces: each face twice, opposite windings,
    as in tests/data/meshes/chair_model.obj) the first good face's normal stands in; +z for a vertex on
    degenerate faces only. BOP's renderers shade with these, so a zero normal would render black.
    """
    n = np.array(mesh.vertex_normals, dtype=np.float64)
    bad = np.linalg.norm(n, axis=1) < 0.5
    if bad.any():
        good = np.linalg.norm(mesh.face_normals, axis=1) > 0.5
        n[bad] = (0.0, 0.0, 1.0)
        corners = mesh.faces[good].reshape(-1)
        first = np.full(len(n), -1)
        first[corners[::-1]] = np.repeat(np.nonzero(good)[0], 3)[::-1]  # earliest good face per vertex
        fix = bad & (first >= 0)
        n[fix] = mesh.face_normals[first[fix]]
    return n


def diameter(points: np.ndarray) -> float:
    """Largest distance between two points (BOP's model diameter), exact: it is reached on the convex hull."""
    from scipy.spatial import ConvexHull, QhullError
    from scipy.spatial.distance import cdist

    pts = np.unique(np.asarray(points, dtype=np.float64), axis=0)
    try:
        pts = pts[ConvexHull(pts).vertices]
    except (QhullError, ValueError):  # flat or tiny point sets: use them all
        pass
    best = 0.0
    step = max(1, 4_000_000 // max(len(pts), 1))  # rows per block: the distance block stays <= 32 MB
    for i in range(0, len(pts), step):
        best = max(best, float(cdist(pts[i : i + step], pts).max(initial=0.0)))
    return best


def model_info(vertices_mm: np.ndarray) -> dict[str, float]:
    """One ``models_info.json`` entry: 3D box (min, size) and diameter, in mm."""
    lo, hi = vertices_mm.min(axis=0), vertices_mm.max(axis=0)
    size = hi - lo
    return {
        "diameter": diameter(vertices_mm),
        "min_x": float(lo[0]), "min_y": float(lo[1]), "min_z": float(lo[2]),
        "size_x": float(size[0]), "size_y": float(size[1]), "size_z": float(size[2]),
    }  # fmt: skip


def write_models(folders: list[Path], models: dict[int, Model], unit_scale: float) -> dict[str, dict[str, float]]:
    """``obj_<id:06d>.ply`` per object in each folder; return ``models_info.json``'s content (keys: obj ids)."""
    info = {}
    for obj_id, model in sorted(models.items()):
        data = ply_bytes(model, unit_scale)
        for folder in folders:
            atomic.write_bytes(folder / f"obj_{obj_id:06d}.ply", data)
        info[str(obj_id)] = model_info(model.vertices * unit_scale)
    return info
