"""Shared pieces of the category generators: the Part/Asset records, a part builder, colours, sampling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dst3d.assets import primitives as P
from dst3d.assets.primitives import Mesh

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class Part:
    """One material group of an asset: a closed triangle mesh with one colour (rgb in 0..1)."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    color: RGB


@dataclass(frozen=True)
class Asset:
    """One generated instance in the canonical frame (z up, front toward -y, object-left at +x)."""

    category: str
    parts: tuple[Part, ...]
    keypoints: dict[str, tuple[float, float, float]]
    keywords: tuple[str, ...]
    shape_params: dict[str, float | int | str] = field(default_factory=dict)

    def merged(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All parts as one mesh: vertices (N, 3), faces (M, 3), per-face rgb (M, 3)."""
        vs, fs, cs, base = [], [], [], 0
        for p in self.parts:
            vs.append(p.vertices)
            fs.append(p.faces + base)
            cs.append(np.tile(np.asarray(p.color, dtype=np.float64), (len(p.faces), 1)))
            base += len(p.vertices)
        return np.concatenate(vs), np.concatenate(fs), np.concatenate(cs)


# Named colours (rgb 0..1). Names double as prompt keywords, so they are plain English.
COLORS: dict[str, RGB] = {
    "red": (0.75, 0.08, 0.08),
    "dark red": (0.45, 0.05, 0.07),
    "blue": (0.10, 0.25, 0.70),
    "dark blue": (0.05, 0.10, 0.30),
    "light blue": (0.45, 0.65, 0.90),
    "white": (0.92, 0.92, 0.92),
    "black": (0.08, 0.08, 0.09),
    "silver": (0.72, 0.73, 0.75),
    "grey": (0.45, 0.46, 0.48),
    "green": (0.12, 0.45, 0.18),
    "dark green": (0.05, 0.25, 0.12),
    "yellow": (0.95, 0.78, 0.10),
    "orange": (0.95, 0.45, 0.08),
    "beige": (0.82, 0.74, 0.58),
    "brown": (0.40, 0.24, 0.12),
    "tan": (0.70, 0.52, 0.32),
    "cream": (0.93, 0.89, 0.78),
    "purple": (0.38, 0.16, 0.50),
    "teal": (0.05, 0.50, 0.52),
    "pink": (0.90, 0.55, 0.65),
    "navy": (0.08, 0.12, 0.35),
    "olive": (0.40, 0.42, 0.18),
    "charcoal": (0.20, 0.21, 0.23),
    "oak": (0.66, 0.47, 0.26),
    "walnut": (0.36, 0.22, 0.12),
    "pine": (0.85, 0.68, 0.45),
    "mahogany": (0.42, 0.14, 0.08),
}

# Fixed material colours shared by many categories.
TYRE: RGB = (0.06, 0.06, 0.07)
GLASS: RGB = (0.16, 0.24, 0.33)
CHROME: RGB = (0.78, 0.79, 0.82)
DARK: RGB = (0.13, 0.13, 0.14)
HEADLIGHT: RGB = (0.98, 0.96, 0.82)
TAILLIGHT: RGB = (0.85, 0.05, 0.05)
PLATE: RGB = (0.95, 0.95, 0.95)


def uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One float in [lo, hi) as a plain Python float (JSON-friendly)."""
    return float(rng.uniform(lo, hi))


def choice(rng: np.random.Generator, options: Sequence[str], p: Sequence[float] | None = None) -> str:
    """One of ``options`` (strings), optionally weighted."""
    if p is not None:
        w = np.asarray(p, dtype=np.float64)
        return str(options[int(rng.choice(len(options), p=w / w.sum()))])
    return str(options[int(rng.integers(len(options)))])


def pick_color(rng: np.random.Generator, names: Sequence[str]) -> tuple[str, RGB]:
    """A named colour with a small brightness jitter, so instances of one colour still differ."""
    name = choice(rng, names)
    k = uniform(rng, 0.92, 1.06)
    rgb = tuple(float(np.clip(c * k, 0.0, 1.0)) for c in COLORS[name])
    return name, (rgb[0], rgb[1], rgb[2])


class Builder:
    """Collects meshes by part name (one colour each), keypoints, keywords and sampled parameters."""

    def __init__(self, category: str, keypoint_names: Sequence[str]) -> None:
        self.category = category
        self.keypoint_names = tuple(keypoint_names)
        self._meshes: dict[str, list[Mesh]] = {}
        self._colors: dict[str, RGB] = {}
        self.keypoints: dict[str, tuple[float, float, float]] = {}
        self.keywords: list[str] = []
        self.params: dict[str, float | int | str] = {}

    def add(self, name: str, mesh: Mesh, color: RGB) -> None:
        """Add a mesh to part ``name`` (one colour per part: another colour goes to ``name_2``)."""
        rgb = (float(color[0]), float(color[1]), float(color[2]))
        key, k = name, 1
        while key in self._colors and self._colors[key] != rgb:
            k += 1
            key = f"{name}_{k}"
        self._colors[key] = rgb
        self._meshes.setdefault(key, []).append(mesh)

    def add_sym(self, name: str, mesh: Mesh, color: RGB) -> None:
        """Add a mesh and its mirror image across x = 0 (left/right pairs)."""
        self.add(name, mesh, color)
        self.add(name, P.mirror(mesh, 0), color)

    def kp(self, name: str, xyz: Sequence[float]) -> None:
        """Record one keypoint."""
        self.keypoints[name] = (float(xyz[0]), float(xyz[1]), float(xyz[2]))

    def kp_pair(self, stem: str, xyz: Sequence[float], suffix: bool = True) -> None:
        """Record ``{stem}_left`` at +|x| and ``{stem}_right`` at -|x| (object-left is +x)."""
        x, y, z = abs(float(xyz[0])), float(xyz[1]), float(xyz[2])
        left, right = (f"{stem}_left", f"{stem}_right") if suffix else (f"left_{stem}", f"right_{stem}")
        self.kp(left, (x, y, z))
        self.kp(right, (-x, y, z))

    def shift(self, offset: Sequence[float]) -> None:
        """Translate everything added so far (meshes and keypoints) by ``offset``."""
        o = np.asarray(offset, dtype=np.float64)
        for name, meshes in self._meshes.items():
            self._meshes[name] = [P.transform(m, translate=o) for m in meshes]
        self.keypoints = {k: (v[0] + o[0], v[1] + o[1], v[2] + o[2]) for k, v in self.keypoints.items()}

    def ground(self) -> None:
        """Shift everything vertically so the lowest vertex rests on z = 0."""
        z_min = min(float(m[0][:, 2].min()) for meshes in self._meshes.values() for m in meshes)
        self.shift((0.0, 0.0, -z_min))

    def param(self, **kw: float | int | str | bool) -> None:
        """Record sampled shape parameters (converted to plain JSON types)."""
        for k, v in kw.items():
            if isinstance(v, bool | np.bool_):
                self.params[k] = int(v)
            elif isinstance(v, int | np.integer):
                self.params[k] = int(v)
            elif isinstance(v, float | np.floating):
                self.params[k] = round(float(v), 5)
            else:
                self.params[k] = str(v)

    def build(self) -> Asset:
        """Freeze into an :class:`Asset`; the keypoint set must be exactly the category's declared one."""
        if set(self.keypoints) != set(self.keypoint_names):
            missing = sorted(set(self.keypoint_names) - set(self.keypoints))
            extra = sorted(set(self.keypoints) - set(self.keypoint_names))
            raise AssertionError(f"{self.category}: keypoints missing {missing}, unexpected {extra}")
        parts = []
        for name, meshes in self._meshes.items():
            v, f = P.concat(meshes)
            parts.append(Part(name, v, f, self._colors[name]))
        kps = {k: self.keypoints[k] for k in self.keypoint_names}
        words = tuple(dict.fromkeys(w for w in self.keywords if w))  # dedupe, keep order
        return Asset(self.category, tuple(parts), kps, words, dict(self.params))


def wheel(
    center: Sequence[float],
    radius: float,
    width: float,
    tyre_frac: float,
    tyre: RGB,
    rim: RGB,
    b: Builder,
    prefix: str = "wheel",
    segments: int = 28,
    hub: RGB | None = None,
) -> None:
    """A car-style wheel about the x axis: a fat torus tyre plus a rim disc and a hub cap."""
    c = np.asarray(center, dtype=np.float64)
    t = radius * tyre_frac  # radial thickness of the tyre
    b.add(
        f"{prefix}_tyre",
        P.torus(c, radius - t / 2, t / 2, (1, 0, 0), segments, 8, minor_scale=(1.0, width / t)),
        tyre,
    )
    w = width * 0.42
    b.add(f"{prefix}_rim", P.cylinder(c - (w, 0, 0), c + (w, 0, 0), radius - t * 0.95, segments), rim)
    hc = hub if hub is not None else DARK
    b.add(f"{prefix}_hub", P.cylinder(c - (w * 1.08, 0, 0), c + (w * 1.08, 0, 0), (radius - t) * 0.3, 12), hc)


def arch(y: float, z: float, radius: float, x: float, thickness: float = 0.01, n: int = 12) -> Mesh:
    """A half-disc in the plane x = ``x`` (the dark wheel well seen above a wheel)."""
    t = np.linspace(0.0, np.pi, n)
    poly = np.stack([y + radius * np.cos(t), z + radius * np.sin(t)], axis=1)
    return P.extrude(poly, thickness, "yz", x)
