"""A render backend for the executor fault tests: opengl, except that its render process SIGKILLs the Ray
worker that runs it (its parent) once, after ``kill_after`` finished views — a real worker death mid-shard.

Its params (``render.killer``) arm it: the ``marker`` file (written just before the kill: the killing
process's pid, its parent's pid, the ids of the views it finished) makes it fire only once. Imported by
the render worker subprocess by module path (tests/ on PYTHONPATH), as any backend.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


@dataclass(frozen=True)
class Params:
    PIXEL_KEYS: ClassVar[tuple[str, ...]] = ("msaa",)

    msaa: int = 4
    kill_after: int = 2
    marker: str = ""


class KillerBackend:
    def __init__(self, inner, after: int, marker: Path) -> None:
        self.inner, self.after, self.marker = inner, after, marker
        self.name, self.transparent, self.mask_from_depth = inner.name, inner.transparent, inner.mask_from_depth
        self.finished: list[str] = []

    def render(self, mesh_path, mesh, views):
        for view, rgba, depth in self.inner.render(mesh_path, mesh, views):
            if len(self.finished) >= self.after and not self.marker.exists():
                body = {"pid": os.getpid(), "ppid": os.getppid(), "finished": self.finished}
                self.marker.write_text(json.dumps(body))
                os.kill(os.getppid(), signal.SIGKILL)  # the Ray worker running this shard
                time.sleep(60)  # PR_SET_PDEATHSIG kills this process long before
                self.marker.with_suffix(".survived").write_text("the orphan outlived its Ray worker")
                os._exit(3)
            yield view, rgba, depth
            self.finished.append(view.image_id)  # the worker has written it when the loop comes back

    def close(self) -> None:
        self.inner.close()


def open(params, render_cfg, threads):  # noqa: A001 - the backend protocol's name
    from dst3d.render.backends import opengl

    inner = opengl.open(opengl.Params(msaa=params.msaa), render_cfg, threads)
    return KillerBackend(inner, params.kill_after, Path(params.marker))
