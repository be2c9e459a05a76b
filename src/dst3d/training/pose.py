"""The pose + classification task: one network predicts the category and the viewpoint (3 x 41 angle bins).

Loss: the pose loss (:func:`dst3d.models.pose.pose_loss`, the three per-angle cross entropies) at the
annotated category's pose block, plus ``fit.cls_weight`` x the classification cross entropy. Predictions:
the bin centres of the argmax bins, the argmax category, the pose loss at the annotation and the rotation
error to it. Metrics: :func:`dst3d.training.metrics.summarize` (per category, category mean, pooled).
Both the kcf and the train stage train this task with :func:`dst3d.training.loop.fit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dst3d.models.efficientnet import load_imagenet
from dst3d.models.io import init_from
from dst3d.models.pose import PoseNet, angles_to_bins, bins_to_angles, mirror_bins, mirror_logits, pose_loss
from dst3d.training import metrics
from dst3d.training.data import FeatureCache, FeatureDataset, ImageDataset, PoseSample
from dst3d.training.params import FitConfig, PoseModelConfig


def build_model(cfg: PoseModelConfig, num_categories: int, seed: int) -> PoseNet:
    """A freshly initialised network (seeded heads; the ImageNet trunk when ``cfg.pretrained``), then
    ``cfg.init`` loaded over it if set."""
    torch.manual_seed(seed)
    model = PoseNet(cfg.arch, cfg.width, num_categories, cfg.num_bins, cfg.pose_head, cfg.freeze)
    if cfg.pretrained == "imagenet":
        load_imagenet(model.backbone)
    if cfg.init:
        init_from(model, cfg.init)
    return model


@dataclass
class Predictions:
    """Per-sample outputs: predicted angles (N, 3), predicted category index (N,), the pose loss at the
    annotated angles (N,) and the rotation error to the annotation (N,) in radians."""

    angles: np.ndarray
    labels: np.ndarray
    loss: np.ndarray
    errors: np.ndarray = field(default_factory=lambda: np.zeros(0))
    log_probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 0)))  # (N, 3, nb) per angle


class PoseTask:
    """The :class:`~dst3d.training.task.Task` of the kcf and train stages."""

    def build_model(self, cfg: PoseModelConfig, num_categories: int, seed: int) -> PoseNet:
        return build_model(cfg, num_categories, seed)

    def dataset(self, model: PoseNet, samples: Sequence[PoseSample], cfg: FitConfig, seed: int, train: bool,
                cache: np.ndarray | FeatureCache | None) -> ImageDataset | FeatureDataset:
        angles = np.array([s.angles for s in samples], dtype=np.float64).reshape(-1, 3)
        bins = angles_to_bins(angles, model.num_bins)
        targets, mirrored = {"bins": bins}, {"bins": mirror_bins(bins, model.num_bins)}
        if isinstance(cache, FeatureCache):
            return FeatureDataset(samples, cache, seed, train, targets, mirrored)
        return ImageDataset(samples, cfg, seed, train, cache, targets, mirrored)

    def merge_mirrored(self, model: PoseNet, outputs: tuple[torch.Tensor, torch.Tensor],
                       mirrored: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Flip averaging: class log-probabilities and pose log-probabilities of the image and of its mirror
        (its bins mapped back: azimuth -a, theta -t) averaged."""
        lsm = torch.nn.functional.log_softmax
        cls = (lsm(outputs[0], -1) + lsm(mirrored[0], -1)) / 2
        pose = (lsm(outputs[1], -1) + lsm(mirror_logits(mirrored[1]), -1)) / 2
        return cls, pose

    def loss(self, model: PoseNet, outputs: tuple[torch.Tensor, torch.Tensor], batch: dict[str, Any],
             cfg: FitConfig) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cls_logits, pose_logits = outputs
        y = batch["label"]
        lp = pose_loss(model.select(pose_logits, y), batch["bins"]).mean()
        lc = torch.nn.functional.cross_entropy(cls_logits, y)
        return lp + cfg.cls_weight * lc, {"pose_loss": lp, "cls_loss": lc}

    def predict_batch(self, model: PoseNet, outputs: tuple[torch.Tensor, torch.Tensor],
                      batch: dict[str, Any]) -> dict[str, np.ndarray]:
        cls_logits, pose_logits = outputs
        selected = model.select(pose_logits, batch["label"])
        return {"angles": bins_to_angles(selected.argmax(-1).cpu().numpy(), model.num_bins),
                "labels": cls_logits.argmax(-1).cpu().numpy(),
                "loss": pose_loss(selected, batch["bins"]).cpu().numpy(),
                "log_probs": torch.nn.functional.log_softmax(selected.float(), -1).cpu().numpy()}

    def predictions(self, samples: Sequence[PoseSample], outputs: dict[str, np.ndarray]) -> Predictions:
        if not samples:
            z = np.zeros((0,))
            return Predictions(np.zeros((0, 3)), z.astype(np.int64), z, z)
        gt = np.array([s.angles for s in samples], dtype=np.float64)
        pred = outputs["angles"]
        return Predictions(pred, outputs["labels"], outputs["loss"], metrics.rotation_errors(pred, gt),
                           outputs["log_probs"])

    def metrics(self, samples: Sequence[PoseSample], pred: Predictions) -> dict[str, Any]:
        """``metrics.summarize`` of one evaluation set (rotation errors per category, top-1)."""
        return metrics.summarize(pred.errors, [s.category for s in samples], pred.labels, [s.label for s in samples])


def window_nll(log_probs: np.ndarray, angles: np.ndarray, window: int = 1) -> np.ndarray:
    """How unlikely the predicted distributions find ``angles``: -sum over the three angles of the log of the
    probability mass within ``window`` bins of each angle's bin. log_probs (N, 3, nb), angles (N, 3) rad."""
    nb = log_probs.shape[-1]
    bins = angles_to_bins(angles, nb)
    p = np.exp(log_probs.astype(np.float64))
    mass = np.zeros(bins.shape)
    rows = np.arange(len(bins))[:, None]
    for d in range(-window, window + 1):
        mass += p[rows, np.arange(3)[None, :], (bins + d) % nb]
    return -np.log(np.clip(mass, 1e-12, None)).sum(axis=1)


POSE = PoseTask()
"""The task instance the stages use."""
