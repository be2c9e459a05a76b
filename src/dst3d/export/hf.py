"""Hugging Face ``imagefolder`` export: ``<split>/metadata.jsonl`` + ``<split>/images/`` + ``<split>/conditioning/``.

Each metadata row has ``image_file_name`` (-> column ``image``), ``conditioning_image_file_name`` (-> column
``conditioning_image``: the edge map) and ``text`` (the prompt): what ``datasets.load_dataset("imagefolder",
data_dir=OUT)`` turns into ``image``/``conditioning_image``/``text`` columns, the defaults of diffusers'
``examples/controlnet/train_controlnet.py``. The 3D annotation comes along as further columns.

Why ``image_file_name`` and not the plain ``file_name``: with two image columns, datasets (5.2) hands
the bare ``file_name`` to whichever image column it visits first (alphabetically ``conditioning_image``),
leaving ``image`` empty; the ``<column>_file_name`` form names the column explicitly.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from dst3d import atomic
from dst3d.export.common import Mode, check_files, check_out, image_of, load_rows, place, pose_fields
from dst3d.schema import ImageRecord


def metadata_row(row: ImageRecord, file_name: str, conditioning: str) -> dict[str, Any]:
    return {
        "image_file_name": file_name,
        "conditioning_image_file_name": conditioning,
        "text": row.prompt,
        "negative_prompt": row.negative_prompt,
        "image_id": row.image_id,
        "category": row.category,
        "model_id": row.model_id,
        "seed": row.seed,
        "backend": row.backend,
        **pose_fields(row),
        "bbox": list(row.bbox),
        # A list of structs: rows of different categories have different keypoint names, which a
        # name-keyed mapping would turn into a sparse union of columns.
        "keypoints": [
            {"name": n, "u": float(u), "v": float(v), "visible": bool(vis)}
            for n, (u, v, vis) in sorted(row.keypoints_2d.items())
        ],
        "visib_fract": row.visib_fract,
    }


def export_hf(manifest: str | Path, out: str | Path, mode: Mode = "copy", overwrite: bool = False) -> dict[str, Any]:
    """Write the imagefolder export of ``manifest`` under ``out``; return counts per split.

    Everything is checked before work starts (target folder, every row's image and edge map: the
    conditioning image) and the export is built beside ``out`` and renamed into place when complete.
    """
    rows, root = load_rows(manifest)
    out = Path(out)
    check_out(out, manifest, rows, overwrite)
    check_files(rows, root, ("image", "edge"))
    by_split: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with atomic.staged_dir(out) as tmp:
        for row in rows:
            src, cond = root / image_of(row), root / row.edge
            file_name = f"images/{row.image_id}{src.suffix}"
            conditioning = f"conditioning/{row.image_id}{cond.suffix}"
            place(src, tmp / row.split / file_name, mode)
            place(cond, tmp / row.split / conditioning, mode)
            by_split[row.split].append(metadata_row(row, file_name, conditioning))
        for split, meta in by_split.items():
            text = "".join(json.dumps(m, sort_keys=True) + "\n" for m in meta)
            atomic.write_text(tmp / split / "metadata.jsonl", text)
    return {"format": "hf-imagefolder", "out": str(out), "images": {s: len(m) for s, m in sorted(by_split.items())}}
