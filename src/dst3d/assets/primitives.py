"""Small closed triangle-mesh primitives for the bundled parametric asset library.

Every function returns a ``Mesh``: ``(vertices float64 (N, 3), faces int64 (M, 3))``. Closed shapes are
watertight and wound counter-clockwise seen from outside (right-hand normals point out, signed volume
> 0). Most shapes are built from one engine, :func:`loft`, which skins a sequence of corresponding
rings (a ring may collapse to a single point, e.g. a cone tip or a sphere pole) and caps the open ends.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Mesh = tuple[np.ndarray, np.ndarray]
ArrayLike3 = Sequence[float] | np.ndarray

_EPS = 1e-12


# --------------------------------------------------------------------------- transforms and assembly
def rotation(axis: ArrayLike3, angle: float) -> np.ndarray:
    """3x3 rotation by ``angle`` radians about ``axis`` (right-hand rule, Rodrigues)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    k = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def transform(
    mesh: Mesh,
    rot: np.ndarray | None = None,
    translate: ArrayLike3 | None = None,
    scale: float | ArrayLike3 | None = None,
) -> Mesh:
    """Scale, then rotate, then translate. A mirroring scale flips the winding so normals stay outward."""
    v, f = mesh
    v = np.array(v, dtype=np.float64)
    f = np.array(f, dtype=np.int64)
    if scale is not None:
        s = np.broadcast_to(np.asarray(scale, dtype=np.float64), (3,))
        v = v * s
        if np.prod(np.sign(s)) < 0:
            f = f[:, ::-1]
    if rot is not None:
        v = v @ np.asarray(rot, dtype=np.float64).T
    if translate is not None:
        v = v + np.asarray(translate, dtype=np.float64)
    return v, f


def mirror(mesh: Mesh, axis: int = 0) -> Mesh:
    """Reflect through the plane ``coord[axis] = 0`` (keeps outward winding)."""
    s = np.ones(3)
    s[axis] = -1.0
    return transform(mesh, scale=s)


def concat(meshes: Sequence[Mesh]) -> Mesh:
    """One mesh from many (vertex indices shifted)."""
    vs, fs, base = [], [], 0
    for v, f in meshes:
        vs.append(np.asarray(v, dtype=np.float64))
        fs.append(np.asarray(f, dtype=np.int64) + base)
        base += len(v)
    if not vs:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    return np.concatenate(vs), np.concatenate(fs)


def signed_volume(mesh: Mesh) -> float:
    """Signed volume of a closed mesh (> 0 when wound outward)."""
    v, f = mesh
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def _orthonormal_frame(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to ``direction`` and to each other (u, w) with u x w = d."""
    d = direction / np.linalg.norm(direction)
    helper = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(helper, d)
    u /= np.linalg.norm(u)
    w = np.cross(d, u)
    return u, w


# --------------------------------------------------------------------------- polygon triangulation
def polygon_area(poly: np.ndarray) -> float:
    """Signed area of a 2D polygon (> 0 counter-clockwise)."""
    x, y = poly[:, 0], poly[:, 1]
    return float(0.5 * (np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))


def triangulate_polygon(poly: np.ndarray) -> np.ndarray:
    """Ear-clipping triangulation of a simple 2D polygon; triangles (K, 3) wound like the polygon."""
    pts = np.asarray(poly, dtype=np.float64)
    n = len(pts)
    if n < 3:
        return np.zeros((0, 3), dtype=np.int64)
    ccw = polygon_area(pts) >= 0
    idx = list(range(n)) if ccw else list(range(n))[::-1]
    tris: list[tuple[int, int, int]] = []

    def cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))

    def inside(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
        return cross(a, b, p) > 1e-14 and cross(b, c, p) > 1e-14 and cross(c, a, p) > 1e-14

    guard = 0
    while len(idx) > 3 and guard < 10 * n * n:
        guard += 1
        m = len(idx)
        clipped = False
        for i in range(m):
            ia, ib, ic = idx[i - 1], idx[i], idx[(i + 1) % m]
            a, b, c = pts[ia], pts[ib], pts[ic]
            if cross(a, b, c) <= 1e-14:  # reflex or collinear corner: not an ear
                continue
            if any(inside(pts[j], a, b, c) for j in idx if j not in (ia, ib, ic)):
                continue
            tris.append((ia, ib, ic))
            idx.pop(i)
            clipped = True
            break
        if not clipped:  # numerically stuck (near-collinear run): clip the most convex corner anyway
            best = max(range(m), key=lambda i: cross(pts[idx[i - 1]], pts[idx[i]], pts[idx[(i + 1) % m]]))
            tris.append((idx[best - 1], idx[best], idx[(best + 1) % m]))
            idx.pop(best)
    tris.append((idx[0], idx[1], idx[2]))
    out = np.array(tris, dtype=np.int64)
    return out if ccw else out[:, ::-1]


def _newell_normal(ring: np.ndarray) -> np.ndarray:
    """Area-weighted normal of a closed 3D polygon (its winding's right-hand normal)."""
    nxt = np.roll(ring, -1, axis=0)
    return np.cross(ring, nxt).sum(axis=0) / 2.0


def _cap(ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate a planar-ish ring; returns (extra vertices, faces with ring indices 0..n-1, extra n..).

    Faces are wound like the ring. Convex rings get a centre fan (no slivers), others ear clipping.
    """
    n = len(ring)
    normal = _newell_normal(ring)
    u, w = _orthonormal_frame(normal)
    p2 = np.stack([ring @ u, ring @ w], axis=1)  # (u, w, n) right-handed, so winding is preserved
    e1 = np.roll(p2, -1, axis=0) - p2
    e2 = np.roll(e1, -1, axis=0)
    turn = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    if np.all(turn >= -1e-12 * max(1.0, float(np.abs(p2).max()) ** 2)):
        centre = ring.mean(axis=0, keepdims=True)
        i = np.arange(n)
        faces = np.stack([np.full(n, n), i, (i + 1) % n], axis=1)
        return centre, faces
    return np.zeros((0, 3)), triangulate_polygon(p2)


# --------------------------------------------------------------------------- the skinning engine
def loft(sections: Sequence[np.ndarray], cap_start: bool = True, cap_end: bool = True) -> Mesh:
    """Skin corresponding rings (each (n, 3), same n) into a tube; cap the ends.

    A ring whose points all coincide is a pole (single vertex, triangle fan). Ring winding and order are
    normalised so the result is outward-facing whichever way the caller listed them.
    """
    rings = [np.asarray(s, dtype=np.float64) for s in sections]
    n = len(rings[0])
    if any(len(r) != n for r in rings) or len(rings) < 2 or n < 3:
        raise ValueError("loft needs >= 2 rings of the same length >= 3")
    centres = [r.mean(axis=0) for r in rings]
    sizes = [float(np.abs(r - c).max()) for r, c in zip(rings, centres, strict=True)]
    scale = max(max(sizes), 1e-9)
    is_pole = [s < 1e-9 * scale for s in sizes]
    # Orientation: make every ring wind counter-clockwise about the direction of travel.
    travel = centres[-1] - centres[0]
    ref = next(i for i, p in enumerate(is_pole) if not p)
    if np.linalg.norm(travel) < 1e-12:  # e.g. two concentric rings: travel along the ring normal
        travel = _newell_normal(rings[ref])
    if np.dot(_newell_normal(rings[ref]), travel) < 0:
        rings = [r[::-1].copy() for r in rings]

    verts: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    base = 0
    for r, pole in zip(rings, is_pole, strict=True):
        if pole:
            verts.append(r[:1])
            ids.append(np.full(n, base))
            base += 1
        else:
            verts.append(r)
            ids.append(np.arange(base, base + n))
            base += n
    faces = []
    for a, b in zip(ids[:-1], ids[1:], strict=True):
        a1, b1 = np.roll(a, -1), np.roll(b, -1)
        faces.append(np.stack([a, a1, b1], axis=1))
        faces.append(np.stack([a, b1, b], axis=1))
    for cap, which in ((cap_start, 0), (cap_end, -1)):
        if not cap or is_pole[which]:
            continue
        extra, cf = _cap(rings[which])
        idx = np.concatenate([ids[which], np.arange(base, base + len(extra))])
        cf = idx[cf]
        faces.append(cf[:, ::-1] if which == 0 else cf)  # start cap faces backwards, end cap forwards
        verts.append(extra)
        base += len(extra)
    v = np.concatenate(verts)
    f = np.concatenate(faces)
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    return v, f


def circle(radius: float | tuple[float, float], segments: int, phase: float = 0.0) -> np.ndarray:
    """2D circle/ellipse points (segments, 2), counter-clockwise."""
    t = phase + np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    rx, ry = (radius, radius) if np.isscalar(radius) else radius
    return np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1)


def rounded_rect(width: float, height: float, radius: float, corner_segments: int = 3) -> np.ndarray:
    """2D rectangle centred at 0 with rounded corners, counter-clockwise (4 * (corner_segments + 1), 2)."""
    r = float(np.clip(radius, 0.0, 0.499 * min(width, height)))
    hw, hh = width / 2 - r, height / 2 - r
    pts = []
    for cx, cy, a0 in ((hw, hh, 0.0), (-hw, hh, 90.0), (-hw, -hh, 180.0), (hw, -hh, 270.0)):
        for a in np.radians(a0 + np.linspace(0.0, 90.0, corner_segments + 1)):
            pts.append((cx + r * np.cos(a), cy + r * np.sin(a)))
    return np.array(pts)


def _place_2d(poly: np.ndarray, plane: str, offset: float) -> np.ndarray:
    """Embed 2D points in a coordinate plane: 'xy' (at z=offset), 'yz' (x=offset) or 'xz' (y=offset)."""
    p = np.asarray(poly, dtype=np.float64)
    k = np.full(len(p), float(offset))
    if plane == "xy":
        return np.stack([p[:, 0], p[:, 1], k], axis=1)
    if plane == "yz":
        return np.stack([k, p[:, 0], p[:, 1]], axis=1)
    if plane == "xz":
        return np.stack([p[:, 0], k, p[:, 1]], axis=1)
    raise ValueError(f"plane must be 'xy', 'yz' or 'xz', not {plane!r}")


# --------------------------------------------------------------------------- solids
def box(size: ArrayLike3, center: ArrayLike3 = (0.0, 0.0, 0.0)) -> Mesh:
    """Axis-aligned box (12 triangles)."""
    h = np.asarray(size, dtype=np.float64) / 2.0
    c = np.asarray(center, dtype=np.float64)
    s = np.array(
        [[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1], [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]],
        dtype=np.float64,
    )
    f = np.array(
        [
            [0, 2, 1],
            [0, 3, 2],
            [4, 5, 6],
            [4, 6, 7],
            [0, 1, 5],
            [0, 5, 4],
            [1, 2, 6],
            [1, 6, 5],
            [2, 3, 7],
            [2, 7, 6],
            [3, 0, 4],
            [3, 4, 7],
        ],
        dtype=np.int64,
    )
    return s * h + c, f


def box_between(p0: ArrayLike3, p1: ArrayLike3) -> Mesh:
    """Axis-aligned box spanning two opposite corners."""
    a, b = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    return box(np.abs(b - a), (a + b) / 2.0)


def rounded_box(
    size: ArrayLike3, radius: float, center: ArrayLike3 = (0.0, 0.0, 0.0), segments: int = 3
) -> Mesh:
    """Box with all edges and corners rounded by ``radius`` (a quad-sphere pushed out to the box).

    ``segments`` = 1 gives a chamfered (bevelled) box.
    """
    h = np.asarray(size, dtype=np.float64) / 2.0
    r = float(np.clip(radius, 1e-6, 0.45 * h.min()))
    inner = h - r
    # Grid coordinates per axis: corner arcs at both ends, one span across the flat middle.
    axes = [
        np.concatenate(
            [np.linspace(-h[k], -inner[k], segments + 1), np.linspace(inner[k], h[k], segments + 1)]
        )
        for k in range(3)
    ]
    meshes = []
    for k in range(3):  # face normal axis
        i, j = (k + 1) % 3, (k + 2) % 3
        uu, vv = np.meshgrid(axes[i], axes[j], indexing="ij")
        nu, nv = uu.shape
        for sign in (-1.0, 1.0):
            p = np.zeros((nu * nv, 3))
            p[:, i], p[:, j], p[:, k] = uu.ravel(), vv.ravel(), sign * h[k]
            q = np.clip(p, -inner, inner)
            d = p - q
            d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), _EPS)
            verts = q + r * d
            g = np.arange(nu * nv).reshape(nu, nv)
            a, b, c, e = g[:-1, :-1].ravel(), g[1:, :-1].ravel(), g[1:, 1:].ravel(), g[:-1, 1:].ravel()
            f = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, e], 1)])
            if sign < 0:  # (i, j, k) is right-handed, so the +k face is CCW as built; flip the -k face
                f = f[:, ::-1]
            meshes.append((verts, f))
    return weld(transform(concat(meshes), translate=center))


def weld(mesh: Mesh, tol: float = 1e-9) -> Mesh:
    """Merge coincident vertices and drop triangles that become degenerate."""
    v, f = mesh
    key = np.round(v / tol).astype(np.int64)
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    f = inv[f]
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    return v[first], f


def lathe(
    profile: Sequence[tuple[float, float]],
    segments: int = 24,
    axis_from: ArrayLike3 = (0, 0, 0),
    axis_dir: ArrayLike3 = (0, 0, 1),
    radial_scale: tuple[float, float] = (1.0, 1.0),
) -> Mesh:
    """Surface of revolution of a (radius, height) profile about an axis; r = 0 ends close to a point.

    ``radial_scale`` squashes the circle into an ellipse (e.g. an oval fuselage).
    """
    prof = np.asarray(profile, dtype=np.float64)
    d = np.asarray(axis_dir, dtype=np.float64)
    d = d / np.linalg.norm(d)
    u, w = _orthonormal_frame(d)
    o = np.asarray(axis_from, dtype=np.float64)
    ring2 = circle(1.0, segments)
    rings = []
    for r, hgt in prof:
        pts = (ring2[:, :1] * radial_scale[0] * r) * u + (ring2[:, 1:] * radial_scale[1] * r) * w
        rings.append(o + hgt * d + pts)
    return loft(rings)


def frustum(p0: ArrayLike3, p1: ArrayLike3, r0: float, r1: float, segments: int = 16) -> Mesh:
    """Closed truncated cone from ``p0`` (radius r0) to ``p1`` (radius r1); r = 0 makes a cone tip."""
    a, b = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    length = float(np.linalg.norm(b - a))
    return lathe([(r0, 0.0), (r1, length)], segments, a, b - a)


def cylinder(p0: ArrayLike3, p1: ArrayLike3, radius: float, segments: int = 16) -> Mesh:
    """Closed cylinder between two points."""
    return frustum(p0, p1, radius, radius, segments)


def cone(base: ArrayLike3, tip: ArrayLike3, radius: float, segments: int = 16) -> Mesh:
    """Closed cone."""
    return frustum(base, tip, radius, 0.0, segments)


def sphere(center: ArrayLike3, radius: float | ArrayLike3, segments: int = 16, rings: int = 8) -> Mesh:
    """UV sphere (or axis-aligned ellipsoid when ``radius`` is a 3-vector)."""
    t = np.linspace(-np.pi / 2, np.pi / 2, rings + 1)
    prof = [(float(np.cos(a)) if 0 < k < rings else 0.0, float(np.sin(a))) for k, a in enumerate(t)]
    m = lathe(prof, segments)
    return transform(m, scale=radius, translate=center)


def torus(
    center: ArrayLike3,
    major: float,
    minor: float,
    axis: ArrayLike3 = (0, 0, 1),
    segments: int = 32,
    tube_segments: int = 10,
    minor_scale: tuple[float, float] = (1.0, 1.0),
) -> Mesh:
    """Torus about ``axis``; ``minor_scale`` = (radial, axial) stretches the tube section (fat tyres)."""
    d = np.asarray(axis, dtype=np.float64)
    d = d / np.linalg.norm(d)
    u, w = _orthonormal_frame(d)
    a = np.linspace(0.0, 2 * np.pi, segments, endpoint=False)
    b = np.linspace(0.0, 2 * np.pi, tube_segments, endpoint=False)
    A, B = np.meshgrid(a, b, indexing="ij")
    radial = major + minor * minor_scale[0] * np.cos(B)
    axial = minor * minor_scale[1] * np.sin(B)
    pts = radial[..., None] * (np.cos(A)[..., None] * u + np.sin(A)[..., None] * w) + axial[..., None] * d
    v = pts.reshape(-1, 3) + np.asarray(center, dtype=np.float64)
    g = np.arange(segments * tube_segments).reshape(segments, tube_segments)
    g1 = np.roll(g, -1, axis=0)
    g2 = np.roll(g, -1, axis=1)
    g12 = np.roll(g1, -1, axis=1)
    f = np.concatenate(
        [np.stack([g.ravel(), g1.ravel(), g12.ravel()], 1), np.stack([g.ravel(), g12.ravel(), g2.ravel()], 1)]
    )
    m = (v, f)
    if signed_volume(m) < 0:
        m = (v, f[:, ::-1])
    return m


def extrude(polygon: np.ndarray, depth: float, plane: str = "xy", offset: float = 0.0) -> Mesh:
    """Prism of a simple 2D polygon (any winding, may be concave) in a coordinate plane.

    The polygon lies in ``plane`` ('xy', 'yz' or 'xz', coordinates in that order) and is extruded
    symmetrically by ``depth`` along the remaining axis around ``offset``.
    """
    return loft(
        [_place_2d(polygon, plane, offset - depth / 2), _place_2d(polygon, plane, offset + depth / 2)]
    )


def tube(path: np.ndarray, radius: float | np.ndarray, segments: int = 8) -> Mesh:
    """Capped tube swept along a polyline (parallel-transport frames, so it does not twist)."""
    p = np.asarray(path, dtype=np.float64)
    radii = np.broadcast_to(np.asarray(radius, dtype=np.float64), (len(p),))
    tang = np.gradient(p, axis=0)
    tang /= np.maximum(np.linalg.norm(tang, axis=1, keepdims=True), _EPS)
    u, _ = _orthonormal_frame(tang[0])
    ring2 = circle(1.0, segments)
    rings = []
    for k in range(len(p)):
        t = tang[k]
        u = u - np.dot(u, t) * t  # transport the previous frame onto this tangent
        u /= np.linalg.norm(u)
        w = np.cross(t, u)
        rings.append(p[k] + radii[k] * (ring2[:, :1] * u + ring2[:, 1:] * w))
    return loft(rings)


def arc_points(
    center: ArrayLike3, radius: float, a0: float, a1: float, n: int, plane: str = "yz"
) -> np.ndarray:
    """Points on a circular arc (angles in radians, from the plane's first axis toward its second)."""
    c = np.asarray(center, dtype=np.float64)
    t = np.linspace(a0, a1, n)
    return c + _place_2d(np.stack([radius * np.cos(t), radius * np.sin(t)], 1), plane, 0.0)


def bezier(points: Sequence[ArrayLike3], n: int = 12) -> np.ndarray:
    """``n`` points along the Bezier curve of the given control points (paths for swept tubes)."""
    ctrl = np.asarray(points, dtype=np.float64)
    t = np.linspace(0.0, 1.0, n)[:, None, None]
    pts = np.broadcast_to(ctrl, (n, *ctrl.shape)).copy()
    while pts.shape[1] > 1:  # de Casteljau
        pts = (1 - t) * pts[:, :-1] + t * pts[:, 1:]
    return pts[:, 0]
