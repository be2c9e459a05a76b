"""Write and read throughput of the storage layouts: loose files vs webdataset vs plain ``tarfile``.

    nice -n 15 PYTHONPATH=src python benchmarks/layout_io.py [--n 2000] [--shard-size 1000] [--reads 300]
        [--source /work/main/data/synthesize/images] [--scratch /tmp/i-shards/io]

The PNG bytes of ``--n`` real images (the synthesize stage's) are held in memory, then:

- **write**: ``files`` = one ``dst3d.atomic.write_bytes`` per image (temp + rename, as the stages write);
  ``tarfile`` = ``TarFile.addfile`` into shards of ``--shard-size`` members; ``webdataset`` =
  ``wds.TarWriter`` (one sample = one image) into the same shards; ``dst3d.layout.pack`` = what the stages
  run (TarWriter + a header scan for the offsets + SHA-256 index + rename) from the loose files.
- **random read** of ``--reads`` members chosen at random: ``files`` = ``read_bytes``; ``layout`` =
  ``dst3d.layout.read_bytes`` (index + seek + SHA-256 check); ``tarfile open+getmember`` = open the shard
  and look the member up each time (a reader without an index; tarfile scans the headers); ``tarfile
  cached`` = one open ``TarFile`` per shard, scanned once; ``webdataset`` = iterate the shard until the key
  (webdataset has no random access: it streams).
- **sequential read** of everything: ``files``, ``layout`` (member by member), ``webdataset`` (streaming).

Page cache warm (the files were just written; dropping caches would disturb the machine's other users).
Best of ``--repeat``; prints a markdown table.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import tarfile
import time
from pathlib import Path

import webdataset as wds

from dst3d import atomic, layout


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--shard-size", type=int, default=1000)
    ap.add_argument("--reads", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--source", type=Path, default=Path("/work/main/data/synthesize/images"))
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/i-shards/io"))
    args = ap.parse_args()
    srcs = sorted(args.source.rglob("*.png"))[: args.n]
    blobs = [p.read_bytes() for p in srcs]
    keys = [f"img{i:06d}" for i in range(len(blobs))]
    mb = sum(map(len, blobs)) / 2**20
    shutil.rmtree(args.scratch, ignore_errors=True)
    root = args.scratch
    rows: list[tuple[str, str, float, str]] = []

    def chunks():
        for k in range(0, len(blobs), args.shard_size):
            yield k // args.shard_size, range(k, min(k + args.shard_size, len(blobs)))

    def w_files():
        d = root / "files"
        shutil.rmtree(d, ignore_errors=True)
        for i, b in enumerate(blobs):
            atomic.write_bytes(d / "views" / f"{keys[i]}.png", b)

    def w_tarfile():
        d = root / "tarfile"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        for k, idx in chunks():
            with tarfile.open(d / f"s-{k:06d}.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
                for i in idx:
                    info = tarfile.TarInfo(f"{keys[i]}.png")
                    info.size = len(blobs[i])
                    tar.addfile(info, io.BytesIO(blobs[i]))

    def w_wds():
        d = root / "wds"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        for k, idx in chunks():
            with open(d / f"s-{k:06d}.tar", "wb") as fh, wds.TarWriter(fh, mtime=0, encoder=False) as tw:
                for i in idx:
                    tw.write({"__key__": keys[i], "png": blobs[i]})

    def w_pack():
        w_files()  # the stages pack from the loose files they wrote
        d = root / "files"
        t0 = time.perf_counter()
        samples = [(keys[i], {"png": d / "views" / f"{keys[i]}.png"}) for i in range(len(blobs))]
        layout.pack(d, samples, "s", args.shard_size)
        return time.perf_counter() - t0

    writers = (("files (atomic write per image)", w_files), ("tarfile", w_tarfile), ("webdataset TarWriter", w_wds))
    for name, fn in writers:
        t = best(fn, args.repeat)
        rows.append(("write", name, t, f"{len(blobs) / t:,.0f} img/s, {mb / t:,.0f} MB/s"))
    t = min(w_pack() for _ in range(args.repeat))
    rows.append(("write", "dst3d.layout.pack (after the loose write)", t, f"{len(blobs) / t:,.0f} img/s"))
    w_files()  # loose files again, for the read side

    rng = random.Random(0)
    picks = [rng.randrange(len(blobs)) for _ in range(args.reads)]
    shard_of = {i: k for k, idx in chunks() for i in idx}
    packed = root / "packed"
    shutil.rmtree(packed, ignore_errors=True)
    shutil.copytree(root / "files", packed)
    layout.pack(packed, [(keys[i], {"png": packed / "views" / f"{keys[i]}.png"}) for i in range(len(blobs))], "s",
                args.shard_size)

    def r_files():
        for i in picks:
            assert (root / "files" / "views" / f"{keys[i]}.png").read_bytes() == blobs[i]

    def r_layout():
        layout._index.cache_clear()  # count the index loads too
        for i in picks:
            assert layout.read_bytes(f"{packed}/shards/s-{shard_of[i]:06d}.tar#{keys[i]}.png") == blobs[i]

    def r_tar_open():
        for i in picks:
            with tarfile.open(root / "tarfile" / f"s-{shard_of[i]:06d}.tar") as tar:
                assert tar.extractfile(f"{keys[i]}.png").read() == blobs[i]

    def r_tar_cached():
        open_tars: dict[int, tarfile.TarFile] = {}
        for i in picks:
            k = shard_of[i]
            if k not in open_tars:
                open_tars[k] = tarfile.open(root / "tarfile" / f"s-{k:06d}.tar")
                open_tars[k].getmembers()
            assert open_tars[k].extractfile(f"{keys[i]}.png").read() == blobs[i]
        for t in open_tars.values():
            t.close()

    wds_picks = picks[: max(1, args.reads // 10)]  # streaming to a member is slow: a tenth of the reads

    def r_wds():
        for i in wds_picks:
            url = str(root / "wds" / f"s-{shard_of[i]:06d}.tar")
            for sample in wds.WebDataset(url, shardshuffle=False):
                if sample["__key__"] == keys[i]:
                    assert sample["png"] == blobs[i]
                    break

    for name, fn, n in (
        ("files", r_files, len(picks)),
        ("dst3d.layout.read_bytes (index + seek + sha256)", r_layout, len(picks)),
        ("tarfile open+getmember per read", r_tar_open, len(picks)),
        ("tarfile, one open TarFile per shard", r_tar_cached, len(picks)),
        ("webdataset (stream to the key)", r_wds, len(wds_picks)),
    ):
        t = best(fn, args.repeat)
        rows.append(("random read", name, t / n * 1e3, f"{n / t:,.0f} reads/s"))

    def s_files():
        for i in range(len(blobs)):
            (root / "files" / "views" / f"{keys[i]}.png").read_bytes()

    def s_layout():
        for i in range(len(blobs)):
            layout.read_bytes(f"{packed}/shards/s-{shard_of[i]:06d}.tar#{keys[i]}.png")

    def s_wds():
        urls = [str(p) for p in sorted((root / "wds").glob("*.tar"))]
        assert sum(1 for _ in wds.WebDataset(urls, shardshuffle=False)) == len(blobs)

    for name, fn in (("files", s_files), ("dst3d.layout.read_bytes", s_layout), ("webdataset stream", s_wds)):
        t = best(fn, args.repeat)
        rows.append(("sequential read", name, t, f"{len(blobs) / t:,.0f} img/s, {mb / t:,.0f} MB/s"))

    print(f"{len(blobs)} PNGs, {mb:.0f} MB, shards of {args.shard_size}; best of {args.repeat}\n")
    print("| operation | method | time | throughput |\n|---|---|---|---|")
    for op, name, t, extra in rows:
        unit = "ms/read" if op == "random read" else "s"
        print(f"| {op} | {name} | {t:.3f} {unit} | {extra} |")


if __name__ == "__main__":
    main()
