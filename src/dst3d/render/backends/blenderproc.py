"""The ``blenderproc`` render backend (Cycles through BlenderProc on the bpy wheel): its params and opener.

Light at import: the implementation (:mod:`.blenderproc_cycles`, which imports bpy) is imported by
:func:`open`, in a render worker process only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from dst3d.params import ConfigError

if TYPE_CHECKING:
    from dst3d.render.backends import Backend
    from dst3d.render.params import RenderConfig


@dataclass(frozen=True)
class Params:
    """``render.blenderproc``: Cycles samples, denoiser, light bounces, device and threads."""

    PIXEL_KEYS: ClassVar[tuple[str, ...]] = ("samples", "denoise", "max_bounces")

    samples: int = 8
    denoise: Literal["none", "fast", "accurate"] = "none"  # OIDN prefilter; 'accurate' is Blender's (slow)
    max_bounces: int = 2
    device: Literal["auto", "cpu", "gpu"] = "auto"
    threads: int = 0  # Cycles threads per worker; 0 = cores / workers

    def validate(self) -> None:
        if self.samples < 1:
            raise ConfigError("samples: must be >= 1")
        if self.max_bounces < 0 or self.threads < 0:
            raise ConfigError("max_bounces, threads: must be >= 0")


def open(params: Params, render_cfg: RenderConfig, threads: int) -> Backend:
    """The Cycles backend; imports bpy (render worker processes only)."""
    from dst3d.render.backends.blenderproc_cycles import BlenderProcBackend

    return BlenderProcBackend(params, render_cfg, params.threads or threads)
