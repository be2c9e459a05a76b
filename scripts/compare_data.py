#!/usr/bin/env python
"""Compare two ``data/`` trees (e.g. ``dvc repro`` before and after a refactor) by content, not bytes.

Images are decoded and compared pixel by pixel (a PNG's text chunks, which hold resume keys, are ignored);
JSON/JSONL files are parsed and compared row by row, ignoring the keys named by ``--ignore-key`` (resume
keys, timings); safetensors are compared tensor by tensor; other files byte by byte. Exits 0 when the trees
hold the same data, 1 otherwise, printing every difference (at most ``--max-report`` per kind).

    python scripts/compare_data.py /path/to/before/data /path/to/after/data
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".exr"}
DEFAULT_IGNORE = ("key", "seconds", "seconds_total", "created", "timestamp")


def _strip(value: Any, ignore: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v, ignore) for k, v in value.items() if k not in ignore}
    if isinstance(value, list):
        return [_strip(v, ignore) for v in value]
    return value


def _json_rows(path: Path) -> list[Any]:
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return [json.loads(text)]


def compare_file(a: Path, b: Path, ignore: set[str]) -> str | None:
    """None when equal in content, else a one-line reason."""
    suffix = a.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        ia = cv2.imread(str(a), cv2.IMREAD_UNCHANGED)
        ib = cv2.imread(str(b), cv2.IMREAD_UNCHANGED)
        if ia is None or ib is None:
            return "unreadable image"
        if ia.shape != ib.shape or ia.dtype != ib.dtype:
            return f"image shape/dtype {ia.shape}/{ia.dtype} vs {ib.shape}/{ib.dtype}"
        diff = np.count_nonzero(ia != ib)
        return f"{diff} pixel values differ (max |d| {np.abs(ia.astype(float) - ib).max():g})" if diff else None
    if suffix in (".json", ".jsonl"):
        ra, rb = _json_rows(a), _json_rows(b)
        if len(ra) != len(rb):
            return f"{len(ra)} vs {len(rb)} rows"
        for i, (x, y) in enumerate(zip(ra, rb)):
            if _strip(x, ignore) != _strip(y, ignore):
                keys = sorted(
                    k for k in set(x) | set(y) if k not in ignore and x.get(k) != y.get(k)
                ) if isinstance(x, dict) and isinstance(y, dict) else []
                return f"row {i} differs (fields {keys[:8]})"
        return None
    if suffix == ".safetensors":
        from safetensors.numpy import load_file

        ta, tb = load_file(str(a)), load_file(str(b))
        if ta.keys() != tb.keys():
            return f"tensor names differ: {sorted(set(ta) ^ set(tb))[:5]}"
        bad = [k for k in ta if ta[k].shape != tb[k].shape or not np.array_equal(ta[k], tb[k])]
        return f"{len(bad)} tensors differ, e.g. {bad[:3]}" if bad else None
    return None if a.read_bytes() == b.read_bytes() else "bytes differ"


def compare_trees(before: Path, after: Path, ignore: set[str], max_report: int = 20) -> dict[str, Any]:
    fa = {p.relative_to(before).as_posix() for p in before.rglob("*") if p.is_file()}
    fb = {p.relative_to(after).as_posix() for p in after.rglob("*") if p.is_file()}
    report: dict[str, Any] = {
        "only_before": sorted(fa - fb),
        "only_after": sorted(fb - fa),
        "compared": 0,
        "different": {},
        "bytes_differ_content_equal": 0,
    }
    for rel in sorted(fa & fb):
        a, b = before / rel, after / rel
        report["compared"] += 1
        why = compare_file(a, b, ignore)
        if why:
            report["different"][rel] = why
        elif a.read_bytes() != b.read_bytes():
            report["bytes_differ_content_equal"] += 1
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--ignore-key", action="append", default=list(DEFAULT_IGNORE),
                    help="JSON key to ignore wherever it appears (repeatable)")
    ap.add_argument("--max-report", type=int, default=20)
    args = ap.parse_args(argv)
    r = compare_trees(args.before, args.after, set(args.ignore_key))
    per_stage: dict[str, list[int]] = {}
    for rel in (p.relative_to(args.before).as_posix() for p in args.before.rglob("*") if p.is_file()):
        stage = rel.split("/")[0]
        per_stage.setdefault(stage, [0, 0])[0] += 1
    for rel in r["different"]:
        per_stage.setdefault(rel.split("/")[0], [0, 0])[1] += 1
    for stage, (n, bad) in sorted(per_stage.items()):
        print(f"{stage:12s} {n:6d} files  {bad:4d} differ")
    for kind in ("only_before", "only_after"):
        for rel in r[kind][: args.max_report]:
            print(f"{kind}: {rel}")
    for rel, why in list(r["different"].items())[: args.max_report]:
        print(f"differs: {rel}: {why}")
    same = not (r["only_before"] or r["only_after"] or r["different"])
    print(f"{'SAME DATA' if same else 'DIFFERENT'}: {r['compared']} files compared, {len(r['different'])} differ, "
          f"{len(r['only_before'])} only before, {len(r['only_after'])} only after, "
          f"{r['bytes_differ_content_equal']} equal in content but not in bytes (resume keys in files)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
