"""The BlenderProc-on-bpy-wheel shim, always in a subprocess (bpy never enters the pytest process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run_child(code: str, timeout: float = 120) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line prefixed 'RESULT ' and exits hard."""
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + "/marker/kept", OMP_NUM_THREADS="2")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"child failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return json.loads(lines[-1][len("RESULT ") :])


def test_shim_imports_blenderproc_without_pip_and_keeps_the_environment():
    out = run_child("""
        import json, os, sys
        before = list(sys.path)
        from dst3d.render import blender_shim
        bproc = blender_shim.import_blenderproc()
        from blenderproc.python.utility.SetupUtility import SetupUtility
        from blenderproc.python.utility.Utility import Utility
        import png
        try:
            png.Writer
            placeholder = "no error"
        except ImportError as err:
            placeholder = str(err)
        res = {
            "version": bproc.__version__,
            "has_api": all(hasattr(bproc, m) for m in ("loader", "renderer", "camera", "object", "types")),
            "path_kept": sys.path == before,
            "pythonpath": os.environ.get("PYTHONPATH", ""),
            "pip_never_ran": SetupUtility.installed_packages is None,
            "setup_is_ours": SetupUtility.setup.__module__ == "dst3d.render.blender_shim",
            "temp_dir": Utility.temp_dir,
            "placeholder": placeholder,
        }
        print("RESULT " + json.dumps(res), flush=True)
        os._exit(0)
    """)
    assert out["version"] == "2.8.0" and out["has_api"]
    assert out["path_kept"], "BlenderProc's __init__ removed site-packages from sys.path"
    assert out["pythonpath"].endswith("/marker/kept"), (
        "PYTHONPATH must be restored after BlenderProc deletes it"
    )
    assert out["pip_never_ran"] and out["setup_is_ours"]
    assert Path(out["temp_dir"]).name.startswith("dst3d-bproc-")
    assert "writers are not supported" in out["placeholder"]


def test_shim_init_renders_a_cube_on_the_cpu():
    """init() without the en_US step; a 32 px Cycles render through BlenderProc's renderer API."""
    out = run_child("""
        import json, os
        import numpy as np
        from dst3d.render import blender_shim
        bproc = blender_shim.init(use_gpu=False)
        import bpy
        bproc.object.create_primitive("CUBE", scale=[0.3, 0.3, 0.3])
        bproc.camera.set_resolution(32, 32)
        bproc.camera.add_camera_pose(bproc.math.build_transformation_mat([0, -3, 0], [np.pi / 2, 0, 0]))
        bproc.renderer.set_max_amount_of_samples(2)
        bproc.renderer.set_output_format(enable_transparency=True)
        data = bproc.renderer.render()
        img = np.asarray(data["colors"][0])
        scene = bpy.context.scene
        res = {"shape": list(img.shape), "centre_alpha": int(img[16, 16, 3]),
               "corner_alpha": int(img[0, 0, 3]), "engine": scene.render.engine,
               "device": scene.cycles.device}
        print("RESULT " + json.dumps(res), flush=True)
        os._exit(0)
    """)
    assert out["shape"] == [32, 32, 4] and out["engine"] == "CYCLES" and out["device"] == "CPU"
    assert out["centre_alpha"] == 255 and out["corner_alpha"] == 0


def test_library_modules_do_not_import_bpy():
    """Only the worker's backend imports bpy: planning, the runner, the backend registry, params validation,
    annotation, edges and plots never do."""
    out = run_child("""
        import json, sys
        import dst3d.render.plan, dst3d.render.runner, dst3d.render.worker, dst3d.render.sampling
        import dst3d.render.annotate, dst3d.render.inspect, dst3d.edges.detect
        import dst3d.render.backends, dst3d.render.backends.blenderproc, dst3d.render.backends.opengl
        import pathlib, dst3d
        from dst3d.params import load_all
        load_all(pathlib.Path(dst3d.__file__).parents[2] / "params.yaml")  # validation imports every backend
        heavy = ("bpy", "blenderproc", "moderngl")
        print("RESULT " + json.dumps({m: m in sys.modules for m in heavy}))
    """)
    assert out == {"bpy": False, "blenderproc": False, "moderngl": False}


def test_pytest_process_never_imported_bpy():
    assert "bpy" not in sys.modules and "blenderproc" not in sys.modules
