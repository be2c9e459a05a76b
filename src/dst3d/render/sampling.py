"""Viewpoint and lighting sampling: pure numpy, one seeded ``np.random.Generator`` per view.

The five viewpoint strategies are upstream 3D-DST's (``blender_render.py --pose_sampling``). Upstream
measures the camera azimuth from +x (camera at (cos a, sin a)) and samples the *polar* angle from +z;
our azimuth (camera.py) is measured from -y, so ``azimuth = upstream_azimuth + 90 deg`` and
``elevation = 90 deg - polar``. Strategy 2's upstream range [-195, 15) therefore becomes [-105, 105):
centred on the object's front, as upstream intends ("front azimuth angles, e.g. microwave").
Upstream draws the polar angle from a *truncated* normal (scipy ``truncnorm``), not a clipped one, so
there is no pile-up of views at the bounds; we do the same by rejection.

Per-model offsets from the align manifest move the camera exactly as upstream does
(``azimuth += azimuth_offset``, ``polar -= elevation_offset``, then a polar angle past a pole wraps to
the other side with the azimuth turned by 180 deg and the camera kept upright). The recorded angles are
always the true camera angles relative to the aligned mesh, so the annotation stays exact whatever the
offsets are.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dst3d.render.params import LightConfig, RenderConfig


@dataclass(frozen=True)
class Strategy:
    """Azimuth range (ours, degrees) and polar-angle distribution of one upstream strategy."""

    azimuth_deg: tuple[float, float]
    polar_mean: float | None  # None: uniform polar angle
    polar_std: float | None
    polar_deg: tuple[float, float]
    note: str


_SHIFT = 90.0  # ours = upstream + 90 deg
STRATEGIES: dict[int, Strategy] = {
    1: Strategy(
        (0 + _SHIFT, 360 + _SHIFT), 90.0, 30.0, (0.0, 180.0), "all azimuths, all elevations (aeroplane)"
    ),
    2: Strategy(
        (-195 + _SHIFT, 15 + _SHIFT), 90.0, 30.0, (0.0, 180.0), "front azimuths, all elevations (microwave)"
    ),
    3: Strategy((0 + _SHIFT, 360 + _SHIFT), 60.0, 20.0, (0.0, 195.0), "all azimuths, from above (car)"),
    4: Strategy(
        (-195 + _SHIFT, 15 + _SHIFT), 60.0, 20.0, (0.0, 195.0), "front azimuths, from above (printer)"
    ),
    5: Strategy((0 + _SHIFT, 360 + _SHIFT), None, None, (0.0, 180.0), "all azimuths, uniform polar angle"),
}


@dataclass(frozen=True)
class Viewpoint:
    """A camera on a sphere around the object: radians and scene units, canonical ranges.

    azimuth in [0, 2pi), elevation in [-pi/2, pi/2], theta in (-pi, pi].
    """

    azimuth: float
    elevation: float
    theta: float
    distance: float


@dataclass(frozen=True)
class Lighting:
    """The light of one view; both backends render exactly this.

    ``sun_direction`` points from the object towards the sun (world frame, unit length).
    """

    sun_direction: tuple[float, float, float]
    sun_strength: float
    ambient: float
    hdr: str = ""  # name of a bundled world map ('' = uniform ambient)
    hdr_strength: float = 0.0
    hdr_rotation: float = 0.0  # radians about +z


def truncated_normal(rng: np.random.Generator, mean: float, std: float, lo: float, hi: float) -> float:
    """One draw of N(mean, std) restricted to [lo, hi] (rejection; the bounds here keep > 80% of the mass)."""
    if lo > hi:
        raise ValueError(f"empty interval [{lo}, {hi}]")
    for _ in range(10_000):
        x = float(rng.normal(mean, std))
        if lo <= x <= hi:
            return x
    raise ValueError(f"N({mean}, {std}) has (almost) no mass in [{lo}, {hi}]")


def _wrap_theta(a: float) -> float:
    """Angle in (-pi, pi]."""
    a = float(np.arctan2(np.sin(a), np.cos(a)))
    return np.pi if a == -np.pi else a


def sample_viewpoint(
    rng: np.random.Generator,
    strategy: int,
    cfg: RenderConfig,
    azimuth_offset_deg: float = 0.0,
    elevation_offset_deg: float = 0.0,
    distance: float = 2.5,
) -> Viewpoint:
    """One viewpoint with upstream strategy ``strategy`` plus our in-plane rotation and distance jitter."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown viewpoint strategy {strategy}; upstream defines 1..5")
    s = STRATEGIES[strategy]
    azimuth = float(rng.uniform(*s.azimuth_deg))
    if s.polar_mean is None:
        polar = float(rng.uniform(*s.polar_deg))
    else:
        polar = truncated_normal(rng, s.polar_mean, s.polar_std, *s.polar_deg)  # type: ignore[arg-type]

    if cfg.theta == "zero":
        theta = 0.0
    elif cfg.theta == "normal":
        theta = float(rng.normal(0.0, cfg.theta_spread_deg)) if cfg.theta_spread_deg > 0 else 0.0
    else:
        theta = float(rng.uniform(-cfg.theta_spread_deg, cfg.theta_spread_deg))

    lo, hi = cfg.distance_range
    if lo == 0 and hi == 0:
        dist = float(distance)
    else:
        dist = truncated_normal(rng, distance, cfg.distance_std, distance + lo, distance + hi)

    # Upstream's offsets and pole wrap (the camera stays upright: theta is not changed by the wrap).
    azimuth += azimuth_offset_deg
    polar = (polar - elevation_offset_deg) % 360.0
    if polar > 180.0:
        azimuth += 180.0
        polar = 360.0 - polar
    return Viewpoint(
        azimuth=float(np.deg2rad(azimuth) % (2 * np.pi)),
        elevation=float(np.deg2rad(90.0 - polar)),
        theta=_wrap_theta(float(np.deg2rad(theta))),
        distance=dist,
    )


def direction(azimuth: float, elevation: float) -> np.ndarray:
    """Unit vector from the origin to a point at (azimuth, elevation), camera.py's convention."""
    ce = np.cos(elevation)
    return np.array([np.sin(azimuth) * ce, -np.cos(azimuth) * ce, np.sin(elevation)])


def world_maps() -> dict[str, Path]:
    """The world HDR maps that ship inside the bpy wheel (found without importing bpy)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        return {}
    root = Path(next(iter(spec.submodule_search_locations)))
    return {p.stem: p for p in sorted(root.glob("*/datafiles/studiolights/world/*.exr"))}


def split_world_maps(cfg: LightConfig, available: dict[str, Path]) -> dict[str, list[str]]:
    """``{'train': [...], 'test': [...]}`` map names; unknown test names are an error naming the choices."""
    unknown = sorted(set(cfg.hdr_test_maps) - set(available))
    if unknown:
        raise ValueError(f"light.hdr_test_maps: unknown map(s) {unknown}; bundled maps: {sorted(available)}")
    test = [n for n in sorted(available) if n in cfg.hdr_test_maps]
    train = [n for n in sorted(available) if n not in cfg.hdr_test_maps]
    if not train or not test:
        raise ValueError(
            f"light.hdr_test_maps: both splits need at least one map (bundled: {sorted(available)})"
        )
    return {"train": train, "test": test}


def sample_lighting(
    rng: np.random.Generator,
    cfg: LightConfig,
    camera_azimuth: float,
    maps: list[str] | None = None,
) -> Lighting:
    """Sun near the camera's side (so the visible faces are lit), ambient level, optional world map."""
    spread = np.deg2rad(cfg.sun_azimuth_spread_deg)
    sun_az = camera_azimuth + float(rng.uniform(-spread, spread))
    sun_el = float(np.deg2rad(rng.uniform(*cfg.sun_elevation_deg)))
    d = direction(sun_az, sun_el)
    strength = float(rng.uniform(*cfg.sun_strength))
    ambient = float(rng.uniform(*cfg.ambient))
    if cfg.hdr and maps:
        name = maps[int(rng.integers(len(maps)))]
        return Lighting(
            sun_direction=(float(d[0]), float(d[1]), float(d[2])),
            sun_strength=strength,
            ambient=0.0,
            hdr=name,
            hdr_strength=float(rng.uniform(*cfg.hdr_strength)),
            hdr_rotation=float(rng.uniform(0.0, 2 * np.pi)),
        )
    return Lighting(
        sun_direction=(float(d[0]), float(d[1]), float(d[2])), sun_strength=strength, ambient=ambient
    )
