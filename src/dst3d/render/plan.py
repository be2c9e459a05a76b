"""The view plan: every view the render stage must produce, fully determined by params and the align manifest.

A view is identified by its ``image_id`` and its ``key``: a hash of everything that changes its pixels
or its record (seed, pose, light, camera, mesh file contents, :func:`pixel_settings`, RENDER_VERSION and
the schema version; :func:`dst3d.keyed.content_key`). A view already on disk is reused only when its
stored key equals the planned one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dst3d import camera
from dst3d.errors import UserError
from dst3d.keyed import content_key, safe_name
from dst3d.params import BaseConfig
from dst3d.render.params import RenderConfig
from dst3d.render.sampling import (
    Lighting,
    Viewpoint,
    sample_lighting,
    sample_viewpoint,
    split_world_maps,
    world_maps,
)
from dst3d.schema import ModelRecord, resolve
from dst3d.seeding import derive_seed, rng_for

RENDER_VERSION = 1  # bump when the same params would give different pixels or records
MIN_CLEARANCE = 0.9  # camera distance must exceed the half-diagonal of the unit bbox (sqrt(3)/2 ~ 0.87)


class PlanError(UserError, ValueError):
    """The requested views cannot be planned (unknown model id, empty category, impossible camera)."""


@dataclass(frozen=True)
class ViewSpec:
    """One view to render: everything a backend and the annotator need, JSON-serialisable."""

    image_id: str
    category: str
    model_id: str
    source: str
    split: str
    mesh: str  # absolute path of the aligned mesh
    view_index: int
    seed: int
    strategy: int
    viewpoint: Viewpoint
    K: tuple[tuple[float, ...], ...]
    R: tuple[tuple[float, ...], ...]
    t: tuple[float, ...]
    width: int
    height: int
    lighting: Lighting
    keypoints: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    key: str = ""

    @property
    def folder(self) -> str:
        return f"views/{safe_name(self.category)}/{safe_name(self.model_id)}"

    def path(self, kind: str) -> str:
        """Path of one output inside the render folder: 'rgb', 'mask', 'depth' (PNG) or 'record' (JSON)."""
        if kind == "record":
            return f"{self.folder}/{self.image_id}.json"
        return f"{self.folder}/{self.image_id}_{kind}.png"

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @staticmethod
    def from_json(d: dict[str, Any]) -> ViewSpec:
        d = dict(d)
        d["viewpoint"] = Viewpoint(**d["viewpoint"])
        light = dict(d["lighting"])
        light["sun_direction"] = tuple(light["sun_direction"])
        d["lighting"] = Lighting(**light)
        d["K"] = tuple(tuple(r) for r in d["K"])
        d["R"] = tuple(tuple(r) for r in d["R"])
        d["t"] = tuple(d["t"])
        d["keypoints"] = {k: tuple(v) for k, v in d["keypoints"].items()}
        return ViewSpec(**d)


def mesh_digest(path: Path) -> str:
    """SHA-256 over an OBJ and the MTL/texture files it names (colours change pixels too)."""
    h = hashlib.sha256()
    todo, seen = [path], set()
    while todo:
        p = todo.pop(0)
        if p in seen or not p.is_file():
            continue
        seen.add(p)
        data = p.read_bytes()
        h.update(p.name.encode() + b"\0" + data)
        if p.suffix.lower() in (".obj", ".mtl"):
            for line in data.decode("utf-8", "replace").splitlines():
                parts = line.strip().split(maxsplit=1)
                if len(parts) == 2 and (parts[0] == "mtllib" or parts[0].startswith("map_")):
                    todo.append(p.parent / parts[1].split()[-1])
    return h.hexdigest()


def pixel_settings(cfg: RenderConfig) -> dict[str, Any]:
    """The params that change pixels or records: the active backend's ``PIXEL_KEYS`` and the record settings.

    Not workers, threads, shard size or grid size, and no other backend's settings.
    """
    params = cfg.backend_params()
    settings = {"backend": cfg.backend, **{k: getattr(params, k) for k in type(params).PIXEL_KEYS}}
    settings.update(
        depth_scale=cfg.depth_scale, allow_truncated=cfg.allow_truncated, hdr_background=cfg.light.hdr_background
    )
    return settings


def assign_splits(models: list[ModelRecord], base: BaseConfig, cfg: RenderConfig) -> dict[str, str]:
    """Per category, a seeded ``round(test_fraction * n)`` models go to 'test' (unseen instances)."""
    out: dict[str, str] = {}
    by_cat: dict[str, list[str]] = {}
    for m in models:
        by_cat.setdefault(m.category, []).append(m.model_id)
    for cat, ids in by_cat.items():
        ids = sorted(ids)
        _, rng = rng_for(base.seed, "render-split", cat)
        n_test = int(round(cfg.test_fraction * len(ids)))
        test = set(np.asarray(ids)[rng.permutation(len(ids))[:n_test]].tolist())
        out.update({i: ("test" if i in test else "train") for i in ids})
    return out


def select_models(models: list[ModelRecord], base: BaseConfig, cfg: RenderConfig) -> list[ModelRecord]:
    """The models to render, in base.categories order; unknown ids or empty categories are errors."""
    known = {m.model_id for m in models}
    missing = sorted(set(cfg.models) - known)
    if missing:
        raise PlanError(f"render.models: model id(s) {missing} are not in the align manifest")
    if cfg.models:  # an explicit list wins over base.categories
        chosen = [m for m in models if m.model_id in cfg.models]
    else:
        chosen = [m for m in models if m.category in base.categories]
    if not cfg.models:
        empty = [c for c in base.categories if not any(m.category == c for m in chosen)]
        if empty:
            raise PlanError(
                f"no aligned models for categor(y/ies) {empty}; run align for them or drop them "
                "from base.categories"
            )
    order = {c: i for i, c in enumerate(base.categories)}
    return sorted(chosen, key=lambda m: (order.get(m.category, len(order)), m.model_id))


def plan_views(
    models: list[ModelRecord], base: BaseConfig, cfg: RenderConfig, align_dir: Path
) -> list[ViewSpec]:
    """Every view of every selected model, seeded per view from (base.seed, image_id)."""
    align_dir = Path(align_dir).resolve()
    chosen = select_models(models, base, cfg)
    splits = assign_splits(chosen, base, cfg)
    maps = split_world_maps(cfg.light, world_maps()) if cfg.light.hdr else {}
    K = camera.intrinsics(cfg.focal_mm, cfg.sensor_mm, cfg.width, cfg.height)
    settings = pixel_settings(cfg)
    views: list[ViewSpec] = []
    for m in chosen:
        mesh = resolve(align_dir, m.mesh)  # record paths are relative to the data root
        if not mesh.is_file():
            raise PlanError(f"model {m.model_id!r}: mesh {mesh} not found (re-run align)")
        strategy = cfg.strategy or m.strategy
        if m.distance + cfg.distance_range[0] <= MIN_CLEARANCE:
            raise PlanError(
                f"model {m.model_id!r}: camera distance {m.distance + cfg.distance_range[0]:.3f} puts "
                f"the camera inside the object's bounding sphere (need > {MIN_CLEARANCE})"
            )
        digest = mesh_digest(mesh)
        for i in range(cfg.views_per_model):
            image_id = safe_name(f"{m.category}_{m.model_id}_{i:04d}")
            seed = derive_seed(base.seed, "render", image_id)
            rng = np.random.default_rng(seed)
            vp = sample_viewpoint(rng, strategy, cfg, m.azimuth_offset, m.elevation_offset, m.distance)
            light = sample_lighting(rng, cfg.light, vp.azimuth, maps.get(splits[m.model_id]))
            R, t = camera.look_at(vp.azimuth, vp.elevation, vp.theta, vp.distance)
            spec = ViewSpec(
                image_id=image_id,
                category=m.category,
                model_id=m.model_id,
                source=m.source,
                split=splits[m.model_id],
                mesh=str(mesh),
                view_index=i,
                seed=seed,
                strategy=strategy,
                viewpoint=vp,
                K=tuple(tuple(float(x) for x in row) for row in K),
                R=tuple(tuple(float(x) for x in row) for row in R),
                t=tuple(float(x) for x in t),
                width=cfg.width,
                height=cfg.height,
                lighting=light,
                keypoints={k: tuple(float(x) for x in v) for k, v in m.keypoints.items()},
            )
            payload = spec.to_json()
            payload.pop("mesh")  # the contents matter, not where the folder lives
            payload.update(settings=settings, mesh_sha256=digest)
            views.append(dataclasses.replace(spec, key=content_key(payload, version=RENDER_VERSION)))
    return views
