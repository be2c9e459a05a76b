"""Evaluate a saved pose model on an evaluation set: check the model file, read and check the set
(:mod:`dst3d.evaluate.formats`), predict, and write ``metrics.json``, ``predictions.jsonl`` and ``worst.png``.

Everything that can be wrong with the input (the model file, any annotation, any image's existence or
format) is found before the first prediction, and the outputs are built in a staging folder that replaces
``out`` only when complete: an error never leaves half a result behind.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dst3d import atomic
from dst3d.errors import UserError
from dst3d.evaluate.formats import EvalSet, Filters, load_set
from dst3d.keyed import safe_name
from dst3d.models.io import META_KEY, load_model
from dst3d.models.pose import PoseNet
from dst3d.schema import write_json, write_jsonl
from dst3d.train import prediction_rows
from dst3d.training import plots
from dst3d.training.data import DataError, PoseSample, prepare
from dst3d.training.loop import predict
from dst3d.training.params import FitConfig
from dst3d.training.pose import POSE, Predictions

ARCH_KEYS = ("arch", "width", "num_categories", "num_bins", "pose_head")
FIT_KEYS = ("image_size", "crop", "bbox_pad", "background")
"""Input settings read from the model's metadata when it records them (they must match training)."""


class ModelError(UserError, ValueError):
    """A model file that cannot be evaluated: missing, not safetensors, no or wrong metadata, tensors that
    do not fit the architecture the metadata names."""


@dataclass
class LoadedModel:
    model: PoseNet
    meta: dict[str, Any]
    categories: list[str]


@dataclass
class EvalResult:
    name: str
    out: Path
    eval_set: EvalSet
    predictions: Predictions
    summary: dict[str, Any]
    notes: dict[str, Any]
    seconds: float


# --------------------------------------------------------------------------- the model file
def open_model(path: str | Path, categories: Sequence[str] | None = None) -> LoadedModel:
    """The network of a :func:`dst3d.models.io.save_model` file, in eval mode on the CPU, checked tensor by
    tensor against the architecture its metadata names. ``categories`` (label order) is needed only when
    the metadata does not list them."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types for any bad header
        raise ModelError(f"{path}: not a safetensors weights file ({type(err).__name__}: {err})") from None
    if raw is None:
        raise ModelError(f"{path}: no '{META_KEY}' metadata: not a model file written by dst3d (train stage)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict):
        raise ModelError(f"{path}: '{META_KEY}' metadata is not a JSON object")
    missing = next((k for k in ARCH_KEYS if k not in meta), None)
    if missing is not None:
        raise ModelError(f"{path}: metadata has no field {missing!r}")
    check_tensors(path, meta, shapes)
    cats = list(categories or meta.get("categories") or [])
    if not cats:
        raise ModelError(f"{path}: metadata has no field 'categories'; pass --categories")
    if len(cats) != meta["num_categories"]:
        raise ModelError(f"{path}: {len(cats)} categories {cats} for a network of {meta['num_categories']}")
    try:
        model, _ = load_model(path)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - torch/safetensors raise many types for corrupt tensor data
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(f"{path}: weights fail to load ({first})") from None
    return LoadedModel(model, meta, cats)


def check_tensors(path: Path, meta: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> None:
    """The file's tensor names and shapes against the network its metadata names, built on the meta
    device (shapes only, nothing allocated); the first difference is the error."""
    import torch

    extra = {"freeze": meta["freeze"]} if meta.get("freeze") else {}
    try:
        with torch.device("meta"):
            net = PoseNet(*(meta[k] for k in ARCH_KEYS), **extra)
    except (KeyError, ValueError) as err:  # an unknown arch, a bad head: the metadata names no network
        raise ModelError(f"{path}: metadata {({k: meta[k] for k in ARCH_KEYS})} names no network ({err})") from None
    except Exception:  # noqa: BLE001 - a trunk that cannot be built on the meta device: load_model decides
        return
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    desc = f"{meta['arch']} (width {meta['width']}, {meta['num_categories']} categories, {meta['pose_head']} pose head)"
    absent = sorted(set(expected) - set(shapes))
    if absent:
        raise ModelError(f"{path}: tensor {absent[0]!r} of the {desc} network its metadata names is missing "
                         f"({len(absent)} missing): wrong architecture")
    extra_keys = sorted(set(shapes) - set(expected))
    if extra_keys:
        raise ModelError(f"{path}: tensor {extra_keys[0]!r} is not part of the {desc} network its metadata names: "
                         "wrong architecture")
    wrong = next((k for k in expected if shapes[k] != expected[k]), None)
    if wrong is not None:
        raise ModelError(f"{path}: tensor {wrong!r} has shape {list(shapes[wrong])}; the {desc} network its "
                         f"metadata names expects {list(expected[wrong])}")


# --------------------------------------------------------------------------- evaluation
def default_name(data: str | Path, split: str = "") -> str:
    """``evaluate/<name>/``: the set folder's (or manifest's stage folder's) name, plus ``_<split>``."""
    p = Path(data)
    base = p.parent.name if p.name == "manifest.jsonl" else (p.stem if p.suffix == ".jsonl" else p.name)
    return re.sub("_+", "_", safe_name(f"{base}_{split}" if split else base))  # PASCAL3D+_x -> PASCAL3D_x


def fit_settings(fit: FitConfig, meta: dict[str, Any], overrides: dict[str, Any] | None = None) -> FitConfig:
    """``fit`` with the model's recorded input settings (:data:`FIT_KEYS`), then ``overrides``, applied."""
    recorded = {k: meta[k] for k in FIT_KEYS if k in meta}
    return dataclasses.replace(fit, **recorded, **{k: v for k, v in (overrides or {}).items() if v is not None})


def evaluate(
    model_path: str | Path,
    data: str | Path,
    *,
    fmt: str = "auto",
    split: str = "",
    out: str | Path | None = None,
    name: str = "",
    fit: FitConfig | None = None,
    overrides: dict[str, Any] | None = None,
    filters: Filters | None = None,
    categories: Sequence[str] | None = None,
    worst: int = 24,
) -> EvalResult:
    """Evaluate ``model_path`` on ``data``; writes ``out`` (default ``evaluate/<name>``) and returns the result.

    ``fit``: the input settings (crop, image size, batch size, device, workers; default ``FitConfig()``),
    overridden by what the model's metadata records (:data:`FIT_KEYS`), then by ``overrides``.
    """
    t0 = time.perf_counter()
    loaded = open_model(model_path, categories)
    fit = fit_settings(fit or FitConfig(), loaded.meta, overrides)
    fit.validate()
    eval_set = load_set(data, fmt, loaded.categories, split, filters or Filters())
    if not eval_set.samples:
        n = eval_set.notes
        raise DataError(f"{data}: nothing to evaluate ({n['objects']} objects of the model's categories "
                        f"{loaded.categories}; skipped {n['skipped']}; other classes {n['other_categories']})")
    name = safe_name(name) if name else default_name(data, split)
    out = Path(out) if out is not None else Path("evaluate") / name
    pred = predict(POSE, loaded.model, eval_set.samples, fit)
    summary = POSE.metrics(eval_set.samples, pred)
    notes = {**eval_set.notes, "model": str(model_path), "model_data": loaded.meta.get("data"),
             "categories": loaded.categories, "input": {k: getattr(fit, k) for k in FIT_KEYS}}
    rows = [{**row, "image": s.path, "bbox": list(s.bbox) if s.bbox else None}
            for row, s in zip(prediction_rows(name, eval_set.samples, pred, loaded.categories), eval_set.samples,
                              strict=True)]
    with atomic.staged_dir(out) as staging:
        write_json(staging / "metrics.json", {name: summary, "notes": notes})
        write_jsonl(staging / "predictions.jsonl", rows)
        write_worst(staging / "worst.png", eval_set.samples, pred, fit, worst)
    return EvalResult(name, out, eval_set, pred, summary, notes, time.perf_counter() - t0)


def write_worst(path: Path, samples: Sequence[PoseSample], pred: Predictions, fit: FitConfig, n: int) -> None:
    """The ``n`` largest rotation errors as a grid of the crops the network saw, captioned category + error."""
    order = np.argsort(-pred.errors, kind="stable")[:n]
    if not len(order):
        return
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        files, captions = [], []
        for rank, i in enumerate(order):
            crop = prepare(samples[i], fit, None)  # no rng: the unaugmented evaluation crop
            files.append(Path(tmp) / f"{rank:03d}.png")
            cv2.imwrite(str(files[-1]), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
            captions.append(f"{samples[i].category} {np.degrees(pred.errors[i]):.0f}deg")
        plots.write_image_grid(path, files, captions)


def summary_text(result: EvalResult) -> str:
    """One paragraph: what was evaluated, what was skipped, the category-mean metrics, where it went."""
    n, m = result.notes, result.summary["mean"]
    split = f", split {n['split']!r}" if n["split"] else ""
    skipped = ", ".join(f"{v} {k}" for k, v in n["skipped"].items()) or "none"
    other = sum(n["other_categories"].values())
    others = f"; {other} objects of other classes ignored" if other else ""
    return (f"{result.name}: {m['n']} objects of {m['categories']} categories from {n['path']} ({n['format']}"
            f"{split}), model {n['model']}; skipped: {skipped}{others}. Mean over categories: Acc@pi/6 "
            f"{m['acc_pi_6']:.3f}, Acc@pi/18 {m['acc_pi_18']:.3f}, median error {m['median_deg']:.1f} deg, "
            f"top-1 {m['top1']:.3f} -> {result.out}/ (metrics.json, predictions.jsonl, worst.png; "
            f"{result.seconds:.1f} s)")
