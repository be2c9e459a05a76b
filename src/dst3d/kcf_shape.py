"""KCF's shape evidence: does the object's outline in the image sit where the annotated pose puts it?

Every dst3d image comes with the exact mesh it was made from, so an annotation (mesh, K, R, t) says to the
pixel where the object's outline must be. This is render-and-compare verification, as 6D-pose pipelines use
it: the mesh's silhouette at a pose (:func:`dst3d.render.annotate.silhouette`, plain geometry, independent
of both renderers) is laid over the image's Canny edges, and

- ``fit`` is the mean distance (px, capped at ``tolerance_px``) from the silhouette's contour to the nearest
  image edge: 0 = every piece of the outline has an edge under it;
- ``vs_flips`` is ``fit`` minus the better fit of the same pose turned around (azimuth + 180 deg) or mirrored
  (azimuth -> -azimuth): > 0 when a flipped pose explains the image's outline better than the annotation.

A pose estimator trained on *other* instances cannot say which end of an unseen object is its front (see
docs/stages/kcf.md); the outline of the very mesh can, wherever front and back differ in shape. Where they
do not (a round bottle, a square table), both features are as unsure as the estimator, and the per-kind
calibration in :mod:`dst3d.kcf` leaves that question alone.

On the offline composites the object *is* the render, so clean outlines fit to the pixel: these features
are at their best there. On diffusion images they measure whether ControlNet kept the outline it was given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from dst3d import camera, progress
from dst3d.errors import UserError

FEATURES: tuple[str, ...] = ("fit", "vs_flips")
"""The shape features of one pose, in the order :func:`shape_features` returns them."""

_CHUNK = 32  # rows per worker task: one mesh load serves the chunk's rows of that model


class ShapeError(UserError, ValueError):
    """A mesh or image the shape evidence needs is missing or unreadable (the message names it)."""


def turned(angles: np.ndarray) -> np.ndarray:
    """The pose turned around: azimuth + pi (as ``eval_corruption``'s ``azimuth_180``)."""
    out = np.array(angles, dtype=np.float64)
    out[..., 0] = (out[..., 0] + math.pi) % (2 * math.pi)
    return out


def mirrored(angles: np.ndarray) -> np.ndarray:
    """The pose mirrored: azimuth -> -azimuth (as ``eval_corruption``'s ``mirror_azimuth``)."""
    out = np.array(angles, dtype=np.float64)
    out[..., 0] = (-out[..., 0]) % (2 * math.pi)
    return out


def edge_distance(gray: np.ndarray, low: float, high: float) -> np.ndarray:
    """Per pixel, the distance (px) to the nearest Canny edge of a grey image."""
    edges = cv2.Canny(gray, low, high)
    return cv2.distanceTransform((edges == 0).astype(np.uint8), cv2.DIST_L2, 3)


def outline_fit(distance: np.ndarray, mask: np.ndarray, tolerance_px: float) -> float:
    """Mean edge distance along the inner contour of ``mask``, each capped at ``tolerance_px``; an empty
    or off-image silhouette fits worst."""
    m = mask.astype(np.uint8)
    contour = (cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0) & (m > 0)
    d = distance[contour]
    return float(np.minimum(d, tolerance_px).mean()) if d.size else float(tolerance_px)


def closed_outward(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """The mesh with coincident vertices merged, and whether each of its connected parts is closed and wound
    outward. Then its silhouette is the union of the faces that face the camera (any ray into the outline
    meets a front face first), and :func:`pose_fits` rasterises only those: about half the faces."""
    import trimesh

    m = trimesh.Trimesh(vertices, faces, process=True)  # merges the seams' duplicate vertices
    v, f = np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.int64)
    if len(f) == 0 or not (m.is_watertight and m.is_winding_consistent):
        return v, f, False
    labels = trimesh.graph.connected_component_labels(m.face_adjacency, node_count=len(f))
    tri = v[f]
    signed = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])) / 6.0
    return v, f, bool(np.all(np.bincount(labels, weights=signed) > 0))  # every part encloses positive volume


def _key(a: np.ndarray) -> tuple[float, ...]:
    # azimuth by its cosine and sine, so a + 2 pi and a are the same pose
    return tuple(np.round([math.cos(a[0]), math.sin(a[0]), a[1], a[2]], 9).tolist())


def pose_fits(
    vertices: np.ndarray, faces: np.ndarray, K: np.ndarray, t: np.ndarray, width: int, height: int,
    distance: np.ndarray, poses: np.ndarray, tolerance_px: float, front_only: bool = False,
) -> np.ndarray:
    """(P, 2) features of each pose (rows of ``poses``: azimuth, elevation, theta) against one image;
    each distinct pose's silhouette is rasterised once (a pose's flips are often another row's pose).
    ``front_only``: rasterise only camera-facing faces (exact for meshes :func:`closed_outward` accepts)."""
    from dst3d.render.annotate import silhouette

    cache: dict[tuple[float, ...], float] = {}
    if front_only:
        corner = vertices[faces[:, 0]]
        normals = np.cross(vertices[faces[:, 1]] - corner, vertices[faces[:, 2]] - corner)

    def fit(a: np.ndarray) -> float:
        k = _key(a)
        if k not in cache:
            R = camera.rotation_from_angles(*a)
            shown = faces
            if front_only:
                shown = faces[np.einsum("ij,ij->i", camera.camera_center(R, t) - corner, normals) > 0]
            mask = silhouette(vertices, shown, K, R, t, width, height, supersample=2)
            cache[k] = outline_fit(distance, mask, tolerance_px)
        return cache[k]

    out = np.zeros((len(poses), len(FEATURES)))
    for p, a in enumerate(np.asarray(poses, dtype=np.float64)):
        f = fit(a)
        out[p] = (f, f - min(fit(turned(a)), fit(mirrored(a))))
    return out


def _chunk_features(task: tuple) -> np.ndarray:
    """Worker: the features of a chunk of rows of one model (the mesh is loaded once)."""
    from dst3d import layout
    from dst3d.assets.meshio import MeshError, load_mesh

    mesh_path, images, Ks, ts, sizes, poses, low, high, tolerance_px = task
    try:
        vertices, faces, _ = load_mesh(mesh_path)
    except MeshError as err:
        raise ShapeError(str(err)) from None
    vertices, faces, front_only = closed_outward(vertices, faces)
    out = np.zeros((len(images), poses.shape[1], len(FEATURES)))
    for i, image in enumerate(images):
        gray = layout.imread(image, cv2.IMREAD_GRAYSCALE)  # a loose file or a shard member
        if gray is None:
            raise ShapeError(f"{image}: image missing or unreadable")
        w, h = sizes[i]
        if gray.shape != (h, w):
            raise ShapeError(f"{image}: image is {gray.shape[1]}x{gray.shape[0]}, its annotation says {w}x{h}")
        out[i] = pose_fits(vertices, faces, Ks[i], ts[i], w, h, edge_distance(gray, low, high), poses[i],
                           tolerance_px, front_only)
    return out


def shape_features(
    images: Sequence[Path], meshes: Sequence[Path], Ks: np.ndarray, ts: np.ndarray, sizes: Sequence[tuple[int, int]],
    poses: np.ndarray, tolerance_px: float, canny: tuple[float, float], workers: int = 1,
) -> np.ndarray:
    """(N, P, 2): for each row (its image, mesh, K, t, (width, height)) the features of its P ``poses``.

    Rows are grouped by mesh into chunks and farmed out to ``workers`` processes; every value depends on
    its own row only, so any worker count gives the same array.
    """
    n = len(images)
    out = np.zeros((n, poses.shape[1], len(FEATURES)))
    order = sorted(range(n), key=lambda i: (str(meshes[i]), i))
    chunks: list[list[int]] = []
    for i in order:
        if chunks and len(chunks[-1]) < _CHUNK and meshes[chunks[-1][0]] == meshes[i]:
            chunks[-1].append(i)
        else:
            chunks.append([i])
    tasks = [(meshes[c[0]], [images[i] for i in c], Ks[c], ts[c], [sizes[i] for i in c], poses[c],
              canny[0], canny[1], tolerance_px) for c in chunks]
    if workers > 1 and len(tasks) > 1:
        # spawn, not fork: the stage has torch (and its thread pools) loaded by now
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            results = list(progress.track(pool.map(_chunk_features, tasks), "kcf shape", unit="chunk",
                                          total=len(tasks)))
    else:
        results = [_chunk_features(t) for t in progress.track(tasks, "kcf shape", unit="chunk")]
    for c, r in zip(chunks, results, strict=True):
        out[c] = r
    return out
