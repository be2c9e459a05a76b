"""edges stage: data/render -> data/edges (3-channel Canny edge PNGs + manifest.jsonl: render rows + edge)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from dst3d import atomic, layout
from dst3d.edges import detect as edges
from dst3d.errors import run_stage
from dst3d.params import load_stage
from dst3d.schema import ImageRecord, read_manifest, write_json, write_manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--render", default="data/render")
    ap.add_argument("--out", default="data/edges")
    ap.add_argument("--plots", default="metrics/plots/edges")
    ap.add_argument("--metrics", default="metrics/edges.json")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    base, cfg = load_stage("edges", args.params)
    render_dir, out = Path(args.render), Path(args.out)
    records = read_manifest(render_dir / "manifest.jsonl", ImageRecord)
    with atomic.staged_dir(out) as staging:  # swapped in whole: never a half-made edges folder
        rows, stats = edges.run(records, render_dir, staging, cfg, name=out.name)
        samples = layout.rows_samples(rows, ("edge",), staging)
        refs = layout.finish(staging, base.layout, samples, "edges", base.shard_size, out.name, cfg.workers)
        rows = layout.with_refs(rows, ("edge",), staging, refs)
        write_manifest(staging / "manifest.jsonl", rows)
    seconds = time.perf_counter() - t0
    shown = edges.edge_grid(rows, out, Path(args.plots) / "grid.png", cfg.grid_images)
    density = np.array([s.density for s in stats.values()]) if stats else np.zeros(1)
    outside = np.array([s.outside for s in stats.values()]) if stats else np.zeros(1)
    write_json(
        args.metrics,
        {
            "images": len(rows),
            "seconds_total": round(seconds, 3),
            "images_per_second": round(len(rows) / seconds, 2) if seconds > 0 else None,
            "edge_density_mean": round(float(density.mean()), 5),
            "edge_pixels_off_object_mean": round(float(outside.mean()), 6),
            "edge_pixels_off_object_max": round(float(outside.max()), 6),
            "empty_edge_maps": int(np.count_nonzero(density == 0)) if stats else 0,
            "grid_images": shown,
        },
    )
    print(
        f"edges: {len(rows)} edge maps -> {out} in {seconds:.1f} s "
        f"(mean edge density {density.mean():.4f}, off-object {outside.mean():.4%})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("edges", main))
