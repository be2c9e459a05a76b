"""align stage: models from every source -> data/align/ (canonical-frame meshes + manifest.jsonl)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dst3d import atomic
from dst3d.assets import align, meshio
from dst3d.errors import run_stage
from dst3d.params import load_stage
from dst3d.schema import resolve, write_json, write_manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="data/align")
    ap.add_argument("--plots", default="metrics/plots/align")
    ap.add_argument("--metrics", default="metrics/align.json")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    base, cfg = load_stage("align", args.params)
    candidates = align.discover(base, cfg)  # every file, id and axes table checked before any work
    with atomic.staged_dir(args.out) as staging:
        rows, metrics = align.align_all(candidates, cfg, staging, stage=Path(args.out).name)
        write_manifest(staging / "manifest.jsonl", rows)
    # Always something in the declared plots folder: git cannot carry an empty folder, so a clone would
    # see the output as deleted when the contact sheet is off.
    counts = "".join(f"{cat},{n}\n" for cat, n in sorted(metrics["per_category"].items()))
    atomic.write_text(Path(args.plots) / "models_per_category.csv", "category,models\n" + counts)
    if cfg.contact_sheet:
        from dst3d.assets.contact_sheet import write_contact_sheet

        items = [(f"{r.category} {r.model_id}", *meshio.load_mesh(resolve(args.out, r.mesh))) for r in rows]
        write_contact_sheet(items, Path(args.plots) / "contact_sheet.png")
    metrics["seconds_total"] = round(time.perf_counter() - t0, 3)
    write_json(args.metrics, metrics)
    print(
        f"align: {len(rows)} models in {len(metrics['per_category'])} categories -> {args.out} "
        f"({metrics['seconds_total']:.1f} s)"
    )
    if metrics["skipped_count"]:  # align.on_error: skip
        first = metrics["skipped"][0]
        print(
            f"align: skipped {metrics['skipped_count']} broken file(s), listed in {args.metrics} "
            f"(first: {first['file']}: {first['reason']})",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("align", main))
