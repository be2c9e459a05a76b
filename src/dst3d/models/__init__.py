"""Pose / classification networks in plain torch (no torchvision here): ResNets, the 3 x 41-bin pose head,
and safetensors weight files (nothing is ever loaded with pickle)."""

from dst3d.models.io import init_from, load_model, save_model
from dst3d.models.pose import PoseNet, angles_to_bins, bins_to_angles, build_model, pose_loss
from dst3d.models.resnet import ARCHS, ResNet

__all__ = [
    "ARCHS",
    "PoseNet",
    "ResNet",
    "angles_to_bins",
    "bins_to_angles",
    "build_model",
    "init_from",
    "load_model",
    "pose_loss",
    "save_model",
]
