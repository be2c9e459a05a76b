"""synthesize stage: edges + prompts -> data/synthesize/ (images that inherit their render's 3D annotation)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dst3d import layout
from dst3d.errors import run_stage
from dst3d.params import load_stage
from dst3d.schema import ImageRecord, data_root, read_jsonl, read_manifest, write_json, write_manifest
from dst3d.synthesize import backends, runner
from dst3d.synthesize.grid import write_grid


def main(argv: list[str] | None = None) -> int:
    """Errors a user can fix (params, weights, backgrounds, missing inputs) are raised before any work is
    written and reported as one line by :func:`dst3d.errors.run_stage`."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--edges", default="data/edges/manifest.jsonl")
    ap.add_argument("--prompts", default="data/prompts/prompts.jsonl")
    ap.add_argument("--out", default="data/synthesize")
    ap.add_argument("--plots", default="metrics/plots/synthesize")
    ap.add_argument("--metrics", default="metrics/synthesize.json")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    base, cfg = load_stage("synthesize", args.params)
    out = Path(args.out)
    if data_root(args.edges).resolve() != data_root(out).resolve():
        # Row paths are relative to the data root: inputs and outputs must share it to stay resolvable.
        raise runner.SynthesizeError(f"--edges {args.edges} and --out {args.out} must share one data root")
    layout.unpack(out)  # base.layout shards: finished images back on disk, so they are reused
    items = runner.plan(read_manifest(args.edges, ImageRecord), read_jsonl(args.prompts), base, cfg, out)
    meta = backends.describe(cfg)  # also checks the background set before any work
    stats = runner.run(items, out, lambda: backends.open_backend(cfg), progress=not args.no_progress,
                       executor=base.executor, cfg=cfg)
    rows = [it.record for it in items]
    refs = layout.finish(out, base.layout, layout.rows_samples(rows, ("image",), out), "synthesize", base.shard_size)
    rows = layout.with_refs(rows, ("image",), out, refs)
    write_manifest(out / "manifest.jsonl", rows)
    write_json(out / "meta.json", meta)
    shown = write_grid(rows, data_root(out), Path(args.plots) / "grid.png", cfg.grid_images) if cfg.grid_images else 0
    metrics = runner.metrics(items, stats, cfg.backend)
    metrics.update(grid_rows=shown, seconds_total=round(time.perf_counter() - t0, 3))
    write_json(args.metrics, metrics)
    print(
        f"synthesize ({cfg.backend}): {stats.planned} images ({stats.generated} generated, {stats.reused} reused, "
        f"{stats.removed} stale removed) -> {out} ({metrics['seconds_total']:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("synthesize", main))
