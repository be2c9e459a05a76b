"""Benchmark the prompts stage's LLM backend on CPU: prompts/s and tokens/s per batch size.

Runs the configured ``llm`` backend (default SmolLM2-135M-Instruct GGUF) on synthetic requests for the
PASCAL3D+ categories, exactly as the stage builds them, and reports raw generation speed (every reply
counted, valid or not) plus the share that passes validation. Model loading is timed separately.

    PYTHONPATH=src python benchmarks/prompts.py --prompts 32 --batch-sizes 1 8 16 32 \\
        --out metrics/bench_prompts.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace

# As stages/prompts.py: measure what the stage runs (passive OpenMP waits), without progress bars.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch

from dst3d.params import PASCAL3D_CATEGORIES, load_stage
from dst3d.prompts import make_validator
from dst3d.prompts.generate import make_jobs, make_request
from dst3d.prompts.llm import LLMBackend
from dst3d.schema import ModelRecord, write_json

COLOURS = ("red", "blue", "white", "black", "green", "silver", "yellow", "brown")


def synthetic_models(n: int) -> list[ModelRecord]:
    """``n`` models cycling through the categories, each with a colour keyword."""
    return [
        ModelRecord(
            model_id=f"bench_{i:03d}",
            category=PASCAL3D_CATEGORIES[i % len(PASCAL3D_CATEGORIES)],
            source="builtin",
            mesh="m.obj",
            keywords=(COLOURS[i % len(COLOURS)],),
        )
        for i in range(n)
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--prompts", type=int, default=32, help="requests per batch-size setting")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16, 32])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--out", default="", help="also write the results as JSON here")
    args = ap.parse_args(argv)

    base, cfg = load_stage("prompts", args.params)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    backend = LLMBackend(cfg.llm, cfg.sampling)
    load_s = time.perf_counter() - t0
    validator = make_validator(cfg)
    pcfg = replace(cfg, prompts_per_model=1)
    jobs = make_jobs(synthetic_models(args.prompts), pcfg)
    requests = [make_request(j, pcfg, base.seed, 1) for j in jobs]

    backend.generate(requests[:2])  # warm-up: first-call allocations are not generation speed
    results = []
    for batch_size in args.batch_sizes:
        backend.cfg = replace(cfg.llm, batch_size=batch_size)
        t = time.perf_counter()
        out = backend.generate(requests)
        dt = time.perf_counter() - t
        tokens = sum(c.n_tokens for c in out)
        valid = sum(
            validator.check(c.text, j.terms, finished=c.finished).ok for c, j in zip(out, jobs, strict=True)
        )
        results.append(
            {
                "batch_size": batch_size,
                "prompts": len(out),
                "seconds": round(dt, 2),
                "prompts_per_s": round(len(out) / dt, 3),
                "tokens_per_s": round(tokens / dt, 1),
                "mean_new_tokens": round(tokens / len(out), 1),
                "valid_share": round(valid / len(out), 3),
            }
        )
        print(json.dumps(results[-1]), flush=True)

    report = {
        "model": cfg.llm.model,
        "gguf_file": cfg.llm.gguf_file,
        "max_new_tokens": cfg.sampling.max_new_tokens,
        "load_s": round(load_s, 2),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "results": results,
    }
    if args.out:
        write_json(args.out, report)
    best = max(results, key=lambda r: r["prompts_per_s"])
    print(
        f"prompts benchmark: load {load_s:.1f} s; best batch {best['batch_size']}: "
        f"{best['prompts_per_s']:.2f} prompts/s, {best['tokens_per_s']:.1f} tokens/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
