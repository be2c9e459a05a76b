"""Params of the render stage (``render:``): viewpoints, camera, lighting, backend, workers.

Each backend's own settings live in its module (:mod:`dst3d.render.backends`), as ``render.<backend>:``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from dst3d.params import ConfigError, pair


@dataclass(frozen=True)
class LightConfig:
    """Seeded lighting shared by both render backends: one sun plus a uniform ambient world.

    Linear radiance of a diffuse surface = albedo * (ambient + sun_strength / pi * max(0, n . l)), as in
    Cycles (sun strength = irradiance in W/m^2). With ``hdr`` one of Blender's bundled world maps replaces
    the uniform ambient (blenderproc backend only): train views draw from the train maps, test views
    from ``hdr_test_maps``.
    """

    sun_strength: tuple[float, float] = (1.5, 3.0)
    sun_elevation_deg: tuple[float, float] = (20.0, 70.0)
    sun_azimuth_spread_deg: float = 60.0  # sun azimuth within +- this of the camera azimuth
    ambient: tuple[float, float] = (0.25, 0.45)
    hdr: bool = False
    hdr_background: bool = False  # also show the world map behind the object (then rgb has no alpha)
    hdr_strength: tuple[float, float] = (0.8, 1.5)
    hdr_test_maps: tuple[str, ...] = ("forest", "night")

    def validate(self) -> None:
        for name in ("sun_strength", "sun_elevation_deg", "ambient", "hdr_strength"):
            lo, hi = pair(self, name)
            if lo < 0 or hi < lo:
                raise ConfigError(f"{name}: need 0 <= low <= high, got [{lo}, {hi}]")
        if self.sun_elevation_deg[1] > 90:
            raise ConfigError("sun_elevation_deg: at most 90")
        if not 0 <= self.sun_azimuth_spread_deg <= 180:
            raise ConfigError("sun_azimuth_spread_deg: must be in [0, 180]")
        if self.hdr_background and not self.hdr:
            raise ConfigError("hdr_background: needs hdr: true")


@dataclass(frozen=True)
class RenderConfig:
    """The render stage: viewpoint sampling, camera, backend, workers (README "render").

    ``backend`` names an entry of :data:`dst3d.render.backends.BACKENDS`; each registered backend has its
    own sub-section (``render.blenderproc:``, ``render.opengl:``), parsed into its ``Params`` dataclass
    and kept in :attr:`backends`. Only the active backend's settings enter the views' keys.
    """

    PLUGIN_FIELD: ClassVar[str] = "backends"
    MOVED: ClassVar[dict[str, str]] = {
        "samples": "render.blenderproc.samples",
        "denoise": "render.blenderproc.denoise",
        "max_bounces": "render.blenderproc.max_bounces",
        "device": "render.blenderproc.device",
        "threads": "render.blenderproc.threads",
        "msaa": "render.opengl.msaa",
        "grid_views": "render.grid_images",
    }

    backend: str = "blenderproc"
    views_per_model: int = 4
    models: tuple[str, ...] = ()  # render only these model ids (empty = every model of base.categories)
    width: int = 256
    height: int = 256
    focal_mm: float = 35.0
    sensor_mm: float = 32.0
    strategy: int = 0  # 0 = each model's strategy from the align manifest; 1..5 = force one for all
    theta: Literal["zero", "normal", "uniform"] = "normal"
    theta_spread_deg: float = 10.0  # std (normal) or half-width (uniform) of the in-plane rotation
    distance_range: tuple[float, float] = (0.0, 0.0)  # offsets to each model's distance; upstream [-0.5, 1.5]
    distance_std: float = 0.5  # truncated-normal std when distance_range is not [0, 0]
    workers: int = 2
    views_per_shard: int = 64
    test_fraction: float = 0.2  # share of each category's models whose views are split 'test'
    allow_truncated: bool = False  # False: views whose object leaves the frame are skipped and counted
    depth_scale: float = 0.0001  # scene units per depth PNG count (uint16 -> up to 6.55 units)
    light: LightConfig = LightConfig()
    grid_images: int = 12
    backends: dict[str, Any] = field(default_factory=dict)  # backend name -> its Params (sub-sections)

    @classmethod
    def plugins(cls) -> dict[str, type]:
        """One params sub-section per registered backend (imports only their light modules)."""
        from dst3d.render import backends

        return {name: backends.params_class(name) for name in backends.backend_names()}

    def backend_params(self) -> Any:
        """The active backend's ``Params``: its sub-section, or its defaults when built without one."""
        if self.backend in self.backends:
            return self.backends[self.backend]
        from dst3d.render import backends

        return backends.params_class(self.backend)()

    def validate(self) -> None:
        from dst3d.render import backends

        if self.backend not in backends.BACKENDS:
            raise ConfigError(
                f"backend: {self.backend!r} is not a registered render backend; "
                f"allowed: {', '.join(backends.backend_names())}"
            )
        positive = ("views_per_model", "width", "height", "workers", "views_per_shard")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be >= 1")
        if self.focal_mm <= 0 or self.sensor_mm <= 0:
            raise ConfigError("focal_mm, sensor_mm: must be > 0")
        if self.strategy not in (0, 1, 2, 3, 4, 5):
            raise ConfigError("strategy: 0 (per model) or one of the upstream strategies 1..5")
        if not 0 <= self.theta_spread_deg <= 180:
            raise ConfigError("theta_spread_deg: must be in [0, 180]")
        lo, hi = pair(self, "distance_range")
        if lo > 0 or hi < 0:
            raise ConfigError(f"distance_range: need low <= 0 <= high, got [{lo}, {hi}]")
        if self.distance_std <= 0:
            raise ConfigError("distance_std: must be > 0")
        if self.grid_images < 0:
            raise ConfigError("grid_images: must be >= 0")
        if not 0 <= self.test_fraction < 1:
            raise ConfigError("test_fraction: must be in [0, 1)")
        if self.depth_scale <= 0:
            raise ConfigError("depth_scale: must be > 0")
        if self.light.hdr and self.backend != "blenderproc":
            raise ConfigError(
                f"light.hdr: world maps need backend 'blenderproc' (backend {self.backend!r} has no "
                "environment lighting)"
            )
