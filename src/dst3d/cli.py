"""``dst3d``: commands that are not pipeline stages (checking params, inspecting manifests, ...)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from dst3d.errors import REPORTED, debug_requested, one_line
from dst3d.params import load_all
from dst3d.schema import read_jsonl


def _check_params(args: argparse.Namespace) -> int:
    typed = load_all(args.params)
    print(f"{args.params}: OK ({', '.join(typed)})")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    rows = read_jsonl(args.manifest)
    print(f"{args.manifest}: {len(rows)} rows")
    if rows and "category" in rows[0]:
        for cat, n in sorted(Counter(r["category"] for r in rows).items()):
            print(f"  {cat:12s} {n}")
    if rows:
        print("fields:", ", ".join(sorted(rows[0])))
    return 0


def _make_tiny_controlnet(args: argparse.Namespace) -> int:
    from dst3d.synthesize.tiny import folder_size, make_tiny_controlnet

    paths = make_tiny_controlnet(args.dir, seed=args.seed, sdxl=args.sdxl)
    print(f"tiny ControlNet pipeline ({folder_size(args.dir) / 1e6:.1f} MB) in {args.dir}; use it with:")
    flags = " ".join(f"-S synthesize.controlnet.{k}={v}" for k, v in paths.items())
    sdxl = " -S synthesize.controlnet.pipeline=sdxl" if args.sdxl else ""
    print(f"  dvc exp run -S synthesize.backend=controlnet {flags}{sdxl} -S synthesize.controlnet.resolution=64 "
          "-S synthesize.controlnet.steps=2")
    return 0


def _export(args: argparse.Namespace) -> int:
    from dst3d.export import FORMATS

    kwargs = {"unit_scale": args.unit_scale} if args.format == "bop" else {}
    summary = FORMATS[args.format](args.manifest, args.out, mode=args.mode, overwrite=args.overwrite, **kwargs)
    print(f"{args.format}: {summary['images']} images -> {args.out}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from dst3d.evaluate.formats import Filters
    from dst3d.evaluate.run import evaluate, summary_text
    from dst3d.training.loop import auto_threads
    from dst3d.training.params import FitConfig

    params = args.params if args.params is not None else ("params.yaml" if Path("params.yaml").is_file() else "")
    fit = load_all(params)["train"].fit if params else FitConfig()
    overrides = {"image_size": args.image_size, "batch_size": args.batch_size, "device": args.device,
                 "workers": args.workers}
    set_now = {k: v for k, v in overrides.items() if v is not None}
    torch.set_num_threads(auto_threads(dataclasses.replace(fit, **set_now)))
    result = evaluate(
        args.model, args.data, fmt=args.format, split=args.split, out=args.out, name=args.name, fit=fit,
        overrides=overrides, filters=Filters.including([x for s in args.include for x in s.split(",") if x]),
        categories=[c for c in args.categories.split(",") if c] if args.categories else None, worst=args.worst)
    print(summary_text(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="dst3d", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check-params", help="validate every params.yaml section (types, unknown keys)")
    p.add_argument("params", nargs="?", default="params.yaml")
    p.set_defaults(func=_check_params)
    p = sub.add_parser("inspect", help="summarise a manifest (rows per category, fields)")
    p.add_argument("manifest", type=Path)
    p.set_defaults(func=_inspect)
    p = sub.add_parser("make-tiny-controlnet", help="write a tiny random SD1.5-shaped ControlNet pipeline (tests)")
    p.add_argument("dir", type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sdxl", action="store_true", help="SDXL-shaped instead (for synthesize.controlnet.pipeline=sdxl)")
    p.set_defaults(func=_make_tiny_controlnet)
    p = sub.add_parser("export", help="export a manifest as COCO, Hugging Face imagefolder or BOP")
    p.add_argument("format", choices=["coco", "hf", "bop"])
    p.add_argument("manifest", type=Path, nargs="?", default=Path("data/synthesize/manifest.jsonl"))
    p.add_argument("out", type=Path, nargs="?", default=None, help="default: exports/<format>")
    p.add_argument("--mode", choices=["copy", "hardlink", "symlink"], default="copy", help="how image files are placed")
    p.add_argument("--unit-scale", type=float, default=1000.0, help="bop: millimetres per canonical unit")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it is not empty (swapped in when complete)")
    p.set_defaults(func=_export)
    p = sub.add_parser("evaluate", help="evaluate a trained model on a manifest, PASCAL3D+, ObjectNet3D or ImageNet3D",
                       description="Evaluate a model file (data/train/model.safetensors) on a set; docs/evaluate.md.")
    p.add_argument("model", type=Path, help="a .safetensors model written by the train stage")
    p.add_argument("data", type=Path, help="a manifest .jsonl (or stage folder) or a benchmark folder")
    p.add_argument("--format", choices=["auto", "manifest", "pascal3d", "objectnet3d", "imagenet3d"], default="auto")
    p.add_argument("--split", default="", help="e.g. val, pascal_val (PASCAL3D+), test (manifest); '' = all")
    p.add_argument("--out", type=Path, default=None, help="default: evaluate/<name>")
    p.add_argument("--name", default="", help="the set's name in the outputs (default: the folder name + split)")
    p.add_argument("--include", action="append", default=[], metavar="truncated,occluded,difficult,coarse",
                   help="also evaluate these objects (PASCAL3D+/ObjectNet3D; default: none of them)")
    p.add_argument("--params", default=None, help="input settings from its train.fit (default: ./params.yaml "
                   "if present; '' = built-in defaults); the model's own metadata wins when it records them")
    p.add_argument("--image-size", type=int, default=None, help="override the network input size")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N | auto")
    p.add_argument("--workers", type=int, default=None, help="image decoding processes")
    p.add_argument("--categories", default="", help="comma-separated label order, for models whose metadata "
                   "lacks it")
    p.add_argument("--worst", type=int, default=24, help="images in worst.png")
    p.set_defaults(func=_evaluate)
    return ap


def main(argv: list[str] | None = None) -> int:
    """``dst3d <command> ...``; a params/data error prints ``dst3d <command>: <message>`` (``--debug``: traceback)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    args = build_parser().parse_args([a for a in argv if a != "--debug"])
    if args.command == "export" and args.out is None:
        args.out = Path("exports") / args.format
    try:
        return args.func(args)
    except REPORTED as err:
        if debug:
            raise
        print(f"dst3d {args.command}: {one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
