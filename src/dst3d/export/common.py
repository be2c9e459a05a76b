"""Shared export helpers: read a manifest with its data root, place files (copy / hard link / symlink)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from dst3d import layout
from dst3d.errors import UserError
from dst3d.schema import ImageRecord, data_root, read_manifest

Mode = Literal["copy", "hardlink", "symlink"]
MODES: tuple[str, ...] = ("copy", "hardlink", "symlink")


class ExportError(UserError, ValueError):
    """The manifest cannot be exported (no synthesized images, missing files, target not empty)."""


def load_rows(manifest: str | Path) -> tuple[list[ImageRecord], Path]:
    """Rows of a manifest (sorted by image id) and the data root their paths are relative to."""
    rows = sorted(read_manifest(manifest, ImageRecord), key=lambda r: r.image_id)
    if not rows:
        raise ExportError(f"{manifest}: no rows to export")
    return rows, data_root(manifest)


def image_of(row: ImageRecord) -> str:
    """The picture a row stands for: the synthesized image, or the render for a pre-synthesis manifest."""
    return row.image or row.rgb


def place(src: Path, dst: Path, mode: Mode) -> None:
    """Put ``src`` at ``dst`` (copy, hard link — falling back to a copy across file systems — or symlink).
    A shard member (``base.layout: shards``) is always written out as a copy: a link cannot point into a tar."""
    if layout.is_member(src):
        layout.copy_to(src, dst, shutil.copy2)
        return
    if not src.is_file():
        raise ExportError(f"{src}: file missing")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    if mode == "symlink":
        os.symlink(src.resolve(), dst)
    elif mode == "hardlink":
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
    else:
        shutil.copy2(src, dst)


def check_out(out: Path, manifest: str | Path, rows: Sequence[ImageRecord], overwrite: bool = False) -> None:
    """An export goes into a new or empty folder, or replaces one with ``overwrite``; never one holding its input.

    Mixing two exports would silently merge them, so a non-empty ``out`` is refused unless the caller asks
    for it to be replaced (the new export is built beside it and swapped in whole: ``atomic.staged_dir``).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a folder")
    if not (out.is_dir() and any(out.iterdir())):
        return
    if not overwrite:
        raise ExportError(f"{out}: not empty; pass --overwrite (overwrite=True) to replace it, or export elsewhere")
    target = out.resolve()
    root = data_root(manifest)
    inputs = [Path(manifest)] + [root / rel for r in rows for rel in (image_of(r), r.mask, r.depth, r.edge) if rel]
    for path in inputs:
        if target in path.resolve().parents:
            raise ExportError(f"{out}: holds this export's input {path}; refusing to replace it")


def check_files(rows: Sequence[ImageRecord], root: Path, fields: Sequence[str]) -> None:
    """Before any work: each row's ``fields`` (``image`` = :func:`image_of`) name files that exist."""
    for row in rows:
        for name in fields:
            rel = image_of(row) if name == "image" else getattr(row, name)
            if not rel:
                raise ExportError(f"image {row.image_id}: no {name} file in its row")
            if not (root / rel).is_file():
                raise ExportError(f"image {row.image_id}: {name} file {root / rel} missing")


def read_mask(root: Path, row: ImageRecord) -> np.ndarray | None:
    if not row.mask:
        return None
    mask = layout.imread(root / row.mask, cv2.IMREAD_GRAYSCALE)
    return None if mask is None else mask > 127


def keypoint_names(rows: Sequence[ImageRecord]) -> dict[str, list[str]]:
    """Per category, the sorted union of keypoint names its rows carry."""
    names: dict[str, set[str]] = {}
    for r in rows:
        names.setdefault(r.category, set()).update(r.keypoints_2d)
    return {c: sorted(v) for c, v in sorted(names.items())}


def pose_fields(row: ImageRecord) -> dict[str, object]:
    """The 3D annotation as plain JSON values (radians, canonical units; K/R/t world->camera, OpenCV)."""
    return {
        "azimuth": row.azimuth,
        "elevation": row.elevation,
        "theta": row.theta,
        "distance": row.distance,
        "K": [list(r) for r in row.K],
        "R": [list(r) for r in row.R],
        "t": list(row.t),
    }
