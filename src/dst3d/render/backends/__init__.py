"""The render backend seam: one :class:`Backend` protocol, one :class:`Mesh` type, one registry.

:data:`BACKENDS` maps a backend name (``render.backend``) to the module that implements it. A backend
module must stay light at import (it is imported when params are validated) and defines:

* ``Params``: a frozen dataclass of the backend's own settings (``render.<name>:`` in params.yaml),
  with a ClassVar ``PIXEL_KEYS`` naming the settings that change pixels (they enter every view's key)
  and optionally ``validate()``;
* ``open(params, render_cfg, threads) -> Backend``: imports the heavy implementation (bpy, moderngl, ...)
  and returns a ready backend. ``threads`` is the worker's share of the CPU cores.

Adding a backend = one module + one line here. Backends are opened only inside render worker processes
(``python -m dst3d.render.worker``): bpy must never enter a stage's main process.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

from dst3d.params import ConfigError

if TYPE_CHECKING:  # plan imports render.params, which imports this registry
    from dst3d.render.params import RenderConfig
    from dst3d.render.plan import ViewSpec

BACKENDS: dict[str, str] = {
    "blenderproc": "dst3d.render.backends.blenderproc",
    "opengl": "dst3d.render.backends.opengl",
}
"""Backend name -> module path (imported on first use)."""


class Mesh(NamedTuple):
    """A loaded mesh: vertices (N, 3) float, triangle faces (M, 3) int, face colours (M, 3) in 0..1."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray


class Backend(Protocol):
    """Renders views of one mesh: yields (view, RGBA uint8 (H, W, 4), planar depth float32, inf = empty)."""

    name: str
    transparent: bool  # False: the rgb shows a background (alpha is meaningless)
    mask_from_depth: bool  # the mask is the depth pass's coverage, not alpha >= 0.5

    def render(
        self, mesh_path: Path, mesh: Mesh, views: list[ViewSpec]
    ) -> Iterator[tuple[ViewSpec, np.ndarray, np.ndarray]]: ...

    def close(self) -> None: ...


def backend_names() -> list[str]:
    """The registered backend names, sorted."""
    return sorted(BACKENDS)


def module_of(name_or_module: str) -> str:
    """A registered name -> its module path; anything else is taken as a module path already."""
    return BACKENDS.get(name_or_module, name_or_module)


def _module(name_or_module: str) -> Any:
    path = module_of(name_or_module)
    try:
        return importlib.import_module(path)
    except ImportError as err:
        raise ConfigError(f"render backend {name_or_module!r}: cannot import module {path!r} ({err})") from None


def params_class(name: str) -> type:
    """The ``Params`` dataclass of backend ``name`` (imports only its light module)."""
    return _module(name).Params


def open_backend(name_or_module: str, params: Any, render_cfg: RenderConfig, threads: int) -> Backend:
    """Open a backend by registered name or module path; ``params`` None = the backend's defaults."""
    module = _module(name_or_module)
    return module.open(module.Params() if params is None else params, render_cfg, threads)
