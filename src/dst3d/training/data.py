"""Image samples for the downstream tasks: manifest rows -> uint8 crops.

A :class:`PoseSample` is one annotated image (category label, pose angles, box). :class:`ImageDataset`
turns samples into uint8 crops plus whatever per-sample targets a task adds (the pose task adds its angle
bins); :func:`make_loader` and :class:`EpochBatchSampler` feed them to the generic loop
(:mod:`dst3d.training.loop`).

Decoding (OpenCV), cropping, compositing and augmentation run in DataLoader worker processes. Every random
choice is drawn from a generator seeded by (seed, epoch, sample index), which the sampler hands to the
dataset with the index, so a run gives the same batches whatever the number of workers.

Benchmark folders (PASCAL3D+, ObjectNet3D, ImageNet3D) become samples in :mod:`dst3d.evaluate.formats`.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from dst3d import layout, progress, schema
from dst3d.errors import UserError
from dst3d.schema import ImageRecord
from dst3d.seeding import derive_seed
from dst3d.training.params import AugmentConfig, FitConfig

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # ImageNet statistics, so ImageNet weights fit
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class DataError(UserError, ValueError):
    """Rows or files that cannot become training samples (missing file field, unknown category …)."""


@dataclass(frozen=True)
class PoseSample:
    """One image and its target: ``angles`` = (azimuth, elevation, theta) in radians."""

    key: str
    path: str
    label: int
    category: str
    angles: tuple[float, float, float]
    bbox: tuple[float, float, float, float] | None = None
    model_id: str = ""


def resolve_file(manifest: str | Path, rel: str) -> Path:
    """THE place that turns a record's file field into a path (record paths are relative to the data root)."""
    return schema.resolve(manifest, rel)


def samples_from_records(
    records: Sequence[ImageRecord],
    manifest: str | Path,
    categories: Sequence[str],
    field: str = "image",
) -> list[PoseSample]:
    """Samples of manifest rows, reading the file named by ``field`` (``image`` or ``rgb``)."""
    index = {c: i for i, c in enumerate(categories)}
    out = []
    for r in records:
        rel = getattr(r, field)
        if not rel:
            raise DataError(f"{manifest}: row {r.image_id!r} has no {field!r} file (did the stage producing it run?)")
        if r.category not in index:
            raise DataError(f"{manifest}: row {r.image_id!r} has category {r.category!r}, not in base.categories")
        x0, y0, x1, y1 = r.bbox
        out.append(PoseSample(
            key=r.image_id, path=str(resolve_file(manifest, rel)), label=index[r.category], category=r.category,
            angles=(r.azimuth, r.elevation, r.theta), bbox=(x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None,
            model_id=r.model_id,
        ))
    return out


# --------------------------------------------------------------------------- image pipeline
def load_rgb(sample: PoseSample, background: int) -> np.ndarray:
    """uint8 RGB (H, W, 3); an alpha channel is composited over grey ``background``."""
    img = layout.imread(sample.path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataError(f"cannot read image {sample.path}")
    if img.dtype != np.uint8:  # 16-bit PNGs
        img = (img / 257.0).round().astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    alpha = None
    if img.shape[2] == 4:
        alpha = img[..., 3:4].astype(np.float32) / 255.0
        img = img[..., :3]
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if alpha is not None:
        rgb = (rgb * alpha + background * (1.0 - alpha)).round().astype(np.uint8)
    return rgb


def crop_box(sample: PoseSample, shape: tuple[int, ...], pad: float, mode: str) -> tuple[float, float, float]:
    """(centre x, centre y, side) of the square crop: around the bbox (padded) or the whole image."""
    h, w = shape[:2]
    if mode == "bbox" and sample.bbox is not None:
        x0, y0, x1, y1 = sample.bbox
        return (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * (1 + pad)
    return w / 2, h / 2, float(max(w, h))


def _jitter(box: tuple[float, float, float], cfg: FitConfig, rng: np.random.Generator | None) -> tuple[float, ...]:
    aug = cfg.augment
    if rng is None or not aug.enabled:
        return box
    cx, cy, side = box
    side *= rng.uniform(1 - aug.scale, 1 + aug.scale)
    return cx + rng.uniform(-aug.shift, aug.shift) * side, cy + rng.uniform(-aug.shift, aug.shift) * side, side


def _warp(rgb: np.ndarray, box: tuple[float, ...], size: int, background: int) -> np.ndarray:
    """Crop the square ``box`` and resize it to ``size`` in one affine warp (pre-shrunk when it would alias)."""
    cx, cy, side = box
    scale = size / max(side, 1.0)
    if scale < 0.5:
        k = int(1 / scale / 2)
        rgb = cv2.resize(rgb, (max(1, rgb.shape[1] // k), max(1, rgb.shape[0] // k)), interpolation=cv2.INTER_AREA)
        cx, cy, scale = cx / k, cy / k, scale * k
    M = np.array([[scale, 0, size / 2 - scale * cx], [0, scale, size / 2 - scale * cy]], dtype=np.float64)
    return cv2.warpAffine(rgb, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(background,) * 3)


def _color(img: np.ndarray, cfg: FitConfig, rng: np.random.Generator | None) -> np.ndarray:
    """Colour jitter on uint8 (saturating, like clipping): brightness, contrast, saturation.

    Hand-written on purpose: albumentations' ``ColorJitter`` does the same in a random order but measured
    slower per crop (``benchmarks/train.py --mode augment``; docs/stages/train.md)."""
    aug = cfg.augment
    if rng is None or not aug.enabled or aug.color <= 0:
        return img
    lo, hi = 1 - aug.color, 1 + aug.color
    img = cv2.convertScaleAbs(img, alpha=rng.uniform(lo, hi))  # brightness
    c = rng.uniform(lo, hi)
    img = cv2.addWeighted(img, c, img, 0.0, (1 - c) * float(img.mean()))  # contrast around the mean
    sat = rng.uniform(lo, hi)
    grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return cv2.addWeighted(img, sat, grey, 1 - sat, 0.0)  # saturation


@functools.lru_cache(maxsize=8)
def nuisance_augmenter(aug: AugmentConfig) -> Any:
    """The albumentations pipeline of ``augment.weather`` / ``augment.occlusion`` (None when both are 0):
    rain, snow or fog with probability ``weather``, then 1-3 uniformly coloured boxes with ``occlusion``."""
    if aug.weather <= 0 and aug.occlusion <= 0:
        return None
    import albumentations as A

    return A.Compose([
        A.OneOf([A.RandomRain(rain_type="heavy", drop_length=8, blur_value=3, brightness_coefficient=0.75),
                 A.RandomSnow(snow_point_range=(0.2, 0.4), brightness_coeff=2.0, method="texture"),
                 A.RandomFog(fog_coef_range=(0.5, 0.8), alpha_coef=0.15)], p=aug.weather),
        A.CoarseDropout(num_holes_range=(1, 3), hole_height_range=(0.2, 0.4), hole_width_range=(0.2, 0.4),
                        fill="random_uniform", p=aug.occlusion),
    ])  # fmt: skip


def _nuisances(img: np.ndarray, cfg: FitConfig, rng: np.random.Generator | None) -> np.ndarray:
    """Weather and occlusion augmentation, drawn from ``rng`` (the item's own generator, so the result does
    not depend on which worker process runs it: the pipeline's generators are replaced per call)."""
    if rng is None or not cfg.augment.enabled:
        return img
    pipeline = nuisance_augmenter(cfg.augment)
    if pipeline is None:
        return img
    pipeline.set_random_state(rng, random.Random(int(rng.integers(2**63))))
    return pipeline(image=img)["image"]


def _photometric(img: np.ndarray, cfg: FitConfig, rng: np.random.Generator | None) -> np.ndarray:
    return _nuisances(_color(img, cfg, rng), cfg, rng)


def normalize(batch: torch.Tensor) -> torch.Tensor:
    """uint8 (N, S, S, 3) RGB -> float32 (N, 3, S, S) with ImageNet statistics, in one vectorised pass.

    Workers hand over uint8 (4x less to copy between processes) and the main process normalises whole
    batches, which costs less than doing it image by image in the workers.
    """
    x = batch.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.as_tensor(MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.as_tensor(STD, device=x.device).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std).contiguous()


def cache_margin(cfg: FitConfig) -> float:
    """How much larger than the crop a cached patch is, so every jittered crop still lies inside it."""
    aug = cfg.augment
    return 1.0 + ((aug.scale + 2 * aug.shift) if aug.enabled else 0.0)


def cache_side(cfg: FitConfig) -> int:
    return int(math.ceil(cfg.image_size * cache_margin(cfg)))


def prepare(sample: PoseSample, cfg: FitConfig, rng: np.random.Generator | None) -> np.ndarray:
    """Decode, crop (jittered when ``rng`` is given), resize, colour-jitter: uint8 RGB (S, S, 3)."""
    rgb = load_rgb(sample, cfg.background)
    box = _jitter(crop_box(sample, rgb.shape, cfg.bbox_pad, cfg.crop), cfg, rng)
    return _photometric(_warp(rgb, box, cfg.image_size, cfg.background), cfg, rng)


def cache_patch(sample: PoseSample, cfg: FitConfig) -> np.ndarray:
    """The decoded crop, enlarged by :func:`cache_margin`, at :func:`cache_side` pixels: uint8 (C, C, 3)."""
    rgb = load_rgb(sample, cfg.background)
    cx, cy, side = crop_box(sample, rgb.shape, cfg.bbox_pad, cfg.crop)
    return _warp(rgb, (cx, cy, side * cache_margin(cfg)), cache_side(cfg), cfg.background)


def prepare_cached(patch: np.ndarray, cfg: FitConfig, rng: np.random.Generator | None) -> np.ndarray:
    """:func:`prepare` from a cached patch (the same crop geometry, one resampling more)."""
    c = patch.shape[0]
    box = _jitter((c / 2, c / 2, c / cache_margin(cfg)), cfg, rng)
    return _photometric(_warp(patch, box, cfg.image_size, cfg.background), cfg, rng)


class _PatchDataset(Dataset):
    def __init__(self, samples: Sequence[PoseSample], cfg: FitConfig) -> None:
        self.samples, self.cfg = samples, cfg

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> np.ndarray:
        return cache_patch(self.samples[i], self.cfg)


def build_cache(samples: Sequence[PoseSample], cfg: FitConfig) -> np.ndarray | None:
    """Decode every image once, in ``cfg.workers`` processes, into one uint8 array (N, C, C, 3) of patches.

    Training then only jitters and resizes small patches: the images are decoded once per stage instead of
    once per epoch (and, in kcf, once per fold). None when the array would exceed ``cfg.cache_mb``.
    """
    c = cache_side(cfg)
    if not samples or len(samples) * c * c * 3 > cfg.cache_mb * 2**20:
        return None
    loader = DataLoader(_PatchDataset(samples, cfg), batch_size=32, num_workers=cfg.workers,
                        worker_init_fn=_worker_init if cfg.workers else None,
                        multiprocessing_context=WORKER_CONTEXT if cfg.workers else None,
                        collate_fn=np.stack)
    return np.concatenate(list(progress.track(loader, "decode", unit="batch")))


# Workers come from a fork server, not a plain fork of the caller: a process that has already run
# threaded code (OpenMP, OpenCV, tokenizers, an earlier DataLoader...) can hold locks that a forked child
# inherits forever, which hung the test suite. The fork server starts clean once per process.
WORKER_CONTEXT = "forkserver"


class ImageDataset(Dataset):
    """Indexed by ``(index, epoch)`` pairs from :class:`EpochBatchSampler` (augmenting when ``train``) or
    plain ints (never augmenting). An item holds ``image``, the uint8 crop (S, S, 3) (:func:`normalize` the
    batch before the network), the sample's category ``label``, its ``index``, and row ``index`` of every
    array in ``targets`` (a task's per-sample training targets, e.g. the pose task's angle bins).

    ``cache``: the patches of :func:`build_cache`, row i for sample i (None = decode every access).
    ``targets_mirrored``: the targets of the horizontally mirrored image; given (and ``augment.flip`` on),
    half of the training crops are mirrored, with these targets.
    """

    in_memory = False

    def __init__(self, samples: Sequence[PoseSample], cfg: FitConfig, seed: int, train: bool,
                 cache: np.ndarray | None = None, targets: Mapping[str, np.ndarray] | None = None,
                 targets_mirrored: Mapping[str, np.ndarray] | None = None) -> None:
        if cache is not None and len(cache) != len(samples):
            raise ValueError(f"cache has {len(cache)} patches for {len(samples)} samples")
        self.samples, self.cfg, self.seed, self.train, self.cache = list(samples), cfg, seed, train, cache
        self.targets = dict(targets or {})
        self.mirrored = dict(targets_mirrored or {})
        for name, values in (*self.targets.items(), *self.mirrored.items()):
            if len(values) != len(self.samples):
                raise ValueError(f"target {name!r} has {len(values)} rows for {len(self.samples)} samples")
        aug = cfg.augment
        self.flip = bool(self.mirrored) and aug.enabled and aug.flip

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        index, epoch = item if isinstance(item, tuple) else (item, -1)
        rng = np.random.default_rng(derive_seed(self.seed, "augment", epoch, index)) if self.train else None
        s = self.samples[index]
        img = prepare(s, self.cfg, rng) if self.cache is None else prepare_cached(self.cache[index], self.cfg, rng)
        targets = self.targets
        if rng is not None and self.flip and rng.random() < 0.5:
            img, targets = np.ascontiguousarray(img[:, ::-1]), self.mirrored
        out = {"image": torch.from_numpy(img), "label": s.label, "index": index}
        out.update({name: torch.as_tensor(values[index]) for name, values in targets.items()})
        return out


@dataclass
class FeatureCache:
    """A frozen network prefix's output for ``V`` views of every sample: ``features`` (N, V, C, H, W)
    float16; ``mirrored[v]`` tells whether view v is the mirrored crop. View 0 is the plain, unjittered
    crop and view 1 (when mirrored views exist) its mirror: evaluation uses these two (flip averaging);
    training draws one view per sample and epoch. Rows subset like an array (``cache[rows]``), so kcf
    computes it once for all its folds."""

    features: torch.Tensor
    mirrored: np.ndarray

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, rows: Any) -> FeatureCache:
        return FeatureCache(self.features[torch.as_tensor(np.asarray(rows))], self.mirrored)

    @property
    def nbytes(self) -> int:
        return self.features.numel() * self.features.element_size()


def feature_views(cfg: FitConfig) -> list[tuple[bool, bool]]:
    """(jittered, mirrored) of each cached view: plain, mirror, then jittered pairs (no mirrors without flip)."""
    flip = cfg.augment.enabled and cfg.augment.flip
    views = []
    for v in range(cfg.feature_views):
        mirrored = flip and v % 2 == 1
        jittered = cfg.augment.enabled and v >= (2 if flip else 1)
        views.append((jittered, mirrored))
    return views


@torch.no_grad()
def build_feature_cache(prefix: Any, samples: Sequence[PoseSample], cfg: FitConfig,
                        patches: np.ndarray | None = None, device: torch.device | str = "cpu",
                        batch_size: int = 64) -> FeatureCache:
    """Run the frozen ``prefix`` (a callable on normalised images) once over every view of every sample.

    Jittered views draw their crop from a generator seeded by (view, sample key), not by position: the
    same sample gets the same views in any subset or order (kcf's folds, the train stage).
    """
    views = feature_views(cfg)
    out: torch.Tensor | None = None
    for start in progress.track(range(0, len(samples), batch_size), "features", unit="batch"):
        chunk = samples[start:start + batch_size]
        for v, (jittered, mirrored) in enumerate(views):
            imgs = []
            for j, s in enumerate(chunk):
                rng = np.random.default_rng(derive_seed(0, "feature-view", v, s.key)) if jittered else None
                patch = patches[start + j] if patches is not None else None
                img = prepare(s, cfg, rng) if patch is None else prepare_cached(patch, cfg, rng)
                imgs.append(img[:, ::-1] if mirrored else img)
            x = normalize(torch.from_numpy(np.ascontiguousarray(np.stack(imgs)))).to(device)
            f = prefix(x).to("cpu", torch.float16)
            if out is None:
                out = torch.empty((len(samples), len(views), *f.shape[1:]), dtype=torch.float16)
            out[start:start + len(chunk), v] = f
    if out is None:
        out = torch.empty((0, len(views)), dtype=torch.float16)
    return FeatureCache(out, np.array([m for _, m in views], dtype=bool))


class FeatureDataset(Dataset):
    """:class:`ImageDataset`'s counterpart over a :class:`FeatureCache`: items hold ``features`` (one view:
    drawn per (index, epoch) when ``train``, else the plain view plus ``features_mirror`` when a mirrored
    view exists), ``label``, ``index`` and the targets (mirrored ones for mirrored views)."""

    in_memory = True  # nothing to decode: no worker processes

    def __init__(self, samples: Sequence[PoseSample], cache: FeatureCache, seed: int, train: bool,
                 targets: Mapping[str, np.ndarray] | None = None,
                 targets_mirrored: Mapping[str, np.ndarray] | None = None) -> None:
        if len(cache) != len(samples):
            raise ValueError(f"feature cache has {len(cache)} rows for {len(samples)} samples")
        self.samples, self.cache, self.seed, self.train = list(samples), cache, seed, train
        self.targets = dict(targets or {})
        self.mirrored = dict(targets_mirrored or self.targets)
        self.mirror_view = int(np.argmax(cache.mirrored)) if cache.mirrored.any() else -1

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, item: int | tuple[int, int]) -> dict[str, Any]:
        index, epoch = item if isinstance(item, tuple) else (item, -1)
        view = 0
        if self.train:
            rng = np.random.default_rng(derive_seed(self.seed, "augment", epoch, index))
            view = int(rng.integers(self.cache.features.shape[1]))
        targets = self.mirrored if self.cache.mirrored[view] else self.targets
        out = {"features": self.cache.features[index, view].float(), "label": self.samples[index].label,
               "index": index}
        if not self.train and self.mirror_view > 0:
            out["features_mirror"] = self.cache.features[index, self.mirror_view].float()
        out.update({name: torch.as_tensor(values[index]) for name, values in targets.items()})
        return out


class EpochBatchSampler(Sampler):
    """Batches of ``(index, epoch)`` for all epochs in one stream: a seeded permutation per epoch, batches
    never straddle epochs, and the workers seed augmentation from the pair.

    One stream for the whole run (instead of one DataLoader pass per epoch) keeps the workers prefetching
    across epoch boundaries and through the per-epoch evaluation: with the quickstart's few batches per
    epoch, refilling the pipeline every epoch was most of the time spent waiting for data.
    """

    def __init__(self, n: int, batch_size: int, seed: int, epochs: int = 1, start_epoch: int = 0,
                 drop_last: bool = False) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.epochs, self.start_epoch, self.drop_last = epochs, start_epoch, drop_last

    @property
    def batches_per_epoch(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for epoch in range(self.start_epoch, self.start_epoch + self.epochs):
            order = np.random.default_rng(derive_seed(self.seed, "order", epoch)).permutation(self.n)
            for b in range(self.batches_per_epoch):
                yield [(int(i), epoch) for i in order[b * self.batch_size:(b + 1) * self.batch_size]]

    def __len__(self) -> int:
        return self.epochs * self.batches_per_epoch


def _worker_init(_: int) -> None:
    # Workers decode and augment; one thread each, so they do not fight the training threads for cores.
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def make_loader(dataset: Dataset, batch_size: int, workers: int,
                batch_sampler: EpochBatchSampler | None = None) -> DataLoader:
    """A DataLoader whose ``workers`` processes do the decoding (0 = in the main process); with a
    ``batch_sampler`` it augments, else it yields the dataset in order, unaugmented, ``batch_size`` at a time."""
    batching: dict[str, Any] = {"batch_sampler": batch_sampler} if batch_sampler else {"batch_size": batch_size}
    return DataLoader(
        dataset,
        num_workers=workers,
        worker_init_fn=_worker_init if workers else None,
        multiprocessing_context=WORKER_CONTEXT if workers else None,
        prefetch_factor=4 if workers else None,
        **batching,
    )
