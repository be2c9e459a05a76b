"""A render worker: ``python -m dst3d.render.worker JOB.json`` renders one shard of views, then exits hard.

Each shard runs in its own process because Blender leaks memory over long runs and a bpy 4.5 process
hangs at interpreter exit: the worker flushes its files and ends with ``os._exit``. A view is finished
only when its images *and then* its per-view record are atomically in place, so a killed worker leaves
either a finished view or nothing that a resumed run would mistake for one.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dst3d import atomic, params
from dst3d.assets import meshio
from dst3d.render import annotate, backends
from dst3d.render.backends import Backend, Mesh
from dst3d.render.params import RenderConfig
from dst3d.render.plan import ViewSpec
from dst3d.schema import ImageRecord, relative, to_dict

KEYPOINT_TOLERANCE = 0.03  # scene units (objects are 1 unit across)


def read_job_cfg(job: dict[str, Any]) -> RenderConfig:
    """The job's params; the job's backend module is registered under its name first.

    The job's module path wins over the source registry: it may name a backend the caller registered at
    run time (:func:`dst3d.render.runner.make_job`).
    """
    backends.BACKENDS[job["cfg"]["backend"]] = job["backend_module"]
    return params.from_dict(RenderConfig, job["cfg"], "job.cfg")


def open_backend(cfg: RenderConfig, threads: int) -> Backend:
    """The configured backend; bpy and the other heavy libraries are imported here, in the worker process."""
    return backends.open_backend(cfg.backend, cfg.backend_params(), cfg, threads)


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - cv2 only fails on unsupported dtypes
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def write_record(out: Path, view: ViewSpec, body: dict[str, Any]) -> None:
    """The per-view record, written last: its presence (with the right key) marks the view finished."""
    atomic.write_text(out / view.path("record"), json.dumps({"key": view.key, **body}, sort_keys=True) + "\n")


def finish_view(
    out: Path,
    view: ViewSpec,
    rgba: np.ndarray,
    depth: np.ndarray,
    mesh: Mesh,
    cfg: RenderConfig,
    backend: Backend,
) -> str:
    """Annotate one rendered view and write its files + record; returns 'ok' or the skip reason."""
    vertices, faces = mesh.vertices, mesh.faces
    K, R, t = (np.asarray(x, dtype=np.float64) for x in (view.K, view.R, view.t))
    finite = np.isfinite(depth) & (depth > 0)
    depth = np.where(finite, depth, np.inf).astype(np.float32)
    mask = finite.copy() if backend.mask_from_depth else rgba[..., 3] >= 128
    hole = mask & ~finite
    if hole.any():
        # Anti-aliased rim pixels that the alpha calls object but whose depth sample missed it: take the
        # nearest surface around them (a min filter; empty pixels are +inf).
        nearest = cv2.erode(depth, np.ones((3, 3), np.uint8), iterations=2)
        depth = np.where(hole, nearest, depth)
        mask &= np.isfinite(depth)
    if not mask.any():  # nothing of the object in the image: no annotation to give
        write_record(out, view, {"status": "skipped", "reason": "empty"})
        return "empty"
    record = ImageRecord(
        image_id=view.image_id,
        category=view.category,
        model_id=view.model_id,
        source=view.source,
        split=view.split,
        azimuth=view.viewpoint.azimuth,
        elevation=view.viewpoint.elevation,
        theta=view.viewpoint.theta,
        distance=view.viewpoint.distance,
        K=view.K,
        R=view.R,
        t=view.t,
        width=view.width,
        height=view.height,
        bbox=annotate.bbox_from_mask(mask),
        keypoints_2d=annotate.keypoints_2d(
            view.keypoints, K, R, t, mask, vertices, faces, KEYPOINT_TOLERANCE
        ),
        visib_fract=annotate.visible_fraction(mask, vertices, faces, K, R, t),
        rgb=relative(out, out / view.path("rgb")),  # records name files relative to the data root
        mask=relative(out, out / view.path("mask")),
        depth=relative(out, out / view.path("depth")),
        depth_scale=cfg.depth_scale,
        seed=view.seed,
        backend=backend.name,
    )
    if backend.transparent:
        rgb = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)
    else:
        rgb = cv2.cvtColor(rgba[..., :3], cv2.COLOR_RGB2BGR)
    atomic.write_bytes(out / view.path("rgb"), _png(rgb))
    atomic.write_bytes(out / view.path("mask"), _png(mask.astype(np.uint8) * 255))
    atomic.write_bytes(out / view.path("depth"), _png(annotate.encode_depth(depth, mask, cfg.depth_scale)))
    write_record(out, view, {"status": "ok", "record": to_dict(record), "lighting": view.lighting.__dict__})
    return "ok"


def run_job(job: dict[str, Any]) -> dict[str, int]:
    """Render the views of one job (grouped by mesh); returns counts by outcome."""
    cfg = read_job_cfg(job)
    out = Path(job["out"])
    views = [ViewSpec.from_json(v) for v in job["views"]]
    backend = open_backend(cfg, int(job.get("threads", 0)))
    counts: dict[str, int] = {}
    try:
        for mesh_path, group in itertools.groupby(views, key=lambda v: v.mesh):
            group = list(group)
            mesh = Mesh(*meshio.load_mesh(mesh_path))
            todo = []
            for v in group:
                K, R, t = (np.asarray(x) for x in (v.K, v.R, v.t))
                if not cfg.allow_truncated and not annotate.in_frame(mesh.vertices, K, R, t, v.width, v.height):
                    write_record(out, v, {"status": "skipped", "reason": "outside_frame"})
                    counts["outside_frame"] = counts.get("outside_frame", 0) + 1
                else:
                    todo.append(v)
            for v, rgba, depth in backend.render(Path(mesh_path), mesh, todo):
                status = finish_view(out, v, rgba, depth, mesh, cfg, backend)
                counts[status] = counts.get(status, 0) + 1
                print(f"done {v.image_id} {status}", flush=True)
    finally:
        backend.close()
    return counts


def main(argv: list[str]) -> None:
    """Entry point; always leaves through ``os._exit`` (see module docstring)."""
    code = 0
    try:
        t0 = time.perf_counter()
        job = json.loads(Path(argv[0]).read_text())
        counts = run_job(job)
        print(f"worker: {counts} in {time.perf_counter() - t0:.2f} s", flush=True)
    except BaseException:  # noqa: BLE001 - report anything, then exit hard
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
