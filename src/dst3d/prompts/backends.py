"""The prompt backend registry and :func:`open_backend` (the same seam as render's and synthesize's).

:data:`BACKENDS` maps ``prompts.backend`` to the module that implements it; each backend's settings are
the ``prompts.<name>:`` sub-section of the same name. A backend module defines
``open(params, cfg) -> Backend`` (:class:`dst3d.prompts.base.Backend`). Light at import: the ``llm``
module's torch and transformers are imported when it is opened.
"""

from __future__ import annotations

import importlib

from dst3d.prompts.base import Backend
from dst3d.prompts.params import PromptsConfig

BACKENDS: dict[str, str] = {
    "llm": "dst3d.prompts.llm",
    "openai": "dst3d.prompts.openai_api",
    "template": "dst3d.prompts.template",
}
"""Backend name -> module path (imported on first use)."""


def open_backend(cfg: PromptsConfig) -> Backend:
    """The configured backend, its model loaded now (once per stage run)."""
    module = importlib.import_module(BACKENDS[cfg.backend])
    return module.open(getattr(cfg, cfg.backend), cfg)
