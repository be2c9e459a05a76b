"""prompts stage: aligned models -> data/prompts/prompts.jsonl (validated prompts) + metrics/prompts.json."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

# Before torch loads OpenMP: spinning worker threads starve each other when the cores are shared (other
# stages, tests, a busy laptop); measured on 2 shared cores: 5 tokens/s spinning vs 37 passive.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Model loading draws progress bars (GGUF dequantisation, weights) that only clutter DVC's log. dst3d's own
# bar over the prompts stays (dst3d.progress): with DST3D_PROGRESS set, it no longer obeys TQDM_DISABLE.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
if "TQDM_DISABLE" not in os.environ:
    os.environ["TQDM_DISABLE"] = "1"
    os.environ.setdefault("DST3D_PROGRESS", "auto")

from dst3d import atomic
from dst3d.errors import run_stage
from dst3d.params import ConfigError, load_stage
from dst3d.prompts.pipeline import run
from dst3d.schema import ModelRecord, read_manifest, write_json, write_jsonl


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--manifest", default="data/align/manifest.jsonl")
    ap.add_argument("--out", default="data/prompts")
    ap.add_argument("--metrics", default="metrics/prompts.json")
    args = ap.parse_args(argv)

    base, cfg = load_stage("prompts", args.params)
    models = [m for m in read_manifest(args.manifest, ModelRecord) if m.category in base.categories]
    if not models:
        raise ConfigError(f"{args.manifest}: no aligned models in base.categories {list(base.categories)}")
    rows, metrics = run(models, cfg, base.seed)
    with atomic.staged_dir(args.out) as staging:
        write_jsonl(staging / "prompts.jsonl", [dataclasses.asdict(r) for r in rows])
    write_json(args.metrics, metrics)

    div = metrics["diversity"] or {}
    print(
        f"prompts: {len(rows)} prompts for {len(models)} models ({cfg.backend}) -> {args.out}; "
        f"validity {metrics['validity_rate']:.2f}, fallback {metrics['fallback_count']}, "
        f"dropped {metrics['outcomes']['dropped']}, diversity {_fmt(div.get('prompts'))} vs "
        f"{div.get('baseline', 'template')} {_fmt(div.get(div.get('baseline', ''), None))}, "
        f"{metrics['timing']['wall_s']:.1f} s"
    )
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    sys.exit(run_stage("prompts", main))
