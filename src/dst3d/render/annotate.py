"""2D annotation from the exact camera: bbox, keypoints with a depth-test visibility, visib_fract.

Pixel convention (camera.py): pixel (col i, row j) covers [i, i+1) x [j, j+1) and its centre is
(i + 0.5, j + 0.5); ``bbox`` = (x0, y0, x1, y1) in those continuous coordinates, i.e. the visible mask's
pixel edges (x1 = last column + 1).
"""

from __future__ import annotations

import cv2
import numpy as np

from dst3d import camera

_SUB = 4  # fixed-point bits for cv2.fillPoly (1/16 pixel)


def bbox_from_mask(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Tight box around the True pixels; (0, 0, 0, 0) for an empty mask."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def in_frame(
    vertices: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray, width: int, height: int
) -> bool:
    """True when every vertex is in front of the camera and projects inside the image."""
    uv, z = camera.project(vertices, K, R, t)
    if np.any(z <= 1e-6):
        return False
    return bool(np.all((uv[:, 0] >= 0) & (uv[:, 0] <= width) & (uv[:, 1] >= 0) & (uv[:, 1] <= height)))


def silhouette(
    vertices: np.ndarray,
    faces: np.ndarray,
    K: np.ndarray,
    R: np.ndarray,
    t: np.ndarray,
    width: int,
    height: int,
    pad: int = 0,
    supersample: int = 8,
) -> np.ndarray:
    """Rasterise the projected triangles, independently of both renderers; padded by ``pad`` pixels.

    cv2's polygon fill marks every pixel an edge touches (a fat silhouette), so triangles are filled on
    a ``supersample``-times finer grid and a pixel counts when at least half of it is covered, the rule
    the renderers' alpha >= 0.5 follows. Triangles with a vertex behind the camera are dropped (callers
    check ``in_frame`` first). The geometric-truth tests compare this with the rendered masks.
    """
    uv, z = camera.project(vertices, K, R, t)
    tri = uv[faces]  # (M, 3, 2)
    tri = tri[np.all(z[faces] > 1e-6, axis=1)]
    s = supersample
    # fine-grid pixel (i, j) has its centre at ((i + 0.5) / s, (j + 0.5) / s) in our coordinates
    pts = np.round(((tri + pad) * s - 0.5) * (1 << _SUB)).astype(np.int32)
    fine = np.zeros(((height + 2 * pad) * s, (width + 2 * pad) * s), np.uint8)
    for tri_pts in pts:  # one call per triangle: a multi-polygon fillPoly would cancel overlaps (even-odd)
        cv2.fillConvexPoly(fine, tri_pts, 255, lineType=cv2.LINE_8, shift=_SUB)
    coverage = cv2.resize(fine, (width + 2 * pad, height + 2 * pad), interpolation=cv2.INTER_AREA)
    return coverage >= 128


def visible_fraction(
    mask: np.ndarray, vertices: np.ndarray, faces: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray
) -> float:
    """Visible pixels / pixels of the whole (untruncated) silhouette; 1.0 when the object is in frame."""
    h, w = mask.shape
    if in_frame(vertices, K, R, t, w, h):
        return 1.0
    uv, _ = camera.project(vertices, K, R, t)
    finite = uv[np.all(np.isfinite(uv), axis=1)]
    reach = np.abs(finite - np.array([w / 2, h / 2])).max() if len(finite) else 0.0
    pad = int(min(max(reach - max(w, h) / 2, 0) + 2, 4 * max(w, h)))  # the whole silhouette, within reason
    full = silhouette(vertices, faces, K, R, t, w, h, pad=pad).sum()
    return float(min(1.0, mask.sum() / full)) if full else 0.0


def occluded(
    points: np.ndarray, origin: np.ndarray, vertices: np.ndarray, faces: np.ndarray, tolerance: float
) -> np.ndarray:
    """For each point, does a triangle cross the segment camera -> point more than ``tolerance`` before it?

    Exact ray casting (Moeller-Trumbore, vectorised over the triangles): independent of the pixel grid,
    so a keypoint seen at a grazing angle is not lost as it is by a depth-buffer test.
    """
    v0 = vertices[faces[:, 0]]
    e1 = vertices[faces[:, 1]] - v0
    e2 = vertices[faces[:, 2]] - v0
    out = np.zeros(len(points), bool)
    for k, p in enumerate(np.asarray(points, dtype=np.float64)):
        d = p - origin
        length = float(np.linalg.norm(d))
        if length <= tolerance:
            continue
        h = np.cross(d, e2)
        a = np.einsum("ij,ij->i", e1, h)
        ok = np.abs(a) > 1e-12
        f = np.where(ok, 1.0 / np.where(ok, a, 1.0), 0.0)
        s = origin - v0
        u = f * np.einsum("ij,ij->i", s, h)
        q = np.cross(s, e1)
        v = f * (q @ d)
        t = f * np.einsum("ij,ij->i", e2, q)
        hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 1e-9) & (t < 1.0 - tolerance / length)
        out[k] = bool(hit.any())
    return out


def keypoints_2d(
    keypoints: dict[str, tuple[float, float, float]],
    K: np.ndarray,
    R: np.ndarray,
    t: np.ndarray,
    mask: np.ndarray,
    vertices: np.ndarray,
    faces: np.ndarray,
    tolerance: float,
) -> dict[str, tuple[float, float, int]]:
    """Project 3D keypoints; visible = inside the image, on the rendered object and not occluded.

    Occlusion is decided by casting the ray camera -> keypoint against the mesh (``tolerance`` in scene
    units lets a keypoint sit on or just inside its surface): exact and independent of the pixel grid,
    where a test against the rendered depth misjudges keypoints on faces seen nearly edge-on (their
    pixels belong to the neighbouring face). "On the object" = an object pixel in the 3x3 neighbourhood,
    so a keypoint at a tip whose own pixel centre falls just outside the mask still counts.
    """
    out: dict[str, tuple[float, float, int]] = {}
    if not keypoints:
        return out
    h, w = mask.shape
    names = list(keypoints)
    pts = np.array([keypoints[n] for n in names], dtype=np.float64)
    uv, z = camera.project(pts, K, R, t)
    hidden = occluded(pts, camera.camera_center(R, t), vertices, faces, tolerance)
    for name, (u, v), zz, occ in zip(names, uv, z, hidden):
        visible = 0
        if zz > 0 and 0 <= u < w and 0 <= v < h and not occ:
            i, j = int(u), int(v)
            visible = int(mask[max(j - 1, 0) : j + 2, max(i - 1, 0) : i + 2].any())
        out[name] = (float(u), float(v), visible)
    return out


def encode_depth(depth: np.ndarray, mask: np.ndarray, scale: float) -> np.ndarray:
    """Planar camera depth -> uint16 counts of ``scale`` (0 = no object); overflow is an error, not a clip."""
    d = np.where(mask, depth, 0.0)
    counts = np.round(d / scale)
    if counts.max(initial=0) > 65535:
        raise ValueError(
            f"depth {float(d.max()):.3f} exceeds the uint16 range at depth_scale={scale}; "
            "raise render.depth_scale"
        )
    return counts.astype(np.uint16)


def decode_depth(png: np.ndarray, scale: float) -> np.ndarray:
    """uint16 depth PNG -> float depth in scene units (0 = no object)."""
    return png.astype(np.float32) * np.float32(scale)
