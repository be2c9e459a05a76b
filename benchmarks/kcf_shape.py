"""KCF shape-evidence throughput: rows/s of :func:`dst3d.kcf_shape.shape_features` per worker count.

    python benchmarks/kcf_shape.py [--data data] [--rows 512] [--workers 1 2]

Reads ``--data``/synthesize/manifest.jsonl and ``--data``/align (the quickstart's outputs; without them a
fixture of boxes is written), takes the first ``--rows`` train rows, and times the features of each row's
annotation and its three wrong alternatives (turned around, mirrored, random), as the kcf stage computes them.
Reported: rows/s (each row rasterises 7 distinct silhouettes: its 4 poses and their flips, shared where
they coincide) and whether every worker count gave the same array.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from pose_fixture import make_dataset  # noqa: E402

from dst3d import kcf, kcf_shape  # noqa: E402
from dst3d.schema import ImageRecord, ModelRecord, read_manifest, resolve  # noqa: E402


def run(data: Path, n_rows: int, workers: list[int]) -> None:
    manifest = data / "synthesize" / "manifest.jsonl"
    rows = [r for r in read_manifest(manifest, ImageRecord) if r.split == "train"][:n_rows]
    meshes = {m.model_id: data / m.mesh for m in read_manifest(data / "align" / "manifest.jsonl", ModelRecord)}
    given = np.array([[(r.azimuth, r.elevation, r.theta)] for r in rows])
    poses = np.concatenate([given, kcf.alternative_angles(rows, 0)], 1)
    args = ([resolve(manifest, r.image) for r in rows], [meshes[r.model_id] for r in rows],
            np.array([r.K for r in rows], np.float64), np.array([r.t for r in rows], np.float64),
            [(r.width, r.height) for r in rows], poses, 10.0, (100.0, 200.0))
    print(f"{len(rows)} rows of {manifest}, {poses.shape[1]} poses each; {len({r.model_id for r in rows})} meshes")
    print(f"{'workers':>7} {'rows/s':>8} {'seconds':>8}")
    first, same = None, True
    for w in workers:
        t = time.perf_counter()
        out = kcf_shape.shape_features(*args, workers=w)
        s = time.perf_counter() - t
        print(f"{w:>7} {len(rows) / s:>8.1f} {s:>8.2f}")
        first = out if first is None else first
        same = same and np.array_equal(first, out)
    print("same features for every worker count:", same)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(REPO / "data"))
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()
    data = Path(a.data)
    if (data / "synthesize" / "manifest.jsonl").is_file() and (data / "align" / "manifest.jsonl").is_file():
        run(data, a.rows, a.workers)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        print(f"no quickstart outputs under {data}: a fixture of boxes (48 px) instead")
        run(make_dataset(Path(tmp) / "data", views=max(1, a.rows // 6), px=48), a.rows, a.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
