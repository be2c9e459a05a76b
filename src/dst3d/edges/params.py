"""Params of the edges stage (``edges:``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dst3d.params import ConfigError


@dataclass(frozen=True)
class EdgesConfig:
    """The edges stage: Canny on the render composited over a uniform background (README "edges")."""

    low_threshold: float = 100.0
    high_threshold: float = 200.0
    aperture: Literal[3, 5] = 3  # Sobel size; 7 would overflow the int16 gradients Canny takes
    l2_gradient: bool = False
    background: int = 0  # grey level the render is composited over (upstream drops alpha: black)
    silhouette: bool = True  # alpha/mask gradient joins the colour gradient: the outline is always an edge
    depth_edges: bool = False
    depth_threshold: float = 0.05  # relative depth jump that counts as a depth edge
    workers: int = 2
    grid_images: int = 12

    def validate(self) -> None:
        if not 0 <= self.low_threshold <= self.high_threshold:
            raise ConfigError("low_threshold/high_threshold: need 0 <= low <= high")
        if not 0 <= self.background <= 255:
            raise ConfigError("background: a grey level in 0..255")
        if self.depth_threshold <= 0:
            raise ConfigError("depth_threshold: must be > 0")
        if self.workers < 1 or self.grid_images < 0:
            raise ConfigError("workers: must be >= 1; grid_images: >= 0")

