"""Metrics of the pose + classification task: rotation error, Acc@pi/6, Acc@pi/18, median error, top-1;
the confusion matrix, and the AUROC kcf rates its filter with.

R is built from (azimuth, elevation, theta) by ``camera.rotation_from_angles`` and the error is
``camera.rotation_error`` (= ||logm(R1^T R2)||_F / sqrt(2)): this module adds no rotation math of its own.
Every metric is reported per category, as the mean over categories (the PASCAL3D+ convention: each
category counts once, however many images it has) and pooled over all images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dst3d import camera

THRESHOLDS: dict[str, float] = {"acc_pi_6": math.pi / 6, "acc_pi_18": math.pi / 18}
POSE_KEYS = ("acc_pi_6", "acc_pi_18", "median_deg")


def rotation_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-row rotation error in radians between (N, 3) predicted and (N, 3) annotated angles."""
    pred, gt = np.asarray(pred, dtype=np.float64).reshape(-1, 3), np.asarray(gt, dtype=np.float64).reshape(-1, 3)
    if len(pred) != len(gt):
        raise ValueError(f"{len(pred)} predictions for {len(gt)} annotations")
    return np.array([
        camera.rotation_error(camera.rotation_from_angles(*p), camera.rotation_from_angles(*g))
        for p, g in zip(pred, gt, strict=True)
    ])


def pose_summary(errors: np.ndarray) -> dict[str, Any]:
    """n, Acc@pi/6, Acc@pi/18 (share of errors below the threshold) and the median error in degrees."""
    e = np.asarray(errors, dtype=np.float64)
    if e.size == 0:
        return {"n": 0, **dict.fromkeys(POSE_KEYS)}
    out: dict[str, Any] = {"n": int(e.size)}
    out.update({k: float(np.mean(e < t)) for k, t in THRESHOLDS.items()})
    out["median_deg"] = float(np.degrees(np.median(e)))
    return out


def summarize(
    errors: np.ndarray,
    categories: Sequence[str],
    pred_labels: Sequence[int] | None = None,
    true_labels: Sequence[int] | None = None,
) -> dict[str, Any]:
    """``{"per_category": {cat: metrics}, "mean": metrics, "all": metrics}``; top-1 when labels are given.

    ``categories`` names each row's (true) category. The mean skips categories without images; a metric
    that cannot be computed is None (JSON null), never NaN.
    """
    errors = np.asarray(errors, dtype=np.float64)
    cats = np.asarray(list(categories), dtype=object)
    if len(cats) != len(errors):
        raise ValueError(f"{len(cats)} categories for {len(errors)} errors")
    correct = None
    if pred_labels is not None and true_labels is not None:
        correct = np.asarray(pred_labels) == np.asarray(true_labels)

    def block(sel: np.ndarray) -> dict[str, Any]:
        out = pose_summary(errors[sel])
        if correct is not None:
            out["top1"] = float(correct[sel].mean()) if sel.any() else None
        return out

    per_category = {str(c): block(cats == c) for c in dict.fromkeys(cats.tolist())}
    keys = [*POSE_KEYS, *(["top1"] if correct is not None else [])]
    mean: dict[str, Any] = {"n": int(len(errors)), "categories": len(per_category)}
    for k in keys:
        vals = [m[k] for m in per_category.values() if m[k] is not None]
        mean[k] = float(np.mean(vals)) if vals else None
    return {"per_category": per_category, "mean": mean, "all": block(np.ones(len(errors), dtype=bool))}


def confusion_matrix(true_labels: Sequence[int], pred_labels: Sequence[int], num_classes: int) -> np.ndarray:
    """counts[true, predicted]."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(true_labels, dtype=np.int64), np.asarray(pred_labels, dtype=np.int64)), 1)
    return m


def auroc(scores: np.ndarray, positives: np.ndarray) -> float | None:
    """Area under the ROC curve of ``scores`` ranking ``positives`` first (Mann-Whitney U, ties averaged).

    None when either class is empty.
    """
    from scipy.stats import rankdata

    s, p = np.asarray(scores, dtype=np.float64), np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(p.sum()), int((~p).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(s)
    return float((ranks[p].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
