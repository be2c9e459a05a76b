"""K-fold consistency filter (KCF): drop synthesized images whose 3D annotation the data itself disputes.

The rows to filter are split into K folds by model id (no asset instance on both sides of a split; upstream
split by image, which ``group_by: image`` reproduces). For each fold a pose estimator is trained on the other
K-1 folds and scores the held-out rows in eval mode (flip-averaged): the score is how unlikely the estimator
finds the *annotated* pose (negative log of its probability mass near each annotated angle; a
front/back-ambiguous estimator puts mass on both and so does not condemn either). With ``shape`` evidence
(:mod:`dst3d.kcf_shape`) the mesh's outline at the annotated pose is checked against the image too, and the
evidence is combined per category (:func:`combine_evidence`) into ``kcf_score``. The threshold is
calibrated per category on the held-out rows against synthetic wrong annotations of the same images
(:func:`adaptive_keep`), so it adapts to how good the evidence is. The rotation error of the argmax
prediction is reported too (and is the score of ``threshold: max_error``, upstream's rule).

The estimators are the pose + classification task of :mod:`dst3d.training` (network, loop and
``training:`` settings shared with the train stage).

``eval_corruption`` measures the filter: it corrupts a seeded share of annotations first (turned around,
mirrored, any rotation — the failures the paper shows) and reports how well the scores find them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dst3d import camera, kcf_shape, progress
from dst3d import executor as executors
from dst3d.devices import cpu_count
from dst3d.errors import UserError
from dst3d.params import BaseConfig
from dst3d.schema import ImageRecord
from dst3d.seeding import derive_seed, rng_for
from dst3d.training import metrics, plots
from dst3d.training.data import resolve_file, samples_from_records
from dst3d.training.loop import EpochCallback, fit, make_cache, predict
from dst3d.training.params import CORRUPTION_KINDS, CorruptionConfig, KcfConfig
from dst3d.training.pose import POSE, Predictions, window_nll


class KcfError(UserError, ValueError):
    """The rows cannot be filtered as configured (too few instances for the folds, …)."""


# --------------------------------------------------------------------------- folds
def assign_folds(groups: Sequence[str], categories: Sequence[str], k: int, seed: int) -> np.ndarray:
    """Fold index per row; all rows of a group (model id or image id) share a fold.

    Per category the groups are shuffled (seeded) and dealt round-robin, the dealer continuing across
    categories, so every fold gets instances of every category that has enough of them and the fold sizes
    differ by at most one group per category.
    """
    groups, cats = list(groups), list(categories)
    if len(set(groups)) < k:
        raise KcfError(f"{len(set(groups))} group(s) for {k} folds; lower kcf.folds or use group_by: image")
    fold_of: dict[str, int] = {}
    dealer = 0
    for cat in sorted(set(cats)):
        ids = sorted({g for g, c in zip(groups, cats, strict=True) if c == cat})
        _, rng = rng_for(seed, "kcf-folds", cat)
        for g in np.asarray(ids)[rng.permutation(len(ids))]:
            if g not in fold_of:  # a group id shared by two categories keeps its first fold
                fold_of[str(g)] = dealer % k
                dealer += 1
    folds = np.array([fold_of[g] for g in groups], dtype=np.int64)
    empty = sorted(set(range(k)) - set(folds.tolist()))
    if empty:
        raise KcfError(f"fold(s) {empty} are empty; lower kcf.folds")
    return folds


# --------------------------------------------------------------------------- corruption
def _with_angles(r: ImageRecord, az: float, el: float, th: float) -> ImageRecord:
    R = camera.rotation_from_angles(az, el, th)
    return dataclasses.replace(r, azimuth=float(az), elevation=float(el), theta=float(th),
                               R=tuple(tuple(float(x) for x in row) for row in R))


def corrupt_one(r: ImageRecord, kind: str, rng: np.random.Generator) -> ImageRecord:
    """The record with its annotation corrupted as ``kind`` (R recomputed from the new angles)."""
    if kind == "azimuth_180":
        return _with_angles(r, (r.azimuth + math.pi) % (2 * math.pi), r.elevation, r.theta)
    if kind == "mirror_azimuth":
        return _with_angles(r, (-r.azimuth) % (2 * math.pi), r.elevation, r.theta)
    if kind == "random_rotation":
        from scipy.spatial.transform import Rotation

        R = Rotation.random(random_state=int(rng.integers(2**31))).as_matrix()
        return _with_angles(r, *camera.angles_from_rotation(R))
    raise ValueError(f"unknown corruption {kind!r}")


def corrupt(
    rows: Sequence[ImageRecord], cfg: CorruptionConfig, seed: int
) -> tuple[list[ImageRecord], list[str | None]]:
    """Corrupt ``round(fraction * len(rows))`` rows; returns the rows and each row's corruption (or None).

    Rows are visited in a seeded order and the kinds cycle; a kind that would move this row's rotation by
    no more than ``min_change_deg`` (a mirrored frontal view is the same view) skips the row, so every
    corrupted row is really wrong and the detection task is well defined.
    """
    out, kinds = list(rows), [None] * len(rows)
    target = int(round(cfg.fraction * len(rows)))
    if target == 0:
        return out, kinds
    _, rng = rng_for(seed, "kcf-corruption")
    min_change = math.radians(cfg.min_change_deg)
    done = 0
    for i in rng.permutation(len(rows)):
        if done == target:
            break
        r, kind = rows[i], cfg.kinds[done % len(cfg.kinds)]
        orig = camera.rotation_from_angles(r.azimuth, r.elevation, r.theta)
        for attempt in range(10 if kind == "random_rotation" else 1):  # a random draw may land near the truth
            bad = corrupt_one(r, kind, np.random.default_rng(derive_seed(seed, "kcf-corrupt", r.image_id, attempt)))
            if camera.rotation_error(orig, np.asarray(bad.R)) > min_change:
                out[i], kinds[i] = bad, kind
                done += 1
                break
    return out, kinds


# --------------------------------------------------------------------------- decision and quality
ALTERNATIVES: tuple[str, ...] = CORRUPTION_KINDS
"""The wrong annotations each row's score is compared with when the threshold is calibrated."""


def alternative_angles(rows: Sequence[ImageRecord], seed: int) -> np.ndarray:
    """(N, len(ALTERNATIVES), 3): each row's annotation turned around, mirrored and replaced by a random
    rotation (seeded per image), i.e. what a wrong annotation of that very image looks like."""
    out = np.zeros((len(rows), len(ALTERNATIVES), 3))
    for i, r in enumerate(rows):
        for j, kind in enumerate(ALTERNATIVES):
            bad = corrupt_one(r, kind, np.random.default_rng(derive_seed(seed, "kcf-alternative", r.image_id, kind)))
            out[i, j] = (bad.azimuth, bad.elevation, bad.theta)
    return out


def youden_threshold(annotated: np.ndarray, wrong: np.ndarray) -> tuple[float, float]:
    """(cut, J): the score cut that best separates the annotated rows' scores (kept: score <= cut) from
    the wrong annotations' scores, maximising kept(annotated) - kept(wrong); ties keep more."""
    cuts = np.unique(np.concatenate([annotated, wrong]))
    a, w = np.sort(annotated), np.sort(wrong)
    j = np.searchsorted(a, cuts, side="right") / len(a) - np.searchsorted(w, cuts, side="right") / len(w)
    best = np.flatnonzero(j >= j.max() - 1e-12)[-1]
    return float(cuts[best]), float(j[best])


def adaptive_keep(nll: np.ndarray, alt_nll: np.ndarray, categories: Sequence[str], min_separation: float,
                  kinds: Sequence[str] = ALTERNATIVES) -> tuple[np.ndarray, dict[str, dict[str, Any]]]:
    """Per category, keep rows whose annotation is about as likely as correct ones are (see KcfConfig).

    ``alt_nll[:, j]`` is each row's score under the wrong annotation ``kinds[j]``. The cut is calibrated
    only against the kinds of wrong annotation the category's estimator can tell from the annotated one
    (separation AUROC >= ``min_separation``): estimators that cannot say which end of an unseen object is
    its front still find a random wrong pose, and judging that alone drops those rows instead of nothing
    (measured: docs/stages/kcf.md). A category with no such kind is kept whole.
    """
    keep = np.ones(len(nll), dtype=bool)
    cats = np.asarray(list(categories), dtype=object)
    report: dict[str, dict[str, Any]] = {}
    for c in dict.fromkeys(cats.tolist()):
        idx = np.flatnonzero(cats == c)
        per_kind = {kind: _separation(nll[idx], alt_nll[idx, j]) for j, kind in enumerate(kinds)}
        judged = [j for j, kind in enumerate(kinds) if (per_kind[kind] or 0.0) >= min_separation]
        cut, j_stat = None, None
        if judged:
            cut, j_stat = youden_threshold(nll[idx], alt_nll[idx][:, judged].ravel())
            keep[idx] = nll[idx] <= cut
        report[c] = {"separation_auroc": _separation(nll[idx], alt_nll[idx].ravel()), "separation_per_kind": per_kind,
                     "judged_kinds": [kinds[j] for j in judged], "cut": cut, "youden_j": j_stat}
    return keep, report


def combine_evidence(score: np.ndarray, alt_score: np.ndarray, categories: Sequence[str]
                     ) -> tuple[np.ndarray, np.ndarray, dict[str, list[float]]]:
    """One score per row from several kinds of evidence, learned per category on the same wrong annotations
    the threshold is calibrated on.

    ``score`` (N, E) holds each row's evidence for its annotation, ``alt_score`` (N, A, E) the same evidence
    for the row's A wrong annotations (higher = more doubtful). Per category a logistic regression tells the
    wrong annotations from the given ones on the standardised evidence; its decision function (log-odds that
    the annotation is wrong) is the combined score, for the rows and for their alternatives alike. One kind of
    evidence is returned as it is. Also returns, per category, each evidence's standardised weight.
    """
    from sklearn.linear_model import LogisticRegression

    score, alt_score = np.asarray(score, np.float64), np.asarray(alt_score, np.float64)
    if score.shape[1] == 1:
        return score[:, 0], alt_score[..., 0], {}
    out, alt_out = np.zeros(len(score)), np.zeros(alt_score.shape[:2])
    weights: dict[str, list[float]] = {}
    cats = np.asarray(list(categories), dtype=object)
    for c in dict.fromkeys(cats.tolist()):
        idx = np.flatnonzero(cats == c)
        given, wrong = score[idx], alt_score[idx].reshape(-1, score.shape[1])
        x = np.concatenate([given, wrong])
        mu, sd = x.mean(0), x.std(0)
        sd[sd == 0] = 1.0
        y = np.r_[np.zeros(len(given)), np.ones(len(wrong))]
        # balanced: the A alternatives per row must not outvote the given annotations
        lr = LogisticRegression(class_weight="balanced").fit((x - mu) / sd, y)
        out[idx] = lr.decision_function((given - mu) / sd)
        alt_out[idx] = lr.decision_function((wrong - mu) / sd).reshape(len(idx), -1)
        weights[c] = [round(float(w), 4) for w in lr.coef_[0]]
    return out, alt_out, weights


def _separation(annotated: np.ndarray, wrong: np.ndarray) -> float | None:
    """AUROC of 'wrong' against 'annotated' scores (1 = every wrong annotation scores worse)."""
    return metrics.auroc(np.concatenate([annotated, wrong]),
                         np.concatenate([np.zeros(len(annotated), bool), np.ones(len(wrong), bool)]))


def keep_mask(scores: np.ndarray, categories: Sequence[str], cfg: KcfConfig) -> np.ndarray:
    """Which scored rows to keep: error <= max_error_deg, or the best keep_fraction per category (lowest
    scores first). The adaptive threshold is :func:`adaptive_keep`."""
    scores = np.asarray(scores, dtype=np.float64)
    if cfg.threshold == "max_error":
        return scores <= math.radians(cfg.max_error_deg)
    keep = np.zeros(len(scores), dtype=bool)
    cats = np.asarray(list(categories), dtype=object)
    for c in dict.fromkeys(cats.tolist()):
        idx = np.flatnonzero(cats == c)
        n_keep = int(math.ceil(cfg.keep_fraction * len(idx)))
        keep[idx[np.argsort(scores[idx], kind="stable")[:n_keep]]] = True
    return keep


def filter_quality(
    error: np.ndarray, loss: np.ndarray, keep: np.ndarray, kinds: Sequence[str | None],
    score: np.ndarray | None = None, shape: np.ndarray | None = None,
) -> dict[str, Any]:
    """Precision and recall of 'dropped' at finding corrupted rows, AUROC of every score, recall per kind."""
    bad = np.array([k is not None for k in kinds])
    score = loss if score is None else score  # kcf_score; the likelihood when it is the only evidence
    dropped = ~np.asarray(keep, dtype=bool)
    hit = int((dropped & bad).sum())
    out: dict[str, Any] = {
        "n_corrupted": int(bad.sum()),
        "precision": hit / int(dropped.sum()) if dropped.any() else None,
        "recall": hit / int(bad.sum()) if bad.any() else None,
        "auroc_error": metrics.auroc(error, bad),
        "auroc_nll": metrics.auroc(loss, bad),
        "auroc_score": metrics.auroc(score, bad),
        "clean_keep_rate": float(np.mean(~dropped[~bad])) if (~bad).any() else None,
        "base_rate": float(bad.mean()) if len(bad) else None,
    }
    kinds_arr = np.asarray([k or "" for k in kinds], dtype=object)
    out["recall_per_kind"] = {
        k: float(dropped[kinds_arr == k].mean()) for k in sorted(set(kinds_arr.tolist()) - {""})
    }
    if shape is not None:
        out.update({f"auroc_shape_{f}": metrics.auroc(shape[:, j], bad) for j, f in enumerate(kcf_shape.FEATURES)})
    out["auroc_score_per_kind"] = {
        k: metrics.auroc(score[sel], bad[sel])
        for k in out["recall_per_kind"] for sel in [(kinds_arr == k) | ~bad]
    }
    return out


# --------------------------------------------------------------------------- the filter
@dataclass
class KcfResult:
    """Output rows (every input row; scored ones with kcf fields), and per scored row: index into rows,
    fold, argmax error (radians), likelihood score (nll), predicted angles, keep, corruption, the shape
    features (None without ``shape`` evidence) and ``kcf_score``; plus the metrics."""

    rows: list[ImageRecord]
    scored: np.ndarray
    folds: np.ndarray
    error: np.ndarray
    loss: np.ndarray
    pred_angles: np.ndarray
    keep: np.ndarray
    corrupted: list[str | None]
    original: list[ImageRecord]
    metrics: dict[str, Any]
    shape: np.ndarray | None = None
    score: np.ndarray | None = None


def run_kcf(
    rows: Sequence[ImageRecord],
    manifest: str | Path,
    base: BaseConfig,
    cfg: KcfConfig,
    on_epoch: Callable[[int], EpochCallback] | None = None,
    meshes: Mapping[str, Path] | None = None,
) -> KcfResult:
    """Score and filter the rows of ``cfg.splits``; other rows pass through untouched (kcf fields None).

    ``on_epoch(fold)`` may return a per-epoch callback for that fold's estimator (tracking). ``meshes``
    (model id -> aligned mesh file) is what the ``shape`` evidence needs.
    """
    executors.preflight(base.executor)
    rows = list(rows)
    categories = list(base.categories)
    scored = np.array([i for i, r in enumerate(rows) if r.split in cfg.splits], dtype=np.int64)
    if len(scored) == 0:
        raise KcfError(f"no rows of split(s) {list(cfg.splits)} to filter")
    originals = [rows[i] for i in scored]
    use_shape = "shape" in cfg.evidence
    if use_shape:
        missing = sorted({r.model_id for r in originals} - set(meshes or {}))
        if missing:
            raise KcfError(f"kcf.evidence 'shape': no aligned mesh for model(s) {missing[:5]} "
                           f"({len(missing)} in all); is data/align the one data/synthesize was made from?")
    targets, kinds = corrupt(originals, cfg.eval_corruption, base.seed)
    groups = [r.model_id if cfg.group_by == "model" else r.image_id for r in targets]
    folds = assign_folds(groups, [r.category for r in targets], cfg.folds, base.seed)
    alternatives = alternative_angles(targets, base.seed)
    shape = None
    if use_shape:  # first: a missing image or broken mesh stops the stage before any network runs
        given = np.array([[(r.azimuth, r.elevation, r.theta)] for r in targets])
        shape = kcf_shape.shape_features(
            [resolve_file(manifest, r.image) for r in targets], [Path(meshes[r.model_id]) for r in targets],
            np.array([r.K for r in targets], np.float64), np.array([r.t for r in targets], np.float64),
            [(r.width, r.height) for r in targets], np.concatenate([given, alternatives], 1),
            cfg.shape.tolerance_px, tuple(cfg.shape.canny), workers=cpu_count())
    samples = samples_from_records(targets, manifest, categories, "image")
    first = POSE.build_model(cfg.model, len(categories), derive_seed(base.seed, "kcf", 0))
    # Decoded (and a frozen prefix run) once for all K folds: the prefix is the same in every fold.
    cache = make_cache(first, samples, cfg.fit)
    error, loss, nll = np.zeros(len(samples)), np.zeros(len(samples)), np.zeros(len(samples))
    alt_nll = np.zeros(alternatives.shape[:2])
    pred_angles = np.zeros((len(samples), 3))
    fold_acc = []
    preds = _remote_folds(folds, samples, cache, base, cfg, on_epoch) if executors.is_ray(base.executor) else None
    for k in progress.track(range(cfg.folds), "kcf", unit="fold"):
        held, rest = np.flatnonzero(folds == k), np.flatnonzero(folds != k)
        seed = derive_seed(base.seed, "kcf", k)
        if preds is not None:  # trained by Ray tasks, in parallel
            pred: Predictions = preds[k]
        else:
            model = first if k == 0 else POSE.build_model(cfg.model, len(categories), seed)
            fit(POSE, model, [samples[i] for i in rest], cfg.fit, seed, on_epoch=on_epoch(k) if on_epoch else None,
                cache=None if cache is None else cache[rest])
            pred = predict(POSE, model, [samples[i] for i in held], cfg.fit, None if cache is None else cache[held])
        error[held], loss[held], pred_angles[held] = pred.errors, pred.loss, pred.angles
        annotated = np.array([samples[i].angles for i in held], dtype=np.float64)
        nll[held] = window_nll(pred.log_probs, annotated, cfg.window_bins)
        for j in range(alternatives.shape[1]):
            alt_nll[held, j] = window_nll(pred.log_probs, alternatives[held, j], cfg.window_bins)
        fold_acc.append(float(np.mean(pred.errors < math.pi / 6)))
    cats = [r.category for r in targets]
    evidence, alt_evidence = nll[:, None], alt_nll[..., None]
    if shape is not None:
        evidence = np.concatenate([evidence, shape[:, 0]], 1)
        alt_evidence = np.concatenate([alt_evidence, shape[:, 1:]], 2)
    combined, alt_combined, weights = combine_evidence(evidence, alt_evidence, cats)
    calibration: dict[str, Any] = {}
    if cfg.threshold == "adaptive":
        keep, calibration = adaptive_keep(combined, alt_combined, cats, cfg.min_separation)
        score = combined
    else:
        score = error if cfg.threshold == "max_error" else combined
        keep = keep_mask(score, cats, cfg)
    for c, w in weights.items():
        calibration.setdefault(c, {})["evidence_weights"] = dict(zip(_evidence_names(cfg), w, strict=True))
    out = list(rows)
    for j, i in enumerate(scored):
        out[i] = dataclasses.replace(targets[j], kcf_score=float(score[j]), kcf_keep=bool(keep[j]))
    given_shape = None if shape is None else shape[:, 0]
    summary = _metrics(cfg, cats, error, nll, keep, kinds, pred_angles, originals, fold_acc, len(rows),
                       score, given_shape)
    summary["evidence"] = _evidence_names(cfg)
    summary["calibration"] = calibration
    return KcfResult(out, scored, folds, error, nll, pred_angles, keep, kinds, originals, summary,
                     given_shape, score)


def _evidence_names(cfg: KcfConfig) -> list[str]:
    """The columns :func:`combine_evidence` weighs, in order."""
    names = ["pose_nll"]
    if "shape" in cfg.evidence:
        names += [f"shape_{f}" for f in kcf_shape.FEATURES]
    return names


def train_fold(k: int, folds: np.ndarray, samples: Any, cache: Any, base: BaseConfig, cfg: KcfConfig,
               threads: int, rng_state: Any) -> tuple[Predictions, list[dict[str, Any]]]:
    """One fold as a Ray task (``base.executor.kind: ray``): the same estimator the local loop trains
    (same seed, torch threads and global RNG state), its predictions on the held-out rows and its epochs."""
    import torch

    torch.set_num_threads(threads)  # results depend on the thread count: the stage's own
    held, rest = np.flatnonzero(folds == k), np.flatnonzero(folds != k)
    seed = derive_seed(base.seed, "kcf", k)
    model = POSE.build_model(cfg.model, len(base.categories), seed)
    if rng_state is not None:  # fold 0 reuses the model the cache was built with: that RNG state
        torch.set_rng_state(rng_state)
    history = fit(POSE, model, [samples[i] for i in rest], cfg.fit, seed, cache=None if cache is None else cache[rest])
    pred = predict(POSE, model, [samples[i] for i in held], cfg.fit, None if cache is None else cache[held])
    return pred, history


def _remote_folds(folds: np.ndarray, samples: Any, cache: Any, base: BaseConfig, cfg: KcfConfig,
                  on_epoch: Callable[[int], EpochCallback] | None) -> list[Predictions]:
    """Every fold's predictions from parallel Ray tasks; their epoch rows replayed into ``on_epoch``."""
    import torch

    from dst3d.devices import resolve_device

    rng_state = torch.get_rng_state()  # what fold 0 of the local loop starts from
    with executors.session(base.executor) as ray:
        shared = [ray.put(x) for x in (folds, samples, cache, base, cfg)]  # sent once, not once per fold
        gpus = executors.gpus_per_task(base.executor, cfg.fit.device != "cpu")
        calls = [(f"kcf fold {k}", (k, *shared, torch.get_num_threads(), rng_state if k == 0 else None))
                 for k in range(cfg.folds)]
        if gpus == 0 and cfg.fit.device != "cpu":
            resolve_device(cfg.fit.device, "kcf.fit.device")  # cuda asked for, no GPU anywhere: say so here
        out = executors.map_tasks(base.executor, train_fold, calls, num_gpus=gpus)
    for k, (_, history) in enumerate(out):
        for row in history if on_epoch else ():
            on_epoch(k)(row)
    return [pred for pred, _ in out]


def _metrics(cfg: KcfConfig, cats: list[str], error: np.ndarray, loss: np.ndarray, keep: np.ndarray,
             kinds: list[str | None], pred_angles: np.ndarray, originals: list[ImageRecord], fold_acc: list[float],
             n_rows: int, score: np.ndarray | None = None, shape: np.ndarray | None = None) -> dict[str, Any]:
    cats_arr = np.asarray(cats, dtype=object)
    clean = np.array([k is None for k in kinds])
    # The estimator's own quality, judged against the true (uncorrupted) annotations.
    truth = np.array([(r.azimuth, r.elevation, r.theta) for r in originals])
    true_err = metrics.rotation_errors(pred_angles, truth)
    m: dict[str, Any] = {
        "n_rows": n_rows,
        "n_scored": int(len(error)),
        "n_kept": int(keep.sum()),
        "keep_rate": float(keep.mean()),
        "keep_rate_per_category": {c: float(keep[cats_arr == c].mean()) for c in sorted(set(cats))},
        "threshold": cfg.threshold,
        "max_error_deg": cfg.max_error_deg if cfg.threshold == "max_error" else None,
        "keep_fraction": cfg.keep_fraction if cfg.threshold == "keep_fraction" else None,
        "median_score_deg": float(np.degrees(np.median(error))),
        "estimator": {**metrics.pose_summary(true_err[clean]), "fold_acc_pi_6": fold_acc},
    }
    if cfg.eval_corruption.fraction > 0:
        m["corruption"] = {"fraction": cfg.eval_corruption.fraction,
                           **filter_quality(error, loss, keep, kinds, score, shape)}
    return m


# --------------------------------------------------------------------------- outputs
def score_rows(result: KcfResult) -> list[dict[str, Any]]:
    """One JSON-able row per scored image (data/kcf/scores.jsonl)."""
    out = []
    for j, i in enumerate(result.scored):
        r, o = result.rows[i], result.original[j]
        out.append({
            "image_id": r.image_id, "category": r.category, "model_id": r.model_id, "fold": int(result.folds[j]),
            "score_deg": float(np.degrees(result.error[j])), "nll": float(result.loss[j]),
            "kcf_score": float(result.rows[i].kcf_score),
            **({} if result.shape is None else {f"shape_{f}_px": float(result.shape[j, k])
                                                for k, f in enumerate(kcf_shape.FEATURES)}),
            "predicted": result.pred_angles[j].tolist(), "kcf_keep": bool(result.keep[j]),
            "corrupted": result.corrupted[j],
            "original": [o.azimuth, o.elevation, o.theta] if result.corrupted[j] else None,
        })
    return out


def write_histogram(path: Path, result: KcfResult, bin_deg: float) -> None:
    """Score histogram: CSV (dvc plots; columns error_deg, count, kept, dropped, corrupted) and PNG."""
    import csv

    deg = np.degrees(result.error)
    edges = np.arange(0.0, 180.0 + bin_deg, bin_deg)
    bad = np.array([k is not None for k in result.corrupted])
    counts = {name: np.histogram(deg[sel], edges)[0] for name, sel in
              (("count", np.ones_like(bad)), ("kept", result.keep), ("dropped", ~result.keep), ("corrupted", bad))}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["error_deg", *counts])
        for b, lo in enumerate(edges[:-1]):
            w.writerow([f"{lo + bin_deg / 2:g}", *(int(c[b]) for c in counts.values())])
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    centres = edges[:-1] + bin_deg / 2
    ax.bar(centres, counts["count"] - counts["corrupted"], width=bin_deg * 0.9, label="annotation as given")
    if bad.any():
        ax.bar(centres, counts["corrupted"], bottom=counts["count"] - counts["corrupted"], width=bin_deg * 0.9,
               label="corrupted (eval_corruption)")
    m = result.metrics
    if m["max_error_deg"] is not None:
        ax.axvline(m["max_error_deg"], color="k", ls="--", label="threshold")
    ax.set_xlabel("KCF score: predicted rotation error (deg)")
    ax.set_ylabel("images")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=100)
    plt.close(fig)


def write_worst_grid(path: Path, result: KcfResult, manifest: str | Path, n: int, cell: int = 96) -> None:
    """The ``n`` highest-scoring images (most disputed annotations: highest ``kcf_score``), captioned with
    category and the estimator's argmax error in degrees (``*`` = corrupted by eval_corruption)."""
    score = result.error if result.score is None else result.score
    order = np.argsort(-score, kind="stable")[:n]
    rows = [result.rows[result.scored[j]] for j in order]
    captions = [f"{r.category[:8]} {np.degrees(result.error[j]):.0f}" + ("*" if result.corrupted[j] else "")
                for r, j in zip(rows, order, strict=True)]
    plots.write_image_grid(path, [resolve_file(manifest, r.image) for r in rows], captions, cell)
