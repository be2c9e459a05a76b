"""A learnable pose dataset in seconds: boxes with six differently coloured faces, drawn at known poses.

Each "category" has its own face palette and proportions, each "model" (instance) jitters them. Views are
projected with ``dst3d.camera`` (the same math the render stage uses) and painted with OpenCV, then written
as a data root with ``render/manifest.jsonl`` (RGBA renders) and ``synthesize/manifest.jsonl`` (the same
views over a noisy background), the layout the kcf and train stages read.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from dst3d import camera
from dst3d.schema import ImageRecord, ModelRecord, write_manifest

PALETTES = {  # RGB per face: +x, -x, +y, -y (front), +z (top), -z
    "car": [(230, 40, 40), (40, 200, 40), (40, 60, 230), (240, 230, 40), (240, 240, 240), (200, 40, 200)],
    "chair": [(40, 220, 220), (240, 140, 30), (120, 60, 20), (250, 250, 250), (150, 150, 40), (90, 0, 140)],
    "boat": [(255, 120, 160), (20, 120, 120), (200, 200, 90), (90, 90, 240), (30, 30, 30), (160, 255, 160)],
}
SIZES = {"car": (0.5, 1.0, 0.4), "chair": (0.6, 0.6, 0.9), "boat": (0.4, 1.0, 0.3)}
_FACES = [  # vertex indices (into the 8 corners, bit0 = x, bit1 = y, bit2 = z) and outward normal
    ((1, 3, 7, 5), (1, 0, 0)), ((0, 4, 6, 2), (-1, 0, 0)), ((2, 6, 7, 3), (0, 1, 0)),
    ((0, 1, 5, 4), (0, -1, 0)), ((4, 5, 7, 6), (0, 0, 1)), ((0, 2, 3, 1), (0, 0, -1)),
]


def draw_box(size: tuple[float, float, float], colors: list[tuple[int, int, int]], az: float, el: float,
             th: float, px: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[float, ...]]:
    """RGBA image (px, px, 4) of the box at the pose, plus K, R, t and the bbox."""
    half = np.asarray(size) / 2
    corners = np.array([[(-1) ** (1 - (i >> b & 1)) * half[b] for b in range(3)] for i in range(8)])
    K = camera.intrinsics(35.0, 32.0, px, px)
    R, t = camera.look_at(az, el, th, 2.2)
    uv, _ = camera.project(corners, K, R, t)
    centre = camera.camera_center(R, t)
    img = np.zeros((px, px, 4), np.uint8)
    for (idx, normal), color in zip(_FACES, colors, strict=True):
        face_centre = corners[list(idx)].mean(axis=0)
        if np.dot(normal, face_centre - centre) >= 0:  # back face
            continue
        shade = 0.55 + 0.45 * abs(np.dot(R @ np.asarray(normal, float), [0, 0, 1]))
        poly = np.round((uv[list(idx)] - 0.5) * 16).astype(np.int32)  # 4 fractional bits: smooth edges
        cv2.fillConvexPoly(img, poly, (*[int(c * shade) for c in color], 255), lineType=cv2.LINE_AA, shift=4)
    ys, xs = np.nonzero(img[..., 3])
    bbox = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    return img, K, R, t, bbox


def write_boxes(root: Path, models: list[tuple[str, str, tuple[float, float, float]]]) -> None:
    """``root/align``: each model's box as a mesh (centred at the origin, as drawn) and the align manifest,
    for the kcf stage's shape evidence."""
    import trimesh

    records = []
    for cat, model_id, size in models:
        rel = f"align/meshes/{cat}/{model_id}/model.obj"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        trimesh.creation.box(extents=size).export(root / rel)
        records.append(ModelRecord(model_id=model_id, category=cat, source="fixture", mesh=rel))
    write_manifest(root / "align" / "manifest.jsonl", records)


def make_dataset(root: Path, categories=("car", "chair"), models_per_category: int = 4, views: int = 24,
                 px: int = 48, seed: int = 0, test_models: int = 1, azimuths: int = 0) -> Path:
    """Write ``root/render`` and ``root/synthesize`` (manifests + PNGs); returns the data root.

    The last ``test_models`` instances of each category get split 'test', the rest 'train'. ``azimuths``
    > 0 draws the azimuth from that many evenly spaced values (+- 5 degrees) instead of uniformly: a pose
    problem a tiny network learns in a few seconds, for tests that need a working estimator.
    """
    rng = np.random.default_rng(seed)
    render_rows, synth_rows, models = [], [], []
    for cat in categories:
        for m in range(models_per_category):
            model_id = f"{cat}-m{m}"
            size = tuple(s * rng.uniform(0.85, 1.15) for s in SIZES[cat])
            colors = [tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in col) for col in PALETTES[cat]]
            split = "test" if m >= models_per_category - test_models else "train"
            models.append((cat, model_id, size))
            for v in range(views):
                az = rng.uniform(0, 2 * math.pi) if not azimuths else \
                    (rng.integers(azimuths) * 2 * math.pi / azimuths + math.radians(rng.uniform(-5, 5))) % (2 * math.pi)
                el, th = rng.uniform(-0.1, 0.7), rng.normal(0, 0.1)
                rgba, K, R, t, bbox = draw_box(size, colors, az, el, th, px)
                image_id = f"{model_id}_{v:03d}"
                rgb_rel = f"render/{cat}/{image_id}_rgb.png"
                img_rel = f"synthesize/{cat}/{image_id}.png"
                for rel in (rgb_rel, img_rel):
                    (root / rel).parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(root / rgb_rel), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
                bg = np.clip(rng.normal(rng.uniform(40, 200, 3), 25, (px, px, 3)), 0, 255)
                a = rgba[..., 3:4] / 255.0
                synth = (rgba[..., :3] * a + bg * (1 - a)).round().astype(np.uint8)
                cv2.imwrite(str(root / img_rel), cv2.cvtColor(synth, cv2.COLOR_RGB2BGR))
                rec = ImageRecord(
                    image_id=image_id, category=cat, model_id=model_id, source="fixture", split=split,
                    azimuth=az, elevation=el, theta=th, distance=2.2,
                    K=tuple(map(tuple, K.tolist())), R=tuple(map(tuple, R.tolist())), t=tuple(t.tolist()),
                    width=px, height=px, bbox=bbox, rgb=rgb_rel, seed=seed,
                )
                render_rows.append(rec)
                synth_rows.append(ImageRecord(**{**rec.__dict__, "image": img_rel, "backend": "composite"}))
    write_boxes(root, models)
    write_manifest(root / "render" / "manifest.jsonl", render_rows)
    write_manifest(root / "synthesize" / "manifest.jsonl", synth_rows)
    return root


def meshes(root: Path) -> dict[str, Path]:
    """model id -> mesh file of a :func:`make_dataset` root (what ``kcf.run_kcf`` takes as ``meshes``)."""
    from dst3d.schema import read_manifest

    return {m.model_id: root / m.mesh for m in read_manifest(root / "align" / "manifest.jsonl", ModelRecord)}
