"""Small upstream data for the synthesize/export tests: renders, edges and prompts drawn with OpenCV.

Each view projects a box (with a nose on its front) through a real camera from ``camera.look_at``, so
the rows carry consistent K/R/t, bbox and keypoints; the edge map is Canny of the render over black.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np

from dst3d import camera
from dst3d.schema import ImageRecord, write_manifest

CATEGORIES = ("car", "chair")
BOX = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.3, 0.3) for z in (-0.2, 0.2)])
KEYPOINTS = {"front_top": (0.0, -0.3, 0.2), "back_bottom_left": (-0.5, 0.3, -0.2)}
FACES = [(0, 1, 3, 2), (4, 5, 7, 6), (0, 1, 5, 4), (2, 3, 7, 6), (0, 2, 6, 4), (1, 3, 7, 5)]


def _draw(rec: ImageRecord, colour: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """BGRA render and mask of the box seen by the record's camera (faces shaded by depth)."""
    K, R, t = (np.array(v) for v in (rec.K, rec.R, rec.t))
    uv, z = camera.project(BOX, K, R, t)
    img = np.zeros((rec.height, rec.width, 4), np.uint8)
    order = sorted(range(len(FACES)), key=lambda f: -float(np.mean(z[list(FACES[f])])))  # far faces first
    for rank, f in enumerate(order):
        shade = 0.5 + 0.5 * rank / len(FACES)
        pts = np.round(uv[list(FACES[f])] * 16).astype(np.int32)
        cv2.fillConvexPoly(img, pts, (*[int(c * shade) for c in colour], 255), cv2.LINE_AA, shift=4)
    mask = (img[..., 3] > 127).astype(np.uint8) * 255
    return img, mask


def make_fixture(root: Path, models_per_category: int = 2, views: int = 2, size: int = 64) -> tuple[Path, Path]:
    """Write ``root/render``, ``root/edges/manifest.jsonl`` and ``root/prompts/prompts.jsonl``; return both paths."""
    rows = []
    prompts = []
    K = camera.intrinsics(35.0, 32.0, size, size)
    for ci, cat in enumerate(CATEGORIES):
        for m in range(models_per_category):
            model_id = f"{cat}-m{m:03d}"
            folder = f"views/{cat}/{model_id}"
            for v in range(views):
                az, el, th, dist = 0.4 + 1.3 * v + 0.2 * m, 0.25 + 0.1 * v, 0.05 * (v - 1), 2.2
                R, t = camera.look_at(az, el, th, dist)
                image_id = f"{cat}_{model_id}_{v:04d}"
                rec = ImageRecord(
                    image_id=image_id, category=cat, model_id=model_id, source="fixture",
                    split="test" if m == models_per_category - 1 else "train",
                    azimuth=az, elevation=el, theta=th, distance=dist,
                    K=tuple(map(tuple, K.tolist())), R=tuple(map(tuple, R.tolist())), t=tuple(t.tolist()),
                    width=size, height=size, depth_scale=0.0001, seed=1000 + v, backend="fixture",
                )  # fmt: skip
                bgra, mask = _draw(rec, (40 + 90 * ci, 120, 200 - 60 * m))
                ys, xs = np.nonzero(mask)
                uv, _ = camera.project(np.array(list(KEYPOINTS.values())), K, R, t)
                kps = {n: (float(u), float(v_), 1) for n, (u, v_) in zip(KEYPOINTS, uv, strict=True)}
                edge = cv2.Canny(cv2.cvtColor(bgra[..., :3], cv2.COLOR_BGR2GRAY), 50, 150)
                paths = {
                    "rgb": f"render/{folder}/{image_id}_rgb.png",
                    "mask": f"render/{folder}/{image_id}_mask.png",
                    "depth": f"render/{folder}/{image_id}_depth.png",
                    "edge": f"edges/{folder}/{image_id}_edge.png",
                }
                for kind, img in (
                    ("rgb", bgra), ("mask", mask), ("depth", np.zeros((size, size), np.uint16)), ("edge", edge)
                ):  # fmt: skip
                    (root / paths[kind]).parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(root / paths[kind]), img)
                rows.append(dataclasses.replace(
                    rec, bbox=(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)),
                    keypoints_2d=kps, visib_fract=1.0, **paths,
                ))  # fmt: skip
            for p in range(2):
                prompts.append({
                    "model_id": model_id, "category": cat, "seed": p, "attempts": 1, "backend": "template",
                    "prompt": f"a photo of a {cat} number {m} in style {p}, best quality",
                    "negative_prompt": "lowres, worst quality",
                })  # fmt: skip
    edges = root / "edges" / "manifest.jsonl"
    write_manifest(edges, rows)
    prompts_path = root / "prompts" / "prompts.jsonl"
    prompts_path.parent.mkdir(parents=True, exist_ok=True)
    prompts_path.write_text("".join(json.dumps(r) + "\n" for r in prompts))
    return edges, prompts_path


def write_params(path: Path, synthesize: dict, categories: tuple[str, ...] = CATEGORIES) -> Path:
    """A params.yaml with base + synthesize sections (YAML is a JSON superset)."""
    path.write_text(json.dumps({"base": {"seed": 0, "categories": list(categories)}, "synthesize": synthesize}))
    return path
