"""The align stage's library: discover models in every source, bring each into the canonical frame.

Canonical frame (README "Conventions"): up = +z, the object's front faces -y, object-left = +x,
centred at its bounding-box centre, largest bounding-box side = 1 (as upstream 3D-DST normalises).
The transform applied is recorded per model: ``x_canonical = scale * (rotation @ x_source) + offset``.
A folder source's per-model axes table (:func:`read_axes_table`) sets up/front axes, azimuth offset and
category per file; ``align.on_error: skip`` leaves broken files out and lists them (:func:`align_all`).
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import numpy as np

from dst3d.assets import meshio
from dst3d.assets.meshio import MeshError
from dst3d.assets.params import AlignConfig, SourceConfig
from dst3d.errors import UserError
from dst3d.keyed import safe_name
from dst3d.params import BaseConfig
from dst3d.progress import track
from dst3d.schema import ModelRecord
from dst3d.seeding import rng_for

# ShapeNetCore synsets of the 12 PASCAL3D+ categories (WordNet 3.0 offsets).
SHAPENET_SYNSETS: dict[str, str] = {
    "02691156": "aeroplane",
    "02834778": "bicycle",
    "04530566": "boat",  # vessel, watercraft
    "02876657": "bottle",
    "02924116": "bus",
    "02958343": "car",
    "03001627": "chair",
    "04379243": "diningtable",  # table
    "03790512": "motorbike",  # motorcycle
    "04256520": "sofa",
    "04468005": "train",
    "03211117": "tvmonitor",  # display, video display
}

# Source frame conventions when a source says 'auto'. ShapeNetCore v2: up +y, front -z (its docs);
# glTF (and most Objaverse files, which are glTF): up +y, front +z (glTF 2.0 spec).
_AUTO_AXES = {"shapenet": ("y", "-z"), "csv": ("y", "-z"), "folder": ("y", "z")}
_AXES = {"x": (1, 0, 0), "y": (0, 1, 0), "z": (0, 0, 1), "-x": (-1, 0, 0), "-y": (0, -1, 0), "-z": (0, 0, -1)}


class AlignError(UserError, ValueError):
    """A source is misconfigured or yields no usable models."""


@dataclass
class Candidate:
    """A model found in a source, before loading (so every file is checked before any work)."""

    model_id: str
    category: str
    source: str
    path: Path | None  # None for builtin
    up: str = "y"
    front: str = "-z"
    seed: int | None = None
    azimuth_offset: float = 0.0
    elevation_offset: float = 0.0
    distance: float | None = None
    strategy: int | None = None
    strength: float = 1.0
    keywords: tuple[str, ...] = field(default_factory=tuple)
    # on_error: skip only. ``problem``: why the file is broken, found before loading (refused format,
    # missing file); ``group``/``limit``: the source's max_per_category, filled by the first ``limit``
    # candidates of a group that load (the rest are reserves for broken ones).
    problem: str = ""
    group: tuple[int, str] = ()
    limit: int = 0


def axes_rotation(up: str, front: str) -> np.ndarray:
    """Rotation taking a source frame with the given up/front axes to the canonical one (z up, front -y)."""
    u = np.array(_AXES[up], dtype=np.float64)
    f = np.array(_AXES[front], dtype=np.float64)
    if abs(u @ f) > 0.5:
        raise AlignError(f"up axis {up!r} and front axis {front!r} must be perpendicular")
    left = np.cross(u, f)  # object-left in the source frame (u x f, as for the canonical z x -y = +x)
    src = np.stack([left, -f, u])  # rows: source directions that become canonical +x, +y, +z
    return src  # R @ x maps source coordinates to canonical ones (R's rows are the images of the axes)


def _words(stem: str) -> tuple[str, ...]:
    return tuple(w for w in re.split(r"[^a-z]+", stem.lower()) if len(w) > 2)


# --------------------------------------------------------------------------- discovery (no loading)
def discover(base: BaseConfig, cfg: AlignConfig) -> list[Candidate]:
    """Every model the sources name, for the requested categories; checks files, ids and tables first.

    With ``on_error: fail`` a refused or missing mesh file is an error here; with ``skip`` it becomes a
    candidate with a ``problem`` (listed as skipped by :func:`align_all`), and a source's
    ``max_per_category`` keeps every candidate as a reserve for broken ones (:func:`align_all` takes
    the first ``max_per_category`` of each category that load).
    """
    found: list[Candidate] = []
    for i, src in enumerate(cfg.sources):
        where = f"align.sources[{i}]"
        finder = _FINDERS[src.kind]
        items = finder(src, base, cfg, where)
        if src.max_per_category:
            if cfg.on_error == "skip":
                items = [replace(c, group=(i, c.category), limit=src.max_per_category) for c in items]
            else:
                items = _first_per_category(items, src.max_per_category)
        found.extend(items)
    seen: dict[tuple[str, str], Candidate] = {}
    for k, c in enumerate(found):
        key = (c.category, c.model_id)
        if key in seen:
            raise AlignError(f"duplicate model id {c.model_id!r} in {c.category}: {seen[key].path} and {c.path}")
        seen[key] = c
        if c.path is not None and not c.problem:
            found[k] = replace(c, problem=_broken(cfg, meshio.check_format, c.path))
    missing = [cat for cat in base.categories if not any(c.category == cat for c in found)]
    if missing:
        raise AlignError(f"no models for categor{'y' if len(missing) == 1 else 'ies'} {missing} in align.sources")
    return found


def _broken(cfg: AlignConfig, check: Callable[..., None], *args) -> str:
    """Run a file check: '' if it passes; its reason if it fails and on_error is skip; else raise."""
    try:
        check(*args)
    except MeshError as err:
        if cfg.on_error != "skip":
            raise
        return str(err)
    return ""


def _first_per_category(items: list[Candidate], limit: int) -> list[Candidate]:
    """The first ``limit`` candidates of each category (sources list them in sorted order)."""
    counts: dict[str, int] = {}
    kept = []
    for c in items:
        if counts.get(c.category, 0) < limit:
            counts[c.category] = counts.get(c.category, 0) + 1
            kept.append(c)
    return kept


def _find_builtin(src: SourceConfig, base: BaseConfig, cfg: AlignConfig, where: str) -> list[Candidate]:
    out = []
    for cat in base.categories:
        for k in range(cfg.instances_per_category):
            seed, _ = rng_for(base.seed, "align", "builtin", cat, k)
            out.append(Candidate(f"{cat}-b{k:03d}", cat, "builtin", None, seed=seed))
    return out


_SHAPENET_LAYOUT = "(ShapeNetCore v2 layout <synset>/<model_id>/models/model_normalized.obj)"


def _find_shapenet(src: SourceConfig, base: BaseConfig, cfg: AlignConfig, where: str) -> list[Candidate]:
    root = Path(src.path)
    if not root.is_dir():
        raise AlignError(f"{where}.path: ShapeNet root {root} is not a folder")
    up, front = _axes(src, "shapenet")
    out = []
    for synset, cat in SHAPENET_SYNSETS.items():
        if cat not in base.categories or not (root / synset).is_dir():
            continue
        for model_dir in sorted(p for p in (root / synset).iterdir() if p.is_dir()):
            path = model_dir / "models" / "model_normalized.obj"
            problem = _broken(cfg, _must_exist, path, _SHAPENET_LAYOUT)
            out.append(
                Candidate(safe_name(model_dir.name), cat, "shapenet", path, up, front, keywords=(cat,), problem=problem)
            )
    return out


# Files beside the meshes that a folder source passes over (materials, textures, tables, notes).
_SIDE_SUFFIXES = (".mtl", ".png", ".jpg", ".jpeg", ".bin", ".txt", ".json", ".csv", ".md")


def _find_folder(src: SourceConfig, base: BaseConfig, cfg: AlignConfig, where: str) -> list[Candidate]:
    """Mesh files of a folder: ``category`` for the files in ``path``, else one sub-folder per category;
    an axes table (:func:`read_axes_table`) overrides axes, offsets and categories per file and can add
    files at any depth."""
    root = Path(src.path)
    if not root.is_dir():
        raise AlignError(f"{where}.path: mesh folder {root} is not a folder")
    up, front = _axes(src, "folder")
    table_path = _axes_table_path(src, root, where)
    table = read_axes_table(table_path, root, src, up, front) if table_path else {}
    files: dict[PurePosixPath, str] = {}  # file relative to root -> its default category
    if src.category:
        files.update((PurePosixPath(p.name), src.category) for p in _mesh_files(root, table_path))
    else:
        subs = [d for d in root.iterdir() if d.is_dir() and d.name in base.categories]
        if not subs and not any(row.category in base.categories for row in table.values()):
            raise AlignError(f"{where}: {root} has no sub-folder named after a category; set `category` instead")
        for d in subs:
            files.update((PurePosixPath(d.name, p.name), d.name) for p in _mesh_files(d, table_path))
    out = []
    for rel in sorted({*files, *table}, key=lambda r: r.parts):
        row = table.get(rel)
        cat = row.category if row is not None else files[rel]
        if cat not in base.categories:
            continue
        path = root.joinpath(*rel.parts)
        problem = _broken(cfg, meshio.check_format, path)  # refuses .blend and unknown files by name
        c = Candidate(safe_name(path.stem), cat, "folder", path, up, front, keywords=_words(path.stem), problem=problem)
        if row is not None:
            c = replace(c, up=row.up, front=row.front, azimuth_offset=row.azimuth_offset)
        out.append(c)
    return out


def _mesh_files(folder: Path, table_path: Path | None) -> list[Path]:
    """The files of ``folder`` that a folder source reads as meshes (not side files, not the axes table)."""
    table = table_path.resolve() if table_path is not None else None
    return [
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and p.suffix.lower() not in _SIDE_SUFFIXES
        and (table is None or p.resolve() != table)
    ]


# --------------------------------------------------------------------------- per-model axes tables
AXES_TABLE_NAMES = ("axes.csv", "axes.json")
AXES_COLUMNS = ("file", "up", "front", "azimuth_offset", "category")
_AXIS_ALIASES = {f"+{a}": a for a in ("x", "y", "z")}


@dataclass(frozen=True)
class AxesRow:
    """One row of a per-model axes table, with the source's defaults filled in."""

    up: str
    front: str
    azimuth_offset: float
    category: str


def _axes_table_path(src: SourceConfig, root: Path, where: str) -> Path | None:
    """The source's axes table: ``axes`` (relative to ``path`` or absolute), else a default name in ``path``."""
    if src.axes:
        path = Path(src.axes) if Path(src.axes).is_absolute() else root / src.axes
        if not path.is_file():
            raise AlignError(f"{where}.axes: axes table {path} not found")
        return path
    present = [root / n for n in AXES_TABLE_NAMES if (root / n).is_file()]
    if len(present) > 1:
        raise AlignError(f"{where}: both {present[0]} and {present[1]} found; keep one or name it in `axes`")
    return present[0] if present else None


def read_axes_table(path: Path, root: Path, src: SourceConfig, up: str, front: str) -> dict[PurePosixPath, AxesRow]:
    """Parse and check a per-model axes table (CSV or JSON, by suffix) of the folder ``root``.

    Keyed by the mesh file's path relative to ``root`` (extension included). Empty cells take the
    source's values (``up``/``front`` resolved from ``up_axis``/``front_axis``, ``category``, offset 0).
    Every problem is an :class:`AlignError` naming the file, the row and the column.
    """
    rows: list[tuple[str, dict]] = []  # (row label, raw row)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise AlignError(f"{path}: not valid JSON: {err}") from None
        if not isinstance(data, list):
            raise AlignError(f'{path}: expected a JSON list of objects ({{"file": ..., "up": ..., ...}})')
        for n, item in enumerate(data, start=1):
            if not isinstance(item, dict):
                raise AlignError(f"{path}: row {n}: expected an object, got {type(item).__name__}")
            rows.append((f"row {n}", item))
    elif path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            if "file" not in header:
                raise AlignError(f"{path}: no 'file' column in the header; columns: {', '.join(AXES_COLUMNS)}")
            for name in header:
                if name not in AXES_COLUMNS:
                    raise AlignError(f"{path}: header, column {name!r}: unknown; columns: {', '.join(AXES_COLUMNS)}")
            if len(set(header)) != len(header):
                raise AlignError(f"{path}: header: a column appears twice: {header}")
            for n, cells in enumerate(reader, start=1):
                if not any(c.strip() for c in cells):
                    continue
                at = f"row {n} (line {reader.line_num})"
                if len(cells) > len(header):
                    raise AlignError(f"{path}: {at}: {len(cells)} cells for {len(header)} columns")
                rows.append((at, dict(zip(header, cells))))
    else:
        raise AlignError(f"{path}: an axes table must be .csv or .json")
    out: dict[PurePosixPath, AxesRow] = {}
    first: dict[PurePosixPath, str] = {}
    for at, raw in rows:

        def bad(column: str, problem: str, at: str = at) -> AlignError:
            return AlignError(f"{path}: {at}, column {column!r}: {problem}")

        for key in raw:
            if key not in AXES_COLUMNS:
                raise bad(key, f"unknown; columns: {', '.join(AXES_COLUMNS)}")
        cell = {k: _cell(v, k, bad) for k, v in raw.items()}
        rel = _table_file(cell.get("file", ""), root, bad)
        if rel in first:
            raise bad("file", f"{rel.as_posix()!r} listed twice (also {first[rel]})")
        first[rel] = at
        row_up, row_front = (_axis(cell.get(k, ""), default, k, bad) for k, default in (("up", up), ("front", front)))
        if abs(np.dot(_AXES[row_up], _AXES[row_front])) > 0.5:
            column = "front" if cell.get("front") else "up"
            raise bad(column, f"up {row_up!r} and front {row_front!r} are parallel; they must be perpendicular")
        offset = 0.0
        if cell.get("azimuth_offset", ""):
            try:
                offset = float(cell["azimuth_offset"])
            except ValueError:
                offset = math.nan
            if not math.isfinite(offset):
                raise bad("azimuth_offset", f"{cell['azimuth_offset']!r} is not a number (degrees)")
        category = cell.get("category", "") or src.category or (rel.parts[0] if len(rel.parts) > 1 else "")
        if not category:
            raise bad(
                "category", f"empty, and {rel.as_posix()!r} is in no sub-folder and the source sets no `category`"
            )
        if safe_name(category) != category:
            raise bad("category", f"{category!r} is not a usable category name (letters, digits, '.', '_', '-')")
        out[rel] = AxesRow(row_up, row_front, offset, category)
    return out


def _cell(value, column: str, bad: Callable[[str, str], AlignError]) -> str:
    """A table cell as a stripped string ('' for empty / JSON null); numbers allowed for azimuth_offset."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and column == "azimuth_offset":
        return repr(float(value))
    if not isinstance(value, str):
        raise bad(column, f"expected a {'number' if column == 'azimuth_offset' else 'string'}, got {value!r}")
    return value.strip()


def _table_file(value: str, root: Path, bad: Callable[[str, str], AlignError]) -> PurePosixPath:
    """The row's mesh file, relative to the source folder (extension included); it must exist there."""
    if not value:
        raise bad("file", "empty; give the mesh file's path relative to the source folder, e.g. car/red_car.glb")
    rel = PurePosixPath(value.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts:
        raise bad("file", f"{value!r} must be a path relative to {root} (no leading '/', no '..')")
    path = root.joinpath(*rel.parts)
    if not path.is_file():
        raise bad("file", f"unknown model: no file {path}")
    if path.suffix.lower() in _SIDE_SUFFIXES:
        raise bad("file", f"{value!r} is not a mesh file")
    return rel


def _axis(value: str, default: str, column: str, bad: Callable[[str, str], AlignError]) -> str:
    if not value:
        return default
    axis = _AXIS_ALIASES.get(value.lower(), value.lower())
    if axis not in _AXES:
        raise bad(column, f"{value!r} is not an axis; use one of x, y, z, -x, -y, -z")
    return axis


_CSV_COLUMNS = ("synset", "model_id", "distance", "azimuth", "elevation", "strength", "sampling")


def _find_csv(src: SourceConfig, base: BaseConfig, cfg: AlignConfig, where: str) -> list[Candidate]:
    path, root = Path(src.path), Path(src.root)
    if not path.is_file():
        raise AlignError(f"{where}.path: alignment CSV {path} not found")
    up, front = _axes(src, "csv")
    out = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in _CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise AlignError(f"{path}: missing column(s) {missing}; expected {list(_CSV_COLUMNS)}")
        for line, row in enumerate(reader, start=2):
            synset = row["synset"].strip().zfill(8)
            cat = SHAPENET_SYNSETS.get(synset)
            if cat is None or cat not in base.categories:
                continue
            try:
                distance, az, el = float(row["distance"]), float(row["azimuth"]), float(row["elevation"])
                strength, strategy = float(row["strength"] or 1.0), int(float(row["sampling"]))
            except ValueError as err:
                raise AlignError(f"{path}:{line}: bad number: {err}") from None
            if distance <= 0 or strategy not in (1, 2, 3, 4, 5):
                raise AlignError(f"{path}:{line}: distance must be > 0 and sampling in 1..5")
            model_id = row["model_id"].strip()
            mesh = root / synset / model_id / "models" / "model_normalized.obj"
            problem = _broken(cfg, _must_exist, mesh, f"(named by {path}:{line})")
            out.append(
                Candidate(
                    safe_name(model_id),
                    cat,
                    "csv",
                    mesh,
                    up,
                    front,
                    azimuth_offset=az,
                    elevation_offset=el,
                    distance=distance,
                    strategy=strategy,
                    strength=strength,
                    keywords=(cat,),
                    problem=problem,
                )
            )
    return out


def _must_exist(path: Path, why: str) -> None:
    if not path.is_file():
        raise MeshError(f"{path}: missing {why}")


def _axes(src: SourceConfig, kind: str) -> tuple[str, str]:
    up, front = _AUTO_AXES[kind]
    return (up if src.up_axis == "auto" else src.up_axis), (front if src.front_axis == "auto" else src.front_axis)


_FINDERS: dict[str, Callable[[SourceConfig, BaseConfig, AlignConfig, str], list[Candidate]]] = {
    "builtin": _find_builtin,
    "shapenet": _find_shapenet,
    "folder": _find_folder,
    "csv": _find_csv,
}


# --------------------------------------------------------------------------- alignment
def normalise(vertices: np.ndarray, rotation: np.ndarray) -> tuple[float, np.ndarray]:
    """(scale, offset) that centre the rotated vertices at their bbox centre with largest side 1."""
    v = vertices @ rotation.T
    lo, hi = v.min(axis=0), v.max(axis=0)
    scale = 1.0 / float((hi - lo).max())
    return scale, -scale * (lo + hi) / 2.0


def align_one(c: Candidate, cfg: AlignConfig, out_dir: Path, stage: str = "align") -> ModelRecord:
    """Load, align and write one model under ``out_dir/meshes/<category>/<model_id>/``; return its row.

    ``out_dir`` may be a staging folder; the row's ``mesh`` path is relative to the data root as
    ``<stage>/meshes/...`` (the folder's final name), see :mod:`dst3d.schema`.
    """
    rel = Path("meshes") / c.category / c.model_id / "model.obj"
    target = out_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    keypoints: dict[str, tuple[float, float, float]] = {}
    shape_params: dict = {}
    keywords = c.keywords
    if c.path is None:  # builtin
        from dst3d.assets import builtin

        _, rng = rng_for(c.seed or 0)  # the recorded seed alone regenerates the instance
        asset = builtin.generate(c.category, rng)
        rotation = np.eye(3)
        verts = np.concatenate([p.vertices for p in asset.parts])
        meshio.check_geometry(verts, np.concatenate([p.faces for p in asset.parts]), f"builtin {c.model_id}")
        scale, offset = normalise(verts, rotation)
        meshio.write_parts_obj(target, [(p.name, p.vertices * scale + offset, p.faces, p.color) for p in asset.parts])
        keypoints = {k: tuple(float(x) for x in np.asarray(v) * scale + offset) for k, v in asset.keypoints.items()}
        keywords = tuple(asset.keywords)
        shape_params = dict(asset.shape_params)
        n_v, n_f = len(verts), sum(len(p.faces) for p in asset.parts)
        digest = ""
    else:
        mesh = meshio.load_source(c.path)
        rotation = axes_rotation(c.up, c.front)
        scale, offset = normalise(np.asarray(mesh.vertices), rotation)
        T = np.eye(4)
        T[:3, :3] = scale * rotation
        T[:3, 3] = offset
        mesh.apply_transform(T)
        meshio.write_trimesh_obj(target, mesh)
        n_v, n_f = len(mesh.vertices), len(mesh.faces)
        digest = meshio.sha256_file(c.path)
    return ModelRecord(
        model_id=c.model_id,
        category=c.category,
        source=c.source,
        mesh=(Path(stage) / rel).as_posix(),
        keywords=keywords,
        keypoints=keypoints,
        scale=float(scale),
        offset=tuple(float(x) for x in offset),
        rotation=tuple(tuple(float(x) for x in row) for row in rotation),
        azimuth_offset=c.azimuth_offset,
        elevation_offset=c.elevation_offset,
        distance=c.distance if c.distance is not None else cfg.default_distance,
        strategy=c.strategy if c.strategy is not None else cfg.default_strategy,
        strength=c.strength,
        source_path=str(c.path) if c.path is not None else "",
        source_sha256=digest,
        seed=c.seed,
        n_vertices=int(n_v),
        n_faces=int(n_f),
        shape_params=shape_params,
    )


def align_all(
    candidates: list[Candidate],
    cfg: AlignConfig,
    out_dir: Path,
    stage: str = "align",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[ModelRecord], dict]:
    """Align every candidate into ``out_dir`` (rows name ``<stage>/meshes/...``); rows and metrics.

    ``cfg.on_error``: ``fail`` raises the first broken file's :class:`MeshError`; ``skip`` leaves it out
    (nothing of it stays in ``out_dir``) and lists it in ``metrics["skipped"]`` as ``{file, category,
    reason}``; a category left with no model is then an :class:`AlignError` naming it.
    """
    t0 = time.perf_counter()
    rows = []
    skipped: list[dict[str, str]] = []
    taken: dict[tuple[int, str], int] = {}
    for i, c in enumerate(track(candidates, "align", unit="model")):
        if not c.group or taken.get(c.group, 0) < c.limit:  # else: a reserve that is not needed
            row = _align_or_skip(c, cfg, out_dir, stage, skipped)
            if row is not None:
                rows.append(row)
                if c.group:
                    taken[c.group] = taken.get(c.group, 0) + 1
        if progress:
            progress(i + 1, len(candidates))
    empty = sorted({c.category for c in candidates} - {r.category for r in rows})
    if empty:
        lost = [s for s in skipped if s["category"] in empty]
        listed = "; ".join(f"{s['file']}: {s['reason']}" for s in lost[:3]) + (" ..." if len(lost) > 3 else "")
        raise AlignError(
            f"no model left for categor{'y' if len(empty) == 1 else 'ies'} {', '.join(empty)} after skipping "
            f"{len(lost)} broken file(s) (align.on_error: skip): {listed}"
        )
    per_cat: dict[str, int] = {}
    per_src: dict[str, int] = {}
    for r in rows:
        per_cat[r.category] = per_cat.get(r.category, 0) + 1
        per_src[r.source] = per_src.get(r.source, 0) + 1
    faces = [r.n_faces for r in rows]
    metrics = {
        "models": len(rows),
        "per_category": per_cat,
        "per_source": per_src,
        "faces_min": int(min(faces)),
        "faces_median": float(np.median(faces)),
        "faces_max": int(max(faces)),
        "skipped_count": len(skipped),
        "skipped": skipped,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return rows, metrics


def _align_or_skip(
    c: Candidate, cfg: AlignConfig, out_dir: Path, stage: str, skipped: list[dict[str, str]]
) -> ModelRecord | None:
    """:func:`align_one`, or None with the file appended to ``skipped`` if it is broken and on_error is skip."""
    if c.problem:
        skipped.append(_skip_entry(c, c.problem))
        return None
    if c.path is None or cfg.on_error != "skip":  # builtin failures are bugs, never skipped
        return align_one(c, cfg, out_dir, stage)
    try:
        return align_one(c, cfg, out_dir, stage)
    except Exception as err:  # any failure of a broken file (trimesh raises many types); listed with its reason
        shutil.rmtree(out_dir / "meshes" / c.category / c.model_id, ignore_errors=True)
        skipped.append(_skip_entry(c, str(err) if isinstance(err, MeshError) else f"{type(err).__name__}: {err}"))
        return None


def _skip_entry(c: Candidate, message: str) -> dict[str, str]:
    """``{file, category, reason}``; the reason without the file name that MeshError messages start with."""
    file = str(c.path)
    reason = message[len(file) + 2 :] if message.startswith(file + ": ") else message
    return {"file": file, "category": c.category, "reason": reason.strip().splitlines()[0] if reason.strip() else "?"}
