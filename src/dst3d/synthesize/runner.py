"""Plan, resume and run the synthesize stage (backend-agnostic).

Every planned image has a *key*: a hash of everything that decides its pixels (backend settings, seed,
prompt, negative prompt, the input files' contents, size, ``SYNTH_VERSION`` and the schema version;
:func:`dst3d.keyed.content_key`). The key is stored inside the PNG (a ``tEXt`` chunk written with the
image, atomically), so a re-run regenerates exactly the images that are missing or whose inputs or
settings changed, and a killed run resumes where it stopped. Images that are no longer planned are
deleted (:func:`dst3d.keyed.prune`), so the folder always equals the manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, PngImagePlugin

from dst3d import atomic, layout
from dst3d.errors import UserError
from dst3d.keyed import content_key, prune, safe_name
from dst3d.params import BaseConfig, ExecutorConfig
from dst3d.progress import bar as progress_bar
from dst3d.schema import ImageRecord, relative, to_dict
from dst3d.seeding import derive_seed
from dst3d.synthesize import nuisance
from dst3d.synthesize.backends import Backend, pixel_settings
from dst3d.synthesize.params import SynthesizeConfig

SYNTH_VERSION = 1  # bump when the same params would give different pixels
INFO_KEY = "dst3d"  # PNG text chunk holding the key and provenance of a synthesized image
IMAGES_DIR = "images"


class SynthesizeError(UserError, ValueError):
    """The inputs cannot be synthesized (missing prompts, missing files, mixed data roots)."""


@dataclass(frozen=True)
class Item:
    """One planned image: its output row (annotation inherited from the edges row) and its key."""

    record: ImageRecord
    key: str


def file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(layout.read_bytes(path)).hexdigest()[:16]
    except FileNotFoundError:
        raise SynthesizeError(f"{path}: input file missing (re-run the upstream stage)") from None


def group_prompts(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Prompts rows by model id, in file order."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if not row.get("model_id") or not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
            raise SynthesizeError(f"prompts row without model_id/prompt: {row}")
        out[row["model_id"]].append(row)
    return dict(out)


def plan(
    edges: Sequence[ImageRecord],
    prompts: Sequence[dict[str, Any]],
    base: BaseConfig,
    cfg: SynthesizeConfig,
    out_dir: Path,
) -> list[Item]:
    """Every image to make: ``images_per_render`` per edges row of ``base.categories``, each with its own
    prompt (the model's prompts in turn, from a seeded start), seed and path. Reads the inputs to hash them."""
    root = out_dir.parent
    by_model = group_prompts(prompts)
    rows = sorted((r for r in edges if r.category in base.categories), key=lambda r: r.image_id)
    missing = sorted({r.model_id for r in rows} - set(by_model))
    if missing:
        raise SynthesizeError(
            f"no prompts for {len(missing)} model(s): {missing[:10]}{' ...' if len(missing) > 10 else ''} "
            "(re-run the prompts stage: its models must match the rendered ones)"
        )
    settings = pixel_settings(cfg)
    need = ("edge",) if cfg.backend == "controlnet" else ("rgb", "mask")
    items = []
    for src in rows:
        for field in need:
            if not getattr(src, field):
                raise SynthesizeError(f"image {src.image_id}: row has no {field!r} file (did the upstream stage run?)")
        digests = {f: file_digest(root / getattr(src, f)) for f in ("rgb", "mask", "edge") if getattr(src, f)}
        options = by_model[src.model_id]
        start = derive_seed(base.seed, "synthesize-prompt", src.image_id) % len(options)
        for k in range(cfg.images_per_render):
            image_id = f"{src.image_id}_s{k:02d}"
            seed = derive_seed(base.seed, "synthesize", image_id)
            chosen = options[(start + k) % len(options)]
            path = out_dir / IMAGES_DIR / safe_name(src.category) / safe_name(src.model_id) / f"{image_id}.png"
            record = dataclasses.replace(
                src,
                image_id=image_id,
                image=relative(out_dir, path),
                seed=seed,
                prompt=chosen["prompt"],
                negative_prompt=chosen.get("negative_prompt") or "",
                backend=cfg.backend,
            )
            payload = {
                "settings": settings,
                "seed": seed,
                "prompt": record.prompt,
                "negative_prompt": record.negative_prompt,
                "inputs": digests,
                "size": [src.width, src.height],
            }
            items.append(Item(record=record, key=content_key(payload, version=SYNTH_VERSION)))
    return items + nuisance_items(rows, by_model, base, cfg, out_dir, settings)


def nuisance_items(
    rows: Sequence[ImageRecord],
    by_model: dict[str, list[dict[str, Any]]],
    base: BaseConfig,
    cfg: SynthesizeConfig,
    out_dir: Path,
    settings: dict[str, Any],
) -> list[Item]:
    """The OOD nuisance splits (``synthesize.nuisances``): per kind and category, a seeded draw of
    ``per_category`` rows of ``source_split``, id ``<render id>_<kind>``, split ``ood_<kind>``, the prompt with
    the nuisance's modifier appended. Composite occlusion rows get the occluded annotation
    (:func:`dst3d.synthesize.nuisance.occlude_record`)."""
    ncfg = cfg.nuisances
    root = out_dir.parent
    items = []
    for kind in ncfg.active:
        by_cat: dict[str, list[ImageRecord]] = defaultdict(list)
        for r in rows:
            if r.split == ncfg.source_split:
                by_cat[r.category].append(r)
        for cat in sorted(by_cat):
            drawn = sorted(by_cat[cat], key=lambda r: derive_seed(base.seed, "nuisance", kind, r.image_id))
            for src in sorted(drawn[: ncfg.per_category], key=lambda r: r.image_id):
                image_id = f"{src.image_id}_{kind}"
                seed = derive_seed(base.seed, "synthesize", image_id)
                options = by_model[src.model_id]
                chosen = options[derive_seed(base.seed, "synthesize-prompt", src.image_id) % len(options)]
                path = out_dir / IMAGES_DIR / safe_name(src.category) / safe_name(src.model_id) / f"{image_id}.png"
                record = dataclasses.replace(
                    src, image_id=image_id, image=relative(out_dir, path), seed=seed,
                    prompt=f"{chosen['prompt'].rstrip().rstrip('.')}, {nuisance.modifier(kind, seed)}",
                    negative_prompt=chosen.get("negative_prompt") or "", backend=cfg.backend,
                    split=nuisance.split_name(kind), nuisance=kind,
                )  # fmt: skip
                if kind == "occlusion" and cfg.backend == "composite":
                    from dst3d.synthesize.composite import read_render

                    record = nuisance.occlude_record(record, read_render(root, src)[1])
                digests = {f: file_digest(root / getattr(src, f)) for f in ("rgb", "mask", "edge") if getattr(src, f)}
                payload = {
                    "settings": settings, "seed": seed, "prompt": record.prompt,
                    "negative_prompt": record.negative_prompt, "inputs": digests, "size": [src.width, src.height],
                    "nuisance": [kind, nuisance.variant(kind, seed), nuisance.NUISANCE_VERSION],
                }  # fmt: skip
                items.append(Item(record=record, key=content_key(payload, version=SYNTH_VERSION)))
    return items


def read_info(path: Path) -> dict[str, Any] | None:
    """The provenance stored in a synthesized PNG (None when absent or unreadable)."""
    try:
        with Image.open(path) as im:
            text = im.info.get(INFO_KEY)  # text chunks before the image data: no pixel decoding needed
        return json.loads(text) if text else None
    except (OSError, ValueError, SyntaxError):
        return None


def encode_png(rgb: np.ndarray, info: dict[str, Any]) -> bytes:
    meta = PngImagePlugin.PngInfo()
    meta.add_text(INFO_KEY, json.dumps(info, sort_keys=True))
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", pnginfo=meta, compress_level=4)
    return buf.getvalue()


def edge_recall(image: np.ndarray, edge: np.ndarray, tolerance_px: int = 2) -> float | None:
    """Share of the input's edge pixels with an output edge within ``tolerance_px``: does it follow the control?"""
    want = edge > 127
    if not want.any():
        return None
    got = cv2.Canny(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), 100, 200) > 0
    near = cv2.dilate(got.astype(np.uint8), np.ones((2 * tolerance_px + 1,) * 2, np.uint8)) > 0
    return float(near[want].mean())


@dataclass
class RunStats:
    planned: int = 0
    generated: int = 0
    reused: int = 0
    removed: int = 0
    seconds_loading: float = 0.0
    seconds_generating: float = 0.0
    edge_recall: list[float] = dataclasses.field(default_factory=list)
    backgrounds: Counter = dataclasses.field(default_factory=Counter)


def write_image(root: Path, item: Item, rgb: np.ndarray, extra: dict[str, Any], backend: str) -> dict[str, Any]:
    """Check one made image's size, store it atomically with its key and provenance; returns the provenance."""
    rec = item.record
    if rgb.shape[:2] != (rec.height, rec.width):
        raise RuntimeError(f"{backend} made {rgb.shape[:2]} for {rec.image_id}, wanted {rec.height}x{rec.width}")
    info = {"key": item.key, "image_id": rec.image_id, "seed": rec.seed, "backend": rec.backend, **extra}
    if rec.edge:
        info["edge_recall"] = edge_recall(rgb, layout.imread(root / rec.edge, cv2.IMREAD_GRAYSCALE))
    atomic.write_bytes(root / rec.image, encode_png(rgb, info))
    return info


class RayMaker:
    """A Ray Data actor (``base.executor.kind: ray``): opens the backend once (ControlNet weights loaded once
    per actor), then makes and writes each batch of planned images into the shared output folder. Rows are
    JSON ``[index, record, key]``; it returns each image's index and provenance for the stage's metrics."""

    def __init__(self, cfg: dict[str, Any], root: str) -> None:
        from dst3d import params
        from dst3d.synthesize import backends
        from dst3d.synthesize.params import SynthesizeConfig

        self.root = Path(root)
        self.backend = backends.open_backend(params.from_dict(SynthesizeConfig, cfg, "synthesize"))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from dst3d.schema import record_from_dict

        rows = [json.loads(str(r)) for r in batch["row"]]
        items = [Item(record_from_dict(ImageRecord, rec, "ray batch"), key) for _, rec, key in rows]
        infos = []
        step = max(1, self.backend.batch_size)
        for i in range(0, len(items), step):
            chunk = items[i : i + step]
            try:
                made = self.backend.make([it.record for it in chunk], self.root)
                infos += [write_image(self.root, it, rgb, extra, self.backend.name)
                          for it, (rgb, extra) in zip(chunk, made, strict=True)]
            except Exception as err:  # name the images: the stage's one-line error must say which
                raise RuntimeError(f"synthesize images {chunk[0].record.image_id} .. {chunk[-1].record.image_id}: "
                                   f"{type(err).__name__}: {err}") from err
        return {"index": np.array([r[0] for r in rows]), "info": np.array([json.dumps(x) for x in infos])}


def _run_ray(todo: list[Item], root: Path, cfg: SynthesizeConfig, executor: ExecutorConfig, stats: RunStats,
             on_written: Callable[[Item], None] | None, progress: bool) -> None:
    """The images of ``todo`` through Ray Data (one backend per actor); stats in plan order."""
    from dst3d import executor as executors
    from dst3d import params

    assert cfg is not None, "run(executor=ray) needs the synthesize cfg"
    rows = [json.dumps([i, to_dict(it.record), it.key]) for i, it in enumerate(todo)]
    wants_gpu = getattr(cfg.backend_params(), "device", "cpu") != "cpu"  # controlnet: auto | cuda[:N]
    with executors.session(executor):
        t0 = time.perf_counter()
        gpus = executors.gpus_per_task(executor, wants_gpu)
        infos = {}
        for row in executors.map_batches(executor, rows, RayMaker, (params.to_dict(cfg), str(root)),
                                         num_gpus=gpus, progress=progress):
            infos[int(row["index"])] = json.loads(str(row["info"]))
            if on_written is not None:
                on_written(todo[int(row["index"])])
        stats.seconds_generating = time.perf_counter() - t0
    for i in sorted(infos):
        stats.generated += 1
        _count(stats, infos[i])


def run(
    items: Sequence[Item],
    out_dir: Path,
    open_backend: Callable[[], Backend],
    on_written: Callable[[Item], None] | None = None,
    progress: bool = True,
    executor: ExecutorConfig | None = None,
    cfg: SynthesizeConfig | None = None,
) -> RunStats:
    """Make every image whose key is not on disk yet; delete unplanned files. The backend is opened (weights
    checked and loaded) only when there is work, and before anything is deleted or written.

    With ``executor.kind: ray`` (``cfg`` then required) the images are made by Ray Data actors instead, each
    opening its own backend; the stage's process opens none."""
    from dst3d import executor as executors

    executors.preflight(executor)
    root = out_dir.parent
    stats = RunStats(planned=len(items))
    todo = []
    for item in items:
        info = read_info(root / item.record.image)
        if info is not None and info.get("key") == item.key:
            stats.reused += 1
            _count(stats, info)
        else:
            todo.append(item)
    backend = None
    if todo and executor is not None and executor.kind == "ray":
        stats.removed = prune(out_dir / IMAGES_DIR, {root / it.record.image for it in items})
        _run_ray(todo, root, cfg, executor, stats, on_written, progress)
        return stats
    if todo:
        t0 = time.perf_counter()
        backend = open_backend()
        stats.seconds_loading = time.perf_counter() - t0
    # unplanned files under images/ (old params, killed runs' temp files)
    stats.removed = prune(out_dir / IMAGES_DIR, {root / it.record.image for it in items})
    if backend is None:
        return stats
    t0 = time.perf_counter()
    bar = progress_bar(len(todo), f"synthesize ({backend.name})", unit="image", enabled=progress)
    step = max(1, backend.batch_size)
    try:
        for i in range(0, len(todo), step):
            chunk = todo[i : i + step]
            results = backend.make([it.record for it in chunk], root)
            for item, (rgb, extra) in zip(chunk, results, strict=True):
                info = write_image(root, item, rgb, extra, backend.name)
                stats.generated += 1
                _count(stats, info)
                bar.update(1)
                if on_written is not None:
                    on_written(item)
    finally:
        bar.close()
    stats.seconds_generating = time.perf_counter() - t0
    return stats


def _count(stats: RunStats, info: dict[str, Any]) -> None:
    if info.get("edge_recall") is not None:
        stats.edge_recall.append(float(info["edge_recall"]))
    if info.get("background"):
        stats.backgrounds[info["background"]] += 1


def metrics(items: Sequence[Item], stats: RunStats, backend: str) -> dict[str, Any]:
    """The stage's metrics JSON: counts by category and split, timing, controllability."""
    rows = [it.record for it in items]
    per_gen = stats.seconds_generating / stats.generated if stats.generated else None
    return {
        "backend": backend,
        "images": stats.planned,
        "generated": stats.generated,
        "reused": stats.reused,
        "removed": stats.removed,
        "per_category": dict(sorted(Counter(r.category for r in rows).items())),
        "per_split": dict(sorted(Counter(r.split for r in rows).items())),
        "per_nuisance": dict(sorted(Counter(r.nuisance for r in rows if r.nuisance).items())),
        "distinct_prompts": len({r.prompt for r in rows}),
        "seconds_loading": round(stats.seconds_loading, 3),
        "seconds_generating": round(stats.seconds_generating, 3),
        "seconds_per_generated_image": None if per_gen is None else round(per_gen, 4),
        "edge_recall_mean": round(float(np.mean(stats.edge_recall)), 4) if stats.edge_recall else None,
        "backgrounds": dict(sorted(stats.backgrounds.items())),
    }
