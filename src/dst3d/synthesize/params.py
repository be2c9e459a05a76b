"""Params of the synthesize stage (``synthesize:``): the backend and its settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from dst3d.params import ConfigError, check_device, pair

SD15_BASE = "stable-diffusion-v1-5/stable-diffusion-v1-5"
"""The paper's base model (Stable Diffusion 1.5; the community mirror of runwayml/stable-diffusion-v1-5)."""
SD15_CANNY = "lllyasviel/control_v11p_sd15_canny"
"""The paper's ControlNet: SD1.5 canny ControlNet v1.1."""


@dataclass(frozen=True)
class ControlNetConfig:
    """The ``controlnet`` backend: a diffusers ControlNet pipeline over the edge maps.

    ``base_model``/``controlnet_model`` are hub ids or local folders (``save_pretrained`` layout);
    ``revision``/``controlnet_revision`` pin hub commits ('' = the default branch); ``variant`` picks a
    weight-file variant such as ``fp16`` ('' = full weights). ``resolution`` is the longer side the
    model runs at (a multiple of 8); the image is written at the render's size. ``dtype`` ``auto`` =
    float16 on CUDA, float32 on CPU. ``threads`` 0 keeps torch's default.
    """

    pipeline: Literal["sd", "sdxl"] = "sd"
    base_model: str = SD15_BASE
    controlnet_model: str = SD15_CANNY
    revision: str = ""
    controlnet_revision: str = ""
    variant: str = ""
    scheduler: Literal["unipc", "ddim"] = "unipc"
    steps: int = 20
    guidance_scale: float = 9.0
    conditioning_scale: float = 1.0
    resolution: int = 512
    batch_size: int = 1
    device: str = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    channels_last: bool = True
    compile: bool = False
    threads: int = 0

    def validate(self) -> None:
        if not self.base_model or not self.controlnet_model:
            raise ConfigError("base_model, controlnet_model: name a hub id or a local folder")
        if self.steps < 1:
            raise ConfigError("steps: must be >= 1")
        if self.guidance_scale < 0 or self.conditioning_scale < 0:
            raise ConfigError("guidance_scale, conditioning_scale: must be >= 0")
        if self.resolution < 8 or self.resolution % 8:
            raise ConfigError(f"resolution: a multiple of 8 (the VAE's scale factor), got {self.resolution}")
        if self.batch_size < 1:
            raise ConfigError("batch_size: must be >= 1")
        if self.threads < 0:
            raise ConfigError("threads: must be >= 0")
        check_device(self.device)


@dataclass(frozen=True)
class CompositeConfig:
    """The ``composite`` backend: the render pasted by its alpha on a background (the "Rendered + BG" ablation).

    ``backgrounds`` = '' uses the bundled set (the bpy wheel's 8 world HDR panoramas, tone-mapped, plus
    the photographs matplotlib and scikit-learn ship); or a folder of images (.jpg/.png/.exr/.hdr), with
    ``train/`` and ``test/`` sub-folders or flat. Backgrounds whose file stem is in ``test_backgrounds``
    serve the 'test' split only, the rest the 'train' split. Jitter ranges are [low, high], drawn per image.
    """

    backgrounds: str = ""
    test_backgrounds: tuple[str, ...] = ("forest", "night", "flower")
    crop_scale: tuple[float, float] = (0.35, 0.9)  # crop side / the background's shorter side
    exposure_ev: tuple[float, float] = (-0.7, 0.5)  # background exposure (stops)
    brightness: tuple[float, float] = (0.75, 1.25)  # object gain
    contrast: tuple[float, float] = (0.8, 1.2)
    saturation: tuple[float, float] = (0.7, 1.3)
    hue_deg: float = 8.0  # object hue shift, +- degrees
    tint: tuple[float, float] = (0.0, 0.3)  # how far the object's colour moves towards the background's mean light
    blur_edge_px: float = 0.6  # Gaussian sigma on the alpha edge, so the paste is not cut-out sharp

    def validate(self) -> None:
        for name in ("crop_scale", "exposure_ev", "brightness", "contrast", "saturation", "tint"):
            lo, hi = pair(self, name)
            if hi < lo:
                raise ConfigError(f"{name}: need low <= high, got [{lo}, {hi}]")
        if not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise ConfigError("crop_scale: need 0 < low <= high <= 1")
        for name in ("brightness", "contrast", "saturation"):
            if getattr(self, name)[0] <= 0:
                raise ConfigError(f"{name}: must be > 0")
        if not 0 <= self.tint[0] <= self.tint[1] <= 1:
            raise ConfigError("tint: need 0 <= low <= high <= 1")
        if not 0 <= self.hue_deg <= 180 or self.blur_edge_px < 0:
            raise ConfigError("hue_deg: in [0, 180]; blur_edge_px: >= 0")


NUISANCE_KINDS: tuple[str, ...] = ("weather", "occlusion", "context", "texture")
"""The OOD nuisances (``dst3d.synthesize.nuisance.KINDS``; listed here so params load without cv2)."""


@dataclass(frozen=True)
class NuisanceConfig:
    """``synthesize.nuisances``: extra evaluation splits ``ood_<kind>``, one per kind (the OOD-CV setting).

    Per kind and category, ``per_category`` rows of ``source_split`` (seeded draw) are made again under the
    nuisance: image operations for the composite backend, a prompt modifier for controlnet
    (:mod:`dst3d.synthesize.nuisance`). ``kinds: []`` or ``per_category: 0`` = none.
    """

    kinds: tuple[str, ...] = NUISANCE_KINDS
    per_category: int = 0  # off unless params ask (the quickstart's params.yaml: 10)
    source_split: str = "test"

    def validate(self) -> None:
        bad = sorted(set(self.kinds) - set(NUISANCE_KINDS))
        if bad:
            raise ConfigError(f"kinds: unknown {bad}; allowed: {list(NUISANCE_KINDS)}")
        if len(set(self.kinds)) != len(self.kinds):
            raise ConfigError("kinds: a kind is listed twice")
        if self.per_category < 0:
            raise ConfigError("per_category: must be >= 0 (0 = no nuisance splits)")
        if not self.source_split or self.source_split == "train":
            raise ConfigError("source_split: name a held-out split (e.g. test), not train or ''")

    @property
    def active(self) -> tuple[str, ...]:
        """The kinds that produce rows."""
        return self.kinds if self.per_category else ()


@dataclass(frozen=True)
class SynthesizeConfig:
    """The synthesize stage: ``images_per_render`` images per edge map, each with its own prompt and seed.

    ``backend`` names a registered backend (:data:`dst3d.synthesize.backends.BACKENDS`); each backend's
    settings are the sub-section of its name (``synthesize.composite:``, ``synthesize.controlnet:``).
    """

    PLUGIN_FIELD: ClassVar[str] = "backends"

    backend: str = "composite"
    images_per_render: int = 1
    grid_images: int = 8
    nuisances: NuisanceConfig = NuisanceConfig()
    backends: dict[str, Any] = field(default_factory=dict)  # backend name -> its params (sub-sections)

    @classmethod
    def plugins(cls) -> dict[str, type]:
        """One params sub-section per registered backend (imports only the light params classes)."""
        from dst3d.synthesize import backends

        return {name: backends.params_class(name) for name in backends.backend_names()}

    def backend_params(self, name: str = "") -> Any:
        """Backend ``name``'s (default: the active one's) params: its sub-section, or its defaults."""
        name = name or self.backend
        if name in self.backends:
            return self.backends[name]
        from dst3d.synthesize import backends

        return backends.params_class(name)()

    @property
    def controlnet(self) -> ControlNetConfig:
        return self.backend_params("controlnet")

    @property
    def composite(self) -> CompositeConfig:
        return self.backend_params("composite")

    def validate(self) -> None:
        from dst3d.synthesize import backends

        if self.backend not in backends.BACKENDS:
            raise ConfigError(
                f"backend: {self.backend!r} is not a registered synthesize backend; "
                f"allowed: {', '.join(backends.backend_names())}"
            )
        if self.images_per_render < 1:
            raise ConfigError("images_per_render: must be >= 1")
        if self.grid_images < 0:
            raise ConfigError("grid_images: must be >= 0")
