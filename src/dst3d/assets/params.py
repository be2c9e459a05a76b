"""Params of the align stage (``align:``): asset sources and the builtin library's size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dst3d.params import ConfigError


@dataclass(frozen=True)
class SourceConfig:
    """One asset source of the align stage.

    kind ``builtin``: the bundled parametric library; ``shapenet``: a ShapeNetCore v2 root
    (``<synset>/<model_id>/models/model_normalized.obj``); ``folder``: Objaverse-style mesh files
    (``category`` for all of them, or one sub-folder per category); ``csv``: the upstream
    ``3d-dst-models.csv`` alignment file, meshes found under ``root`` (ShapeNet layout).
    """

    kind: Literal["builtin", "shapenet", "folder", "csv"] = "builtin"
    path: str = ""
    root: str = ""
    category: str = ""
    up_axis: Literal["x", "y", "z", "-x", "-y", "-z", "auto"] = "auto"
    front_axis: Literal["x", "y", "z", "-x", "-y", "-z", "auto"] = "auto"
    max_per_category: int = 0  # 0 = all

    def validate(self) -> None:
        if self.kind != "builtin" and not self.path:
            raise ConfigError(f"path: required for a {self.kind!r} source")
        if self.kind == "csv" and not self.root:
            raise ConfigError("root: required for a 'csv' source (the ShapeNet root holding the meshes)")
        if self.max_per_category < 0:
            raise ConfigError("max_per_category: must be >= 0")


@dataclass(frozen=True)
class AlignConfig:
    """The align stage: which sources, how many builtin instances, and the contact sheet."""

    sources: tuple[SourceConfig, ...] = (SourceConfig(),)
    instances_per_category: int = 5
    default_distance: float = 2.5
    default_strategy: int = 3
    contact_sheet: bool = True

    def validate(self) -> None:
        if not self.sources:
            raise ConfigError("sources: empty; name at least one source (e.g. {kind: builtin})")
        if self.instances_per_category < 1:
            raise ConfigError("instances_per_category: must be >= 1")
        if self.default_distance <= 0:
            raise ConfigError("default_distance: must be > 0")
        if self.default_strategy not in (1, 2, 3, 4, 5):
            raise ConfigError("default_strategy: must be one of the upstream strategies 1..5")

