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

    ``axes`` (``folder`` only): a per-model table (``.csv`` or ``.json``, relative to ``path`` or
    absolute) whose rows override ``up_axis``/``front_axis`` and give azimuth offsets and categories per
    mesh file; empty = ``axes.csv`` or ``axes.json`` in ``path`` if there is one (docs/stages/align.md).
    """

    kind: Literal["builtin", "shapenet", "folder", "csv"] = "builtin"
    path: str = ""
    root: str = ""
    category: str = ""
    up_axis: Literal["x", "y", "z", "-x", "-y", "-z", "auto"] = "auto"
    front_axis: Literal["x", "y", "z", "-x", "-y", "-z", "auto"] = "auto"
    max_per_category: int = 0  # 0 = all
    axes: str = ""  # folder only: per-model axes table (.csv/.json); '' = axes.csv/axes.json in path if present

    def validate(self) -> None:
        if self.kind != "builtin" and not self.path:
            raise ConfigError(f"path: required for a {self.kind!r} source")
        if self.axes and self.kind != "folder":
            raise ConfigError(f"axes: a per-model axes table is read by 'folder' sources only, not {self.kind!r}")
        if self.axes and not self.axes.lower().endswith((".csv", ".json")):
            raise ConfigError(f"axes: {self.axes!r} must be a .csv or .json file")
        if self.kind == "csv" and not self.root:
            raise ConfigError("root: required for a 'csv' source (the ShapeNet root holding the meshes)")
        if self.max_per_category < 0:
            raise ConfigError("max_per_category: must be >= 0")


@dataclass(frozen=True)
class AlignConfig:
    """The align stage: which sources, how many builtin instances, the contact sheet, broken files.

    ``on_error``: ``fail`` stops at the first broken mesh file (unreadable, empty, NaN vertices, zero
    extent, refused format, missing) naming it; ``skip`` leaves such files out, lists each with its reason
    in the metrics, and fails only if a category ends up with no model.
    """

    sources: tuple[SourceConfig, ...] = (SourceConfig(),)
    instances_per_category: int = 5
    default_distance: float = 2.5
    default_strategy: int = 3
    contact_sheet: bool = True
    on_error: Literal["fail", "skip"] = "fail"  # a broken mesh file: fail naming it, or skip it (listed in metrics)

    def validate(self) -> None:
        if not self.sources:
            raise ConfigError("sources: empty; name at least one source (e.g. {kind: builtin})")
        if self.instances_per_category < 1:
            raise ConfigError("instances_per_category: must be >= 1")
        if self.default_distance <= 0:
            raise ConfigError("default_distance: must be > 0")
        if self.default_strategy not in (1, 2, 3, 4, 5):
            raise ConfigError("default_strategy: must be one of the upstream strategies 1..5")
