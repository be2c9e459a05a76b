"""Fixture assets for the render tests (imported by the other test_render_* modules) + checks of them.

``marker_model`` is an asymmetric object in the canonical frame (z up, front -y, largest side 1,
centred): a grey box body with a red nose on its front (-y), a blue fin on object-left (+x) and a green
mast on top (+z), so a render tells front from back, left from right and up from down.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dst3d.assets import meshio
from dst3d.schema import ModelRecord, resolve, write_manifest

RED, GREEN, BLUE, GREY = (0.9, 0.05, 0.05), (0.05, 0.8, 0.05), (0.05, 0.1, 0.9), (0.6, 0.6, 0.6)


def box(lo: tuple[float, float, float], hi: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """An axis-aligned box, outward-facing triangles."""
    v = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])], float)
    f = np.array(
        [
            (0, 1, 3),
            (0, 3, 2),
            (4, 6, 7),
            (4, 7, 5),
            (0, 4, 5),
            (0, 5, 1),
            (2, 3, 7),
            (2, 7, 6),
            (0, 2, 6),
            (0, 6, 4),
            (1, 5, 7),
            (1, 7, 3),
        ]
    )
    return v, f


def pyramid(base_y: float, tip_y: float, half: float, zc: float) -> tuple[np.ndarray, np.ndarray]:
    """A square pyramid on the plane y = base_y pointing along y to tip_y."""
    v = np.array(
        [
            [-half, base_y, zc - half],
            [half, base_y, zc - half],
            [half, base_y, zc + half],
            [-half, base_y, zc + half],
            [0.0, tip_y, zc],
        ]
    )
    f = np.array([(0, 1, 4), (1, 2, 4), (2, 3, 4), (3, 0, 4), (0, 2, 1), (0, 3, 2)])
    return v, f


def marker_parts() -> tuple[list[tuple[str, np.ndarray, np.ndarray, tuple[float, float, float]]], dict]:
    """Parts and keypoints, normalised to the canonical frame."""
    parts = [
        ("body", *box((-0.25, -0.35, -0.15), (0.25, 0.35, 0.15)), GREY),
        ("nose", *pyramid(-0.35, -0.55, 0.1, 0.0), RED),
        ("fin", *box((0.25, -0.1, -0.05), (0.45, 0.1, 0.05)), BLUE),
        ("mast", *box((-0.05, 0.1, 0.15), (0.05, 0.2, 0.4)), GREEN),
    ]
    keypoints = {
        "nose_tip": (0.0, -0.55, 0.0),
        "fin_tip": (0.45, 0.0, 0.0),
        "mast_top": (0.0, 0.15, 0.4),
        "back_centre": (0.0, 0.35, 0.0),
    }
    allv = np.vstack([p[1] for p in parts])
    centre = (allv.min(0) + allv.max(0)) / 2
    scale = 1.0 / (allv.max(0) - allv.min(0)).max()
    parts = [(n, (v - centre) * scale, f, c) for n, v, f, c in parts]
    keypoints = {k: tuple(float(x) for x in (np.array(p) - centre) * scale) for k, p in keypoints.items()}
    return parts, keypoints


def marker_model(
    align_dir: Path,
    model_id: str = "marker-000",
    category: str = "car",
    distance: float = 2.5,
    strategy: int = 1,
    **extra,
) -> ModelRecord:
    """Write the marker mesh under ``align_dir/meshes`` and return its align-manifest row (paths relative to
    the data root, ``align_dir``'s parent, as the align stage writes them)."""
    parts, keypoints = marker_parts()
    mesh = align_dir / "meshes" / f"{model_id}.obj"
    mesh.parent.mkdir(parents=True, exist_ok=True)
    meshio.write_parts_obj(mesh, parts)
    return ModelRecord(
        model_id=model_id,
        category=category,
        source="test",
        mesh=f"{align_dir.name}/meshes/{model_id}.obj",  # relative to the data root
        keypoints=keypoints,
        distance=distance,
        strategy=strategy,
        **extra,
    )


def real_model(
    align_dir: Path, name: str = "fuze.obj", model_id: str = "fuze-000", category: str = "bottle"
) -> ModelRecord:
    """A real mesh from tests/data/meshes, normalised (largest side 1, centred) into ``align_dir``."""
    src = Path(__file__).resolve().parent / "data" / "meshes" / name
    v, f, c = meshio.load_mesh(src)
    centre = (v.min(0) + v.max(0)) / 2
    v = (v - centre) / (v.max(0) - v.min(0)).max()
    mesh = align_dir / "meshes" / f"{model_id}.obj"
    mesh.parent.mkdir(parents=True, exist_ok=True)
    meshio.write_parts_obj(mesh, [("body", v, f, tuple(float(x) for x in c.mean(0)))])
    return ModelRecord(
        model_id=model_id, category=category, source="test", mesh=f"{align_dir.name}/meshes/{model_id}.obj"
    )


def write_align(align_dir: Path, models: list[ModelRecord]) -> Path:
    align_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(align_dir / "manifest.jsonl", models)
    return align_dir / "manifest.jsonl"


def test_marker_model_is_canonical(tmp_path):
    model = marker_model(tmp_path / "align")
    v, f, c = meshio.load_mesh(resolve(tmp_path / "align", model.mesh))
    extent = v.max(0) - v.min(0)
    assert np.isclose(extent.max(), 1.0) and np.allclose((v.max(0) + v.min(0)) / 2, 0.0, atol=1e-9)
    # the nose (red) is the front-most (-y) part, the fin (blue) is on +x, the mast (green) on top
    red = np.unique(f[np.all(np.isclose(c, RED, atol=0.01), axis=1)])
    blue = np.unique(f[np.all(np.isclose(c, BLUE, atol=0.01), axis=1)])
    green = np.unique(f[np.all(np.isclose(c, GREEN, atol=0.01), axis=1)])
    assert np.isclose(v[red, 1].min(), v[:, 1].min())
    assert np.isclose(v[blue, 0].max(), v[:, 0].max())
    assert np.isclose(v[green, 2].max(), v[:, 2].max())


def test_real_model_normalised(tmp_path):
    model = real_model(tmp_path / "align")
    v, _, _ = meshio.load_mesh(resolve(tmp_path / "align", model.mesh))
    assert np.isclose((v.max(0) - v.min(0)).max(), 1.0, atol=1e-5)
