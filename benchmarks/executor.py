"""Throughput of render and synthesize with ``base.executor`` local vs Ray (1 and 2 workers), and Ray's own cost.

Reads the quickstart's data (read-only): the align manifest (render: opengl, the quickstart's 256 px
settings, a subset of models) and the edges rows (synthesize: composite). Every run writes into a fresh
folder under ``--scratch`` (its data root links the quickstart's render/ and edges/ folders, so the
synthesize rows resolve). A Ray run starts its own local instance (``num_cpus`` = workers), so its wall
time includes Ray's start and stop; that cost is also measured alone (``ray.init`` + ``ray.shutdown``).

    PYTHONPATH=src python benchmarks/executor.py [--data /work/main/data] [--models 12] [--views 16]
        [--images 192] [--workers 1 2] [--json out.json]
    PYTHONPATH=src python benchmarks/executor.py --overhead-only     # Ray's own costs, no dst3d data
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from dst3d.params import PASCAL3D_CATEGORIES, ExecutorConfig, load_all
from dst3d.render.plan import plan_views
from dst3d.render.runner import render_views
from dst3d.schema import ImageRecord, ModelRecord, read_jsonl, read_manifest
from dst3d.synthesize import backends as synth_backends
from dst3d.synthesize import runner as synth


def ray_start_stop(cpus: int) -> float:
    import ray

    tmp = tempfile.mkdtemp(prefix="rb", dir="/tmp")
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, _temp_dir=tmp, include_dashboard=False, logging_level="WARNING")
    ray.get(ray.remote(lambda: 1).remote())  # one task: a worker process really started
    ray.shutdown()
    seconds = time.perf_counter() - t0
    shutil.rmtree(tmp, ignore_errors=True)
    return seconds


class _Echo:
    """A trivial Ray Data actor: what the pipeline costs per row without any work."""

    def __call__(self, batch: dict) -> dict:
        return {"row": batch["row"]}


def ray_overhead(cpus: int, tasks: int, rows: int, batch_size: int) -> dict[str, float]:
    """Seconds per no-op Ray task and per row of a no-op Ray Data actor pool (instance already started)."""
    import ray

    from dst3d import executor as executors

    tmp = tempfile.mkdtemp(prefix="rb", dir="/tmp")
    ray.init(address="local", num_cpus=cpus, _temp_dir=tmp, include_dashboard=False, logging_level="WARNING")
    try:
        noop = ray.remote(num_cpus=1)(lambda i: i)
        ray.get([noop.remote(i) for i in range(cpus)])  # workers started
        t0 = time.perf_counter()
        ray.get([noop.remote(i) for i in range(tasks)])
        per_task = (time.perf_counter() - t0) / tasks
        cfg = ExecutorConfig(kind="ray", batch_size=batch_size, concurrency=cpus)
        t0 = time.perf_counter()
        n = sum(1 for _ in executors.map_batches(cfg, [str(i) for i in range(rows)], _Echo, (), progress=False))
        per_row = (time.perf_counter() - t0) / n
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"s_per_noop_task": round(per_task, 5), "s_per_row_ray_data": round(per_row, 5),
            "ray_data_rows": rows, "batch_size": batch_size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/work/main/data")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--scratch", default="/tmp/dst3d-bench-executor")
    ap.add_argument("--models", type=int, default=12, help="aligned models to render (one per category first)")
    ap.add_argument("--views", type=int, default=16, help="views per model")
    ap.add_argument("--shard", type=int, default=32, help="views per shard (task)")
    ap.add_argument("--images", type=int, default=192, help="edges rows to synthesize (composite)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", default="")
    ap.add_argument("--overhead-only", action="store_true", help="only Ray's start-up and per-task/per-row cost")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if args.overhead_only:
        for w in args.workers:
            row = {"workers": w, "ray_start_stop_s": round(ray_start_stop(w), 2), **ray_overhead(w, 200, 2000, 16),
                   "load_average": [round(x, 1) for x in os.getloadavg()]}
            print(json.dumps(row), flush=True)
        return
    data, scratch = Path(args.data).resolve(), Path(args.scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    typed = load_all(args.params)
    base, rcfg, scfg = typed["base"], typed["render"], typed["synthesize"]

    models = read_manifest(data / "align" / "manifest.jsonl", ModelRecord)
    by_cat = {c: [m for m in models if m.category == c] for c in PASCAL3D_CATEGORIES}
    chosen = [v[i] for i in range(max(len(v) for v in by_cat.values())) for v in by_cat.values() if i < len(v)]
    chosen = chosen[: args.models]
    rcfg = dataclasses.replace(rcfg, views_per_model=args.views, views_per_shard=args.shard, models=(),
                               test_fraction=0.0)
    rbase = dataclasses.replace(base, categories=tuple(dict.fromkeys(m.category for m in chosen)))
    views = plan_views(chosen, rbase, rcfg, data / "align")
    rows = sorted(read_manifest(data / "edges" / "manifest.jsonl", ImageRecord), key=lambda r: r.image_id)
    rows = rows[:: max(1, len(rows) // args.images)][: args.images]
    prompts = read_jsonl(data / "prompts" / "prompts.jsonl")
    scfg = dataclasses.replace(scfg, images_per_render=1)
    sbase = dataclasses.replace(base, categories=tuple(dict.fromkeys(r.category for r in rows)))

    results = []
    configs = [("local", w, ExecutorConfig()) for w in args.workers[-1:]]
    configs += [("ray", w, ExecutorConfig(kind="ray", num_cpus=w)) for w in args.workers]
    for kind, workers, executor in configs:
        root = scratch / f"{kind}{workers}"
        root.mkdir(parents=True)
        t0 = time.perf_counter()
        render_views(views, dataclasses.replace(rcfg, workers=workers), root / "render", log=lambda s: None,
                     executor=executor)
        render_s = time.perf_counter() - t0
        sroot = scratch / f"s-{kind}{workers}"
        sroot.mkdir()
        for name in ("render", "edges"):
            (sroot / name).symlink_to(data / name)
        items = synth.plan(rows, prompts, sbase, scfg, sroot / "synthesize")
        t0 = time.perf_counter()
        # local synthesize runs in the stage's own process (one worker): its row is the baseline
        synth.run(items, sroot / "synthesize", lambda: synth_backends.open_backend(scfg), progress=False,
                  executor=executor, cfg=scfg)
        synth_s = time.perf_counter() - t0
        row = {"executor": kind, "workers": workers if kind == "ray" else f"{workers} (render), 1 (synthesize)",
               "render_views": len(views), "render_s": round(render_s, 2),
               "render_views_per_s": round(len(views) / render_s, 2), "synthesize_images": len(items),
               "synthesize_s": round(synth_s, 2), "synthesize_images_per_s": round(len(items) / synth_s, 2)}
        results.append(row)
        print(json.dumps(row), flush=True)
    startup = [round(ray_start_stop(w), 2) for w in args.workers]
    summary = {"ray_start_stop_s": dict(zip(map(str, args.workers), startup, strict=True)),
               "load_average": os.getloadavg(), "cores": os.cpu_count(), "runs": results,
               "render": {"backend": rcfg.backend, "width": rcfg.width, "height": rcfg.height, "models": len(chosen),
                          "views_per_shard": args.shard},
               "synthesize": {"backend": scfg.backend}}
    print(json.dumps(summary["ray_start_stop_s"]), "load", [round(x, 1) for x in summary["load_average"]])
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
