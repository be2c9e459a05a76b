"""The train stage's library: its training rows, evaluation sets, run, results and plots.

The network, loop and task are the training package's (:mod:`dst3d.training`: the pose + classification
task trained by the generic loop, as the kcf stage does). The train stage trains on the rows ``train.data``
picks and evaluates the same sets for every choice, so the three runs of the paper's ablation are comparable:

* ``test``: synthesized rows of ``train.test_split`` (asset instances no training row shows);
* ``ood``: rows of ``train.ood_split``, when upstream emits any;
* ``ood_<kind>``: each nuisance split the synthesize stage emits (``synthesize.nuisances``: weather,
  occlusion, context, texture), under its split name;
* each of ``eval_sets``, under its name: a manifest or a PASCAL3D+ / ObjectNet3D / ImageNet3D folder, read
  as ``dst3d evaluate`` reads it (:func:`dst3d.evaluate.formats.load_set`), e.g. real photographs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dst3d.evaluate.formats import load_set
from dst3d.models.pose import PoseNet
from dst3d.schema import ImageRecord, read_manifest
from dst3d.seeding import derive_seed
from dst3d.training import metrics, plots
from dst3d.training.data import PoseSample, samples_from_records
from dst3d.training.loop import EpochCallback, fit, make_cache, predict
from dst3d.training.params import NUISANCE_PREFIX, TrainConfig
from dst3d.training.pose import POSE, Predictions


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
    if cfg.max_images and len(rows) > cfg.max_images:
        # a subset fixed by the image ids alone (not their order): growing max_images only adds rows
        rows = sorted(rows, key=lambda r: derive_seed(0, "train-subset", r.image_id))[: cfg.max_images]
    if not rows:
        hint = (" — the filter kept none: see the estimator's accuracy in metrics/kcf.json; train it longer "
                "(kcf.fit.epochs) or use kcf.threshold: keep_fraction") if cfg.data == "kcf" else ""
        raise ValueError(f"{manifest}: no training rows (split {cfg.train_split!r}, data {cfg.data!r}){hint}")
    return rows, manifest, "rgb" if cfg.data == "render" else "image"


def evaluation_sets(
    cfg: TrainConfig, synth_manifest: Path, categories: Sequence[str], seed: int
) -> tuple[dict[str, list[PoseSample]], dict[str, Any]]:
    """The evaluation sets (test, ood, the ``ood_<kind>`` nuisance splits, then ``cfg.eval_sets`` by name) and
    notes on how they were built.

    Every extra set is read and checked (annotations, images) here, before any training."""
    rows = read_manifest(synth_manifest, ImageRecord)
    cats = set(categories)
    test_rows = [r for r in rows if r.split == cfg.test_split and r.category in cats]
    sets = {"test": samples_from_records(test_rows, synth_manifest, categories, "image")}
    notes: dict[str, Any] = {"ood_source": f"split {cfg.ood_split!r}" if cfg.ood_split else "none"}
    ood_rows = [r for r in rows if cfg.ood_split and r.split == cfg.ood_split and r.category in cats]
    if ood_rows:
        sets["ood"] = samples_from_records(ood_rows, synth_manifest, categories, "image")
    # The synthesize stage's nuisance splits (synthesize.nuisances), each evaluated under its split name.
    nuisance_splits = sorted({r.split for r in rows if r.split.startswith(NUISANCE_PREFIX) and r.category in cats})
    for split in nuisance_splits:
        chosen = [r for r in rows if r.split == split and r.category in cats]
        sets[split] = samples_from_records(chosen, synth_manifest, categories, "image")
    notes["nuisance_splits"] = {split: len(sets[split]) for split in nuisance_splits}
    for extra in cfg.eval_sets:
        loaded = load_set(extra.path, extra.format, categories, extra.split)
        sets[extra.name] = loaded.samples
        notes.setdefault("eval_sets", {})[extra.name] = loaded.notes  # what was read, skipped and why
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
    """Epoch history, and per evaluation set its samples, predictions and ``metrics.summarize`` result."""

    history: list[dict[str, Any]]
    sets: dict[str, list[PoseSample]]
    predictions: dict[str, Predictions]
    summaries: dict[str, dict[str, Any]]

    def metrics(self) -> dict[str, Any]:
        """metrics/train.json: per set the category means (each category counts once), plus throughput."""
        out: dict[str, Any] = {name: {k: s["mean"].get(k) for k in SUMMARY_KEYS} for name, s in self.summaries.items()}
        for name, s in self.summaries.items():
            if "extra_azimuth_symmetric" in s:  # labelled as extra: the PASCAL3D+ numbers above are the metric
                out[name]["extra_azimuth_symmetric"] = {
                    c: {k: m[k] for k in ("acc_pi_6", "median_deg")} for c, m in s["extra_azimuth_symmetric"].items()}
        later = self.history[1:] or self.history  # epoch 1 includes worker start-up
        out["images_per_s"] = float(np.mean([r["images_per_s"] for r in later]))
        out["data_wait"] = float(np.mean([r["data_wait"] for r in later]))
        out["final_loss"] = self.history[-1]["loss"]
        return out

    def prediction_rows(self, categories: Sequence[str]) -> list[dict[str, Any]]:
        return [row for name, samples in self.sets.items()
                for row in prediction_rows(name, samples, self.predictions[name], categories)]


AZIMUTH_SYMMETRIC: tuple[str, ...] = ("bottle",)
"""Categories whose objects are (nearly) rotationally symmetric about their up axis: azimuth is unobservable."""


def azimuth_symmetric(samples: Sequence[PoseSample], pred: Predictions) -> dict[str, Any]:
    """An EXTRA metric, never a replacement for the PASCAL3D+ one: for rotationally symmetric categories
    (:data:`AZIMUTH_SYMMETRIC`), the rotation error with the predicted azimuth replaced by the annotated one,
    i.e. counting only elevation and in-plane rotation, which are all a round bottle shows."""
    out: dict[str, Any] = {}
    for cat in AZIMUTH_SYMMETRIC:
        idx = [i for i, s in enumerate(samples) if s.category == cat]
        if not idx:
            continue
        gt = np.array([samples[i].angles for i in idx], dtype=np.float64)
        pr = pred.angles[idx].copy()
        pr[:, 0] = gt[:, 0]
        out[cat] = {**metrics.pose_summary(metrics.rotation_errors(pr, gt)),
                    "note": "extra: azimuth ignored (rotationally symmetric); not the PASCAL3D+ metric"}
    return out


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
    # The test set is evaluated every epoch: prepare it once (plain + mirrored view only).
    test_cache = make_cache(model, sets.get("test", []), cfg.fit, eval_only=True)

    def eval_test(m: PoseNet) -> dict[str, float]:
        last["test"] = pred = predict(POSE, m, sets["test"], cfg.fit, test_cache)
        mean = POSE.metrics(sets["test"], pred)["mean"]
        return {f"test_{k}": mean[k] for k in SUMMARY_KEYS[1:]}

    history = fit(POSE, model, train_samples, cfg.fit, seed, on_epoch=on_epoch, evaluate_every=cfg.eval_every,
                  evaluate_fn=eval_test if sets.get("test") else None)
    preds, summaries = {}, {}
    for name, samples in sets.items():
        # The test set was just predicted by the last epoch's evaluation: reuse it.
        preds[name] = last.pop(name, None) or predict(POSE, model, samples, cfg.fit)
        summaries[name] = POSE.metrics(samples, preds[name])
        extra = azimuth_symmetric(samples, preds[name])
        if extra:
            summaries[name]["extra_azimuth_symmetric"] = extra
    return TrainResult(history, dict(sets), preds, summaries)


WORST_GRID = 32
"""Images in worst.png: the test set's largest rotation errors."""


def write_plots(folder: Path, result: TrainResult, categories: Sequence[str]) -> None:
    """curves.csv/png, confusion.csv/png and worst.png (test set), per_category.csv (every set, plus 'all')."""
    import csv

    folder.mkdir(parents=True, exist_ok=True)
    scores = [k for k in dict.fromkeys(k for row in result.history for k in row) if k.endswith(("acc_pi_6", "top1"))]
    plots.write_curves(folder / "curves", result.history, scores)
    name = next((n for n in ("test", *result.sets) if result.sets.get(n)), None)
    if name is not None:
        plots.write_confusion(folder / "confusion", [s.label for s in result.sets[name]],
                              result.predictions[name].labels, categories)
        # the worst predictions, captioned "category error°" ("!" = misclassified too)
        pred, samples = result.predictions[name], result.sets[name]
        worst = np.argsort(-pred.errors, kind="stable")[:WORST_GRID]
        plots.write_image_grid(folder / "worst.png", [samples[i].path for i in worst],
                               [f"{samples[i].category[:8]} {np.degrees(pred.errors[i]):.0f}"
                                + ("!" if int(pred.labels[i]) != samples[i].label else "") for i in worst])
    with open(folder / "per_category.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["set", "category", *SUMMARY_KEYS])
        for set_name, s in result.summaries.items():
            for cat, m in [*s["per_category"].items(), ("all", s["all"])]:
                w.writerow([set_name, cat, *("" if m.get(k) is None else m.get(k) for k in SUMMARY_KEYS)])
