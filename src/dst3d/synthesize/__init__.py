"""The synthesize stage: edge maps + prompts -> images that inherit their render's exact 3D annotation.

Backends: ``controlnet`` (diffusers ControlNet pipelines; :mod:`.controlnet`) and ``composite`` (render
pasted on a background; :mod:`.composite`). :mod:`.runner` plans, resumes and writes; :mod:`.grid` draws
the inspection grid; :mod:`.tiny` builds the tiny test pipeline.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from dst3d.config import SynthesizeConfig
from dst3d.synthesize.runner import Backend, Item, RunStats, SynthesizeError, metrics, plan, run

__all__ = ["Backend", "Item", "RunStats", "SynthesizeError", "describe", "metrics", "open_backend", "plan", "run"]


def open_backend(cfg: SynthesizeConfig) -> Backend:
    """The configured backend, ready to make images (ControlNet weights checked, then loaded)."""
    if cfg.backend == "controlnet":
        from dst3d.synthesize.controlnet import ControlNetBackend

        return ControlNetBackend(cfg.controlnet)
    from dst3d.synthesize.composite import CompositeBackend

    return CompositeBackend.open(cfg.composite)


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def describe(cfg: SynthesizeConfig) -> dict[str, Any]:
    """Stage metadata (model ids, revisions, resolved device/dtype, library versions); loads no model."""
    meta: dict[str, Any] = {"backend": cfg.backend, "images_per_render": cfg.images_per_render}
    if cfg.backend == "controlnet":
        from dst3d.synthesize.controlnet import pixel_settings

        c = cfg.controlnet
        meta["controlnet"] = {
            **pixel_settings(c),
            "pipeline_class": "StableDiffusionXLControlNetPipeline"
            if c.pipeline == "sdxl"
            else "StableDiffusionControlNetPipeline",
            "batch_size": c.batch_size,
            "channels_last": c.channels_last,
            "compile": c.compile,
        }
    else:
        from dst3d.synthesize.composite import split_backgrounds

        meta["composite"] = {
            "backgrounds": {s: [p.name for p in v] for s, v in split_backgrounds(cfg.composite).items()},
        }
    meta["versions"] = {
        n: _version(n) for n in ("dst3d", "diffusers", "transformers", "torch", "numpy", "opencv-python-headless")
    }
    return meta
