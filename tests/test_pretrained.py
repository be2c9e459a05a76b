"""The pretrained backbone and the flip recipe: ImageNet weights that really classify, mirrored labels,
frozen-prefix features cached per view, flip averaging, and the adaptive KCF threshold."""

from __future__ import annotations

import math
import os
from dataclasses import replace

import cv2
import matplotlib
import numpy as np
import pytest
import sklearn
import torch
from pose_fixture import make_dataset

from dst3d.kcf import adaptive_keep, youden_threshold
from dst3d.models.efficientnet import NUM_BLOCKS, EfficientNetLite0, imagenet_classifier, load_imagenet
from dst3d.models.pose import PoseNet, angles_to_bins, mirror_bins, mirror_logits
from dst3d.schema import ImageRecord, read_manifest
from dst3d.training.data import FeatureCache, FeatureDataset, feature_views, normalize, samples_from_records
from dst3d.training.loop import auto_threads, fit, make_cache, predict
from dst3d.training.params import AugmentConfig, FitConfig, PoseModelConfig
from dst3d.training.pose import POSE, build_model, window_nll

NB = 41
W = 2 * math.pi / NB


def _photo(path: str, size: int = 224) -> torch.Tensor:
    img = cv2.resize(cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB), (size, size), interpolation=cv2.INTER_AREA)
    return normalize(torch.from_numpy(img)[None])


def test_imagenet_weights_load_strictly_and_classify_photos():
    """The shipped photos of sklearn and matplotlib get their ImageNet classes: the weights, the TF "SAME"
    padding and the input scaling are all right (a wrong padding or scaling loses these)."""
    model = imagenet_classifier()
    photos = {
        os.path.join(os.path.dirname(sklearn.__file__), "datasets/images/flower.jpg"): 985,  # daisy
        os.path.join(os.path.dirname(sklearn.__file__), "datasets/images/china.jpg"): 442,  # bell cote
        os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data/sample_data/grace_hopper.jpg"): 652,  # uniform
    }
    with torch.no_grad():
        for path, cls in photos.items():
            assert int(model(_photo(path)).argmax()) == cls, path


def test_mirrored_bins_are_the_mirrored_angles():
    rng = np.random.default_rng(0)
    a = np.stack([rng.uniform(0, 2 * np.pi, 200), rng.uniform(-1.2, 1.2, 200), rng.uniform(-0.5, 0.5, 200)], 1)
    m = np.stack([(-a[:, 0]) % (2 * np.pi), a[:, 1], -a[:, 2]], 1)
    assert np.array_equal(mirror_bins(angles_to_bins(a, NB), NB), angles_to_bins(m, NB))
    b = angles_to_bins(a, NB)
    assert np.array_equal(mirror_bins(mirror_bins(b, NB), NB), b)  # an involution
    logits = torch.randn(5, 3, NB)
    back = mirror_logits(mirror_logits(logits))
    assert torch.equal(back, logits)
    assert np.array_equal(mirror_logits(logits).argmax(-1).numpy(), mirror_bins(logits.argmax(-1).numpy(), NB))


def test_frozen_prefix_matches_the_full_network_and_stays_frozen():
    torch.manual_seed(0)
    net = PoseNet("efficientnet_lite0", 0, 3, NB, freeze=10)
    load_imagenet(net.backbone)
    frozen = [p for m in net.backbone._frozen for p in m.parameters()]
    assert frozen and not any(p.requires_grad for p in frozen)
    assert all(p.requires_grad for p in net.pose.parameters())
    net.train()
    assert not net.backbone._bn0.training and net.backbone._blocks[10]._bn1.training  # frozen BN stays eval
    net.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        full, split = net(x), net.from_prefix(net.prefix(x))
    assert torch.allclose(full[1], split[1], atol=1e-4) and net.prefix(x).shape == (2, 112, 4, 4)
    with pytest.raises(ValueError, match="only the efficientnet_lite0"):
        PoseNet("resnet18", 8, 3, NB, freeze=4)
    assert NUM_BLOCKS == 16 and EfficientNetLite0.feature_dim == 1280


def test_auto_threads_uses_every_core():
    assert auto_threads(FitConfig(workers=2, threads=0)) == len(os.sched_getaffinity(0))
    assert auto_threads(FitConfig(threads=1)) == 1


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    root = make_dataset(tmp_path_factory.mktemp("pose"), categories=("car", "chair"), models_per_category=3,
                        views=8, px=48, azimuths=8)
    manifest = root / "synthesize" / "manifest.jsonl"
    rows = read_manifest(manifest, ImageRecord)
    return samples_from_records(rows, manifest, ("car", "chair"), "image")


FIT = FitConfig(image_size=32, epochs=2, batch_size=8, workers=0, threads=1, feature_views=4)


def test_feature_views_are_per_sample_not_per_position(fixture):
    """Each sample's cached views depend on the sample alone: a subset in another order gets the same
    rows (kcf computes one cache for all its folds; the train stage computes its own)."""
    torch.manual_seed(0)
    net = PoseNet("efficientnet_lite0", 0, 2, NB, freeze=6).eval()
    assert feature_views(FIT) == [(False, False), (False, True), (True, False), (True, True)]
    full = make_cache(net, fixture, FIT)
    assert isinstance(full, FeatureCache) and full.features.shape[:2] == (len(fixture), 4)
    order = [5, 2, 9]
    part = make_cache(net, [fixture[i] for i in order], FIT)
    assert torch.equal(part.features, full[order].features)
    assert not torch.equal(full.features[:, 0], full.features[:, 1])  # the mirror is another view
    # predict reads the plain view and its mirror only: an eval-only cache skips the jittered views
    small = make_cache(net, fixture, FIT, eval_only=True)
    assert torch.equal(small.features, full.features[:, :2]) and small.mirrored.tolist() == [False, True]
    a, b = predict(POSE, net, fixture, FIT, full), predict(POSE, net, fixture, FIT)
    assert np.array_equal(a.log_probs, b.log_probs) and np.array_equal(a.labels, b.labels)


def test_feature_dataset_mirrors_targets_with_the_view(fixture):
    cache = FeatureCache(torch.arange(len(fixture) * 2, dtype=torch.float16).view(len(fixture), 2, 1, 1, 1),
                         np.array([False, True]))
    bins = np.arange(len(fixture) * 3).reshape(-1, 3)
    ds = FeatureDataset(fixture, cache, seed=0, train=True, targets={"bins": bins}, targets_mirrored={"bins": -bins})
    seen = set()
    for epoch in range(8):
        item = ds[(3, epoch)]
        view = int(item["features"].item()) - 6
        seen.add(view)
        assert item["bins"].tolist() == (bins[3] if view == 0 else -bins[3]).tolist()
    assert seen == {0, 1}
    ev = FeatureDataset(fixture, cache, seed=0, train=False, targets={"bins": bins})[3]
    assert ev["features"].item() == 6 and ev["features_mirror"].item() == 7


def test_flip_averaging_is_mirror_equivariant(fixture):
    """With flip averaging, the prediction for the mirrored image is the mirrored prediction."""
    model = build_model(PoseModelConfig(arch="resnet18", pretrained="none", width=8), 2, seed=0).eval()
    cfg = replace(FIT, augment=AugmentConfig(enabled=False), tta_flip=True)
    pred = predict(POSE, model, fixture[:6], cfg)
    x = torch.stack([torch.from_numpy(np.ascontiguousarray(
        cv2.resize(cv2.cvtColor(cv2.imread(s.path), cv2.COLOR_BGR2RGB), (32, 32)))) for s in fixture[:6]])
    with torch.no_grad():
        a = POSE.merge_mirrored(model, model(normalize(x)), model(normalize(x.flip(2))))
        b = POSE.merge_mirrored(model, model(normalize(x.flip(2))), model(normalize(x)))
    assert torch.allclose(a[1][:, 0], mirror_logits(b[1][:, 0]), atol=1e-5)
    assert pred.log_probs.shape == (6, 3, NB)


def test_training_on_cached_features_learns(fixture):
    cfg = replace(FIT, epochs=6, lr=0.003, image_size=48)
    model = build_model(PoseModelConfig(freeze=14), 2, seed=0)  # ImageNet trunk, last blocks + heads train
    cache = make_cache(model, fixture, cfg)
    history = fit(POSE, model, fixture, cfg, 0, cache=cache)
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]
    pred = predict(POSE, model, fixture, cfg, cache)
    assert np.mean(pred.labels == np.array([s.label for s in fixture])) > 0.9


def test_window_nll_and_the_adaptive_threshold():
    logp = np.log(np.full((2, 3, NB), 1e-6))
    logp[:, :, 5] = 0.0  # all mass on bin 5 (azimuth 5w, elevation/theta (5-20)w)
    on = np.array([[5 * W, (5 - 20) * W, (5 - 20) * W]] * 2)
    assert np.allclose(window_nll(logp, on), 0, atol=1e-4)
    assert window_nll(logp, on + [W, 0, 0])[0] < 1e-3  # within the one-bin window
    assert window_nll(logp, on + [3 * W, 0, 0])[0] > 10
    cut, j = youden_threshold(np.array([0.1, 0.2, 0.3, 5.0]), np.array([4.0, 6.0, 7.0, 8.0]))
    assert cut == 5.0 and j == pytest.approx(0.75)  # a tie with cut 0.3: the cut that keeps more wins
    rng = np.random.default_rng(0)
    good = np.concatenate([rng.uniform(0, 1, 90), [9, 9]])  # two rows annotated wrongly
    nll = np.concatenate([good, rng.uniform(0, 10, 50)])
    alt = np.concatenate([rng.uniform(5, 10, (92, 3)), rng.uniform(0, 10, (50, 3))])
    cats = ["car"] * 92 + ["bottle"] * 50  # bottle: the estimator cannot tell right from wrong
    keep, report = adaptive_keep(nll, alt, cats, 0.7)
    assert keep[:90].all() and not keep[90:92].any() and keep[92:].all()
    assert report["bottle"]["cut"] is None and report["car"]["separation_auroc"] > 0.9


def test_adaptive_keep_judges_only_the_kinds_it_can_separate():
    """Front/back blind estimators (turned-around and mirrored annotations score like the annotated one) still
    find random wrong poses: the cut is calibrated on those alone, so rows scoring like them are dropped."""
    rng = np.random.default_rng(1)
    nll = np.concatenate([rng.uniform(0, 2, 95), [8.0, 9.0, 9.5, 8.5, 7.5]])  # five rows with a random wrong pose
    blind = rng.uniform(0, 2, (100, 2))  # turned around, mirrored: indistinguishable from the annotation
    rand = rng.uniform(6, 10, (100, 1))  # a random rotation: clearly worse
    keep, report = adaptive_keep(nll, np.concatenate([blind, rand], 1), ["train"] * 100, 0.7)
    r = report["train"]
    assert r["judged_kinds"] == ["random_rotation"] and r["cut"] is not None
    assert r["separation_per_kind"]["azimuth_180"] < 0.7 < r["separation_per_kind"]["random_rotation"]
    assert r["separation_auroc"] < 0.7  # pooled over all kinds it would have abstained (the former rule)
    assert keep[:95].all() and not keep[95:].any()
