"""train stage: the rows train.data picks -> data/train (model.safetensors, predictions) + metrics, plots."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from dst3d.errors import run_stage


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    for stage in ("render", "synthesize", "kcf"):
        ap.add_argument(f"--{stage}", default=f"data/{stage}")
    ap.add_argument("--out", default="data/train")
    ap.add_argument("--plots", default="metrics/plots/train")
    ap.add_argument("--metrics", default="metrics/train.json")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    import torch

    from dst3d import atomic, tracking
    from dst3d import train as tr
    from dst3d.models.io import save_model
    from dst3d.params import load_all, to_dict
    from dst3d.schema import write_json, write_jsonl
    from dst3d.seeding import derive_seed
    from dst3d.training.data import samples_from_records
    from dst3d.training.loop import auto_threads
    from dst3d.training.pose import build_model

    typed = load_all(args.params)
    base, cfg, track = typed["base"], typed["train"], typed["tracking"]
    torch.set_num_threads(auto_threads(cfg.fit))
    cats = list(base.categories)
    manifests = {s: Path(getattr(args, s)) / "manifest.jsonl" for s in ("render", "synthesize", "kcf")}
    rows, manifest, field = tr.training_rows(cfg, manifests)
    train_samples = samples_from_records(rows, manifest, cats, field)
    sets, notes = tr.evaluation_sets(cfg, manifests["synthesize"], cats, base.seed)
    seed = derive_seed(base.seed, "train")
    model = build_model(cfg.model, len(cats), seed)
    params = {"base": to_dict(base), "train": to_dict(cfg)}  # train.model/fit: training: merged with the overrides
    with tracking.start_run(track, "train", params) as run:
        run.log_dataset(manifest.parent.name, manifest.parent, "training", rows=len(train_samples),
                        split=cfg.train_split)
        extras = {e.name: e for e in cfg.eval_sets}
        for name, samples in sets.items():  # test and ood from data/synthesize, then train.eval_sets
            if name in extras:
                e = extras[name]
                run.log_dataset(name, e.path, "evaluation", rows=len(samples), split=e.split, format=e.format)
            else:
                run.log_dataset(name, manifests["synthesize"].parent, "evaluation", rows=len(samples),
                                split=cfg.test_split if name == "test" else notes["ood_source"])
        result = tr.train_and_evaluate(model, train_samples, sets, cfg, seed, on_epoch=lambda r: run.log_metrics(
            tracking.epoch_metrics(r, "train", list(sets)), step=r["epoch"]))
        with atomic.staged_dir(args.out) as staging:
            save_model(staging / "model.safetensors", model, {"categories": cats, "data": cfg.data})
            write_jsonl(staging / "predictions.jsonl", result.prediction_rows(cats))
            write_json(staging / "report.json", {**result.summaries, "notes": notes})
        tr.write_plots(Path(args.plots), result, cats)
        metrics = {**result.metrics(), "n_train": len(train_samples),
                   "seconds_total": round(time.perf_counter() - t0, 2)}
        write_json(args.metrics, metrics)
        # final values end their per-epoch curves (test/acc_pi_6, …); final_loss is train/loss's last step
        run.log_metrics({k: v for k, v in metrics.items() if k != "final_loss"})
        run.log_artifact(args.plots, "plots")
        run.log_artifact(args.metrics)
        run.log_artifact(Path(args.out) / "report.json")
        if track.log_model:
            run.log_artifact(Path(args.out) / "model.safetensors", "model")
    summary = ", ".join(f"{k} Acc@pi/6 {v['acc_pi_6']}" for k, v in metrics.items() if isinstance(v, dict))
    print(f"train: {cfg.data}, {len(train_samples)} images, {cfg.fit.epochs} epochs; {summary} -> {args.out} "
          f"({metrics['seconds_total']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_stage("train", main))
