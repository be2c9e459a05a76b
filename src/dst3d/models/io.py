"""Weights as safetensors only: a file holds the state dict plus the architecture as JSON metadata, so
:func:`load_model` rebuilds the network without executing anything (no pickle, no ``torch.load``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from dst3d import atomic
from dst3d.errors import UserError
from dst3d.models.pose import PoseNet

META_KEY = "dst3d"


class ModelFileError(UserError, ValueError):
    """A model file that is not a dst3d model, or whose tensors do not fit its declared architecture."""


def save_model(path: str | Path, model: PoseNet, extra: dict[str, Any] | None = None) -> None:
    """Write ``model`` (and ``extra`` JSON-able metadata, e.g. the category names) atomically."""
    bb = model.backbone
    meta = {"arch": bb.arch, "width": bb.width, "num_categories": model.num_categories,
            "num_bins": model.num_bins, "pose_head": "per_category" if model.heads > 1 else "shared",
            "freeze": model.freeze, **(extra or {})}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic.atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={META_KEY: json.dumps(meta, sort_keys=True)})


def read_meta(path: str | Path) -> dict[str, Any]:
    """The metadata :func:`save_model` stored (architecture, categories, ...)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: model file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = (f.metadata() or {}).get(META_KEY)
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types for any bad header
        raise ModelFileError(f"{path}: not a safetensors file ({type(err).__name__}: {err})") from None
    if meta is None:
        raise ModelFileError(
            f"{path}: not a dst3d model file (no '{META_KEY}' metadata); use init_from for plain weights"
        )
    return json.loads(meta)


def load_model(path: str | Path, device: str = "cpu") -> tuple[PoseNet, dict[str, Any]]:
    """Rebuild the network saved by :func:`save_model`; returns (model in eval mode, metadata)."""
    meta = read_meta(path)
    try:
        model = PoseNet(meta["arch"], meta["width"], meta["num_categories"], meta["num_bins"], meta["pose_head"],
                        meta.get("freeze", 0))
        model.load_state_dict(load_file(str(path), device=device), strict=True)
    except (KeyError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelFileError(f"{path}: not a loadable dst3d model ({first})") from None
    return model.to(device).eval(), meta


def init_from(model: PoseNet, path: str | Path) -> list[str]:
    """Initialise from any safetensors file: a dst3d model, or a bare ResNet trunk (torchvision key names).

    Tensors whose name (with or without the ``backbone.`` prefix) and shape match are copied; the rest
    (e.g. an ImageNet ``fc`` layer, or heads for another number of categories) keep their init. Returns
    the copied names; copying nothing is an error, because it always means the wrong file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model.init: {path} not found")
    source = load_file(str(path))
    own = model.state_dict()
    copied = {}
    for name, tensor in source.items():
        for key in (name, f"backbone.{name}"):
            if key in own and own[key].shape == tensor.shape:
                copied[key] = tensor
                break
    if not copied:
        raise ValueError(f"model.init: no tensor of {path} matches the {model.backbone.arch} (width "
                         f"{model.backbone.width}) network by name and shape")
    with torch.no_grad():
        for key, tensor in copied.items():
            own[key].copy_(tensor)
    return sorted(copied)
