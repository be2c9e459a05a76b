"""A second downstream task plugs into the generic loop (training.loop) without touching the pose task.

The task below is the worked example of docs/extending.md ("a downstream task"): keep the two in step.
"""

from __future__ import annotations

import numpy as np
import torch
from pose_fixture import make_dataset
from torch import nn

from dst3d.models.resnet import ResNet
from dst3d.schema import ImageRecord, read_manifest
from dst3d.training.data import ImageDataset, samples_from_records
from dst3d.training.loop import fit, predict
from dst3d.training.params import AugmentConfig, FitConfig, PoseModelConfig
from dst3d.training.pose import POSE
from dst3d.training.task import Task


class AzimuthTask:
    """Regress the azimuth as (sin, cos) with a plain ResNet trunk + a linear layer."""

    def build_model(self, cfg: PoseModelConfig, num_categories: int, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        trunk = ResNet(cfg.arch, cfg.width)
        return nn.Sequential(trunk, nn.Linear(trunk.feature_dim, 2))

    def dataset(self, model, samples, cfg, seed, train, cache):
        az = np.array([s.angles[0] for s in samples])
        sincos = np.stack([np.sin(az), np.cos(az)], axis=1).astype(np.float32)
        return ImageDataset(samples, cfg, seed, train, cache, targets={"sincos": sincos})

    def loss(self, model, outputs, batch, cfg):
        mse = nn.functional.mse_loss(outputs, batch["sincos"])
        return mse, {"mse_loss": mse}  # the total, and its named parts (epoch columns)

    def predict_batch(self, model, outputs, batch):
        return {"azimuth": torch.atan2(outputs[:, 0], outputs[:, 1]).cpu().numpy()}

    def predictions(self, samples, outputs):
        return outputs.get("azimuth", np.zeros(0)) % (2 * np.pi)

    def metrics(self, samples, pred):
        error = np.angle(np.exp(1j * (pred - np.array([s.angles[0] for s in samples]))))  # wrapped to (-pi, pi]
        return {"median_deg": float(np.degrees(np.median(np.abs(error))))}


FIT = FitConfig(image_size=32, epochs=6, batch_size=16, lr=0.01, workers=0, threads=1,
                augment=AugmentConfig(enabled=False))
CATS = ("car", "chair")


def test_a_second_task_learns_with_the_generic_loop(tmp_path):
    root = make_dataset(tmp_path / "data", categories=CATS, models_per_category=3, views=32, px=32, azimuths=8)
    manifest = root / "synthesize" / "manifest.jsonl"
    rows = read_manifest(manifest, ImageRecord)
    train, test = (samples_from_records([r for r in rows if r.split == split], manifest, CATS)
                   for split in ("train", "test"))
    task = AzimuthTask()
    assert isinstance(task, Task) and isinstance(POSE, Task)
    model = task.build_model(PoseModelConfig(arch="resnet18", pretrained="none", width=8), len(CATS), seed=0)
    history = fit(task, model, train, FIT, seed=0)
    assert list(history[0])[:3] == ["epoch", "loss", "mse_loss"]
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    median = task.metrics(test, predict(task, model, test, FIT))["median_deg"]
    print("azimuth task, unseen instances: median error", median, "deg; losses", [r["loss"] for r in history])
    assert median < 45  # chance: 90 degrees
    assert len(predict(task, model, [], FIT)) == 0
