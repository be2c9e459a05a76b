"""BOP export (the BOP-scenewise format of bop_toolkit's ``docs/bop_datasets_format.md``).

Layout: ``camera.json``, ``models/`` and ``models_eval/`` (``obj_<id:06d>.ply`` + ``models_info.json``),
``<split>/<scene:06d>/{rgb,depth,mask,mask_visib}/`` with ``scene_camera.json``, ``scene_gt.json`` and
``scene_gt_info.json``, and ``test_targets_bop19.json`` / ``test_targets_bop24.json`` for the test split.

One scene per category (scene ids 1.. in category order), images numbered in image-id order, one object
per image whose ``obj_id`` is given by ``obj_ids.json`` (model id -> 1..). BOP works in millimetres: a
canonical unit (the object's largest side) is taken as ``unit_scale`` mm (default 1000: a 1 m object), for
the PLY vertices, ``models_info``, ``cam_t_m2c`` and the depth PNG's ``depth_scale`` (mm per count) alike.
The models are the aligned meshes of ``<data root>/align`` (see :mod:`dst3d.export.models`). The mapping
image id -> (split, scene, im_id) is in ``image_index.json``.

``scene_gt_info`` follows the toolkit's ``scripts/calc_gt_info.py``: boxes are ``[x, y, w, h]`` with
``w = x_max - x_min`` over pixel indices (the toolkit's ``misc.calc_2d_bbox``), ``bbox_obj`` and
``px_count_all`` are those of the whole, untruncated silhouette, ``visib_fract = px_count_visib /
px_count_all``. An image shows one object and nothing else, so ``mask`` (the silhouette in the image)
and ``mask_visib`` (its unoccluded part) are the same picture.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dst3d import atomic, camera, layout
from dst3d.export.common import ExportError, Mode, check_files, check_out, image_of, load_rows, place
from dst3d.export.models import Model, align_meshes, load_model, write_models
from dst3d.render import annotate
from dst3d.schema import ImageRecord


def _dump(path: Path, obj: Any) -> None:
    atomic.write_text(path, json.dumps(obj, indent=1, sort_keys=True))


def bop_bbox(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> list[int]:
    """The toolkit's ``calc_2d_bbox`` of a mask's pixels: ``[x_min, y_min, x_max - x_min, y_max - y_min]``."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [-1, -1, -1, -1]
    x0, y0 = int(xs.min()) - offset[0], int(ys.min()) - offset[1]
    return [x0, y0, int(xs.max()) - offset[0] - x0, int(ys.max()) - offset[1] - y0]


def gt_info(row: ImageRecord, mask: np.ndarray, depth: np.ndarray, model: Model) -> dict[str, Any]:
    """One ``scene_gt_info`` entry: visible part from the render's mask, whole silhouette from the model."""
    visib = int(mask.sum())
    valid = int((mask & (depth > 0)).sum())
    K, R, t = (np.asarray(x, dtype=np.float64) for x in (row.K, row.R, row.t))
    if annotate.in_frame(model.vertices, K, R, t, row.width, row.height):
        whole, box_obj = visib, bop_bbox(mask)  # the rendered mask is the whole silhouette
    else:
        # truncated: rasterise the whole silhouette on a padded canvas. The toolkit renders a 3x canvas;
        # the pad here reaches every projected vertex (within 4 image sizes), as the render stage's
        # visib_fract does, so a close-up's silhouette is not cut short either
        uv, _ = camera.project(model.vertices, K, R, t)
        uv = uv[np.all(np.isfinite(uv), axis=1)]
        size = max(row.width, row.height)
        reach = np.abs(uv - np.array([row.width / 2, row.height / 2])).max() if len(uv) else 0.0
        pad = int(min(max(reach - size / 2, 0) + 2, 4 * size))
        full = annotate.silhouette(model.vertices, model.faces, K, R, t, row.width, row.height, pad=pad)
        whole, box_obj = int(full.sum()), bop_bbox(full, (pad, pad))
    return {
        "bbox_obj": box_obj if visib else [-1, -1, -1, -1],
        "bbox_visib": bop_bbox(mask),
        "px_count_all": whole,
        "px_count_valid": valid,
        "px_count_visib": visib,
        "visib_fract": min(1.0, visib / whole) if whole else 0.0,
    }


def _read(path: Path, flags: int, what: str, image_id: str) -> np.ndarray:
    img = layout.imread(path, flags)
    if img is None:
        raise ExportError(f"image {image_id}: {what} file {path} cannot be read")
    return img


def camera_json(rows: list[ImageRecord], unit_scale: float) -> dict[str, float]:
    """``camera.json``: the intrinsics most images share (each image's own K is in ``scene_camera.json``)."""
    key = Counter((r.K, r.width, r.height, r.depth_scale) for r in rows).most_common(1)[0][0]
    K, width, height, depth_scale = key
    return {
        "cx": K[0][2], "cy": K[1][2], "fx": K[0][0], "fy": K[1][1], "width": width, "height": height,
        "depth_scale": depth_scale * unit_scale,
    }  # fmt: skip


def export_bop(
    manifest: str | Path,
    out: str | Path,
    mode: Mode = "copy",
    unit_scale: float = 1000.0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the BOP export of ``manifest`` under ``out``; return counts per split.

    Everything is checked before work starts (target folder, every row's image/mask/depth, the aligned
    mesh of every model) and the export is built beside ``out`` and renamed into place when complete.
    """
    if not unit_scale > 0:
        raise ExportError(f"unit_scale must be > 0 (mm per canonical unit), got {unit_scale}")
    rows, root = load_rows(manifest)
    out = Path(out)
    check_out(out, manifest, rows, overwrite)
    check_files(rows, root, ("image", "mask", "depth"))
    obj_ids = {m: i + 1 for i, m in enumerate(sorted({r.model_id for r in rows}))}
    meshes = align_meshes(root, obj_ids)
    models = {obj_ids[m]: load_model(path) for m, path in meshes.items()}
    scenes = {c: i + 1 for i, c in enumerate(sorted({r.category for r in rows}))}
    groups: dict[tuple[str, str], list[ImageRecord]] = defaultdict(list)
    for r in rows:
        groups[(r.split, r.category)].append(r)
    index: dict[str, dict[str, Any]] = {}
    targets: list[dict[str, int]] = []
    with atomic.staged_dir(out) as tmp:
        # models_eval holds the same meshes: they are exactly what was rendered, there is nothing to resample
        folders = [tmp / "models", tmp / "models_eval"]
        info = write_models(folders, models, unit_scale)
        for folder in folders:
            _dump(folder / "models_info.json", info)
        _dump(tmp / "camera.json", camera_json(rows, unit_scale))
        for (split, category), group in sorted(groups.items()):
            scene_id = scenes[category]
            scene = tmp / split / f"{scene_id:06d}"
            gt, cam, info = {}, {}, {}
            for im_id, row in enumerate(group):
                src = root / image_of(row)
                place(src, scene / "rgb" / f"{im_id:06d}{src.suffix}", mode)
                place(root / row.depth, scene / "depth" / f"{im_id:06d}.png", mode)
                for kind in ("mask", "mask_visib"):
                    place(root / row.mask, scene / kind / f"{im_id:06d}_000000.png", mode)
                obj_id = obj_ids[row.model_id]
                gt[str(im_id)] = [{
                    "cam_R_m2c": [v for r in row.R for v in r],
                    "cam_t_m2c": [v * unit_scale for v in row.t],
                    "obj_id": obj_id,
                }]  # fmt: skip
                cam[str(im_id)] = {
                    "cam_K": [v for r in row.K for v in r],
                    "depth_scale": row.depth_scale * unit_scale,  # mm per depth count
                }
                mask = _read(root / row.mask, cv2.IMREAD_GRAYSCALE, "mask", row.image_id) > 127
                depth = _read(root / row.depth, cv2.IMREAD_UNCHANGED, "depth", row.image_id)
                info[str(im_id)] = [gt_info(row, mask, depth, models[obj_id])]
                index[row.image_id] = {"split": split, "scene_id": scene_id, "im_id": im_id}
                if split == "test":
                    targets.append({"im_id": im_id, "inst_count": 1, "obj_id": obj_id, "scene_id": scene_id})
            _dump(scene / "scene_gt.json", gt)
            _dump(scene / "scene_camera.json", cam)
            _dump(scene / "scene_gt_info.json", info)
        if targets:
            _dump(tmp / "test_targets_bop19.json", targets)
            _dump(tmp / "test_targets_bop24.json", [{"im_id": t["im_id"], "scene_id": t["scene_id"]} for t in targets])
        _dump(tmp / "obj_ids.json", obj_ids)
        _dump(tmp / "image_index.json", index)
        _dump(tmp / "export_info.json", {
            "unit_scale_mm": unit_scale, "scenes": scenes, "convention": "OpenCV, model->camera (BOP)",
        })  # fmt: skip
    counts = Counter(v["split"] for v in index.values())
    return {"format": "bop", "out": str(out), "images": dict(sorted(counts.items())), "objects": len(obj_ids)}
