"""Training throughput benchmark: images/s and the share of time the training loop waits for data.

    python benchmarks/train.py [--images 256] [--px 256] [--epochs 3] [--workers 0 2] [--params params.yaml]

Writes a fixture data root of ``--images`` RGB PNGs at ``--px`` pixels (boxes with coloured faces, drawn
with ``dst3d.camera`` like the tests' fixture), then trains the network of ``train.model`` with the
``train.fit`` settings of ``--params`` (the quickstart by default) for each worker count, once decoding every
image every epoch (``cache_mb: 0``) and once with the in-memory patch cache (the default). Reported per run:
images/s and data-wait share (time blocked on the DataLoader / epoch time) averaged over epochs 2.. (epoch 1
includes starting the workers), and the one-off cache build time. Goal: data wait < 10%.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from pose_fixture import make_dataset  # noqa: E402

from dst3d.params import load_all  # noqa: E402
from dst3d.schema import ImageRecord, read_manifest  # noqa: E402
from dst3d.training import loop  # noqa: E402
from dst3d.training.data import build_cache, samples_from_records  # noqa: E402
from dst3d.training.pose import POSE, build_model  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default=str(REPO / "params.yaml"))
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--px", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = the stage's rule)")
    args = ap.parse_args()

    typed = load_all(args.params)
    base_fit, model_cfg = typed["train"].fit, typed["train"].model
    with tempfile.TemporaryDirectory() as tmp:
        views = max(1, args.images // 8)
        t0 = time.perf_counter()
        root = make_dataset(Path(tmp) / "data", categories=("car", "chair"), models_per_category=4, views=views,
                            px=args.px, test_models=0)
        manifest = root / "synthesize" / "manifest.jsonl"
        rows = read_manifest(manifest, ImageRecord)
        samples = samples_from_records(rows, manifest, ("car", "chair"), "image")
        print(f"fixture: {len(samples)} PNGs at {args.px} px written in {time.perf_counter() - t0:.1f} s; "
              f"{model_cfg.arch} width {model_cfg.width} at {base_fit.image_size} px, batch {base_fit.batch_size}, "
              f"{args.epochs} epochs, {torch.get_num_threads()} torch threads available")
        print(f"{'workers':>7} {'cache':>5} {'threads':>7} {'images/s':>9} {'data wait':>9} {'cache build s':>13}")
        for workers in args.workers:
            for cache_mb in (0, base_fit.cache_mb or 2048):
                fit = dataclasses.replace(base_fit, workers=workers, epochs=args.epochs, cache_mb=cache_mb,
                                          threads=args.threads)
                threads = loop.auto_threads(fit)
                torch.set_num_threads(threads)
                t = time.perf_counter()
                cache = build_cache(samples, fit)
                build_s = time.perf_counter() - t if cache is not None else 0.0
                model = build_model(model_cfg, 2, seed=0)
                hist = loop.fit(POSE, model, samples, fit, seed=0, cache=cache)
                later = hist[1:] or hist
                ips = float(np.mean([h["images_per_s"] for h in later]))
                wait = float(np.mean([h["data_wait"] for h in later]))
                print(f"{workers:>7} {'on' if cache is not None else 'off':>5} {threads:>7} {ips:>9.0f} "
                      f"{wait:>9.1%} {build_s:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
