"""Typed params: one frozen dataclass per ``params.yaml`` section.

Stage scripts call :func:`load_section` once; library code receives the dataclass and never reads
params.yaml. Unknown or mistyped keys fail before any work, naming the key and the allowed keys.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

PASCAL3D_CATEGORIES: tuple[str, ...] = (
    "aeroplane",
    "bicycle",
    "boat",
    "bottle",
    "bus",
    "car",
    "chair",
    "diningtable",
    "motorbike",
    "sofa",
    "train",
    "tvmonitor",
)


class ConfigError(ValueError):
    """A params key is unknown, missing or of the wrong type/value."""


# --------------------------------------------------------------------------- generic machinery
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (lists -> tuples)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in args:
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{where}: {value!r} does not match {_type_name(tp)}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        kt, vt = args or (Any, Any)
        return {_coerce(k, kt, where): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        return from_dict(tp, value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {type(value).__name__} {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {type(value).__name__} {value!r}")
        return value
    raise TypeError(f"unsupported annotation {tp!r} at {where}")  # a bug in a dataclass, not in params


def from_dict(cls: type, data: dict[str, Any] | None, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}; allowed keys: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            raise ConfigError(f"{where}: missing required key {name!r}")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        try:
            validate()
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
    return obj


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read params.yaml; a missing or malformed file is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {unknown}; allowed sections: {sorted(SECTIONS)}")
    return data


def load_all(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Every section, typed. A typo anywhere fails here, before any stage does work."""
    data = load_params(path)
    return {name: from_dict(cls, data.get(name), f"{Path(path).name}:{name}") for name, cls in SECTIONS.items()}


def load_stage(name: str, path: str | Path = "params.yaml") -> tuple[Any, Any]:
    """``(base, section)`` for a stage script; validates the whole file first."""
    typed = load_all(path)
    return typed["base"], typed[name]


# --------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class BaseConfig:
    """Shared settings: the master seed and the categories every stage works on."""

    seed: int = 0
    categories: tuple[str, ...] = PASCAL3D_CATEGORIES

    def validate(self) -> None:
        if not self.categories:
            raise ConfigError("categories: empty; name at least one category")
        if len(set(self.categories)) != len(self.categories):
            raise ConfigError(f"categories: duplicates in {list(self.categories)}")


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
    default_strategy: int = 1
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


SECTIONS: dict[str, type] = {
    "base": BaseConfig,
    "align": AlignConfig,
}
