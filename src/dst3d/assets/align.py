"""The align stage's library: discover models in every source, bring each into the canonical frame.

Canonical frame (README "Conventions"): up = +z, the object's front faces -y, object-left = +x,
centred at its bounding-box centre, largest bounding-box side = 1 (as upstream 3D-DST normalises).
The transform applied is recorded per model: ``x_canonical = scale * (rotation @ x_source) + offset``.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dst3d.assets import meshio
from dst3d.assets.meshio import MeshError
from dst3d.assets.params import AlignConfig, SourceConfig
from dst3d.errors import UserError
from dst3d.keyed import safe_name
from dst3d.params import BaseConfig
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
    """Every model the sources name, for the requested categories; checks files and ids first."""
    found: list[Candidate] = []
    for i, src in enumerate(cfg.sources):
        where = f"align.sources[{i}]"
        finder = _FINDERS[src.kind]
        items = finder(src, base, cfg, where)
        if src.max_per_category:
            items = _first_per_category(items, src.max_per_category)
        found.extend(items)
    seen: dict[tuple[str, str], Candidate] = {}
    for c in found:
        key = (c.category, c.model_id)
        if key in seen:
            raise AlignError(f"duplicate model id {c.model_id!r} in {c.category}: {seen[key].path} and {c.path}")
        seen[key] = c
        if c.path is not None:
            meshio.check_format(c.path)
    missing = [cat for cat in base.categories if not any(c.category == cat for c in found)]
    if missing:
        raise AlignError(f"no models for categor{'y' if len(missing) == 1 else 'ies'} {missing} in align.sources")
    return found


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
            if not path.is_file():
                raise MeshError(
                    f"{path}: missing (ShapeNetCore v2 layout <synset>/<model_id>/models/model_normalized.obj)"
                )
            out.append(Candidate(safe_name(model_dir.name), cat, "shapenet", path, up, front, keywords=(cat,)))
    return out


def _find_folder(src: SourceConfig, base: BaseConfig, cfg: AlignConfig, where: str) -> list[Candidate]:
    root = Path(src.path)
    if not root.is_dir():
        raise AlignError(f"{where}.path: mesh folder {root} is not a folder")
    up, front = _axes(src, "folder")
    groups: list[tuple[str, Path]] = []
    if src.category:
        if src.category not in base.categories:
            return []
        groups.append((src.category, root))
    else:
        groups.extend((d.name, d) for d in sorted(root.iterdir()) if d.is_dir() and d.name in base.categories)
        if not groups:
            raise AlignError(f"{where}: {root} has no sub-folder named after a category; set `category` instead")
    out = []
    for cat, folder in groups:
        for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            if path.suffix.lower() in (".mtl", ".png", ".jpg", ".jpeg", ".bin", ".txt", ".json", ".md"):
                continue  # side files of the meshes
            meshio.check_format(path)  # refuses .blend and unknown files by name
            out.append(Candidate(safe_name(path.stem), cat, "folder", path, up, front, keywords=_words(path.stem)))
    return out


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
            if not mesh.is_file():
                raise MeshError(f"{mesh}: missing (named by {path}:{line})")
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
                )
            )
    return out


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
    """Align every candidate into ``out_dir`` (rows name ``<stage>/meshes/...``); rows and metrics."""
    t0 = time.perf_counter()
    rows = []
    for i, c in enumerate(candidates):
        rows.append(align_one(c, cfg, out_dir, stage))
        if progress:
            progress(i + 1, len(candidates))
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
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return rows, metrics
