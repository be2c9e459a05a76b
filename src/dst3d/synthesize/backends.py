"""The synthesize backend seam: one :class:`Backend` protocol, one registry, :func:`open_backend`.

:data:`BACKENDS` maps ``synthesize.backend`` to the module that implements it; each backend's settings
are the ``synthesize.<name>:`` sub-section of the same name. A backend module defines
``open(params, cfg) -> Backend`` (weights checked and loaded) and ``pixel_settings(params) -> dict`` (the
settings that change pixels, for the resume key). Light at import: the backend modules (cv2, torch,
diffusers) are imported on first use.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from dst3d.params import import_object
from dst3d.schema import ImageRecord

if TYPE_CHECKING:  # synthesize.params imports this registry
    from dst3d.synthesize.params import SynthesizeConfig

BACKENDS: dict[str, tuple[str, str]] = {
    "composite": ("dst3d.synthesize.params:CompositeConfig", "dst3d.synthesize.composite"),
    "controlnet": ("dst3d.synthesize.params:ControlNetConfig", "dst3d.synthesize.controlnet"),
}
"""Backend name -> (its params class as ``module:Class``, its implementation module), imported on first use.

The params class must be importable without the implementation's heavy imports (it is loaded when
params.yaml is validated); a backend written as one light module may name that module twice."""


class Backend(Protocol):
    """Makes images for manifest rows: one (RGB uint8 at the row's size, provenance dict) per row, in order."""

    name: str
    batch_size: int

    def make(self, records: Sequence[ImageRecord], root: Path) -> list[tuple[np.ndarray, dict[str, Any]]]: ...


def backend_names() -> list[str]:
    """The registered backend names, sorted."""
    return sorted(BACKENDS)


def params_class(name: str) -> type:
    """The params dataclass of backend ``name`` (``synthesize.<name>:``)."""
    return import_object(BACKENDS[name][0])


def module(name: str) -> Any:
    """The implementation module of backend ``name``."""
    return importlib.import_module(BACKENDS[name][1])


def backend_params(cfg: SynthesizeConfig) -> Any:
    """The active backend's settings (its sub-section of the same name)."""
    return cfg.backend_params()


def open_backend(cfg: SynthesizeConfig) -> Backend:
    """The configured backend, ready to make images (ControlNet weights checked, then loaded)."""
    return module(cfg.backend).open(backend_params(cfg), cfg)


def pixel_settings(cfg: SynthesizeConfig) -> dict[str, Any]:
    """The backend settings that change pixels (part of every image's key)."""
    return {"backend": cfg.backend, **module(cfg.backend).pixel_settings(backend_params(cfg))}


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def describe(cfg: SynthesizeConfig) -> dict[str, Any]:
    """Stage metadata (model ids, revisions, resolved device/dtype, library versions); loads no model."""
    meta: dict[str, Any] = {"backend": cfg.backend, "images_per_render": cfg.images_per_render}
    meta[cfg.backend] = module(cfg.backend).describe(backend_params(cfg))
    meta["versions"] = {
        n: _version(n) for n in ("dst3d", "diffusers", "transformers", "torch", "numpy", "opencv-python-headless")
    }
    return meta
