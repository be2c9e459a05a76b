"""render stage: data/align -> data/render (RGBA, mask, depth per view + manifest.jsonl, 3D annotations)."""

from __future__ import annotations

import argparse
import sys
import time
from importlib import metadata
from pathlib import Path

from dst3d import layout
from dst3d.errors import run_stage
from dst3d.params import load_stage
from dst3d.render import inspect
from dst3d.render.plan import pixel_settings, plan_views
from dst3d.render.runner import KINDS, render_views
from dst3d.schema import ModelRecord, read_manifest, write_json, write_manifest


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--align", default="data/align")
    ap.add_argument("--out", default="data/render")
    ap.add_argument("--plots", default="metrics/plots/render")
    ap.add_argument("--metrics", default="metrics/render.json")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    base, cfg = load_stage("render", args.params)
    align, out = Path(args.align), Path(args.out)
    views = plan_views(read_manifest(align / "manifest.jsonl", ModelRecord), base, cfg, align)
    manifest = out / "manifest.jsonl"
    manifest.unlink(missing_ok=True)  # data/render is persistent (resume): no manifest until it matches the files
    layout.unpack(out)  # base.layout shards: finished views back on disk, so they are reused
    result = render_views(views, cfg, out, executor=base.executor)
    # a view's files and its record as one sample; skipped views' records too (they are not re-tried)
    ext = {k: "json" if k == "record" else f"{k}.png" for k in KINDS}
    samples = [
        (v.image_id, {ext[k]: out / v.path(k) for k in KINDS if (out / v.path(k)).is_file()})
        for v in (views if base.layout == "shards" else ())
    ]
    refs = layout.finish(out, base.layout, samples, "render", base.shard_size, workers=cfg.workers)
    result.records = layout.with_refs(result.records, ("rgb", "mask", "depth"), out, refs)
    write_manifest(manifest, result.records)

    plots = Path(args.plots)
    shown = inspect.render_grid(result.records, out, plots / "grid.png", cfg.grid_images)
    inspect.viewpoint_histograms(result.records, plots)
    per_category: dict[str, int] = {}
    per_split: dict[str, int] = {}
    for r in result.records:
        per_category[r.category] = per_category.get(r.category, 0) + 1
        per_split[r.split] = per_split.get(r.split, 0) + 1
    seconds = time.perf_counter() - t0
    write_json(
        args.metrics,
        {
            "backend": cfg.backend,
            "views_planned": len(views),
            "views_written": len(result.records),
            "views_rendered_this_run": result.rendered,
            "views_reused": result.reused,
            "views_skipped": sum(result.skipped.values()),
            "skipped_by_reason": result.skipped,
            "skipped_examples": [f"{i} ({why})" for i, why in result.skipped_ids[:20]],
            "stale_files_removed": result.removed_files,
            "shards": result.shards,
            "per_category": per_category,
            "per_split": per_split,
            "grid_images": shown,
            "seconds_total": round(seconds, 3),
            "seconds_rendering": round(result.seconds_rendering, 3),
            "views_per_second": round(result.rendered / result.seconds_rendering, 3)
            if result.rendered
            else None,
            # the settings that change pixels (the active backend's), plus size and workers
            "settings": {"width": cfg.width, "height": cfg.height, **pixel_settings(cfg), "workers": cfg.workers},
            "versions": {
                p: _version(p) for p in ("bpy", "blenderproc", "moderngl", "opencv-python-headless")
            },
        },
    )
    skipped = f", {sum(result.skipped.values())} skipped {result.skipped}" if result.skipped else ""
    print(
        f"render: {len(result.records)} views ({result.rendered} rendered, {result.reused} reused{skipped}) "
        f"-> {out} in {seconds:.1f} s [{cfg.backend}]"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("render", main))
