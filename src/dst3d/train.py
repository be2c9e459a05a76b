"""Training and inference for the pose networks, and the train stage's data selection, metrics and plots.

``fit``/``predict`` are shared with the kcf stage. The train stage trains on the rows ``train.data`` picks
and evaluates the same sets for every choice, so the three runs of the paper's ablation are comparable:

* ``test``: synthesized rows of ``train.test_split`` (asset instances no training row shows);
* ``ood``: rows of ``train.ood_split`` (unseen backgrounds and lighting); if upstream emits none and
  ``ood_derive`` is on, the test rows' RGBA renders over procedural backgrounds under shifted light;
* ``pascal3d``: a folder in PASCAL3D+ layout (``datasets.read_pose_folder``), e.g. real photographs.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dst3d import evaluate
from dst3d.config import FitConfig, TrainConfig
from dst3d.datasets import (
    EpochBatchSampler,
    PoseDataset,
    PoseSample,
    build_cache,
    make_loader,
    normalize,
    samples_from_records,
)
from dst3d.models.pose import PoseNet, bins_to_angles, pose_loss
from dst3d.schema import ImageRecord, read_manifest

EpochCallback = Callable[[dict[str, Any]], None]


def auto_threads(cfg: FitConfig) -> int:
    """Torch threads for ``cfg.threads`` (0 = the cores the data workers leave, at least 1).

    Oversubscribed OpenMP threads spin-wait on each other: on a busy 2-core machine two threads next to
    two workers trained ~10x slower than one thread in our measurements.
    """
    return cfg.threads or max(1, (os.cpu_count() or 1) - cfg.workers)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# --------------------------------------------------------------------------- fit / predict
def _lr_at(cfg: FitConfig, step: int, total: int) -> float:
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))
    return cfg.lr


def _optimizer(model: torch.nn.Module, cfg: FitConfig) -> torch.optim.Optimizer:
    # No weight decay on BN/bias parameters: decaying them only fights the normalisation.
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def fit(
    model: PoseNet,
    samples: Sequence[PoseSample],
    cfg: FitConfig,
    seed: int,
    on_epoch: EpochCallback | None = None,
    evaluate_every: int = 0,
    evaluate_fn: Callable[[PoseNet], dict[str, float]] | None = None,
    cache: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` in place; returns one row per epoch (losses, lr, images/s, data-wait share, and
    whatever ``evaluate_fn`` returns every ``evaluate_every`` epochs and at the last one).

    ``cache``: patches from ``datasets.build_cache`` for ``samples`` (None = build them here if they fit).
    """
    if not samples:
        raise ValueError("fit: no training samples")
    device = resolve_device(cfg.device)
    model.to(device)
    if cache is None:
        cache = build_cache(samples, cfg)
    dataset = PoseDataset(samples, cfg, model.num_bins, seed, train=True, cache=cache)
    # A last batch of 1 breaks BatchNorm in training mode; drop it when there is more than one batch.
    sampler = EpochBatchSampler(len(dataset), cfg.batch_size, seed, cfg.epochs, drop_last=len(dataset) > cfg.batch_size)
    it = iter(make_loader(dataset, cfg.batch_size, cfg.workers, sampler))
    opt = _optimizer(model, cfg)
    total, step, history = cfg.epochs * sampler.batches_per_epoch, 0, []
    for epoch in range(cfg.epochs):
        model.train()
        sums = {"loss": 0.0, "pose_loss": 0.0, "cls_loss": 0.0}
        seen, wait, t0 = 0, 0.0, time.perf_counter()
        for _ in range(sampler.batches_per_epoch):
            tw = time.perf_counter()
            batch = next(it)
            wait += time.perf_counter() - tw
            for g in opt.param_groups:
                g["lr"] = _lr_at(cfg, step, total)
            x = normalize(batch["image"].to(device, non_blocking=True))
            y = batch["label"].to(device)
            bins = batch["bins"].to(device)
            cls_logits, pose_logits = model(x)
            lp = pose_loss(model.select(pose_logits, y), bins).mean()
            lc = torch.nn.functional.cross_entropy(cls_logits, y)
            loss = lp + cfg.cls_weight * lc
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n = len(y)
            seen += n
            step += 1
            sums["loss"] += float(loss.detach()) * n
            sums["pose_loss"] += float(lp.detach()) * n
            sums["cls_loss"] += float(lc.detach()) * n
        seconds = time.perf_counter() - t0
        row: dict[str, Any] = {"epoch": epoch + 1, **{k: v / max(seen, 1) for k, v in sums.items()},
                               "lr": _lr_at(cfg, step, total), "seconds": seconds,
                               "images_per_s": seen / max(seconds, 1e-9), "data_wait": wait / max(seconds, 1e-9)}
        last = epoch + 1 == cfg.epochs
        if evaluate_fn is not None and (last or (evaluate_every and (epoch + 1) % evaluate_every == 0)):
            row.update(evaluate_fn(model))
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    return history


@dataclass
class Predictions:
    """Per-sample outputs: predicted angles (N, 3), predicted category index (N,), the pose loss at the
    annotated angles (N,) and the rotation error to the annotation (N,) in radians."""

    angles: np.ndarray
    labels: np.ndarray
    loss: np.ndarray
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0))


@torch.no_grad()
def predict(
    model: PoseNet, samples: Sequence[PoseSample], cfg: FitConfig, cache: np.ndarray | None = None
) -> Predictions:
    """Eval-mode inference (BatchNorm uses its running statistics: upstream scored KCF in train mode, so
    each image's score depended on the other images in its batch). ``cache`` as for :func:`fit`."""
    n = len(samples)
    if n == 0:
        z = np.zeros((0,))
        return Predictions(np.zeros((0, 3)), z.astype(np.int64), z, z)
    device = resolve_device(cfg.device)
    model.to(device).eval()
    if cache is None:
        cache = build_cache(samples, cfg)
    dataset = PoseDataset(samples, cfg, model.num_bins, seed=0, train=False, cache=cache)
    # Cached patches need no decoding: the main process keeps up, and forking workers would cost more.
    workers = 0 if cache is not None else min(cfg.workers, max(1, n // 64))
    loader = make_loader(dataset, cfg.batch_size * 2, workers)
    angles, labels, losses = [], [], []
    for batch in loader:
        x, y, bins = normalize(batch["image"].to(device)), batch["label"].to(device), batch["bins"].to(device)
        cls_logits, pose_logits = model(x)
        selected = model.select(pose_logits, y)
        angles.append(bins_to_angles(selected.argmax(-1).cpu().numpy(), model.num_bins))
        labels.append(cls_logits.argmax(-1).cpu().numpy())
        losses.append(pose_loss(selected, bins).cpu().numpy())
    pred = np.concatenate(angles)
    gt = np.array([s.angles for s in samples], dtype=np.float64)
    return Predictions(pred, np.concatenate(labels), np.concatenate(losses), evaluate.rotation_errors(pred, gt))


def metrics_of(samples: Sequence[PoseSample], pred: Predictions) -> dict[str, Any]:
    """``evaluate.summarize`` of one evaluation set."""
    return evaluate.summarize(pred.errors, [s.category for s in samples], pred.labels, [s.label for s in samples])


# --------------------------------------------------------------------------- the train stage's data
def training_rows(cfg: TrainConfig, manifests: dict[str, Path]) -> tuple[list[ImageRecord], Path, str]:
    """(rows, their manifest, the file field to read) for ``cfg.data``."""
    source = "kcf" if cfg.data == "kcf" else cfg.data
    manifest = manifests[source]
    rows = [r for r in read_manifest(manifest, ImageRecord) if r.split == cfg.train_split]
    if cfg.data == "kcf":
        if any(r.kcf_keep is None for r in rows):
            raise ValueError(f"{manifest}: rows of split {cfg.train_split!r} without kcf_keep; kcf.splits must "
                             f"include {cfg.train_split!r}")
        rows = [r for r in rows if r.kcf_keep]
    if not rows:
        hint = (" — the filter kept none: see the estimator's accuracy in metrics/kcf.json; train it longer "
                "(kcf.fit.epochs) or use kcf.threshold: keep_fraction") if cfg.data == "kcf" else ""
        raise ValueError(f"{manifest}: no training rows (split {cfg.train_split!r}, data {cfg.data!r}){hint}")
    return rows, manifest, "rgb" if cfg.data == "render" else "image"


def evaluation_sets(
    cfg: TrainConfig, synth_manifest: Path, categories: Sequence[str], seed: int
) -> tuple[dict[str, list[PoseSample]], dict[str, Any]]:
    """The evaluation sets (test, ood, pascal3d) and notes on how they were built."""
    from dst3d.datasets import read_pose_folder

    rows = read_manifest(synth_manifest, ImageRecord)
    cats = set(categories)
    test_rows = [r for r in rows if r.split == cfg.test_split and r.category in cats]
    ood_rows = [r for r in rows if r.split == cfg.ood_split and r.category in cats]
    sets = {"test": samples_from_records(test_rows, synth_manifest, categories, "image")}
    notes: dict[str, Any] = {"ood_source": f"split {cfg.ood_split!r}"}
    if ood_rows:
        sets["ood"] = samples_from_records(ood_rows, synth_manifest, categories, "image")
    elif cfg.ood_derive and test_rows:
        sets["ood"] = samples_from_records(test_rows, synth_manifest, categories, "rgb", ood_seed=seed)
        notes["ood_source"] = "derived: test renders over procedural backgrounds, shifted light"
    if cfg.pascal3d:
        sets["pascal3d"], notes["pascal3d_skipped"] = read_pose_folder(cfg.pascal3d, categories)
    return sets, notes


def prediction_rows(name: str, samples: Sequence[PoseSample], pred: Predictions,
                    categories: Sequence[str]) -> list[dict[str, Any]]:
    """One JSON-able row per evaluated image (for data/train/predictions.jsonl)."""
    return [
        {"set": name, "key": s.key, "category": s.category, "predicted_category": categories[int(pred.labels[i])],
         "angles": list(s.angles), "predicted_angles": pred.angles[i].tolist(),
         "error_deg": float(np.degrees(pred.errors[i]))}
        for i, s in enumerate(samples)
    ]


# --------------------------------------------------------------------------- the train stage's run
SUMMARY_KEYS = ("n", "acc_pi_6", "acc_pi_18", "median_deg", "top1")


@dataclass
class TrainResult:
    """Epoch history, and per evaluation set its samples, predictions and ``evaluate.summarize`` result."""

    history: list[dict[str, Any]]
    sets: dict[str, list[PoseSample]]
    predictions: dict[str, Predictions]
    summaries: dict[str, dict[str, Any]]

    def metrics(self) -> dict[str, Any]:
        """metrics/train.json: per set the category means (each category counts once), plus throughput."""
        out: dict[str, Any] = {name: {k: s["mean"].get(k) for k in SUMMARY_KEYS} for name, s in self.summaries.items()}
        later = self.history[1:] or self.history  # epoch 1 includes worker start-up
        out["images_per_s"] = float(np.mean([r["images_per_s"] for r in later]))
        out["data_wait"] = float(np.mean([r["data_wait"] for r in later]))
        out["final_loss"] = self.history[-1]["loss"]
        return out

    def prediction_rows(self, categories: Sequence[str]) -> list[dict[str, Any]]:
        return [row for name, samples in self.sets.items()
                for row in prediction_rows(name, samples, self.predictions[name], categories)]


def train_and_evaluate(
    model: PoseNet,
    train_samples: Sequence[PoseSample],
    sets: dict[str, list[PoseSample]],
    cfg: TrainConfig,
    seed: int,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Fit on ``train_samples`` (the test set evaluated every ``cfg.eval_every`` epochs for the learning
    curve; the model is the last epoch's, never selected on the test set), then evaluate every set."""
    last: dict[str, Predictions] = {}
    test_cache = build_cache(sets.get("test", []), cfg.fit)  # evaluated every epoch: decode it once

    def eval_test(m: PoseNet) -> dict[str, float]:
        last["test"] = pred = predict(m, sets["test"], cfg.fit, test_cache)
        mean = metrics_of(sets["test"], pred)["mean"]
        return {f"test_{k}": mean[k] for k in SUMMARY_KEYS[1:]}

    history = fit(model, train_samples, cfg.fit, seed, on_epoch=on_epoch, evaluate_every=cfg.eval_every,
                  evaluate_fn=eval_test if sets.get("test") else None)
    preds, summaries = {}, {}
    for name, samples in sets.items():
        # The test set was just predicted by the last epoch's evaluation: reuse it.
        preds[name] = last.pop(name, None) or predict(model, samples, cfg.fit)
        summaries[name] = metrics_of(samples, preds[name])
    return TrainResult(history, dict(sets), preds, summaries)


def write_plots(folder: Path, result: TrainResult, categories: Sequence[str]) -> None:
    """curves.csv/png, confusion.csv/png (test set), per_category.csv (every set, plus 'all' rows)."""
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    write_curves(folder / "curves", result.history)
    name = next((n for n in ("test", *result.sets) if result.sets.get(n)), None)
    if name is not None:
        write_confusion(folder / "confusion", result.sets[name], result.predictions[name], categories)
    with open(folder / "per_category.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["set", "category", *SUMMARY_KEYS])
        for set_name, s in result.summaries.items():
            for cat, m in [*s["per_category"].items(), ("all", s["all"])]:
                w.writerow([set_name, cat, *("" if m.get(k) is None else m.get(k) for k in SUMMARY_KEYS)])


# --------------------------------------------------------------------------- plots
def write_curves(path: Path, history: Sequence[dict[str, Any]]) -> None:
    """Learning curves as CSV (dvc plots) and PNG (MLflow); columns are the union of the epoch rows."""
    import csv

    cols = list(dict.fromkeys(k for row in history for k in row))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for row in history:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    ep = [r["epoch"] for r in history]
    for k in ("loss", "pose_loss", "cls_loss"):
        a.plot(ep, [r[k] for r in history], label=k)
    a.set_xlabel("epoch")
    a.legend()
    for k in cols:
        if k.endswith(("acc_pi_6", "top1")):
            pts = [(r["epoch"], r[k]) for r in history if r.get(k) is not None]
            b.plot(*zip(*pts, strict=True), marker="o", label=k)
    b.set_xlabel("epoch")
    b.set_ylim(0, 1)
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=100)
    plt.close(fig)


def write_confusion(path: Path, samples: Sequence[PoseSample], pred: Predictions, categories: Sequence[str]) -> None:
    """The classification confusion matrix: per-image CSV for dvc's confusion template, and a PNG."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["actual", "predicted"])
        for s, p in zip(samples, pred.labels, strict=True):
            w.writerow([s.category, categories[int(p)]])
    m = evaluate.confusion_matrix([s.label for s in samples], pred.labels, len(categories))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1 + 0.45 * len(categories),) * 2)
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(categories)), categories, rotation=90)
    ax.set_yticks(range(len(categories)), categories)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    for (i, j), v in np.ndenumerate(m):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=100)
    plt.close(fig)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
