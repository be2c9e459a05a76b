"""Contact sheets: every mesh drawn from a few viewpoints with a tiny numpy rasteriser.

Used to eyeball the align stage's output (is every model upright, facing -y, recognisable?). No GPU or
OpenGL. Each triangle is flat Lambert-shaded (fixed key light + ambient) and rasterised with a per-pixel
depth buffer, vectorised over all covered pixels at once. A painter's algorithm (sort triangles by depth,
``cv2.fillPoly`` each) was tried first and rejected: thin parts laid on big faces (bus windows, stripes,
lights) sort wrongly against the large faces behind them and show through in patches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from dst3d import atomic
from dst3d.camera import intrinsics, look_at, project

Item = tuple[str, np.ndarray, np.ndarray, np.ndarray]

_SUPERSAMPLE = 2  # draw at 2x and downsample with area averaging: cheap anti-aliasing
_LIGHT_CAM = np.array([-0.45, -0.65, -0.6])  # from the surface toward the key light (camera frame)
_AMBIENT = 0.35
_DISTANCE = 3.2
_FOCAL_MM, _SENSOR_MM = 50.0, 22.0  # a unit object at distance 3.2 fills ~70% of the cell


def _normalise(vertices: np.ndarray) -> np.ndarray:
    """Centre at the bbox centre and scale the largest side to 1 (as the align stage does)."""
    v = np.asarray(vertices, dtype=np.float64)
    lo, hi = v.min(axis=0), v.max(axis=0)
    return (v - (lo + hi) / 2.0) / max(float((hi - lo).max()), 1e-12)


def _render(
    tris: np.ndarray, colors: np.ndarray, azimuth_deg: float, elevation_deg: float, size: int
) -> np.ndarray:
    """BGR uint8 image (size, size) of pre-normalised triangles (M, 3, 3) with rgb colours (M, 3)."""
    s = size * _SUPERSAMPLE
    R, t = look_at(math.radians(azimuth_deg), math.radians(elevation_deg), 0.0, _DISTANCE)
    K = intrinsics(_FOCAL_MM, _SENSOR_MM, s, s)
    uv, depth = project(tris.reshape(-1, 3), K, R, t)
    uv, depth = uv.reshape(-1, 3, 2), depth.reshape(-1, 3)
    cam = tris @ R.T + t  # (M, 3, 3) camera coordinates
    n = np.cross(cam[:, 1] - cam[:, 0], cam[:, 2] - cam[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-18)
    # Two-sided lighting: imported meshes may be open or inconsistently wound, so nothing is culled.
    n *= np.where(np.einsum("ij,ij->i", n, cam.mean(axis=1)) > 0, -1.0, 1.0)[:, None]
    light = _LIGHT_CAM / np.linalg.norm(_LIGHT_CAM)
    shade = _AMBIENT + (1.0 - _AMBIENT) * np.clip(n @ light, 0.0, 1.0)
    rgb = np.clip(colors * shade[:, None], 0.0, 1.0)

    keep = np.all(depth > 1e-6, axis=1)
    uv, depth, rgb = uv[keep], depth[keep], rgb[keep]
    p0, p1, p2 = uv[:, 0], uv[:, 1], uv[:, 2]
    area = (p1[:, 0] - p0[:, 0]) * (p2[:, 1] - p0[:, 1]) - (p1[:, 1] - p0[:, 1]) * (p2[:, 0] - p0[:, 0])
    ok = np.abs(area) > 1e-6
    uv, depth, rgb = uv[ok], depth[ok], rgb[ok]
    # 1/z is affine in screen space: solve its plane a*x + b*y + c per triangle (perspective-correct depth).
    M = np.concatenate([uv, np.ones((len(uv), 3, 1))], axis=2)
    plane = np.linalg.solve(M, 1.0 / depth[:, :, None])[:, :, 0]
    # Scanline spans: every (triangle, pixel row) pair, then the covered pixel run on that row.
    y_lo = np.clip(np.ceil(uv[:, :, 1].min(axis=1) - 0.5), 0, s).astype(np.int64)
    y_hi = np.clip(np.floor(uv[:, :, 1].max(axis=1) - 0.5), -1, s - 1).astype(np.int64)
    n_rows = np.maximum(y_hi - y_lo + 1, 0)
    tri = np.repeat(np.arange(len(uv)), n_rows)
    py = y_lo[tri] + np.arange(len(tri)) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    yc = py + 0.5
    x_min = np.full(len(tri), np.inf)
    x_max = np.full(len(tri), -np.inf)
    for k in range(3):  # intersect the row's centre line with each non-horizontal edge
        a, b_ = uv[tri, k], uv[tri, (k + 1) % 3]
        dy = b_[:, 1] - a[:, 1]
        hit = (np.minimum(a[:, 1], b_[:, 1]) <= yc) & (yc <= np.maximum(a[:, 1], b_[:, 1])) & (dy != 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = a[:, 0] + (yc - a[:, 1]) * (b_[:, 0] - a[:, 0]) / dy
        x_min = np.where(hit, np.minimum(x_min, x), x_min)
        x_max = np.where(hit, np.maximum(x_max, x), x_max)
    good = np.isfinite(x_min) & np.isfinite(x_max)
    x0 = np.clip(np.ceil(np.where(good, x_min, 0.0) - 0.5), 0, s).astype(np.int64)
    x1 = np.clip(np.floor(np.where(good, x_max, -1.0) - 0.5), -1, s - 1).astype(np.int64)
    n_px = np.where(good, np.maximum(x1 - x0 + 1, 0), 0)
    row = np.repeat(np.arange(len(tri)), n_px)
    px = x0[row] + np.arange(len(row)) - np.repeat(np.cumsum(n_px) - n_px, n_px)
    ti, py = tri[row], py[row]
    pl = plane[ti]
    z = 1.0 / (pl[:, 0] * (px + 0.5) + pl[:, 1] * (py + 0.5) + pl[:, 2])
    pix = py * s + px
    zbuf = np.full(s * s, np.inf)
    np.minimum.at(zbuf, pix, z)  # depth test: keep the nearest fragment of each pixel
    won = z <= zbuf[pix]
    cbuf = np.ones((s * s, 3))
    cbuf[pix[won]] = rgb[ti[won]]
    img = (cbuf.reshape(s, s, 3)[:, :, ::-1] * 255.0).round().astype(np.uint8)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def render_views(
    vertices: np.ndarray,
    faces: np.ndarray,
    face_colors: np.ndarray,
    views: Sequence[tuple[float, float]],
    cell: int,
) -> list[np.ndarray]:
    """One BGR cell image per (azimuth_deg, elevation_deg) view of a mesh normalised for display."""
    v = _normalise(vertices)
    f = np.asarray(faces, dtype=np.int64)
    c = np.asarray(face_colors, dtype=np.float64).reshape(-1, 3)
    if c.max(initial=0.0) > 1.0:  # accept 0..255 colours too
        c = c / 255.0
    tris = v[f]
    return [_render(tris, c, az, el, cell) for az, el in views]


def write_contact_sheet(
    items: list[Item],
    path: str | Path,
    views: Sequence[tuple[float, float]] = ((30, 20), (120, 20), (210, 20), (300, 35)),
    cell: int = 160,
    columns: int | None = None,
) -> Path:
    """Write a PNG grid: each item is a block of ``len(views)`` cells labelled with its name.

    ``items`` are (label, vertices (N, 3), faces (M, 3), per-face rgb (M, 3) in 0..1). Blocks wrap into
    ``columns`` columns (default: as many as keep the sheet roughly square).
    """
    if not items:
        raise ValueError("write_contact_sheet: no items to draw")
    n_views = len(views)
    if columns is None:
        columns = max(1, round(math.sqrt(len(items) / n_views)))
    columns = min(columns, len(items))
    rows = math.ceil(len(items) / columns)
    sheet = np.full((rows * cell, columns * n_views * cell, 3), 255, dtype=np.uint8)
    for k, (label, v, f, c) in enumerate(items):
        r, col = divmod(k, columns)
        y0, x0 = r * cell, col * n_views * cell
        for j, img in enumerate(render_views(v, f, c, views, cell)):
            sheet[y0 : y0 + cell, x0 + j * cell : x0 + (j + 1) * cell] = img
        cv2.rectangle(sheet, (x0, y0), (x0 + n_views * cell - 1, y0 + cell - 1), (200, 200, 200), 1)
        scale = max(0.3, cell / 400.0)
        cv2.putText(
            sheet,
            str(label),
            (x0 + 4, y0 + int(14 * scale / 0.4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", sheet)
    if not ok:
        raise RuntimeError(f"could not encode contact sheet {path}")
    atomic.write_bytes(path, buf.tobytes())
    return path
