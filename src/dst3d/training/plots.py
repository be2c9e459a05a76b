"""Plots of the downstream training, shared by the kcf and train stages: learning curves, the confusion
matrix, captioned image grids, and :func:`pyplot` (matplotlib on the file-only Agg backend)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dst3d import layout
from dst3d.training import metrics


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed; import it only when plotting)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_curves(path: Path, history: Sequence[dict[str, Any]], scores: Sequence[str] = ()) -> None:
    """Learning curves as CSV (dvc plots) and PNG (MLflow); CSV columns are the union of the epoch rows.

    The PNG shows the losses (``loss`` and every ``*_loss`` column) and, on a 0..1 axis, the ``scores``
    columns at the epochs that have them.
    """
    cols = list(dict.fromkeys(k for row in history for k in row))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for row in history:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    ep = [r["epoch"] for r in history]
    for k in cols:
        if k == "loss" or k.endswith("_loss"):
            a.plot(ep, [r.get(k) for r in history], label=k)
    a.set_xlabel("epoch")
    a.legend()
    for k in scores:
        pts = [(r["epoch"], r[k]) for r in history if r.get(k) is not None]
        if pts:
            b.plot(*zip(*pts, strict=True), marker="o", label=k)
    b.set_xlabel("epoch")
    b.set_ylim(0, 1)
    if scores:
        b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=100)
    plt.close(fig)


def write_confusion(path: Path, actual: Sequence[int], predicted: Sequence[int], categories: Sequence[str]) -> None:
    """The classification confusion matrix of label indices: per-image CSV (``actual``, ``predicted``
    category names) for dvc's confusion template, and a PNG of the counts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["actual", "predicted"])
        for a, p in zip(actual, predicted, strict=True):
            w.writerow([categories[int(a)], categories[int(p)]])
    m = metrics.confusion_matrix(actual, predicted, len(categories))
    plt = pyplot()
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


def write_image_grid(path: Path, images: Sequence[str | Path], captions: Sequence[str], cell: int = 96,
                     cols: int = 8) -> None:
    """The images, in order, as ``cell``-pixel squares in rows of up to ``cols`` on white, each captioned
    (white on a dark outline); an unreadable image leaves its cell white. Nothing is written for no images."""
    import cv2

    if not images:
        return
    cols = min(cols, len(images))
    grid = np.full((((len(images) + cols - 1) // cols) * cell, cols * cell, 3), 255, np.uint8)
    for slot, (file, tag) in enumerate(zip(images, captions, strict=True)):
        img = layout.imread(file, cv2.IMREAD_COLOR)
        if img is None:
            continue
        img = cv2.resize(img, (cell, cell), interpolation=cv2.INTER_AREA)
        cv2.putText(img, tag, (2, cell - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.putText(img, tag, (2, cell - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 255), 1, cv2.LINE_AA)
        y, x = divmod(slot, cols)
        grid[y * cell:(y + 1) * cell, x * cell:(x + 1) * cell] = img
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), grid)
