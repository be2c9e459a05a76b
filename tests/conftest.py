"""Shared fixtures: the repo root, the real test meshes in tests/data, fixture mesh writers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_MESHES = REPO / "tests" / "data" / "meshes"  # MIT, from trimesh (see its LICENSE.md)

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(autouse=True)
def _fixed_threads():
    """Torch results depend on the thread count: pin it for every test."""
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def box_with_nose(size=(0.5, 0.3, 1.0), nose=0.3) -> tuple[np.ndarray, np.ndarray]:
    """A y-up box (ShapeNet/glTF style) with a pyramid 'nose' on its front.

    ``size`` = (x, y, z) extents; the nose points along -z (ShapeNet's front) — flip z for glTF's +z.
    """
    sx, sy, sz = (s / 2 for s in size)
    v = np.array([[x, y, z] for x in (-sx, sx) for y in (-sy, sy) for z in (-sz, sz)], dtype=float)
    faces = [
        (0, 1, 3),
        (0, 3, 2),
        (4, 6, 7),
        (4, 7, 5),
        (0, 4, 5),
        (0, 5, 1),
        (2, 3, 7),
        (2, 7, 6),
        (1, 5, 7),
        (1, 7, 3),
    ]
    tip = len(v)
    v = np.vstack([v, [[0.0, 0.0, -sz - nose]]])
    # front face (z = -sz: vertices 0, 2, 4, 6) replaced by a pyramid to the tip
    faces += [(0, 2, tip), (2, 6, tip), (6, 4, tip), (4, 0, tip)]
    return v, np.array(faces)


def write_obj(path: Path, v: np.ndarray, f: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"v {x} {y} {z}" for x, y, z in v] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in f]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture()
def three_models(tmp_path):
    """Three aligned marker 'car' models (render runner and executor tests)."""
    from test_render_support import marker_model, write_align

    align = tmp_path / "align"
    models = [marker_model(align, f"m{i}", "car") for i in range(3)]
    write_align(align, models)
    return align, models
