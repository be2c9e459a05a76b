"""The ``opengl`` render backend (moderngl on headless EGL, milliseconds per view): its params and opener.

Light at import: the implementation (:mod:`.opengl_moderngl`, which imports moderngl) is imported by
:func:`open`, in a render worker process only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from dst3d.params import ConfigError

if TYPE_CHECKING:
    from dst3d.render.backends import Backend
    from dst3d.render.params import RenderConfig


@dataclass(frozen=True)
class Params:
    """``render.opengl``: multisample anti-aliasing of the colour pass."""

    PIXEL_KEYS: ClassVar[tuple[str, ...]] = ("msaa",)

    msaa: int = 4

    def validate(self) -> None:
        if self.msaa < 0:
            raise ConfigError("msaa: must be >= 0")


def open(params: Params, render_cfg: RenderConfig, threads: int) -> Backend:
    """The moderngl backend (one EGL context per worker; ``threads`` is not used)."""
    from dst3d.render.backends.opengl_moderngl import OpenGLBackend

    return OpenGLBackend(params, render_cfg)
