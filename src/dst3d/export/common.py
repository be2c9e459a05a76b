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


def prepare_out(out: Path) -> None:
    """An export goes into an empty (or new) folder: mixing two exports would silently merge them."""
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out}: not empty; export into a new folder")
    out.mkdir(parents=True, exist_ok=True)


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
