"""COCO export: ``annotations/instances_<split>.json`` + ``images/<split>/``, one object per image.

Standard keys (images; annotations with bbox, area, RLE segmentation from the render mask, keypoints
``[x, y, v]`` and ``num_keypoints``; categories with keypoint names and a skeleton, see
:mod:`dst3d.export.skeleton`) load with pycocotools and evaluate with its COCOeval; the 3D annotation
rides along as extra keys that COCO tools ignore: ``K`` on each image, ``azimuth``/``elevation``/``theta``/
``distance``/``R``/``t`` on each annotation.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from dst3d import atomic
from dst3d.export.common import (
    ExportError,
    Mode,
    check_files,
    check_out,
    image_of,
    keypoint_names,
    load_rows,
    place,
    pose_fields,
    read_mask,
)  # fmt: skip
from dst3d.export.skeleton import coco_skeleton, keypoint_order
from dst3d.schema import ImageRecord


def rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE of a boolean mask (pycocotools), ``counts`` as str so it is JSON."""
    from pycocotools import mask as mask_utils

    code = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(x) for x in code["size"]], "counts": code["counts"].decode("ascii")}


def coco_keypoints(row: ImageRecord, names: list[str]) -> tuple[list[float], int]:
    """Flat ``[x, y, v] * N`` in the category's order and the labelled count.

    ``v`` = 2: visible (our annotation's flag); 1: labelled, not visible (occluded, or off the object's
    pixels); 0: not labelled or outside the image, with x = y = 0 as COCO writes unlabelled points.
    """
    flat: list[float] = []
    labelled = 0
    for name in names:
        u, v, vis = row.keypoints_2d.get(name, (0.0, 0.0, -1))
        if vis < 0 or not (0 <= u < row.width and 0 <= v < row.height):
            flat += [0.0, 0.0, 0]
            continue
        flat += [float(u), float(v), 2 if vis else 1]
        labelled += 1
    return flat, labelled


def export_coco(manifest: str | Path, out: str | Path, mode: Mode = "copy", overwrite: bool = False) -> dict[str, Any]:
    """Write the COCO export of ``manifest`` under ``out``; return counts per split.

    Everything is checked before work starts (target folder, every row's image and mask, non-empty boxes)
    and the export is built beside ``out`` and renamed into place when complete.
    """
    rows, root = load_rows(manifest)
    out = Path(out)
    check_out(out, manifest, rows, overwrite)
    check_files(rows, root, ("image", "mask"))
    for row in rows:
        x0, y0, x1, y1 = row.bbox
        if x1 <= x0 or y1 <= y0:
            raise ExportError(f"image {row.image_id}: empty bbox {list(row.bbox)} (no visible object pixels)")
    kp_names = {c: keypoint_order(c, set(names)) for c, names in keypoint_names(rows).items()}
    categories = [
        {"id": i + 1, "name": c, "supercategory": "object", "keypoints": names, "skeleton": coco_skeleton(c, names)}
        for i, (c, names) in enumerate(sorted(kp_names.items()))
    ]
    cat_id = {c["name"]: c["id"] for c in categories}
    by_split: dict[str, list[ImageRecord]] = defaultdict(list)
    for r in rows:
        by_split[r.split].append(r)
    counts = {}
    with atomic.staged_dir(out) as tmp:
        for split, split_rows in sorted(by_split.items()):
            images, annotations = [], []
            for i, row in enumerate(split_rows, start=1):
                src = root / image_of(row)
                file_name = f"{split}/{row.image_id}{src.suffix}"
                place(src, tmp / "images" / file_name, mode)
                images.append({
                    "id": i, "file_name": file_name, "width": row.width, "height": row.height,
                    "image_key": row.image_id, "K": pose_fields(row)["K"], "prompt": row.prompt, "seed": row.seed,
                    "backend": row.backend,
                })  # fmt: skip
                x0, y0, x1, y1 = row.bbox
                mask = read_mask(root, row)
                if mask is None:
                    raise ExportError(f"image {row.image_id}: mask file {root / row.mask} cannot be read")
                kps, n_kps = coco_keypoints(row, kp_names[row.category])
                pose = pose_fields(row)
                del pose["K"]
                annotations.append({
                    "id": i, "image_id": i, "category_id": cat_id[row.category], "iscrowd": 0,
                    "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float(mask.sum()), "segmentation": rle(mask),
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
            atomic.write_text(tmp / "annotations" / f"instances_{split}.json", json.dumps(doc))
            counts[split] = len(images)
    return {"format": "coco", "out": str(out), "images": counts}
