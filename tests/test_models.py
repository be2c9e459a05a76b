"""ResNets, the 3 x 41-bin pose head and safetensors weight files."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from dst3d.models import PoseNet, ResNet, angles_to_bins, bins_to_angles, init_from, load_model, pose_loss
from dst3d.models.io import read_meta, save_model
from dst3d.params import ConfigError, from_dict
from dst3d.training.params import PoseModelConfig
from dst3d.training.pose import build_model

TINY = PoseModelConfig(arch="resnet18", pretrained="none", width=8)  # from scratch, seconds on a CPU

W = 2 * math.pi / 41


@pytest.mark.parametrize(("arch", "trunk_params"), [("resnet18", 11_176_512), ("resnet50", 23_508_032)])
def test_standard_width_matches_the_published_networks(arch, trunk_params):
    # torchvision's resnet18/50 minus their 1000-way fc layer (11,689,512 - 513,000; 25,557,032 - 2,049,000)
    net = ResNet(arch, 64)
    assert sum(p.numel() for p in net.parameters()) == trunk_params
    assert net.feature_dim == (512 if arch == "resnet18" else 2048)


def test_small_width_and_small_inputs():
    torch.manual_seed(0)
    net = PoseNet("resnet50", 8, num_categories=3, num_bins=41, pose_head="per_category")
    cls, pose = net(torch.randn(2, 3, 32, 32))
    assert cls.shape == (2, 3) and pose.shape == (2, 3, 3, 41)
    assert net.backbone.feature_dim == 8 * 8 * 4
    picked = net.select(pose, torch.tensor([2, 0]))
    assert torch.equal(picked[0], pose[0, 2]) and torch.equal(picked[1], pose[1, 0])
    shared = PoseNet("resnet18", 8, 3)
    assert shared(torch.randn(1, 3, 40, 40))[1].shape == (1, 1, 3, 41)


def test_bins_are_centred_on_zero_and_periodic():
    b = angles_to_bins(np.array([[0.0, 0.0, 0.0], [2 * math.pi - 0.01, -0.01, math.pi - 0.01]]), 41)
    assert b[0].tolist() == [0, 20, 20]  # the frontal, level, upright view sits on bin centres
    assert b[1].tolist() == [0, 20, 40]  # 359.4 deg azimuth wraps to bin 0
    all_bins = np.stack([np.arange(41)] * 3, axis=1)
    centres = bins_to_angles(all_bins, 41)
    assert np.array_equal(angles_to_bins(centres, 41), all_bins)
    rng = np.random.default_rng(0)
    a = np.stack([rng.uniform(0, 2 * math.pi, 500), rng.uniform(-1.5, 1.5, 500), rng.uniform(-3, 3, 500)], 1)
    diff = bins_to_angles(angles_to_bins(a, 41), 41) - a
    wrapped = (diff + math.pi) % (2 * math.pi) - math.pi
    assert np.abs(wrapped).max() <= W / 2 + 1e-9


def test_pose_loss_is_the_sum_of_three_cross_entropies():
    torch.manual_seed(0)
    logits, targets = torch.randn(4, 3, 41), torch.randint(0, 41, (4, 3))
    expected = sum(torch.nn.functional.cross_entropy(logits[:, j], targets[:, j], reduction="none") for j in range(3))
    assert torch.allclose(pose_loss(logits, targets), expected)


def test_eval_mode_scores_do_not_depend_on_the_batch():
    # Upstream scored KCF with BatchNorm in train mode: an image's score changed with its batch mates.
    torch.manual_seed(0)
    net = PoseNet("resnet18", 8, 2)
    net.train()
    net(torch.randn(8, 3, 32, 32) * 3 + 1)  # move the running statistics away from their init
    x = torch.randn(4, 3, 32, 32)
    net.eval()
    with torch.no_grad():
        alone, together = net(x[:1])[1], net(x)[1][:1]
        assert torch.allclose(alone, together, atol=1e-5)
        net.train()
        assert not torch.allclose(net(x[:1] .repeat(2, 1, 1, 1))[1][:1], net(x)[1][:1], atol=1e-3)


def test_safetensors_round_trip_rebuilds_the_network(tmp_path):
    net = build_model(replace(TINY, pose_head="per_category"), 3, seed=1)
    net.eval()
    path = tmp_path / "m.safetensors"
    save_model(path, net, {"categories": ["a", "b", "c"]})
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    assert raw[8:9] == b"{" and 8 + header_len < len(raw)  # a safetensors JSON header, not a pickle
    loaded, meta = load_model(path)
    assert meta["categories"] == ["a", "b", "c"] and meta["pose_head"] == "per_category"
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(net(x), loaded(x), strict=True):
            assert torch.equal(a, b)
    assert read_meta(path)["arch"] == "resnet18"


def test_init_from_a_bare_trunk_with_torchvision_names(tmp_path):
    trunk = ResNet("resnet18", 8)
    torch.nn.init.constant_(trunk.conv1.weight, 0.5)
    state = {k: v for k, v in trunk.state_dict().items()}
    state["fc.weight"] = torch.zeros(1000, 64)  # an ImageNet head: no match, skipped
    save_file(state, str(tmp_path / "trunk.safetensors"))
    net = build_model(replace(TINY, init=str(tmp_path / "trunk.safetensors")), 2, seed=0)
    assert torch.all(net.backbone.conv1.weight == 0.5)
    save_file({"something.else": torch.zeros(3)}, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(ValueError, match="no tensor"):
        init_from(net, tmp_path / "wrong.safetensors")
    with pytest.raises(FileNotFoundError):
        init_from(net, tmp_path / "missing.safetensors")


def test_pickled_checkpoints_are_refused_by_the_params():
    with pytest.raises(ConfigError, match="safetensors"):
        from_dict(PoseModelConfig, {"init": "weights.pth"}, "kcf.model")
    with pytest.raises(ConfigError, match="width"):
        from_dict(PoseModelConfig, {"width": 10}, "kcf.model")
