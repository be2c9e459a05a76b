"""Inspection grid: render | edges | synthesized image with its inherited bbox and keypoints drawn.

If the drawn box and points do not sit on the object in the third column, the annotation did not
survive synthesis: this is the picture to look at after changing anything in the stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from dst3d import atomic, layout
from dst3d.schema import ImageRecord

TILE = 192
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def pick(rows: Sequence[ImageRecord], n: int) -> list[ImageRecord]:
    """Up to ``n`` rows: categories in turn, each category's rows sampled evenly (models, views, splits)."""
    by_cat: dict[str, list[ImageRecord]] = {}
    for r in sorted(rows, key=lambda r: r.image_id):
        by_cat.setdefault(r.category, []).append(r)
    cats = sorted(by_cat)
    quota = {c: n // len(cats) + (i < n % len(cats)) for i, c in enumerate(cats)}
    out: list[ImageRecord] = []
    for c in cats:
        pool = by_cat[c]
        k = min(quota[c], len(pool))
        out += [pool[int(i)] for i in np.linspace(0, len(pool) - 1, k).round().astype(int)] if k else []
    return out[:n]


def _tile(img: np.ndarray, size: int = TILE) -> tuple[np.ndarray, float, int, int]:
    """``img`` fitted into a size x size tile; also the scale and offset that map image pixels into it."""
    h, w = img.shape[:2]
    s = size / max(h, w)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_NEAREST  # upscaled small renders stay crisp
    img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)
    canvas = np.full((size, size, 3), 40, np.uint8)
    y0, x0 = (size - img.shape[0]) // 2, (size - img.shape[1]) // 2
    canvas[y0 : y0 + img.shape[0], x0 : x0 + img.shape[1]] = img
    return canvas, s, x0, y0


def _read_bgr(path: Path) -> np.ndarray:
    img = layout.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        return np.zeros((TILE, TILE, 3), np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:  # show a transparent render over mid grey
        a = img[..., 3:].astype(np.float32) / 255.0
        return (img[..., :3] * a + 128 * (1 - a)).astype(np.uint8)
    return img


def annotate(img: np.ndarray, rec: ImageRecord, s: float = 1.0, x0: int = 0, y0: int = 0) -> np.ndarray:
    """Draw the row's bbox (green) and keypoints (filled = visible, ring = occluded) on a BGR image whose
    pixel (u, v) of the record sits at (x0 + s * u, y0 + s * v)."""
    out = img.copy()

    def at(u: float, v: float) -> tuple[int, int]:
        return round(x0 + s * u), round(y0 + s * v)

    bx0, by0, bx1, by1 = rec.bbox
    cv2.rectangle(out, at(bx0, by0), at(bx1, by1), (0, 255, 0), 1, cv2.LINE_AA)
    for name, (u, v, vis) in sorted(rec.keypoints_2d.items()):
        colour = tuple(int(c) for c in cv2.applyColorMap(np.uint8([[hash_name(name)]]), cv2.COLORMAP_HSV)[0, 0])
        cv2.circle(out, at(u, v), 4, colour, -1 if vis else 1, cv2.LINE_AA)
        cv2.circle(out, at(u, v), 5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def hash_name(name: str) -> int:
    """A stable colour index per keypoint name (Python's hash() is salted per process)."""
    return sum(ord(c) * 31**i for i, c in enumerate(name)) % 256


def write_grid(rows: Sequence[ImageRecord], root: Path, path: Path, n: int = 8) -> int:
    """Write the grid PNG for up to ``n`` rows; return how many rows it shows."""
    chosen = pick(rows, n)
    if not chosen:
        return 0
    lines = []
    for rec in chosen:
        synthesized, s, x0, y0 = _tile(_read_bgr(root / rec.image))
        tiles = [
            _tile(_read_bgr(root / rec.rgb))[0],
            _tile(_read_bgr(root / rec.edge))[0] if rec.edge else np.zeros((TILE, TILE, 3), np.uint8),
            annotate(synthesized, rec, s, x0, y0),
        ]
        row = np.hstack(tiles)
        caption = np.full((34, row.shape[1], 3), 255, np.uint8)
        cv2.putText(caption, f"{rec.image_id}  [{rec.split}]", (4, 13), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        prompt = rec.prompt if len(rec.prompt) <= 95 else rec.prompt[:92] + "..."
        cv2.putText(caption, prompt, (4, 28), _FONT, 0.33, (60, 60, 60), 1, cv2.LINE_AA)
        lines.append(np.vstack([caption, row]))
    header = np.full((22, lines[0].shape[1], 3), 230, np.uint8)
    for i, title in enumerate(("render", "edges (control)", f"{chosen[0].backend} + bbox/kps")):
        cv2.putText(header, title, (i * TILE + 4, 15), _FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", np.vstack([header, *lines]))
    assert ok
    atomic.write_bytes(path, png.tobytes())
    return len(chosen)
