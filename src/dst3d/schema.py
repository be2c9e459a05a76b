"""The annotation record and the manifests: the only module that knows their on-disk format.

Manifests are JSON Lines, one record per line, written atomically.

**File paths in records are relative to the data root** — the folder that holds the stage folders
(``data/`` in the repo): e.g. ``render/car/car-b000/0003_rgb.png``, ``edges/car/...``. A stage writing
``data/<stage>/manifest.jsonl`` therefore keeps every upstream path valid unchanged; use
:func:`data_root`, :func:`resolve` and :func:`relative` rather than joining paths by hand.

``ModelRecord`` is a row of the align manifest (one aligned 3D model); ``ImageRecord`` is a row of
every later manifest (one image and its whole 3D annotation, carried forward stage to stage and
never recomputed downstream).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dst3d import atomic, layout
from dst3d.errors import UserError

SCHEMA_VERSION = 1
"""The record format's version; every resumable output's key mixes it in (:func:`dst3d.keyed.content_key`)."""


class ManifestError(UserError, ValueError):
    """A manifest file is missing, unreadable or has rows that do not fit the schema."""


@dataclass(frozen=True)
class ModelRecord:
    """One aligned model (a row of ``data/align/manifest.jsonl``).

    ``mesh`` is relative to the data root (e.g. ``align/meshes/car/car-b000/model.obj``) and already
    in the canonical frame. The transform
    that brought the source there is ``x_canonical = scale * (rotation @ x_source) + offset``.
    ``azimuth_offset``/``elevation_offset`` (degrees), ``distance`` and ``strategy`` come from the
    upstream alignment CSV (or defaults) and are applied by the render stage.
    """

    model_id: str
    category: str
    source: str
    mesh: str
    keywords: tuple[str, ...] = ()
    keypoints: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    scale: float = 1.0
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rotation: tuple[tuple[float, float, float], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    azimuth_offset: float = 0.0
    elevation_offset: float = 0.0
    distance: float = 2.5
    strategy: int = 1
    strength: float = 1.0
    source_path: str = ""
    source_sha256: str = ""
    seed: int | None = None
    n_vertices: int = 0
    n_faces: int = 0
    shape_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageRecord:
    """One image and its exact 3D annotation (see README "Annotation record").

    Angles in radians, ``distance`` in canonical units; ``K``, ``R``, ``t`` world->camera in the
    OpenCV convention; ``bbox`` = (x0, y0, x1, y1) of visible pixels; ``keypoints_2d`` maps a name to
    (u, v, visible). File fields are paths relative to the data root ('' = not produced).
    """

    image_id: str
    category: str
    model_id: str
    source: str
    split: str
    azimuth: float
    elevation: float
    theta: float
    distance: float
    K: tuple[tuple[float, ...], ...]
    R: tuple[tuple[float, ...], ...]
    t: tuple[float, ...]
    width: int
    height: int
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    keypoints_2d: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    visib_fract: float = 1.0
    rgb: str = ""
    mask: str = ""
    depth: str = ""
    depth_scale: float = 0.0
    edge: str = ""
    image: str = ""
    seed: int = 0
    prompt: str = ""
    negative_prompt: str = ""
    backend: str = ""
    kcf_score: float | None = None
    kcf_keep: bool | None = None
    nuisance: str = ""  # synthesize's OOD nuisance splits: weather | occlusion | context | texture ('' = none)


Record = TypeVar("Record", ModelRecord, ImageRecord)


def data_root(stage_dir_or_manifest: str | Path) -> Path:
    """The data root of a stage folder (``data/render`` -> ``data``) or of a manifest file in one."""
    p = Path(stage_dir_or_manifest)
    return (p.parent if p.suffix in (".jsonl", ".json") else p).parent


def resolve(stage_dir_or_manifest: str | Path, rel: str) -> Path:
    """Absolute-ish path of a record's file field, given any stage folder or manifest under the same root."""
    return data_root(stage_dir_or_manifest) / rel


def relative(stage_dir: str | Path, path: str | Path) -> str:
    """The record form (posix, relative to the data root) of a file written under ``stage_dir``."""
    return Path(path).relative_to(data_root(stage_dir)).as_posix()


def _jsonable(value: Any) -> Any:
    """Tuples -> lists, numpy scalars/arrays -> Python, recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy array or scalar
        return _jsonable(value.tolist())
    return value


def _tupled(value: Any, tp: Any) -> Any:
    """JSON lists back to the tuples the dataclass annotations name."""
    origin = typing.get_origin(tp)
    if origin is tuple and isinstance(value, list):
        args = typing.get_args(tp)
        inner = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if inner is None:
            return tuple(_tupled(v, a) for v, a in zip(value, args, strict=False))
        return tuple(_tupled(v, inner) for v in value)
    if origin is dict and isinstance(value, dict):
        vt = typing.get_args(tp)[1]
        return {k: _tupled(v, vt) for k, v in value.items()}
    return value


OMITTED_WHEN_EMPTY: frozenset[str] = frozenset({"nuisance"})
"""Optional fields added after version 1: written only when set, so every other row (and every manifest
written before them) stays byte-identical and older readers still read it; :data:`SCHEMA_VERSION` unchanged."""


def to_dict(record: Any) -> dict[str, Any]:
    out = _jsonable(dataclasses.asdict(record))
    for name in OMITTED_WHEN_EMPTY & out.keys():
        if out[name] == "":
            del out[name]
    return out


def record_from_dict(cls: type[Record], row: dict[str, Any], where: str = "") -> Record:
    """A manifest row -> ``cls``; unknown fields or a wrong shape are a :class:`ManifestError` naming ``where``.

    (Params use :func:`dst3d.params.from_dict`; this one reads the data records.)
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(row) - names)
    if unknown:
        raise ManifestError(f"{where}: unknown field(s) {unknown} for {cls.__name__}")
    try:
        return cls(**{k: _tupled(v, hints[k]) for k, v in row.items()})
    except TypeError as err:
        raise ManifestError(f"{where}: {err}") from None


def write_manifest(path: str | Path, records: Iterable[Any]) -> int:
    """Write records as JSON Lines atomically; return how many."""
    lines = [json.dumps(to_dict(r), sort_keys=True) for r in records]
    atomic.write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def read_manifest(path: str | Path, cls: type[Record]) -> list[Record]:
    """Read a JSON Lines manifest; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found (did the upstream stage run?)")
    records = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ManifestError(f"{path}:{i}: not valid JSON: {err}") from None
        records.append(record_from_dict(cls, row, f"{path}:{i}"))
    if cls is ImageRecord:
        layout.check_rows(records, path)  # one layout per file field
    return records


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Untyped JSON Lines reader for side files (prompts, metrics rows)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: file not found")
    out = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ManifestError(f"{path}:{i}: not valid JSON: {err}") from None
    return out


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    lines = [json.dumps(_jsonable(r), sort_keys=True) for r in rows]
    atomic.write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def write_json(path: str | Path, obj: Any) -> None:
    """Pretty JSON (metrics files), atomically."""
    atomic.write_text(path, json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n")
