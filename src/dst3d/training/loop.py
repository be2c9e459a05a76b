"""The generic training loop: :func:`fit` and :func:`predict` any :class:`~dst3d.training.task.Task` on
image samples, as configured by a :class:`~dst3d.training.params.FitConfig`.

The loop owns what every task shares: the device (``cfg.device`` via :func:`dst3d.devices.resolve_device`),
the patch cache, the batch order (:class:`~dst3d.training.data.EpochBatchSampler`: one seeded stream for
all epochs), the optimiser (AdamW or SGD; no weight decay on BN/bias), the learning-rate schedule, and the
epoch rows (losses, lr, images/s, data-wait share). The task owns the model, its targets, loss and outputs.
Set torch's threads with :func:`auto_threads` before calling it (the stage scripts do).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from dst3d import progress
from dst3d.devices import cpu_count, resolve_device
from dst3d.training.data import (
    EpochBatchSampler,
    PoseSample,
    build_cache,
    build_feature_cache,
    make_loader,
    normalize,
)
from dst3d.training.params import FitConfig
from dst3d.training.task import Task

EpochCallback = Callable[[dict[str, Any]], None]


def auto_threads(cfg: FitConfig) -> int:
    """Torch threads for ``cfg.threads`` (0 = every core).

    With the in-memory caches (decoded patches, frozen-prefix features) the data workers only decode while
    the cache is built, when torch waits for them; during training they idle. Leaving a core to each
    worker (the previous rule: cores - workers) ran the network on one thread of two: measured 381 vs
    739 images/s with the cache on this 2-core machine.
    """
    return cfg.threads or max(1, cpu_count())


def device_of(cfg: FitConfig) -> torch.device:
    """The torch device of ``cfg.device`` (``auto`` = CUDA when visible)."""
    return torch.device(resolve_device(cfg.device, "fit.device"))


def lr_at(cfg: FitConfig, step: int, total: int) -> float:
    """The learning rate at optimiser step ``step`` of ``total`` (cosine decay to 0, or constant)."""
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))
    return cfg.lr


def make_optimizer(model: torch.nn.Module, cfg: FitConfig) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over the model's parameters, weight decay only on weights of ndim > 1."""
    # No weight decay on BN/bias parameters: decaying them only fights the normalisation.
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def make_cache(model: torch.nn.Module, data: Sequence[PoseSample], cfg: FitConfig, eval_only: bool = False) -> Any:
    """What :func:`fit`/:func:`predict` read instead of decoding: the frozen prefix's features of every view
    (:class:`~dst3d.training.data.FeatureCache`) when ``model`` has one, else the decoded patches (or None
    when they would not fit in ``cfg.cache_mb``). Build it once and pass it to every call on the same
    samples (kcf's folds, the per-epoch evaluation). ``eval_only``: for :func:`predict` only, which reads
    the plain view and its mirror, so the jittered training views are not computed."""
    if eval_only:
        cfg = dataclasses.replace(cfg, feature_views=min(cfg.feature_views, 2))
    patches = build_cache(data, cfg)
    if not getattr(model, "has_prefix", False):
        return patches
    device = device_of(cfg)
    model.to(device).eval()
    return build_feature_cache(model.prefix, data, cfg, patches, device)


def _forward(model: torch.nn.Module, batch: dict[str, Any], key: str = "") -> Any:
    """The model's outputs for a batch of images (normalised here) or of cached prefix features."""
    if "features" in batch:
        return model.from_prefix(batch["features" + key])
    images = batch["image"] if not key else batch["image"].flip(2)  # (N, S, S, 3): mirror the width axis
    return model(normalize(images))


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def fit(
    task: Task,
    model: torch.nn.Module,
    data: Sequence[PoseSample],
    cfg: FitConfig,
    seed: int,
    on_epoch: EpochCallback | None = None,
    evaluate_every: int = 0,
    evaluate_fn: Callable[[Any], dict[str, Any]] | None = None,
    cache: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` on ``data`` in place; returns one row per epoch: ``epoch``, ``loss`` and the task's
    named loss parts (means over the epoch's images), ``lr``, ``seconds``, ``images_per_s``, ``data_wait``
    (share of the epoch spent waiting for batches), plus whatever ``evaluate_fn(model)`` returns every
    ``evaluate_every`` epochs and at the last one. ``on_epoch`` gets each row as it is made.

    ``cache``: patches from :func:`~dst3d.training.data.build_cache` for ``data`` (None = build them here
    if they fit in ``cfg.cache_mb``).
    """
    if not data:
        raise ValueError("fit: no training samples")
    device = device_of(cfg)
    if cache is None:
        cache = make_cache(model, data, cfg)
    model.to(device)
    dataset = task.dataset(model, data, cfg, seed, True, cache)
    # A last batch of 1 breaks BatchNorm in training mode; drop it when there is more than one batch.
    sampler = EpochBatchSampler(len(dataset), cfg.batch_size, seed, cfg.epochs, drop_last=len(dataset) > cfg.batch_size)
    workers = 0 if getattr(dataset, "in_memory", False) else cfg.workers
    it = iter(make_loader(dataset, cfg.batch_size, workers, sampler))
    opt = make_optimizer(model, cfg)
    total, step, history = cfg.epochs * sampler.batches_per_epoch, 0, []
    bar = progress.bar(total, "fit", unit="batch")
    for epoch in range(cfg.epochs):
        model.train()
        sums: dict[str, float] = {"loss": 0.0}
        seen, wait, t0 = 0, 0.0, time.perf_counter()
        for _ in range(sampler.batches_per_epoch):
            tw = time.perf_counter()
            batch = next(it)
            wait += time.perf_counter() - tw
            for g in opt.param_groups:
                g["lr"] = lr_at(cfg, step, total)
            batch = _to(batch, device)
            outputs = _forward(model, batch)
            loss, parts = task.loss(model, outputs, batch, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n = len(batch["label"])
            seen += n
            step += 1
            sums["loss"] += float(loss.detach()) * n
            for name, part in parts.items():
                sums[name] = sums.get(name, 0.0) + float(part.detach()) * n
            bar.update(1)
        seconds = time.perf_counter() - t0
        row: dict[str, Any] = {"epoch": epoch + 1, **{k: v / max(seen, 1) for k, v in sums.items()},
                               "lr": lr_at(cfg, step, total), "seconds": seconds,
                               "images_per_s": seen / max(seconds, 1e-9), "data_wait": wait / max(seconds, 1e-9)}
        last = epoch + 1 == cfg.epochs
        if evaluate_fn is not None and (last or (evaluate_every and (epoch + 1) % evaluate_every == 0)):
            row.update(evaluate_fn(model))
        history.append(row)
        bar.set_postfix_str(f"epoch {epoch + 1}/{cfg.epochs} done, loss {row['loss']:.3f}")
        if on_epoch is not None:
            on_epoch(row)
    bar.close()
    return history


@torch.no_grad()
def predict(
    task: Task, model: torch.nn.Module, data: Sequence[PoseSample], cfg: FitConfig, cache: np.ndarray | None = None
) -> Any:
    """Eval-mode inference, in order, unaugmented: ``task.predictions(data, outputs)`` (BatchNorm uses its
    running statistics: upstream scored KCF in train mode, so each image's score depended on the other
    images in its batch). ``cache`` as for :func:`fit`."""
    n = len(data)
    if n == 0:
        return task.predictions(data, {})
    device = device_of(cfg)
    if cache is None:
        cache = make_cache(model, data, cfg, eval_only=True)
    model.to(device).eval()
    dataset = task.dataset(model, data, cfg, 0, False, cache)
    # Cached patches need no decoding: the main process keeps up, and forking workers would cost more.
    workers = 0 if cache is not None else min(cfg.workers, max(1, n // 64))
    merge = getattr(task, "merge_mirrored", None) if cfg.tta_flip else None
    outputs: dict[str, list[np.ndarray]] = {}
    loader = make_loader(dataset, cfg.batch_size * 2, workers)
    for batch in progress.track(loader, "predict", unit="batch", total=len(loader)):
        batch = _to(batch, device)
        out = _forward(model, batch)
        if merge is not None and ("features_mirror" in batch or "image" in batch):
            out = merge(model, out, _forward(model, batch, "_mirror"))
        for name, value in task.predict_batch(model, out, batch).items():
            outputs.setdefault(name, []).append(value)
    return task.predictions(data, {name: np.concatenate(parts) for name, parts in outputs.items()})
