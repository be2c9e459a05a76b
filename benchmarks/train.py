"""Training throughput benchmark: images/s and the share of time the training loop waits for data.

    python benchmarks/train.py [--images 256] [--px 256] [--epochs 3] [--workers 0 2] [--params params.yaml]
    python benchmarks/train.py --mode augment [--manifest data/synthesize/manifest.jsonl] [--images 512]

Writes a fixture data root of ``--images`` RGB PNGs at ``--px`` pixels (boxes with coloured faces, drawn
with ``dst3d.camera`` like the tests' fixture), then trains the network of ``train.model`` with the
``train.fit`` settings of ``--params`` (the quickstart by default) for each worker count, once decoding every
image every epoch (``cache_mb: 0``) and once with the in-memory patch cache (the default). Reported per run:
images/s and data-wait share (time blocked on the DataLoader / epoch time) averaged over epochs 2.. (epoch 1
includes starting the workers), and the one-off cache build time. Goal: data wait < 10%.

``--mode augment`` times the augmentation pipeline alone, in one process and thread: from the cached
patches (as training and the jittered feature views use them) to the augmented uint8 crop, for ``--images``
images of ``--manifest`` (default: the fixture), with each of the ``augment`` settings listed in
:data:`AUGMENT_VARIANTS` that the installed ``AugmentConfig`` has. Reported: images per CPU second of the
one thread (best of 3 passes; CPU time, so other jobs on the machine hardly move it).
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
    ap.add_argument("--mode", choices=("fit", "augment"), default="fit")
    ap.add_argument("--manifest", default="", help="augment mode: a synthesize manifest to read (default: fixture)")
    args = ap.parse_args()
    if args.mode == "augment":
        return augment_benchmark(args)

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


AUGMENT_VARIANTS: dict[str, dict[str, object]] = {
    "off": {"enabled": False},
    "geometry": {"color": 0.0},
    "geometry+colour (default)": {},
    "colour by albumentations": {"_albumentations_colour": True},
    "+ weather 0.5": {"weather": 0.5},
    "+ occlusion 0.5": {"occlusion": 0.5},
}
"""Augmentation settings timed by ``--mode augment`` (keys an older AugmentConfig lacks are skipped).
``_albumentations_colour``: the default settings with the colour jitter done by ``A.ColorJitter`` (seeded per
image as the nuisances are), the alternative to the hand-written jitter the stage keeps."""


def albumentations_colour(img: np.ndarray, cfg, rng) -> np.ndarray:
    """``dst3d.training.data._color`` with albumentations' ColorJitter (the same ranges, hue off)."""
    import random

    import albumentations as A

    c = cfg.augment.color
    if rng is None or not cfg.augment.enabled or c <= 0:
        return img
    global _JITTER
    if _JITTER is None:
        _JITTER = A.Compose([A.ColorJitter(brightness=c, contrast=c, saturation=c, hue=0.0, p=1.0)])
    _JITTER.set_random_state(rng, random.Random(int(rng.integers(2**63))))
    return _JITTER(image=img)["image"]


_JITTER = None


def augment_benchmark(args: argparse.Namespace) -> int:
    """images/s of the augmentation alone: cached patch -> jittered, colour-jittered, flipped uint8 crop."""
    import cv2

    from dst3d.seeding import derive_seed
    from dst3d.training import data as D

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    fit = dataclasses.replace(load_all(args.params)["train"].fit, workers=0)
    with tempfile.TemporaryDirectory() as tmp:
        if args.manifest:
            manifest = Path(args.manifest)
        else:
            root = make_dataset(Path(tmp) / "data", categories=("car", "chair"), models_per_category=4,
                                views=max(1, args.images // 8), px=args.px, test_models=0)
            manifest = root / "synthesize" / "manifest.jsonl"
        rows = read_manifest(manifest, ImageRecord)
        rows = sorted(rows, key=lambda r: derive_seed(0, "bench", r.image_id))[: args.images]
        cats = sorted({r.category for r in rows})
        samples = samples_from_records(rows, manifest, cats, "image")
        patches = build_cache(samples, fit)
        print(f"{len(samples)} images of {manifest}, {fit.image_size} px crops from {patches.shape[1]} px patches, "
              f"1 process, 1 thread, images per CPU second")
        fields = {f.name for f in dataclasses.fields(fit.augment)}
        hand_colour = D._color
        for name, change in AUGMENT_VARIANTS.items():
            change = dict(change)
            D._color = albumentations_colour if change.pop("_albumentations_colour", False) else hand_colour
            if not set(change) <= fields:
                print(f"{name:>28}: not in this AugmentConfig")
                continue
            cfg = dataclasses.replace(fit, augment=dataclasses.replace(fit.augment, **change))
            ds = D.ImageDataset(samples, cfg, seed=0, train=True, cache=patches,
                                targets={"y": np.zeros(len(samples))}, targets_mirrored={"y": np.ones(len(samples))})
            best = 0.0
            for rep in range(3):
                t = time.process_time()  # CPU time of this one thread: robust to other jobs on the machine
                for i in range(len(samples)):
                    ds[(i, rep)]
                best = max(best, len(samples) / (time.process_time() - t))
            print(f"{name:>28}: {best:8.0f} images/s")
        D._color = hand_colour
    return 0


if __name__ == "__main__":
    sys.exit(main())
