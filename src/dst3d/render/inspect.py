"""Inspection outputs of the render stage: the annotated grid and the viewpoint histograms (dvc plots)."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path

import cv2
import numpy as np

from dst3d import atomic, layout
from dst3d.render.annotate import decode_depth
from dst3d.schema import ImageRecord, resolve

GREEN, YELLOW, MAGENTA, BLACK = (40, 200, 40), (0, 230, 255), (230, 40, 230), (0, 0, 0)  # BGR


def _interleave(groups: list[list[ImageRecord]]) -> list[ImageRecord]:
    return [x for row in itertools.zip_longest(*groups) for x in row if x is not None]


def pick(records: list[ImageRecord], n: int) -> list[ImageRecord]:
    """``n`` records, round-robin over categories and, within one, over models (variety first)."""
    by_cat: dict[str, dict[str, list[ImageRecord]]] = {}
    for r in records:
        by_cat.setdefault(r.category, {}).setdefault(r.model_id, []).append(r)
    per_cat = [_interleave(list(models.values())) for models in by_cat.values()]
    return _interleave(per_cat)[: max(n, 0)]


def over_background(rgb: np.ndarray, level: int = 255) -> np.ndarray:
    """BGR(A) image composited over a uniform grey level (BGR out)."""
    if rgb.ndim == 3 and rgb.shape[2] == 4:
        a = rgb[..., 3:4].astype(np.float32) / 255.0
        return (rgb[..., :3] * a + level * (1 - a)).astype(np.uint8)
    return rgb[..., :3].copy()


def draw_annotation(img: np.ndarray, r: ImageRecord) -> np.ndarray:
    """bbox (green), visible keypoints (yellow dots), hidden keypoints (magenta rings), angles as text."""
    out = img.copy()
    x0, y0, x1, y1 = r.bbox
    cv2.rectangle(out, (int(x0), int(y0)), (int(x1) - 1, int(y1) - 1), GREEN, 1)
    for u, v, vis in r.keypoints_2d.values():
        p = (int(round(u - 0.5)), int(round(v - 0.5)))
        if vis:
            cv2.circle(out, p, 4, BLACK, -1, cv2.LINE_AA)
            cv2.circle(out, p, 3, YELLOW, -1, cv2.LINE_AA)
        else:
            cv2.circle(out, p, 3, MAGENTA, 1, cv2.LINE_AA)
    text = f"az {np.degrees(r.azimuth):.0f} el {np.degrees(r.elevation):.0f} th {np.degrees(r.theta):.0f}"
    cv2.putText(out, text, (3, out.shape[0] - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(out, r.image_id, (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def depth_panel(depth_png: np.ndarray, scale: float) -> np.ndarray:
    """Depth with a colour map stretched over the object's own range; background black."""
    d = decode_depth(depth_png, scale)
    m = d > 0
    out = np.zeros(d.shape + (3,), np.uint8)
    if m.any():
        lo, hi = float(d[m].min()), float(d[m].max())
        norm = np.clip((d - lo) / max(hi - lo, 1e-6), 0, 1)
        colored = cv2.applyColorMap((255 - norm * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS)
        out[m] = colored[m]
    return out


def render_grid(records: list[ImageRecord], root: Path, path: Path, n: int, columns: int = 2) -> int:
    """Cells of [render + bbox + keypoints | mask | depth] (``root``: any stage folder); returns how many."""
    chosen = pick(records, n)
    if not chosen:
        return 0
    cells = []
    for r in chosen:
        rgb = layout.imread(resolve(root, r.rgb), cv2.IMREAD_UNCHANGED)
        mask = layout.imread(resolve(root, r.mask), cv2.IMREAD_GRAYSCALE)
        depth = layout.imread(resolve(root, r.depth), cv2.IMREAD_UNCHANGED)
        panels = [
            draw_annotation(over_background(rgb), r),
            cv2.cvtColor(mask, cv2.COLOR_GRAY2BGR),
            depth_panel(depth, r.depth_scale),
        ]
        cell = np.hstack(
            [cv2.copyMakeBorder(p, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(128, 128, 128)) for p in panels]
        )
        cells.append(cell)
    h, w = cells[0].shape[:2]
    rows = (len(cells) + columns - 1) // columns
    sheet = np.full((rows * h, columns * w, 3), 255, np.uint8)
    for i, cell in enumerate(cells):
        y, x = (i // columns) * h, (i % columns) * w
        sheet[y : y + cell.shape[0], x : x + cell.shape[1]] = cell
    ok, buf = cv2.imencode(".png", sheet)
    atomic.write_bytes(path, buf.tobytes())
    return len(chosen)


def histogram_rows(values_deg: np.ndarray, lo: float, hi: float, width: float, name: str) -> list[dict]:
    """Counts per bin (bin centre in degrees) for a dvc 'linear' plot."""
    edges = np.arange(lo, hi + width * 0.5, width)
    counts, _ = np.histogram(values_deg, bins=edges)
    return [
        {f"{name}_deg": float((a + b) / 2), "count": int(c)} for a, b, c in zip(edges[:-1], edges[1:], counts)
    ]


def write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, buf.getvalue())


def viewpoint_histograms(records: list[ImageRecord], folder: Path) -> dict[str, list[dict]]:
    """azimuth.csv, elevation.csv, theta.csv (dvc plots data) and viewpoints.png (a quick look)."""
    az = np.degrees([r.azimuth for r in records]) if records else np.zeros(0)
    el = np.degrees([r.elevation for r in records]) if records else np.zeros(0)
    th = np.degrees([r.theta for r in records]) if records else np.zeros(0)
    span = max(15.0, float(np.ceil(np.abs(th).max() / 5.0) * 5.0)) if len(th) else 15.0
    tables = {
        "azimuth": histogram_rows(az, 0.0, 360.0, 15.0, "azimuth"),
        "elevation": histogram_rows(el, -90.0, 90.0, 10.0, "elevation"),
        "theta": histogram_rows(th, -span, span, 5.0, "theta"),
    }
    for name, rows in tables.items():
        write_csv(folder / f"{name}.csv", rows)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, (name, rows) in zip(axes, tables.items()):
        x = [r[f"{name}_deg"] for r in rows]
        width = x[1] - x[0] if len(x) > 1 else 1.0
        ax.bar(x, [r["count"] for r in rows], width=width * 0.9)
        ax.set_title(f"{name} (deg), n={len(records)}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    atomic.write_bytes(folder / "viewpoints.png", buf.getvalue())
    return tables
