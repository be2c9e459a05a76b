"""Make BlenderProc 2.8 run on the PyPI ``bpy==4.5.15`` wheel inside an ordinary Python process.

Why this module exists: BlenderProc is built to run *inside* a Blender it downloads itself (the
``blenderproc run`` CLI), which cannot work offline and breaks on many machines (Debian's blender 3.4
fails; bpy 4.2 segfaults at exit; bpy 5.x breaks BlenderProc's compositor calls). The bpy 4.5 wheel
works, but BlenderProc's import-time setup fights it:

1. ``blenderproc/__init__`` refuses to import unless ``INSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT``
   is set; once set, it removes its own parent folder (our site-packages!) from ``sys.path``, deletes
   ``PYTHONPATH`` from the environment, and calls ``SetupUtility.setup()``, which pip-installs a package
   list into "Blender's python" (here: the venv, from the internet). We import the package once in its
   harmless CLI mode, replace ``SetupUtility.setup`` by a function that only sets BlenderProc's temp
   folder, then re-run the package ``__init__`` with the flag set, with a duplicate site-packages entry
   so that the removal leaves one, and finally restore ``sys.path`` and ``PYTHONPATH``.
2. BlenderProc's writer modules import ``png`` (pypng, BOP writer) and ``skimage`` (COCO writer) at
   import time. We never use those writers (the BOP writer and the URDF loader also pip-install from
   git at run time), so when the packages are absent we register placeholder modules that raise a
   clear error if anything touches them.
3. ``bproc.init()`` sets the UI language to ``en_US``, an enum the wheel does not have (no locales
   built in): :func:`init` replicates ``bproc.init`` without that step.

Import this module only in a render worker process: importing bpy in the pytest process or in a
stage's main process is forbidden (a bpy 4.5 process hangs at interpreter exit; workers leave with
``os._exit``).
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import types
from typing import Any

_ENV_INSIDE = "INSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT"
_ENV_CLI = "OUTSIDE_OF_THE_INTERNAL_BLENDER_PYTHON_ENVIRONMENT_BUT_IN_RUN_SCRIPT"
_UNUSED_WRITER_DEPS = ("png", "skimage", "skimage.measure")

_bproc: Any = None
_initialised = False


class _Unavailable(types.ModuleType):
    """Placeholder for a package only BlenderProc's BOP/COCO writers use (never called here)."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        raise ImportError(
            f"{self.__name__}.{attr}: BlenderProc's BOP/COCO writers are not supported by dst3d "
            f"(package {self.__name__!r} is not installed); use dst3d's own exports"
        )


def _placeholders() -> list[str]:
    added = []
    for name in _UNUSED_WRITER_DEPS:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = _Unavailable(name)
            added.append(name)
    if "skimage" in added and "skimage.measure" in added:
        sys.modules["skimage"].measure = sys.modules["skimage.measure"]  # type: ignore[attr-defined]
    return added


def temp_root() -> str:
    """BlenderProc's scratch folder for render outputs: shared memory where there is some."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix="dst3d-bproc-", dir=base)


def import_blenderproc() -> Any:
    """Import and return the ``blenderproc`` package, fully set up, without any pip install."""
    global _bproc
    if _bproc is not None:
        return _bproc
    saved_path = list(sys.path)
    saved_pythonpath = os.environ.get("PYTHONPATH")

    os.environ[_ENV_CLI] = "1"  # first import: the CLI branch, which only defines __version__
    import blenderproc
    from blenderproc.python.utility import SetupUtility as setup_module

    scratch = temp_root()

    def setup(*_args: Any, **_kwargs: Any) -> list[str]:
        # What SetupUtility.setup does besides pip: point BlenderProc's temp dir somewhere writable.
        setup_module.SetupUtility.setup_utility_paths(scratch)
        setup_module.SetupUtility.main_setup_called = True
        return sys.argv

    setup_module.SetupUtility.setup = staticmethod(setup)  # type: ignore[method-assign]
    _placeholders()
    parent = os.path.abspath(os.path.join(os.path.dirname(blenderproc.__file__), ".."))
    sys.path.append(parent)  # __init__ removes the first occurrence; the original one stays
    os.environ[_ENV_INSIDE] = "1"
    try:
        importlib.reload(blenderproc)  # the real __init__: imports bpy and the whole API
    finally:
        sys.path[:] = saved_path
        if saved_pythonpath is not None:
            os.environ["PYTHONPATH"] = saved_pythonpath
        os.environ.pop(_ENV_CLI, None)
    _bproc = blenderproc
    return blenderproc


def init(use_gpu: bool = True, require_gpu: bool = False) -> Any:
    """``bproc.init()`` without the UI-language step; GPU devices when present (and wanted)."""
    global _initialised
    bproc = import_blenderproc()
    if _initialised:
        return bproc
    import bpy
    from blenderproc.python.renderer import RendererUtility
    from blenderproc.python.utility.GlobalStorage import GlobalStorage
    from blenderproc.python.utility.Initializer import _Initializer, clean_up

    clean_up(clean_up_camera=True)
    bpy.context.scene.render.engine = "CYCLES"
    RendererUtility.set_render_devices(use_only_cpu=not use_gpu)
    if require_gpu and bpy.context.scene.cycles.device != "GPU":
        raise RuntimeError("render.blenderproc.device is 'gpu' but Cycles found no GPU device (OPTIX/CUDA/HIP)")
    _Initializer.set_default_parameters()
    GlobalStorage.add("bproc_init_complete", True)
    _initialised = True
    return bproc
