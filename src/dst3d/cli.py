"""``dst3d``: commands that are not pipeline stages (checking params, inspecting manifests, ...)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from dst3d.config import ConfigError, load_all
from dst3d.schema import ManifestError, read_jsonl


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


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="dst3d", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check-params", help="validate every params.yaml section (types, unknown keys)")
    p.add_argument("params", nargs="?", default="params.yaml")
    p.set_defaults(func=_check_params)
    p = sub.add_parser("inspect", help="summarise a manifest (rows per category, fields)")
    p.add_argument("manifest", type=Path)
    p.set_defaults(func=_inspect)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ManifestError) as err:
        print(f"dst3d: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
