"""dst3d.layout: shards written in the WebDataset convention, one accessor for both layouts, bad input refused."""

from __future__ import annotations

import dataclasses
import json
import tarfile

import cv2
import numpy as np
import pytest
import webdataset as wds

from dst3d import layout
from dst3d.layout import LayoutError
from dst3d.schema import ImageRecord, read_manifest, write_manifest


def _png(seed: int, channels: int = 3) -> bytes:
    img = np.random.default_rng(seed).integers(0, 256, (8, 10, channels), dtype=np.uint8)
    return cv2.imencode(".png", img)[1].tobytes()


@pytest.fixture
def packed(tmp_path):
    """A stage folder with 5 samples of two files each, packed into shards of 2 samples."""
    stage = tmp_path / "data" / "render"
    samples = []
    for i in range(5):
        files = {}
        for j, kind in enumerate(("rgb", "mask")):
            f = stage / "views" / "car" / f"car_{i:04d}_{kind}.png"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(_png(10 * i + j))
            files[f"{kind}.png"] = f
        samples.append((f"car_{i:04d}", files))
    originals = {f: f.read_bytes() for _, fs in samples for f in fs.values()}
    refs = layout.pack(stage, samples, "render", shard_size=2)
    return stage, refs, originals


def test_pack_writes_webdataset_shards_and_removes_the_loose_files(packed):
    stage, refs, originals = packed
    shards = sorted((stage / "shards").glob("*.tar"))
    assert [s.name for s in shards] == ["render-000000.tar", "render-000001.tar", "render-000002.tar"]
    assert not (stage / "views").exists()  # loose files and their empty folders are gone
    assert refs[next(iter(originals))] == "render/shards/render-000000.tar#car_0000.rgb.png"
    # webdataset's own reader groups the members into samples: the convention holds
    samples = list(wds.WebDataset([str(s) for s in shards], shardshuffle=False))
    assert [s["__key__"] for s in samples] == [f"car_{i:04d}" for i in range(5)]
    assert sorted(k for k in samples[0] if not k.startswith("__")) == ["mask.png", "rgb.png"]
    # every member reads back byte-identical through the one accessor, given the resolved reference
    root = stage.parent
    for file, ref in refs.items():
        assert layout.read_bytes(root / ref) == originals[file]
    with tarfile.open(shards[0]) as tar:  # a plain tar, readable by any tool
        assert tar.getnames() == ["car_0000.mask.png", "car_0000.rgb.png", "car_0001.mask.png", "car_0001.rgb.png"]


def test_imread_decodes_members_like_cv2_imread_decodes_files(packed, tmp_path):
    stage, refs, originals = packed
    for file, ref in list(refs.items())[:3]:
        loose = tmp_path / "loose.png"
        loose.write_bytes(originals[file])
        for flags in (cv2.IMREAD_UNCHANGED, cv2.IMREAD_GRAYSCALE, cv2.IMREAD_COLOR):
            np.testing.assert_array_equal(layout.imread(stage.parent / ref, flags), cv2.imread(str(loose), flags))
    assert layout.imread(tmp_path / "missing.png") is None  # a loose file keeps cv2's behaviour


def test_pack_is_reproducible_and_reuses_finished_shards(packed):
    stage, refs, _ = packed
    shard = stage / "shards" / "render-000001.tar"
    before = {p.name: p.read_bytes() for p in (stage / "shards").iterdir()}
    restored = layout.unpack(stage)
    assert restored == 10 and all(f.is_file() for f in refs)
    mtime = shard.stat().st_mtime_ns
    samples = [(k, {e: stage / "views" / "car" / f"{k}_{e.split('.')[0]}.png" for e in ("rgb.png", "mask.png")})
               for k in (f"car_{i:04d}" for i in range(5))]
    (stage / "shards" / "render-000002.tar.partial").write_bytes(b"killed mid-write")
    layout.unpack(stage)  # drops the killed run's partial shard
    assert not (stage / "shards" / "render-000002.tar.partial").exists()
    # one sample changed: its shard is rewritten, the others are reused untouched
    (stage / "views" / "car" / "car_0000_rgb.png").write_bytes(_png(99))
    layout.pack(stage, samples, "render", shard_size=2)
    assert shard.stat().st_mtime_ns == mtime
    after = {p.name: p.read_bytes() for p in (stage / "shards").iterdir()}
    assert after["render-000000.tar"] != before["render-000000.tar"]
    assert {k: v for k, v in after.items() if "000000" not in k} == {
        k: v for k, v in before.items() if "000000" not in k
    }
    # the same files packed again give the same bytes (mtime 0, no owner): DVC sees no change
    layout.unpack(stage)
    (stage / "shards" / "render-000000.tar").unlink()
    layout.pack(stage, samples, "render", shard_size=2)
    assert (stage / "shards" / "render-000000.tar").read_bytes() == after["render-000000.tar"]


def test_a_truncated_shard_fails_naming_shard_and_member(packed):
    stage, refs, _ = packed
    shard = stage / "shards" / "render-000002.tar"
    data = shard.read_bytes()
    ref = refs[stage / "views" / "car" / "car_0004_rgb.png"]
    entry = layout.shard_index(shard)["car_0004.rgb.png"]
    shard.write_bytes(data[: entry.offset + 5])
    with pytest.raises(LayoutError, match=r"render-000002\.tar#car_0004\.rgb\.png: shard truncated") as err:
        layout.read_bytes(stage.parent / ref)
    assert "\n" not in str(err.value)


def test_a_corrupt_member_fails_naming_shard_and_member(packed):
    stage, refs, _ = packed
    shard = stage / "shards" / "render-000001.tar"
    entry = layout.shard_index(shard)["car_0003.mask.png"]
    data = bytearray(shard.read_bytes())
    data[entry.offset + entry.size // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(LayoutError, match=r"render-000001\.tar#car_0003\.mask\.png: shard corrupt"):
        layout.imread(stage.parent / "render/shards/render-000001.tar#car_0003.mask.png")
    with pytest.raises(LayoutError, match=r"render-000001\.tar: no member 'car_0009\.rgb\.png'"):
        layout.read_bytes(stage.parent / "render/shards/render-000001.tar#car_0009.rgb.png")
    shard.unlink()
    with pytest.raises(LayoutError, match=r"render-000001\.tar: shard missing"):
        layout.read_bytes(stage.parent / "render/shards/render-000001.tar#car_0003.mask.png")


def _row(i: int, rgb: str) -> ImageRecord:
    eye = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    return ImageRecord(image_id=f"car_{i:04d}", category="car", model_id="m", source="builtin", split="train",
                       azimuth=0.0, elevation=0.0, theta=0.0, distance=2.5, K=eye, R=eye, t=(0.0, 0.0, 2.5),
                       width=8, height=8, rgb=rgb)


def test_a_manifest_mixing_layouts_is_refused_by_name(tmp_path):
    manifest = tmp_path / "data" / "render" / "manifest.jsonl"
    mixed = [_row(0, "render/views/car_0000_rgb.png"), _row(1, "render/shards/r-000000.tar#car_0001.rgb.png")]
    write_manifest(manifest, mixed)
    with pytest.raises(LayoutError, match=r"manifest\.jsonl: field 'rgb' mixes layouts: row 1 \(car_0000\) is a"):
        read_manifest(manifest, ImageRecord)
    # one layout per field is fine, also when two fields differ (synthesize in shards over files renders)
    rows = [_row(i, f"render/shards/r-000000.tar#car_{i:04d}.rgb.png") for i in range(2)]
    write_manifest(manifest, [dataclasses.replace(r, mask=f"render/views/{i}.png") for i, r in enumerate(rows)])
    assert len(read_manifest(manifest, ImageRecord)) == 2
    assert json.loads(manifest.read_text().splitlines()[0])["rgb"].endswith(".tar#car_0000.rgb.png")


def test_finish_with_files_keeps_files_and_drops_old_shards(packed):
    stage, refs, _ = packed
    layout.unpack(stage)
    samples = [("x", {"rgb.png": f}) for f in refs]
    assert layout.finish(stage, "files", samples, "render", 2) == {}
    assert not (stage / "shards").exists() and all(f.is_file() for f in refs)


def test_long_member_names_round_trip(tmp_path):
    """Object ids can be long (ShapeNet/Objaverse hashes): names past tar's 100 characters still work."""
    stage = tmp_path / "data" / "synthesize"
    key = "car_" + "0123456789abcdef" * 6 + "_0000_s00"
    f = stage / "images" / f"{key}.png"
    f.parent.mkdir(parents=True)
    f.write_bytes(_png(1))
    data = f.read_bytes()
    ref = layout.pack(stage, [(key, {"image.png": f})], "synthesize", 10)[f]
    assert ref.endswith(f"#{key}.image.png") and layout.read_bytes(stage.parent / ref) == data


def test_a_corrupt_shard_is_rewritten_even_when_its_files_are_unchanged(packed):
    stage, refs, originals = packed
    layout.unpack(stage)
    shard = stage / "shards" / "render-000000.tar"
    entry = layout.shard_index(shard)["car_0000.rgb.png"]
    data = bytearray(shard.read_bytes())
    data[entry.offset] ^= 0xFF
    shard.write_bytes(bytes(data))
    samples = [(k, {e: stage / "views" / "car" / f"{k}_{e.split('.')[0]}.png" for e in ("rgb.png", "mask.png")})
               for k in (f"car_{i:04d}" for i in range(5))]
    new = layout.pack(stage, samples, "render", shard_size=2)
    assert all(layout.read_bytes(stage.parent / ref) == originals[f] for f, ref in new.items())
