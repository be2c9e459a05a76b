"""Render benchmark: views/s and edge-map agreement of render settings, both backends, in one run.

    PYTHONPATH=src python benchmarks/render.py [--models 6] [--views 2] [--sizes 256 512] [--json out.json]

Scene: the first bundled (builtin) instance of ``--models`` categories, aligned into a temp folder, with
the same seeded view plan (pose, light, Cycles seed) for every setting, so settings differ only in
samples / denoising / backend. Each setting renders in its own worker-like process (bpy never enters this
one): start-up (import + init) is reported apart from the steady per-view time, which includes what the
stage does per view (annotation, PNG writing). Edge maps are the edges stage's (``dst3d.edges.detect.edge_map``
with the default params); F1 counts edge pixels within 2 px of the 128-sample reference's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from dst3d.assets.params import AlignConfig
from dst3d.edges.params import EdgesConfig
from dst3d.params import BaseConfig, from_dict, merge
from dst3d.render.params import RenderConfig

CATEGORIES = ("car", "bicycle", "chair", "aeroplane", "sofa", "tvmonitor", "bus", "motorbike")
# (label, overrides): upstream = 3D-DST's blender_render.py (Cycles 32 samples, Blender's default OIDN
# denoising, i.e. the 'accurate' prefilter); the reference is 128 samples with the same denoiser.
SETTINGS: list[tuple[str, dict]] = [
    ("reference 128 spp + accurate", {"blenderproc": {"samples": 128, "denoise": "accurate"}}),
    ("upstream 32 spp + accurate", {"blenderproc": {"samples": 32, "denoise": "accurate"}}),
    ("32 spp + fast", {"blenderproc": {"samples": 32, "denoise": "fast"}}),
    ("16 spp + fast", {"blenderproc": {"samples": 16, "denoise": "fast"}}),
    ("8 spp + fast", {"blenderproc": {"samples": 8, "denoise": "fast"}}),
    ("16 spp, no denoise", {"blenderproc": {"samples": 16, "denoise": "none"}}),
    ("default: 8 spp, no denoise", {"blenderproc": {"samples": 8, "denoise": "none"}}),
    ("4 spp, no denoise", {"blenderproc": {"samples": 4, "denoise": "none"}}),
    ("opengl (msaa 4)", {"backend": "opengl"}),
]


# ------------------------------------------------------------------------------ child: one setting
def child(job_path: str) -> None:
    """Render the job's views with one backend; print timings as JSON; leave through os._exit."""
    from dst3d.assets import meshio
    from dst3d.render.backends import Mesh
    from dst3d.render.plan import ViewSpec
    from dst3d.render.worker import finish_view, open_backend, read_job_cfg

    job = json.loads(Path(job_path).read_text())
    cfg = read_job_cfg(job)
    out = Path(job["out"])
    views = [ViewSpec.from_json(v) for v in job["views"]]
    t0 = time.perf_counter()
    backend = open_backend(cfg, threads=int(job["threads"]))
    t_init = time.perf_counter() - t0
    per_model: list[tuple[int, float]] = []
    groups: dict[str, list[ViewSpec]] = {}
    for v in views:
        groups.setdefault(v.mesh, []).append(v)
    warm = True
    for mesh_path, group in groups.items():
        mesh = Mesh(*meshio.load_mesh(mesh_path))
        if warm:  # first call pays one-off costs (kernels, denoiser set-up): render it, don't time it
            for v, rgba, depth in backend.render(Path(mesh_path), mesh, group[:1]):
                finish_view(out / "warmup", v, rgba, depth, mesh, cfg, backend)
            warm = False
        t = time.perf_counter()
        for v, rgba, depth in backend.render(Path(mesh_path), mesh, group):
            finish_view(out, v, rgba, depth, mesh, cfg, backend)
        per_model.append((len(group), time.perf_counter() - t))
    n = sum(k for k, _ in per_model)
    seconds = sum(s for _, s in per_model)
    print("RESULT " + json.dumps({"init_s": t_init, "views": n, "seconds": seconds}), flush=True)
    sys.stdout.flush()
    os._exit(0)


# ------------------------------------------------------------------------------ parent
def build_scene(root: Path, n_models: int) -> tuple[Path, list]:
    from dst3d.assets import align

    base = BaseConfig(seed=0, categories=CATEGORIES[:n_models])
    cfg = AlignConfig(instances_per_category=1, contact_sheet=False)
    out = root / "align"
    out.mkdir(parents=True)
    rows, _ = align.align_all(align.discover(base, cfg), cfg, out, stage="align")
    return out, rows


def run_setting(label: str, cfg: RenderConfig, views: list, root: Path) -> dict:
    from dst3d.render.runner import make_job

    out = root / "render"
    job = root / "job.json"
    root.mkdir(parents=True, exist_ok=True)
    job.write_text(json.dumps(make_job(cfg, out, views, threads=0)))  # 0: Cycles picks its own thread count
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(job)], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - t
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{label}: child failed\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    res = json.loads(lines[-1][7:])
    res.update(label=label, wall_s=wall, out=str(out))
    return res


def edge_maps(out: Path, views: list) -> dict[str, np.ndarray]:
    from dst3d.edges import detect as edges

    cfg = EdgesConfig()
    maps = {}
    for v in views:
        rgb = cv2.imread(str(out / v.path("rgb")), cv2.IMREAD_UNCHANGED)
        maps[v.image_id] = edges.edge_map(rgb, None, None, cfg) > 0
    return maps


def f1_within(pred: dict[str, np.ndarray], ref: dict[str, np.ndarray], tol: float = 2.0) -> float:
    """F1 of edge pixels: a predicted pixel counts within ``tol`` px of a reference one, and vice versa."""
    tp_p = n_p = tp_r = n_r = 0
    for k, r in ref.items():
        p = pred[k]
        d_ref = cv2.distanceTransform((~r).astype(np.uint8), cv2.DIST_L2, 3)
        d_pred = cv2.distanceTransform((~p).astype(np.uint8), cv2.DIST_L2, 3)
        tp_p += int(np.count_nonzero(d_ref[p] <= tol))
        n_p += int(np.count_nonzero(p))
        tp_r += int(np.count_nonzero(d_pred[r] <= tol))
        n_r += int(np.count_nonzero(r))
    precision, recall = tp_p / max(n_p, 1), tp_r / max(n_r, 1)
    return 2 * precision * recall / max(precision + recall, 1e-12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--models", type=int, default=6)
    ap.add_argument("--views", type=int, default=2, help="views per model")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return

    from dst3d.render.plan import plan_views

    rows = []
    with tempfile.TemporaryDirectory(prefix="dst3d-bench-render-") as tmp:
        root = Path(tmp)
        align_dir, models = build_scene(root, args.models)
        base = BaseConfig(seed=0, categories=CATEGORIES[: args.models])
        load = os.getloadavg()[0]
        for size in args.sizes:
            common = dict(views_per_model=args.views, width=size, height=size, test_fraction=0.0)
            views = plan_views(models, base, from_dict(RenderConfig, common, "bench"), align_dir)
            results = {}
            for i, (label, over) in enumerate(SETTINGS):
                cfg = from_dict(RenderConfig, merge(common, over), f"bench[{label}]")
                res = results[label] = run_setting(label, cfg, views, root / f"{size}-{i}")
                print(
                    f"  {size} px  {label}: {res['views'] / res['seconds']:.2f} views/s",
                    file=sys.stderr,
                    flush=True,
                )
            ref = edge_maps(Path(results[SETTINGS[0][0]]["out"]), views)
            up = results["upstream 32 spp + accurate"]
            up_rate = up["views"] / up["seconds"]
            for label, res in results.items():
                rate = res["views"] / res["seconds"]
                f1 = f1_within(edge_maps(Path(res["out"]), views), ref)
                rows.append(
                    {
                        "size": size,
                        "setting": label,
                        "views_per_s": rate,
                        "s_per_view": 1 / rate,
                        "speedup_vs_upstream": rate / up_rate,
                        "edge_f1_vs_ref": f1,
                        "startup_s": res["init_s"],
                        "views": res["views"],
                    }
                )
    print(
        f"\nrender benchmark: {args.models} models x {args.views} views per size, "
        f"{os.cpu_count()} CPU(s), load average at start {load:.1f}\n"
    )
    print("| size | setting | views/s | s/view | vs upstream | edge F1 (2 px) vs 128 spp | start-up s |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['size']} | {r['setting']} | {r['views_per_s']:.2f} | {r['s_per_view']:.3f} | "
            f"{r['speedup_vs_upstream']:.1f}x | {r['edge_f1_vs_ref']:.3f} | {r['startup_s']:.1f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
