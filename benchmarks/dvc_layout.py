"""DVC with many small files vs tar shards: ``dvc add``, ``status``, ``push`` and ``pull`` timed per layout.

    nice -n 15 python benchmarks/dvc_layout.py --n 10000 [--shard-size 1000] [--scratch /tmp/i-shards]
        [--source /work/main/data/synthesize/images] [--out docs/results/dvc_layout.jsonl]

Procedure (the same for both layouts, documented in docs/layout.md):

1. ``N`` real-sized PNGs: the synthesize stage's images, cycled; each copy gets one pixel set to a seeded
   random value and is re-encoded (``cv2.imencode``, default compression), so no two files share bytes
   and DVC cannot deduplicate them (made once per ``N`` in ``<scratch>/pngs-N``). ``files``:
   ``data/images/<i:06d>.png`` (hard links to those); ``shards``: the same bytes packed into WebDataset
   tars of ``--shard-size`` samples, ``data/images/images-<k:06d>.tar`` with members ``<i:06d>.png``.
2. A fresh DVC repo (``dvc init --no-scm``) with a local directory remote; cache link type is DVC's
   default (``reflink,copy``: a copy on ext4).
3. Timed, each a fresh ``dvc`` process: ``dvc add data/images``; ``dvc status`` (nothing changed);
   ``dvc push`` (to the empty remote); then ``rm -rf .dvc/cache data/images .dvc/tmp`` (a fresh clone's
   state: the .dvc file only) and ``dvc pull``; finally ``dvc status`` again after the pull.

Each result is one JSON line appended to ``--out`` (layout, n, shard_size, bytes, seconds per command).
The scratch repos are removed afterwards (``--keep`` keeps them; the PNG pool is kept for re-runs).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import cv2
import numpy as np

DVC = str(Path(sys.executable).with_name("dvc"))


def make_pngs(source: Path, n: int, seed: int = 0):
    """Yield ``(index, png_bytes)``: source images cycled, one random pixel changed, re-encoded."""
    srcs = sorted(source.rglob("*.png"))
    if not srcs:
        raise SystemExit(f"no PNGs under {source}")
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = cv2.imread(str(srcs[i % len(srcs)]), cv2.IMREAD_UNCHANGED)
        y, x = rng.integers(img.shape[0]), rng.integers(img.shape[1])
        img[y, x] = rng.integers(0, 256, size=img.shape[2:], dtype=np.uint8)
        ok, buf = cv2.imencode(".png", img)
        assert ok
        yield i, buf.tobytes()


def png_pool(scratch: Path, source: Path, n: int) -> Path:
    """The ``n`` PNGs made once per ``n`` and shared by both layouts (``<scratch>/pngs-<n>/<i:06d>.png``)."""
    pool = scratch / f"pngs-{n}"
    if not (pool / "done").is_file():
        shutil.rmtree(pool, ignore_errors=True)
        pool.mkdir(parents=True)
        for i, data in make_pngs(source, n):
            (pool / f"{i:06d}.png").write_bytes(data)
        (pool / "done").touch()
    return pool


def pooled(pool: Path, n: int):
    for i in range(n):
        yield i, (pool / f"{i:06d}.png").read_bytes()


def write_files(dst: Path, pool: Path, n: int) -> int:
    """Hard links to the pool's files: the same bytes as a copy, without rewriting gigabytes."""
    dst.mkdir(parents=True)
    total = 0
    for i in range(n):
        os.link(pool / f"{i:06d}.png", dst / f"{i:06d}.png")
        total += (dst / f"{i:06d}.png").stat().st_size
    return total


def write_shards(dst: Path, pool: Path, n: int, shard_size: int) -> int:
    dst.mkdir(parents=True)
    total = 0
    tar = None
    for i, data in pooled(pool, n):
        if i % shard_size == 0:
            if tar is not None:
                tar.close()
            tar = tarfile.open(dst / f"images-{i // shard_size:06d}.tar", "w", format=tarfile.USTAR_FORMAT)
        info = tarfile.TarInfo(f"{i:06d}.png")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        total += len(data)
    if tar is not None:
        tar.close()
    return total


def dvc(repo: Path, *args: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([DVC, *args], cwd=repo, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"dvc {' '.join(args)} failed in {repo}:\n{proc.stdout}\n{proc.stderr}")
    return dt


def measure(layout: str, n: int, shard_size: int, scratch: Path, source: Path, keep: bool) -> dict:
    repo = scratch / f"repo-{layout}-{n}"
    remote = scratch / f"remote-{layout}-{n}"
    for p in (repo, remote):
        shutil.rmtree(p, ignore_errors=True)
    repo.mkdir(parents=True)
    pool = png_pool(scratch, source, n)
    t0 = time.perf_counter()
    images = repo / "data" / "images"
    nbytes = write_files(images, pool, n) if layout == "files" else write_shards(images, pool, n, shard_size)
    t_make = time.perf_counter() - t0
    n_files = sum(1 for _ in images.iterdir())
    dvc(repo, "init", "--no-scm", "-q")
    dvc(repo, "remote", "add", "-d", "local", str(remote))
    dvc(repo, "config", "core.analytics", "false")
    res = {"layout": layout, "n": n, "shard_size": shard_size if layout == "shards" else None,
           "files": n_files, "mbytes": round(nbytes / 2**20, 1), "make_s": round(t_make, 1)}
    res["add_s"] = dvc(repo, "add", "data/images")
    res["status_s"] = dvc(repo, "status")
    res["push_s"] = dvc(repo, "push")
    for p in (repo / ".dvc" / "cache", images, repo / ".dvc" / "tmp"):
        shutil.rmtree(p, ignore_errors=True)
    res["pull_s"] = dvc(repo, "pull")
    res["status_after_pull_s"] = dvc(repo, "status")
    pulled = sum(1 for _ in images.iterdir())
    assert pulled == n_files, (pulled, n_files)
    res = {k: round(v, 2) if isinstance(v, float) else v for k, v in res.items()}
    res["cpus"] = os.cpu_count()
    if not keep:
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(remote, ignore_errors=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[10000])
    ap.add_argument("--shard-size", type=int, default=1000)
    ap.add_argument("--layouts", nargs="+", default=["shards", "files"], choices=["files", "shards"])
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/i-shards"))
    ap.add_argument("--source", type=Path, default=Path("/work/main/data/synthesize/images"))
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs/results/dvc_layout.jsonl")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    for n in args.n:
        for layout in args.layouts:
            res = measure(layout, n, args.shard_size, args.scratch, args.source, args.keep)
            print(json.dumps(res), flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with args.out.open("a") as f:
                f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
