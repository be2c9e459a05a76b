"""The pose + classification network and the angle binning.

Pose is classified, as upstream does: azimuth, elevation and in-plane rotation theta each fall into one of
``num_bins`` (41) bins of width 2*pi/41, trained with one cross entropy per angle. Unlike upstream, bin
*centres* sit on 0 for every angle (upstream's azimuth bins start at 0, so the frontal view lay on a bin
edge), and the three angles are all treated as periodic.

Building a network from params (seeded, ``init`` weights) is the pose task's: ``dst3d.training.pose.build_model``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from dst3d.models.efficientnet import NUM_BLOCKS, EfficientNetLite0
from dst3d.models.resnet import ARCHS, ResNet

BACKBONES = (*ARCHS, "efficientnet_lite0")


def _offsets(num_bins: int) -> np.ndarray:
    # azimuth lives in [0, 2pi): bin k is centred on k*w; elevation/theta live in [-pi, pi): k - nb//2.
    return np.array([0, num_bins // 2, num_bins // 2])


def angles_to_bins(angles: np.ndarray, num_bins: int) -> np.ndarray:
    """(N, 3) radians (azimuth, elevation, theta) -> (N, 3) int64 bin indices (nearest bin centre)."""
    a = np.asarray(angles, dtype=np.float64).reshape(-1, 3)
    w = 2 * math.pi / num_bins
    return ((np.rint(a / w).astype(np.int64) + _offsets(num_bins)) % num_bins).astype(np.int64)


def bins_to_angles(bins: np.ndarray, num_bins: int) -> np.ndarray:
    """Inverse of :func:`angles_to_bins`: bin centres, azimuth in [0, 2pi), elevation/theta in [-pi, pi)."""
    b = np.asarray(bins, dtype=np.int64).reshape(-1, 3)
    w = 2 * math.pi / num_bins
    out = (b - _offsets(num_bins)) * w
    out[:, 0] %= 2 * math.pi
    return out


def mirror_bins(bins: np.ndarray, num_bins: int) -> np.ndarray:
    """Angle bins of the horizontally mirrored image: azimuth a -> -a, elevation kept, theta t -> -t."""
    b = np.asarray(bins, dtype=np.int64).reshape(-1, 3).copy()
    off = _offsets(num_bins)
    b[:, 0] = (-(b[:, 0] - off[0])) % num_bins
    b[:, 2] = (-(b[:, 2] - off[2]) + off[2]) % num_bins
    return b


def mirror_logits(pose_logits: torch.Tensor) -> torch.Tensor:
    """Pose logits (..., 3, nb) of a mirrored image re-indexed as the original image's bins."""
    nb = pose_logits.shape[-1]
    src = torch.as_tensor(mirror_bins(np.stack([np.arange(nb)] * 3, axis=1), nb).T, device=pose_logits.device)
    # out[..., a, k] = logits[..., a, mirror(k)]: the mirrored image's bin for the original bin k
    return torch.stack([pose_logits[..., a, src[a]] for a in range(3)], dim=-2)


def pose_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample pose loss: the sum of the three per-angle cross entropies. logits (B, 3, nb), targets (B, 3)."""
    nb = logits.shape[-1]
    ce = nn.functional.cross_entropy(logits.reshape(-1, nb), targets.reshape(-1), reduction="none")
    return ce.view(-1, 3).sum(dim=1)


def make_backbone(arch: str, width: int) -> nn.Module:
    """A trunk by name: the plain-torch ResNets (``width`` = first-stage channels) or EfficientNet-Lite0."""
    if arch == "efficientnet_lite0":
        return EfficientNetLite0()
    return ResNet(arch, width)


class PoseNet(nn.Module):
    """A trunk + a classification head (C logits) + a pose head (3 x ``num_bins`` logits).

    With ``per_category`` the pose head has one 3 x nb block per category and :meth:`select` picks the
    block of the given (ground-truth) category; ``shared`` has one block for all. ``freeze`` (Lite0 only):
    the stem and the first ``freeze`` blocks keep their weights; :meth:`prefix` computes their (fixed)
    output, which callers may cache, and :meth:`from_prefix` runs the rest.
    """

    def __init__(
        self, arch: str, width: int, num_categories: int, num_bins: int = 41, pose_head: str = "shared",
        freeze: int = 0,
    ) -> None:
        super().__init__()
        if num_categories < 1:
            raise ValueError("num_categories: must be >= 1")
        self.backbone = make_backbone(arch, width)
        self.num_categories, self.num_bins, self.freeze = num_categories, num_bins, freeze
        self.heads = num_categories if pose_head == "per_category" else 1
        self.cls = nn.Linear(self.backbone.feature_dim, num_categories)
        self.pose = nn.Linear(self.backbone.feature_dim, self.heads * 3 * num_bins)
        if freeze:
            if not isinstance(self.backbone, EfficientNetLite0):
                raise ValueError(f"freeze: only the efficientnet_lite0 trunk has frozen blocks, not {arch}")
            self.backbone.freeze(freeze)

    @property
    def has_prefix(self) -> bool:
        """True when the first layers are frozen, so their output can be computed once and cached."""
        return bool(self.freeze) and self.freeze <= NUM_BLOCKS

    def prefix(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen part's output for ImageNet-normalised images (eval mode, no gradient needed)."""
        return self.backbone.forward_blocks(self.backbone.stem(x), 0, self.freeze)

    def from_prefix(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The outputs from :meth:`prefix` features: trainable blocks, head conv, the two heads."""
        return self._heads(self.backbone.head(self.backbone.forward_blocks(f, self.freeze)))

    def _heads(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cls(f), self.pose(f).view(-1, self.heads, 3, self.num_bins)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._heads(self.backbone(x))

    def select(self, pose_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(B, heads, 3, nb) -> (B, 3, nb): the block of each sample's category (or the shared one)."""
        if self.heads == 1:
            return pose_logits[:, 0]
        return pose_logits[torch.arange(len(labels), device=labels.device), labels]

