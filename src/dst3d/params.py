"""The params loader: ``params.yaml`` -> one frozen dataclass per section, and the ``base`` section.

Each package defines its own section beside its code (``assets/params.py``, ``render/params.py``, ...);
:data:`SECTIONS` is the one registry that names them. Stage scripts call :func:`load_stage` (or
:func:`load_all`) once; library code receives the dataclasses and never reads params.yaml. Unknown or
mistyped keys fail before any work, naming the key, the allowed keys and the ``dvc exp run -S`` spelling.

Section modules stay light (dataclasses only; no torch, bpy or mlflow import): validating the whole file
imports every one of them.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import types
import typing
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from dst3d.errors import UserError

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

SECTIONS: dict[str, str] = {
    "base": "dst3d.params:BaseConfig",
    "align": "dst3d.assets.params:AlignConfig",
    "render": "dst3d.render.params:RenderConfig",
    "edges": "dst3d.edges.params:EdgesConfig",
    "prompts": "dst3d.prompts.params:PromptsConfig",
    "synthesize": "dst3d.synthesize.params:SynthesizeConfig",
    "training": "dst3d.training.params:TrainingConfig",
    "kcf": "dst3d.training.params:KcfConfig",
    "train": "dst3d.training.params:TrainConfig",
    "tracking": "dst3d.tracking:TrackingConfig",
}
"""Section name -> ``module:Class`` of its dataclass, in validation order (imported on first use)."""


class ConfigError(UserError, ValueError):
    """A params key is unknown, missing or of the wrong type/value."""


def import_object(spec: str) -> Any:
    """``'package.module:Name'`` -> the object (a registry entry)."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


@cache
def section_classes() -> dict[str, type]:
    """Every section's dataclass, in :data:`SECTIONS` order."""
    return {name: import_object(spec) for name, spec in SECTIONS.items()}


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
        for arg in args:
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                pass
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


def _dvc_key(where: str, key: str) -> str:
    """``params.yaml:render.light`` + ``hdr`` -> ``render.light.hdr`` (the ``dvc exp run -S`` spelling)."""
    path = where.split(":", 1)[-1]
    return f"{path}.{key}" if path else key


def _unknown_key_error(where: str, unknown: list[str], allowed: list[str], moved: dict[str, str]) -> ConfigError:
    hints = []
    for k in unknown:
        if k in moved:
            hints.append(f"{k!r} moved to {moved[k]}")
        else:
            close = difflib.get_close_matches(k, allowed, n=1)
            if close:
                hints.append(f"did you mean {close[0]!r} (dvc exp run -S {_dvc_key(where, close[0])}=...)?")
    hint = f" ({'; '.join(hints)})" if hints else ""
    return ConfigError(
        f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}; allowed keys: {', '.join(allowed)}{hint}"
    )


def from_dict(cls: type, data: dict[str, Any] | None, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types.

    A class may declare ``plugins()`` -> ``{key: params class}`` (sub-sections named by a registry, such
    as one per render backend) and ``PLUGIN_FIELD``, the dict field that receives them typed; and
    ``MOVED`` -> ``{old key: new place}`` for a precise error after a key moved.
    """
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    plugin_field = getattr(cls, "PLUGIN_FIELD", "")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != plugin_field}
    plugins: dict[str, type] = cls.plugins() if plugin_field else {}
    allowed = sorted({*fields, *plugins})
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise _unknown_key_error(where, unknown, allowed, getattr(cls, "MOVED", {}))
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(data[name], hints[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
            raise ConfigError(f"{where}: missing required key {name!r}")
    if plugin_field:
        kwargs[plugin_field] = {k: _coerce(data.get(k, {}), p, f"{where}.{k}") for k, p in plugins.items()}
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        try:
            validate()
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
    return obj


def to_dict(obj: Any) -> Any:
    """The inverse of :func:`from_dict`: plain YAML-able data (plugin sub-sections back as keys)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        plugin_field = getattr(type(obj), "PLUGIN_FIELD", "")
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.name == plugin_field:
                out.update({k: to_dict(v) for k, v in value.items()})
            else:
                out[f.name] = to_dict(value)
        return out
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def pair(obj: Any, name: str) -> tuple[float, float]:
    """A ``[low, high]`` param as two floats (wrong length is an error naming the key)."""
    value = getattr(obj, name)
    if len(value) != 2:
        raise ConfigError(f"{name}: expected [low, high], got {list(value)}")
    return float(value[0]), float(value[1])


def check_device(device: str) -> None:
    """A torch device param: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (whether it exists is checked at run time)."""
    if not (device in ("auto", "cpu", "cuda") or device.startswith("cuda:")):
        raise ConfigError(f"device: 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def merge(defaults: Any, override: Any) -> Any:
    """Deep merge of two params mappings: ``override`` wins key by key."""
    if isinstance(defaults, dict) and isinstance(override, dict):
        return {**defaults, **{k: merge(defaults.get(k), v) for k, v in override.items()}}
    return override if override is not None else defaults


# --------------------------------------------------------------------------- reading params.yaml
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
    """Every section, typed. A typo anywhere fails here, before any stage does work.

    A section class with ``INHERITS = "other"`` starts from that section's keys it shares (``kcf`` and
    ``train`` take ``model``/``fit`` from ``training``) and overrides them key by key.
    """
    data = load_params(path)
    typed: dict[str, Any] = {}
    for name, cls in section_classes().items():
        raw = data.get(name) or {}
        parent = getattr(cls, "INHERITS", "")
        shared = data.get(parent) or {} if parent else {}
        if isinstance(raw, dict) and isinstance(shared, dict):
            raw = {**raw, **{k: merge(v, raw.get(k)) for k, v in shared.items()}}
        typed[name] = from_dict(cls, raw, f"{Path(path).name}:{name}")
    return typed


def load_stage(name: str, path: str | Path = "params.yaml") -> tuple[Any, Any]:
    """``(base, section)`` for a stage script; validates the whole file first."""
    typed = load_all(path)
    return typed["base"], typed[name]


# --------------------------------------------------------------------------- the base section
@dataclass(frozen=True)
class ExecutorConfig:
    """Where render, synthesize and kcf fan out (``base.executor``): ``local`` processes (the default) or a
    Ray cluster (``ray``; docs/scaling.md). The choice never changes the data, so dvc.yaml does not list it:
    switching it re-runs nothing. Checked here without importing Ray (:mod:`dst3d.executor` imports it)."""

    kind: Literal["local", "ray"] = "local"
    address: str = ""  # ray: '' = $RAY_ADDRESS, else a local instance; host:port | ray://host:port | auto joins
    num_cpus: int = 0  # ray, local instance: CPUs it offers (0 = this machine's cores)
    num_cpus_per_task: float = 1.0  # ray: CPUs per render shard, kcf fold and synthesize actor
    num_gpus_per_task: float = 1.0  # ray: GPUs per synthesize actor / kcf fold when the cluster has GPUs
    concurrency: int = 0  # ray: synthesize actors (0 = as many as the cluster's GPUs or CPUs allow)
    batch_size: int = 16  # ray: rows per Ray Data batch (synthesize)
    max_retries: int = 3  # ray: re-runs of a task whose worker died (killed, OOM, node lost)
    connect_timeout_s: float = 5.0  # ray: how long to wait for the cluster's address to answer

    def validate(self) -> None:
        for name in ("num_cpus", "concurrency", "max_retries"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if self.num_cpus_per_task <= 0 or self.num_gpus_per_task < 0:
            raise ConfigError("num_cpus_per_task must be > 0 and num_gpus_per_task >= 0")
        if self.batch_size < 1 or self.connect_timeout_s <= 0:
            raise ConfigError("batch_size must be >= 1 and connect_timeout_s > 0")
        if self.address and self.address != "auto":
            host, _, port = self.address.removeprefix("ray://").rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"address: expected host:port, ray://host:port or auto, got {self.address!r}")


@dataclass(frozen=True)
class BaseConfig:
    """Shared settings: the master seed, the categories every stage works on, how per-image files are
    stored (``layout``: one file each, or tar shards of ``shard_size`` samples; see :mod:`dst3d.layout`) and
    where the work fans out (``executor``)."""

    seed: int = 0
    categories: tuple[str, ...] = PASCAL3D_CATEGORIES
    layout: Literal["files", "shards"] = "files"
    shard_size: int = 1000
    executor: ExecutorConfig = dataclasses.field(default_factory=ExecutorConfig)

    def validate(self) -> None:
        if self.shard_size < 1:
            raise ConfigError(f"shard_size: {self.shard_size}; a shard holds at least 1 sample")
        if not self.categories:
            raise ConfigError("categories: empty; name at least one category")
        if len(set(self.categories)) != len(self.categories):
            raise ConfigError(f"categories: duplicates in {list(self.categories)}")
