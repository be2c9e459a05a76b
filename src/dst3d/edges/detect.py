"""Edge maps for ControlNet: Canny on the render composited over a uniform background.

Upstream 3D-DST reads the RGBA render with ``cv2.imread`` (alpha dropped: a black background) and runs
``cv2.Canny(img, 100, 200)`` on the colour image. Here the render is composited over a uniform grey
level, and with ``silhouette`` the alpha (or mask) channel joins the colour channels in Canny's gradient:
a dark object on a dark background still gets its outline, and the empty background has no gradient,
so no edges. The gradient rule is OpenCV's own for multi-channel images (per pixel, the channel with the
largest gradient), extended to a fourth channel; with a constant alpha the result equals ``cv2.Canny``
on the composite exactly (tested). Optional depth edges add creases between surfaces at different depths.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from dst3d import atomic, layout, progress
from dst3d.edges.params import EdgesConfig
from dst3d.render.annotate import decode_depth
from dst3d.schema import ImageRecord, resolve


def composite(rgb: np.ndarray, mask: np.ndarray | None, background: int) -> tuple[np.ndarray, np.ndarray]:
    """(BGR composite over ``background``, alpha uint8). RGBA uses its alpha; RGB uses the mask."""
    if rgb.ndim == 3 and rgb.shape[2] == 4:
        alpha = np.ascontiguousarray(rgb[..., 3])
        a3 = cv2.merge([alpha, alpha, alpha])
        comp = cv2.multiply(
            cv2.cvtColor(rgb, cv2.COLOR_BGRA2BGR), a3, scale=1.0 / 255.0
        )  # rounded, saturated
        if background:
            comp = cv2.add(comp, cv2.multiply(np.full_like(a3, background), 255 - a3, scale=1.0 / 255.0))
        return comp, alpha
    if mask is None:
        raise ValueError("an RGB render (visible background) needs its mask to be composited")
    alpha = np.where(mask, 255, 0).astype(np.uint8)
    comp = np.where(mask[..., None], rgb[..., :3], np.uint8(background))
    return comp.astype(np.uint8), alpha


def canny_with_alpha(comp: np.ndarray, alpha: np.ndarray, cfg: EdgesConfig) -> np.ndarray:
    """Canny whose gradient is, per pixel, the strongest of the B, G, R and alpha channel gradients."""
    stack = cv2.merge([*cv2.split(comp), alpha])
    dx = cv2.Sobel(stack, cv2.CV_16S, 1, 0, ksize=cfg.aperture, borderType=cv2.BORDER_REPLICATE)
    dy = cv2.Sobel(stack, cv2.CV_16S, 0, 1, ksize=cfg.aperture, borderType=cv2.BORDER_REPLICATE)
    if cfg.l2_gradient:
        dxi, dyi = dx.astype(np.int32), dy.astype(np.int32)
        mag = dxi * dxi + dyi * dyi
    else:  # |dx| + |dy| <= 2 * 48 * 255 for apertures 3 and 5: int16 is enough
        mag = np.abs(dx) + np.abs(dy)
    best = mag.argmax(axis=2)[..., None]
    gx = np.take_along_axis(dx, best, axis=2)[..., 0]
    gy = np.take_along_axis(dy, best, axis=2)[..., 0]
    return cv2.Canny(
        np.ascontiguousarray(gx),
        np.ascontiguousarray(gy),
        cfg.low_threshold,
        cfg.high_threshold,
        L2gradient=cfg.l2_gradient,
    )


def depth_edges(depth: np.ndarray, threshold: float) -> np.ndarray:
    """Pixels on the near side of a relative depth jump > ``threshold`` to a 4-neighbour (both on object)."""
    d = depth.astype(np.float32)
    on = d > 0
    out = np.zeros(d.shape, bool)
    for axis, step in ((0, 1), (0, -1), (1, 1), (1, -1)):
        n = np.roll(d, step, axis=axis)
        n_on = np.roll(on, step, axis=axis)
        edge = on & n_on & (n - d > threshold * d)
        if axis == 0:  # np.roll wraps around: drop the wrapped row/column
            edge[0 if step == 1 else -1, :] = False
        else:
            edge[:, 0 if step == 1 else -1] = False
        out |= edge
    return out


def edge_map(
    rgb: np.ndarray, mask: np.ndarray | None, depth: np.ndarray | None, cfg: EdgesConfig
) -> np.ndarray:
    """uint8 (H, W) edge map, 0 or 255.

    Only the object's bounding box (plus a margin wider than the Sobel and Canny neighbourhoods) is
    processed: outside it the composite is the flat background, whose gradient and edges are zero, so
    the result is the same as on the whole image at a fraction of the cost.
    """
    h, w = rgb.shape[:2]
    present = rgb[..., 3] > 0 if rgb.ndim == 3 and rgb.shape[2] == 4 else mask
    if present is not None:
        ys, xs = np.nonzero(np.any(present, axis=1))[0], np.nonzero(np.any(present, axis=0))[0]
        if len(ys) == 0:
            return np.zeros((h, w), np.uint8)
        m = 4 + cfg.aperture
        y0, y1, x0, x1 = max(ys[0] - m, 0), min(ys[-1] + m + 1, h), max(xs[0] - m, 0), min(xs[-1] + m + 1, w)
        if (y1 - y0) * (x1 - x0) < 0.8 * h * w:
            out = np.zeros((h, w), np.uint8)
            out[y0:y1, x0:x1] = edge_map(
                rgb[y0:y1, x0:x1],
                None if mask is None else mask[y0:y1, x0:x1],
                None if depth is None else depth[y0:y1, x0:x1],
                cfg,
            )
            return out
    comp, alpha = composite(rgb, mask, cfg.background)
    if cfg.silhouette:
        edges = canny_with_alpha(comp, alpha, cfg)
    else:
        edges = cv2.Canny(
            comp, cfg.low_threshold, cfg.high_threshold, apertureSize=cfg.aperture, L2gradient=cfg.l2_gradient
        )
    if cfg.depth_edges and depth is not None:
        edges[depth_edges(depth, cfg.depth_threshold)] = 255
    return edges


def edge_subpath(record: ImageRecord) -> str:
    """Where a view's edge map goes inside the edges folder: the render layout, ``<id>_edge.png``."""
    inside = Path(*Path(record.rgb).parts[1:]).parent  # drop the render folder's name
    return (inside / f"{record.image_id}_edge.png").as_posix()


class EdgeStats(NamedTuple):
    density: float  # edge pixels / all pixels
    outside: float  # edge pixels > 2 px from the object / edge pixels


def process(task: tuple[ImageRecord, str, str, EdgesConfig]) -> tuple[str, EdgeStats]:
    """Read one render, write its 3-channel edge PNG atomically into ``write_dir``; (image_id, stats)."""
    record, root, write_dir, cfg = task  # root: any stage folder under the data root
    rgb_path = resolve(root, record.rgb)
    rgb = layout.imread(rgb_path, cv2.IMREAD_UNCHANGED)
    if rgb is None:
        raise FileNotFoundError(f"{rgb_path}: render image missing or unreadable")
    need_mask = rgb.ndim == 2 or rgb.shape[2] != 4
    mask = layout.imread(resolve(root, record.mask), cv2.IMREAD_GRAYSCALE) > 127 if need_mask else None
    depth = None
    if cfg.depth_edges:
        depth = decode_depth(
            layout.imread(resolve(root, record.depth), cv2.IMREAD_UNCHANGED), record.depth_scale
        )
    if rgb.ndim == 2:
        rgb = cv2.cvtColor(rgb, cv2.COLOR_GRAY2BGR)
    edges = edge_map(rgb, mask, depth, cfg)
    target = Path(write_dir) / edge_subpath(record)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A plain write: the stage writes into a staging folder that is swapped in only when complete, so a
    # per-file temp + rename (measured: most of the per-image cost at 256 px) would buy nothing.
    if not cv2.imwrite(str(target), cv2.merge([edges, edges, edges])):  # ControlNet takes 3-channel images
        raise OSError(f"{target}: cannot write the edge map")
    n = np.count_nonzero(edges)
    return record.image_id, EdgeStats(n / edges.size, outside_fraction(edges, rgb, mask, n))


def outside_fraction(edges: np.ndarray, rgb: np.ndarray, mask: np.ndarray | None, n: int) -> float:
    """Share of edge pixels more than 2 px away from the object (should be 0: the background is empty)."""
    if n == 0:
        return 0.0
    obj = rgb[..., 3] > 0 if mask is None else mask
    near = cv2.dilate(obj.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return float(np.count_nonzero(edges[~near])) / n


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


def run(
    records: list[ImageRecord], render_dir: Path, write_dir: Path, cfg: EdgesConfig, name: str = "edges"
) -> tuple[list[ImageRecord], dict[str, EdgeStats]]:
    """Edge maps for every record in ``cfg.workers`` processes, written under ``write_dir``.

    ``name`` is the edges folder's final name (``write_dir`` may be its staging twin): the returned rows
    are the render rows plus ``edge`` = ``<name>/...`` relative to the data root, like every record path.
    """
    tasks = [(r, str(render_dir), str(write_dir), cfg) for r in records]
    if cfg.workers > 1 and len(tasks) > 1:
        ctx = multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        )
        with ctx.Pool(min(cfg.workers, len(tasks)), initializer=_init_worker) as pool:
            done = pool.imap(process, tasks, chunksize=max(1, len(tasks) // (cfg.workers * 8)))
            stats = dict(progress.track(done, "edges", unit="image", total=len(tasks)))  # counted as results arrive
    else:
        stats = dict(progress.track((process(t) for t in tasks), "edges", unit="image", total=len(tasks)))
    rows = [replace(r, edge=f"{name}/{edge_subpath(r)}") for r in records]
    return rows, stats


def edge_grid(rows: list[ImageRecord], root: Path, path: Path, n: int, columns: int = 3) -> int:
    """Cells of [render over white | edge map | edges in red over the render]; returns how many."""
    from dst3d.render.inspect import over_background, pick

    chosen = pick(rows, n)
    if not chosen:
        return 0
    cells = []
    for r in chosen:
        rgb = layout.imread(resolve(root, r.rgb), cv2.IMREAD_UNCHANGED)
        edges = layout.imread(resolve(root, r.edge), cv2.IMREAD_GRAYSCALE) > 127
        shown = over_background(rgb, 255)
        overlay = (shown * 0.5 + 127).astype(np.uint8)
        overlay[edges] = (30, 30, 230)
        cell = np.hstack(
            [
                cv2.copyMakeBorder(p, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=(128, 128, 128))
                for p in (
                    shown,
                    cv2.cvtColor(np.where(edges, 255, 0).astype(np.uint8), cv2.COLOR_GRAY2BGR),
                    overlay,
                )
            ]
        )
        cells.append(cell)
    h, w = cells[0].shape[:2]
    nrows = (len(cells) + columns - 1) // columns
    sheet = np.full((nrows * h, columns * w, 3), 255, np.uint8)
    for i, cell in enumerate(cells):
        y, x = (i // columns) * h, (i % columns) * w
        sheet[y : y + h, x : x + w] = cell
    ok, buf = cv2.imencode(".png", sheet)
    atomic.write_bytes(path, buf.tobytes())
    return len(chosen)
