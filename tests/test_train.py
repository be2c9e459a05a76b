"""Data loading, training on a learnable fixture, and the train stage (benchmark formats: test_evaluate.py)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from pose_fixture import make_dataset

from dst3d import train as tr
from dst3d.models import load_model
from dst3d.params import ConfigError, load_all
from dst3d.schema import ImageRecord, read_manifest, write_manifest
from dst3d.training import data
from dst3d.training.params import AugmentConfig, EvalSetConfig, FitConfig, PoseModelConfig, TrainConfig
from dst3d.training.pose import build_model

CATS = ("car", "chair")
FAST_FIT = FitConfig(image_size=48, epochs=8, batch_size=16, lr=0.01, workers=0, threads=1,
                     augment=AugmentConfig(enabled=False))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("train") / "data", models_per_category=4, views=40, px=48, seed=2,
                        azimuths=8)


def _samples(root: Path, split: str, field: str = "image", **kw) -> list[data.PoseSample]:
    manifest = root / ("render" if field == "rgb" else "synthesize") / "manifest.jsonl"
    rows = [r for r in read_manifest(manifest, ImageRecord) if r.split == split]
    return data.samples_from_records(rows, manifest, CATS, field, **kw)


def test_prepared_crops_and_normalized_batches(data_root):
    img = data.prepare(_samples(data_root, "test")[0], FAST_FIT, None)
    assert img.shape == (48, 48, 3) and img.dtype == np.uint8
    x = data.normalize(torch.from_numpy(img)[None])
    assert x.shape == (1, 3, 48, 48) and x.dtype == torch.float32


def test_rows_without_files_or_with_unknown_categories_are_errors(data_root):
    manifest = data_root / "render" / "manifest.jsonl"
    rows = read_manifest(manifest, ImageRecord)[:2]
    with pytest.raises(data.DataError, match="'image'"):
        data.samples_from_records(rows, manifest, CATS, "image")  # renders have no synthesized image
    with pytest.raises(data.DataError, match="base.categories"):
        data.samples_from_records(rows, manifest, ("boat",), "rgb")


# --------------------------------------------------------------------------- loading
def _epoch(samples, cfg, workers, cache=None):
    ds = data.ImageDataset(samples, cfg, seed=5, train=True, cache=cache)
    sampler = data.EpochBatchSampler(len(ds), 8, seed=5, epochs=1, start_epoch=3)
    return [b["image"] for b in data.make_loader(ds, 8, workers, sampler)]


def test_augmentation_is_the_same_in_worker_processes(data_root):
    samples = _samples(data_root, "test")[:16]
    cfg = dataclasses.replace(FAST_FIT, augment=AugmentConfig())
    in_main, in_workers = _epoch(samples, cfg, 0), _epoch(samples, cfg, 2)
    assert all(torch.equal(a, b) for a, b in zip(in_main, in_workers, strict=True))
    cache = data.build_cache(samples, dataclasses.replace(cfg, workers=2))
    assert cache.shape == (16, data.cache_side(cfg), data.cache_side(cfg), 3)
    assert all(torch.equal(a, b) for a, b in zip(_epoch(samples, cfg, 0, cache), _epoch(samples, cfg, 2, cache),
                                                 strict=True))
    assert data.build_cache(samples, dataclasses.replace(cfg, cache_mb=0)) is None


def test_cached_patches_give_the_same_crops(data_root):
    s = _samples(data_root, "test")[0]
    direct = data.prepare(s, FAST_FIT, None)
    cached = data.prepare_cached(data.cache_patch(s, FAST_FIT), FAST_FIT, None)
    assert np.abs(direct.astype(int) - cached.astype(int)).mean() < 3  # one resampling more (grey levels)


def test_weather_and_occlusion_augmentation_is_seeded_per_item(data_root):
    samples = _samples(data_root, "test")[:16]
    plain = dataclasses.replace(FAST_FIT, augment=AugmentConfig())
    cfg = dataclasses.replace(FAST_FIT, augment=AugmentConfig(weather=1.0, occlusion=1.0))
    in_main, in_workers = _epoch(samples, cfg, 0), _epoch(samples, cfg, 2)
    assert all(torch.equal(a, b) for a, b in zip(in_main, in_workers, strict=True))  # 0 and 2 workers alike
    # the same crops as without the nuisances (same draws for crop, colour and flip), then rain/snow/fog and boxes
    for a, b in zip(in_main, _epoch(samples, plain, 0), strict=True):
        assert (a.float() - b.float()).abs().mean() > 5
    assert data.nuisance_augmenter(AugmentConfig()) is None  # off by default: nothing imported, nothing drawn


def test_nuisance_splits_are_evaluation_sets(data_root, tmp_path):
    synth = data_root / "synthesize" / "manifest.jsonl"
    rows = read_manifest(synth, ImageRecord)
    test = [r for r in rows if r.split == "test"]
    extra = [dataclasses.replace(r, image_id=f"{r.image_id}_{kind}", split=f"ood_{kind}", nuisance=kind)
             for kind in ("weather", "occlusion") for r in test[:5]]
    manifest = data_root / "synthesize_ood" / "manifest.jsonl"
    write_manifest(manifest, rows + extra)
    sets, notes = tr.evaluation_sets(TrainConfig(), manifest, CATS, seed=0)
    assert list(sets) == ["test", "ood_occlusion", "ood_weather"]
    assert notes["nuisance_splits"] == {"ood_occlusion": 5, "ood_weather": 5}
    with pytest.raises(ConfigError, match="ood_derive"):
        load_all_from({"train": {"ood_derive": True}}, tmp_path)
    with pytest.raises(ConfigError, match="taken"):
        EvalSetConfig(name="ood_weather", path="x").validate()


def load_all_from(params: dict, tmp_path: Path) -> dict:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return load_all(tmp_path / "params.yaml")


# --------------------------------------------------------------------------- training
def test_pose_estimator_learns_the_fixture(data_root):
    train, test = _samples(data_root, "train"), _samples(data_root, "test")
    model = build_model(PoseModelConfig(arch="resnet18", pretrained="none", width=8), len(CATS), seed=0)
    cfg = TrainConfig(fit=FAST_FIT, eval_every=4)
    res = tr.train_and_evaluate(model, train, {"test": test}, cfg, seed=0)
    m = res.metrics()["test"]
    print("fixture test split:", m)
    # Chance: Acc@pi/6 ~ 1/6 (8 azimuths, one bin of 41), top-1 = 1/2; these are unseen instances.
    assert m["acc_pi_6"] > 0.6 and m["top1"] > 0.9 and m["n"] == len(test)
    assert res.history[3]["test_acc_pi_6"] is not None and "test_acc_pi_6" not in res.history[0]
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    # the final evaluation reuses the last epoch's predictions of the test set
    assert res.history[-1]["test_acc_pi_6"] == m["acc_pi_6"]


def test_training_rows_follow_train_data(data_root, tmp_path):
    synth = data_root / "synthesize" / "manifest.jsonl"
    rows = read_manifest(synth, ImageRecord)
    kept = [dataclasses.replace(r, kcf_keep=(i % 2 == 0), kcf_score=0.1) if r.split == "train" else r
            for i, r in enumerate(rows)]
    kcf_manifest = data_root / "kcf" / "manifest.jsonl"
    write_manifest(kcf_manifest, kept)
    manifests = {"render": data_root / "render" / "manifest.jsonl", "synthesize": synth, "kcf": kcf_manifest}
    n_train = sum(r.split == "train" for r in rows)
    expected = (("render", n_train, "rgb"), ("synthesize", n_train, "image"), ("kcf", n_train // 2, "image"))
    for source, n, field in expected:
        got, manifest, f = tr.training_rows(TrainConfig(data=source), manifests)
        assert (len(got), f, manifest) == (n, field, manifests[source])
    write_manifest(tmp_path / "m.jsonl", rows)  # a kcf manifest whose train rows were never scored
    with pytest.raises(ValueError, match="kcf_keep"):
        tr.training_rows(TrainConfig(data="kcf"), {**manifests, "kcf": tmp_path / "m.jsonl"})


def test_train_stage_end_to_end(data_root, tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))
    import train as train_stage

    params = {"base": {"seed": 0, "categories": list(CATS)},
              "train": {"data": "synthesize", "eval_every": 0,
                        "eval_sets": [{"name": "renders", "path": str(data_root / "render"), "split": "test"}],
                        "model": dataclasses.asdict(PoseModelConfig(arch="resnet18", pretrained="none", width=8)),
                        "fit": {**dataclasses.asdict(FAST_FIT), "epochs": 2}},
              "tracking": {"enabled": False}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    rows = read_manifest(data_root / "synthesize" / "manifest.jsonl", ImageRecord)
    nuisance_rows = [dataclasses.replace(r, image_id=f"{r.image_id}_texture", split="ood_texture", nuisance="texture")
                     for r in rows if r.split == "test"][:20]
    write_manifest(data_root / "synthesize_e2e" / "manifest.jsonl", rows + nuisance_rows)
    args = ["--params", "params.yaml", "--render", str(data_root / "render"), "--synthesize",
            str(data_root / "synthesize_e2e"), "--kcf", str(data_root / "kcf"), "--out", "out", "--plots", "plots",
            "--metrics", "train.json"]
    assert train_stage.main(args) == 0
    metrics = json.loads((tmp_path / "train.json").read_text())
    assert set(metrics) >= {"test", "ood_texture", "renders", "images_per_s", "data_wait", "n_train"}
    assert metrics["test"]["n"] == 80 and metrics["ood_texture"]["n"] == 20 and metrics["renders"]["n"] == 80
    assert {"acc_pi_6", "top1"} <= set(metrics["ood_texture"]) and "ood" not in metrics  # no split 'ood' upstream
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["notes"]["nuisance_splits"] == {"ood_texture": 20}
    assert report["notes"]["eval_sets"]["renders"]["format"] == "manifest" and set(report) >= {"renders", "test"}
    for name in ("curves.csv", "curves.png", "confusion.csv", "confusion.png", "worst.png", "per_category.csv"):
        assert (tmp_path / "plots" / name).stat().st_size > 0
    model, meta = load_model(tmp_path / "out" / "model.safetensors")
    assert meta["categories"] == list(CATS) and meta["data"] == "synthesize"
    preds = (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()
    assert len(preds) == 80 + 20 + 80
