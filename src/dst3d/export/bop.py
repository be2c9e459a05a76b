"""BOP-style export: ``<split>/<scene:06d>/{rgb,depth,mask_visib}/`` + ``scene_gt.json``, ``scene_camera.json``,
``scene_gt_info.json``.

One scene per category (scene ids 1.. in category order), images numbered in image-id order, one object
per image whose ``obj_id`` is given by ``obj_ids.json`` (model id -> 1..). BOP works in millimetres: a
canonical unit (the object's largest side) is taken as ``unit_scale`` mm (default 1000: a 1 m object), so
``cam_t_m2c = t * unit_scale`` and the depth PNG's ``depth_scale`` becomes mm per count. The mapping
image id -> (split, scene, im_id) is in ``image_index.json``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from dst3d import atomic
from dst3d.export.common import Mode, image_of, load_rows, place, prepare_out, read_mask
from dst3d.schema import ImageRecord


def _dump(path: Path, obj: Any) -> None:
    atomic.write_text(path, json.dumps(obj, indent=1, sort_keys=True))


def export_bop(
    manifest: str | Path, out: str | Path, mode: Mode = "copy", unit_scale: float = 1000.0
) -> dict[str, Any]:
    """Write the BOP-style export of ``manifest`` under ``out``; return counts per split."""
    rows, root = load_rows(manifest)
    out = Path(out)
    prepare_out(out)
    scenes = {c: i + 1 for i, c in enumerate(sorted({r.category for r in rows}))}
    obj_ids = {m: i + 1 for i, m in enumerate(sorted({r.model_id for r in rows}))}
    groups: dict[tuple[str, str], list[ImageRecord]] = defaultdict(list)
    for r in rows:
        groups[(r.split, r.category)].append(r)
    index: dict[str, dict[str, Any]] = {}
    for (split, category), group in sorted(groups.items()):
        scene = out / split / f"{scenes[category]:06d}"
        gt, cam, info = {}, {}, {}
        for im_id, row in enumerate(group):
            src = root / image_of(row)
            place(src, scene / "rgb" / f"{im_id:06d}{src.suffix}", mode)
            if row.depth:
                place(root / row.depth, scene / "depth" / f"{im_id:06d}.png", mode)
            if row.mask:
                place(root / row.mask, scene / "mask_visib" / f"{im_id:06d}_000000.png", mode)
            gt[str(im_id)] = [{
                "cam_R_m2c": [v for r in row.R for v in r],
                "cam_t_m2c": [v * unit_scale for v in row.t],
                "obj_id": obj_ids[row.model_id],
            }]  # fmt: skip
            cam[str(im_id)] = {
                "cam_K": [v for r in row.K for v in r],
                "depth_scale": row.depth_scale * unit_scale,  # mm per depth count
            }
            x0, y0, x1, y1 = row.bbox
            mask = read_mask(root, row)
            info[str(im_id)] = [{
                "bbox_visib": [x0, y0, x1 - x0, y1 - y0],
                "px_count_visib": int(mask.sum()) if mask is not None else None,
                "visib_fract": row.visib_fract,
            }]  # fmt: skip
            index[row.image_id] = {"split": split, "scene_id": scenes[category], "im_id": im_id}
        _dump(scene / "scene_gt.json", gt)
        _dump(scene / "scene_camera.json", cam)
        _dump(scene / "scene_gt_info.json", info)
    _dump(out / "obj_ids.json", obj_ids)
    _dump(out / "image_index.json", index)
    _dump(
        out / "export_info.json", {"unit_scale_mm": unit_scale, "scenes": scenes, "convention": "OpenCV, world->camera"}
    )
    counts: dict[str, int] = defaultdict(int)
    for v in index.values():
        counts[v["split"]] += 1
    return {"format": "bop", "out": str(out), "images": dict(sorted(counts.items()))}
