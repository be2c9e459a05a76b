"""Manifest round trips and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dst3d import camera
from dst3d.schema import ImageRecord, ManifestError, ModelRecord, read_manifest, write_manifest


def _image_record() -> ImageRecord:
    R, t = camera.look_at(0.3, 0.2, 0.1, 2.5)
    K = camera.intrinsics(35, 32, 64, 64)
    return ImageRecord(
        image_id="car-b000_v0003",
        category="car",
        model_id="car-b000",
        source="builtin",
        split="train",
        azimuth=0.3,
        elevation=0.2,
        theta=0.1,
        distance=2.5,
        K=K,
        R=R,
        t=t,
        width=64,
        height=64,
        bbox=(3.0, 4.0, 50.0, 60.0),
        keypoints_2d={"wheel_front_left": (10.5, 20.25, 1)},
        visib_fract=0.93,
        rgb="rgb/x.png",
        seed=123456789012345,
        kcf_score=None,
    )


def test_image_record_round_trip(tmp_path):
    rec = _image_record()
    path = tmp_path / "m.jsonl"
    assert write_manifest(path, [rec, rec]) == 2
    back = read_manifest(path, ImageRecord)
    assert len(back) == 2
    r = back[0]
    np.testing.assert_allclose(np.array(r.R), np.array(rec.R))
    assert r.keypoints_2d == {"wheel_front_left": (10.5, 20.25, 1)}
    assert r.bbox == (3.0, 4.0, 50.0, 60.0) and r.seed == rec.seed and r.kcf_score is None
    # a second round trip is byte-identical
    write_manifest(tmp_path / "m2.jsonl", back)
    assert (tmp_path / "m2.jsonl").read_bytes() == path.read_bytes()


def test_model_record_round_trip(tmp_path):
    rec = ModelRecord(
        model_id="a",
        category="car",
        source="builtin",
        mesh="meshes/car/a/model.obj",
        keywords=("sedan",),
        keypoints={"k": (0.1, 0.2, 0.3)},
        shape_params={"n": 3},
    )
    write_manifest(tmp_path / "a.jsonl", [rec])
    assert read_manifest(tmp_path / "a.jsonl", ModelRecord) == [rec]


def test_errors_name_file_and_line(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "missing.jsonl", ModelRecord)
    p = tmp_path / "bad.jsonl"
    good = json.dumps({"model_id": "a", "category": "car", "source": "s", "mesh": "m.obj"})
    p.write_text(good + "\n{broken\n")
    with pytest.raises(ManifestError, match=r"bad.jsonl:2: not valid JSON"):
        read_manifest(p, ModelRecord)
    p.write_text(json.dumps({"model_id": "a", "category": "car", "source": "s", "mesh": "m", "colour": 1}) + "\n")
    with pytest.raises(ManifestError, match=r"bad.jsonl:1: unknown field.*colour"):
        read_manifest(p, ModelRecord)


def test_paths_are_relative_to_the_data_root(tmp_path):
    from dst3d.schema import data_root, relative, resolve

    stage = tmp_path / "data" / "render"
    assert data_root(stage) == tmp_path / "data"
    assert data_root(stage / "manifest.jsonl") == tmp_path / "data"
    rel = relative(stage, stage / "car" / "x.png")
    assert rel == "render/car/x.png"
    # any other stage folder under the same root resolves it unchanged
    assert resolve(tmp_path / "data" / "edges" / "manifest.jsonl", rel) == stage / "car" / "x.png"
