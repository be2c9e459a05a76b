"""COCO export: ``annotations/instances_<split>.json`` + ``images/<split>/``, one object per image.

Standard keys (images, annotations with bbox/area/segmentation/keypoints, categories with keypoint
names) load with pycocotools; the 3D annotation rides along as extra keys that COCO tools ignore:
``K`` on each image, ``azimuth``/``elevation``/``theta``/``distance``/``R``/``t`` on each annotation.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dst3d import atomic
from dst3d.export.common import (
    ExportError,
    Mode,
    image_of,
    keypoint_names,
    load_rows,
    place,
    pose_fields,
    prepare_out,
    read_mask,
)  # fmt: skip
from dst3d.schema import ImageRecord


def polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygon segmentation (outer contours with >= 3 points) of a boolean mask."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]


def coco_keypoints(row: ImageRecord, names: list[str]) -> tuple[list[float], int]:
    """Flat [u, v, flag] * N in the category's order; flag 2 = visible, 1 = labelled but occluded, 0 = absent."""
    flat: list[float] = []
    labelled = 0
    for name in names:
        if name in row.keypoints_2d:
            u, v, vis = row.keypoints_2d[name]
            flat += [float(u), float(v), 2 if vis else 1]
            labelled += 1
        else:
            flat += [0.0, 0.0, 0]
    return flat, labelled


def export_coco(manifest: str | Path, out: str | Path, mode: Mode = "copy") -> dict[str, Any]:
    """Write the COCO export of ``manifest`` under ``out``; return counts per split."""
    rows, root = load_rows(manifest)
    out = Path(out)
    prepare_out(out)
    kp_names = keypoint_names(rows)
    categories = [
        {"id": i + 1, "name": c, "supercategory": "object", "keypoints": kp_names[c], "skeleton": []}
        for i, c in enumerate(sorted(kp_names))
    ]
    cat_id = {c["name"]: c["id"] for c in categories}
    by_split: dict[str, list[ImageRecord]] = defaultdict(list)
    for r in rows:
        by_split[r.split].append(r)
    counts = {}
    for split, split_rows in sorted(by_split.items()):
        images, annotations = [], []
        for i, row in enumerate(split_rows, start=1):
            src = root / image_of(row)
            file_name = f"{split}/{row.image_id}{src.suffix}"
            place(src, out / "images" / file_name, mode)
            images.append({
                "id": i, "file_name": file_name, "width": row.width, "height": row.height,
                "image_key": row.image_id, "K": pose_fields(row)["K"], "prompt": row.prompt, "seed": row.seed,
                "backend": row.backend,
            })  # fmt: skip
            x0, y0, x1, y1 = row.bbox
            if x1 <= x0 or y1 <= y0:
                raise ExportError(f"image {row.image_id}: empty bbox {row.bbox}")
            mask = read_mask(root, row)
            kps, n_kps = coco_keypoints(row, kp_names[row.category])
            pose = pose_fields(row)
            del pose["K"]
            annotations.append({
                "id": i, "image_id": i, "category_id": cat_id[row.category], "iscrowd": 0,
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "area": float(mask.sum()) if mask is not None else float((x1 - x0) * (y1 - y0)),
                "segmentation": polygons(mask) if mask is not None else [],
                "keypoints": kps, "num_keypoints": n_kps,
                "model_id": row.model_id, "visib_fract": row.visib_fract, **pose,
            })  # fmt: skip
        doc = {
            "info": {"description": "dst3d synthetic images with exact 3D annotations", "version": "1.0"},
            "licenses": [],
            "images": images,
            "annotations": annotations,
            "categories": categories,
        }
        atomic.write_text(out / "annotations" / f"instances_{split}.json", json.dumps(doc))
        counts[split] = len(images)
    return {"format": "coco", "out": str(out), "images": counts}
