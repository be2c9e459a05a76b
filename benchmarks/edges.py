"""Edges benchmark: images/s of the edges stage against a bare ``cv2.Canny`` loop over the same files.

    PYTHONPATH=src python benchmarks/edges.py [--models 6] [--views 20] [--sizes 256 512] [--repeat 3]

The renders are made once with the opengl backend (real RGBA renders of builtin assets, as the render
stage writes them). "bare loop" = upstream's recipe in one process: ``cv2.imread`` (alpha dropped),
``cv2.Canny(img, 100, 200)``, ``cv2.imwrite``. "stage library" = ``dst3d.edges.detect.run`` (alpha-aware
Canny, 3-channel PNG, atomic writes, edge statistics) with 1 and 2 worker processes; "stage script" =
``stages/edges.py`` end to end (params, manifest in/out, staging folder, grid, metrics). Best of
``--repeat`` runs each, to damp the noise of a shared machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import yaml

from dst3d.assets.params import AlignConfig
from dst3d.edges import detect as edges
from dst3d.edges.params import EdgesConfig
from dst3d.params import BaseConfig
from dst3d.render.params import RenderConfig
from dst3d.render.plan import plan_views
from dst3d.render.runner import render_views
from dst3d.schema import ImageRecord, resolve, write_manifest

REPO = Path(__file__).resolve().parents[1]
CATEGORIES = ("car", "bicycle", "chair", "aeroplane", "sofa", "tvmonitor", "bus", "motorbike")


def make_renders(data: Path, n_models: int, views: int, size: int) -> list[ImageRecord]:
    from dst3d.assets import align

    base = BaseConfig(seed=0, categories=CATEGORIES[:n_models])
    acfg = AlignConfig(instances_per_category=1, contact_sheet=False)
    if not (data / "align").is_dir():
        (data / "align").mkdir(parents=True)
        rows, _ = align.align_all(align.discover(base, acfg), acfg, data / "align", stage="align")
        write_manifest(data / "align" / "manifest.jsonl", rows)
    from dst3d.schema import ModelRecord, read_manifest

    models = read_manifest(data / "align" / "manifest.jsonl", ModelRecord)
    cfg = RenderConfig(
        backend="opengl",
        views_per_model=views,
        width=size,
        height=size,
        test_fraction=0.0,
        allow_truncated=True,
    )
    result = render_views(
        plan_views(models, base, cfg, data / "align"), cfg, data / "render", log=lambda s: None
    )
    write_manifest(data / "render" / "manifest.jsonl", result.records)
    return result.records


def bare_loop(records: list[ImageRecord], root: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for r in records:
        img = cv2.imread(str(resolve(root, r.rgb)))
        cv2.imwrite(str(out / f"{r.image_id}.png"), cv2.Canny(img, 100, 200))


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_size(data: Path, size: int, args: argparse.Namespace) -> list[tuple[int, str, int, float, float]]:
    """All timings at one image size: (size, what, images, images/s, share of the bare loop)."""
    records = make_renders(data, args.models, args.views, size)
    n = len(records)
    render_dir = data / "render"

    def stage_lib(workers: int) -> None:
        out = data / "edges"
        shutil.rmtree(out, ignore_errors=True)
        edges.run(records, render_dir, out, dataclasses.replace(EdgesConfig(), workers=workers))

    (data.parent / "params.yaml").write_text(yaml.safe_dump({"edges": {}}))  # the defaults
    cmd = [
        sys.executable,
        str(REPO / "stages" / "edges.py"),
        "--params",
        str(data.parent / "params.yaml"),
        "--render",
        str(render_dir),
        "--out",
        str(data / "edges"),
        "--plots",
        str(data.parent / "plots"),
        "--metrics",
        str(data.parent / "edges.json"),
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    timings = {
        "bare cv2.Canny loop (1 process)": best_of(
            args.repeat, lambda: bare_loop(records, render_dir, data / "bare")
        ),
        "stage library, 1 worker": best_of(args.repeat, lambda: stage_lib(1)),
        "stage library, 2 workers (default)": best_of(args.repeat, lambda: stage_lib(2)),
        "stage script end to end (2 workers)": best_of(
            args.repeat, lambda: subprocess.run(cmd, env=env, check=True, capture_output=True)
        ),
    }
    bare = n / timings["bare cv2.Canny loop (1 process)"]
    return [(size, label, n, n / s, n / s / bare) for label, s in timings.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=6)
    ap.add_argument("--views", type=int, default=20, help="views per model")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cv2.setNumThreads(1)  # the bare loop and each stage worker: one core each
    rows = []
    with tempfile.TemporaryDirectory(prefix="dst3d-bench-edges-") as tmp:
        for size in args.sizes:
            rows += bench_size(Path(tmp) / f"s{size}" / "data", size, args)
    print(f"\nedges benchmark: {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}\n")
    print("| size | what | images | images/s | vs bare loop |")
    print("|---:|---|---:|---:|---:|")
    for size, label, n, rate, rel in rows:
        print(f"| {size} | {label} | {n} | {rate:.1f} | {rel:.0%} |")


if __name__ == "__main__":
    main()
