"""Pose / classification networks in plain torch (no torchvision here): ResNets, the 3 x 41-bin pose head,
and safetensors weight files (nothing is ever loaded with pickle).

Imports go one way: ``io`` -> ``pose`` -> ``resnet``. The package knows nothing of params or training;
``dst3d.training.pose.build_model`` builds a network from ``training.model``.
"""

from dst3d.models.io import init_from, load_model, read_meta, save_model
from dst3d.models.pose import PoseNet, angles_to_bins, bins_to_angles, pose_loss
from dst3d.models.resnet import ARCHS, ResNet

__all__ = [
    "ARCHS",
    "PoseNet",
    "ResNet",
    "angles_to_bins",
    "bins_to_angles",
    "init_from",
    "load_model",
    "pose_loss",
    "read_meta",
    "save_model",
]
