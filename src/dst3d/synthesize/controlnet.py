"""The ``controlnet`` backend: diffusers' ControlNet pipelines, used as a library.

Weights are a hub id or a local ``save_pretrained`` folder, loaded as safetensors only. They are checked
(:func:`check_weights`) before any model is built, so an offline machine without a cached copy fails at
once with a message naming the id and how to point params at a folder. Every image has its own CPU
``torch.Generator`` seeded from ``(base seed, image id)``: the initial latents are then the same whatever
the batch, device or order, so a batch equals the same images made one by one and any image can be
regenerated alone.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import cv2
import numpy as np

from dst3d import layout
from dst3d.devices import resolve_device
from dst3d.errors import UserError
from dst3d.schema import ImageRecord
from dst3d.synthesize.params import ControlNetConfig, SynthesizeConfig

DEVICE_PARAM = "synthesize.controlnet.device"


class WeightsError(UserError, RuntimeError):
    """Model weights cannot be found, reached or loaded."""


_INDEX_FILE = {"pipeline": "model_index.json", "model": "config.json"}
_PARAM = {"pipeline": "base_model", "model": "controlnet_model"}


def is_local(spec: str) -> bool:
    """A path (existing, or written like one) rather than a hub id ``org/name``."""
    if Path(spec).expanduser().exists():
        return True
    return spec.startswith(("/", ".", "~")) or spec.count("/") > 1 or "\\" in spec


def _hint(kind: str, spec: str) -> str:
    param = _PARAM[kind]
    return (
        f"Download it once where the hub is reachable (`hf download {spec}`, then copy the cache or set HF_HOME), "
        "or point params at a local save_pretrained folder: "
        f"`dvc exp run -S synthesize.controlnet.{param}=/path/to/folder`. "
        "To try the code path offline: `dst3d make-tiny-controlnet DIR` and use DIR/sd15 and DIR/controlnet."
    )


def hub_reachable() -> bool:
    """Whether the hub can be asked at all: not in offline mode and its host resolves.

    Asking an unreachable hub costs ~25 s of client retries per file; a failed DNS lookup costs
    milliseconds. Behind a proxy the local lookup says nothing, so the client is left to try.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    host = urlparse(constants.ENDPOINT).hostname or ""
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


def check_weights(spec: str, revision: str, kind: str) -> tuple[str, bool]:
    """Check that weights are reachable before any model is built; return ``(spec, local_files_only)``.

    ``kind`` is ``pipeline`` (a base model: model_index.json) or ``model`` (a ControlNet: config.json).
    A local folder must hold the index file and safetensors. A hub id must be in the local cache (then
    it is loaded from there without network, ``local_files_only``) or be fetchable; only its small
    index file is fetched here, the weights are loaded by diffusers.
    """
    index = _INDEX_FILE[kind]
    param = _PARAM[kind]
    if is_local(spec):
        folder = Path(spec).expanduser()
        if not folder.is_dir():
            raise WeightsError(f"synthesize.controlnet.{param}: local folder {spec!r} not found. {_hint(kind, spec)}")
        if not (folder / index).is_file():
            raise WeightsError(
                f"synthesize.controlnet.{param}: {spec!r} has no {index} (not a diffusers save_pretrained folder). "
                f"{_hint(kind, spec)}"
            )
        if not any(folder.rglob("*.safetensors")):
            raise WeightsError(
                f"synthesize.controlnet.{param}: {spec!r} holds no .safetensors weights (only safetensors are "
                "loaded; convert .bin/.ckpt with diffusers' save_pretrained(safe_serialization=True))"
            )
        return str(folder), True
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    at = f" at revision {revision!r}" if revision else ""
    if not hub_reachable():
        if isinstance(try_to_load_from_cache(spec, index, revision=revision or None), str):
            return spec, True
        raise WeightsError(
            f"synthesize.controlnet.{param}: {spec!r}{at} is not in the local Hugging Face cache and the hub "
            f"cannot be reached (offline). {_hint(kind, spec)}"
        )
    try:
        hf_hub_download(spec, index, revision=revision or None)
    except Exception as err:  # no cache + network error, unknown or gated repo: all end the same way
        first = str(err).splitlines()[0] if str(err) else ""
        raise WeightsError(
            f"synthesize.controlnet.{param}: cannot get {spec!r}{at} from the Hugging Face hub and it is not in "
            f"the local cache ({type(err).__name__}: {first}). {_hint(kind, spec)}"
        ) from None
    return spec, False


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto`` -> float16 on CUDA (SD1.5's weights are trained for it), float32 on CPU (fp16 CPU kernels are slow)."""
    if dtype != "auto":
        return dtype
    return "float16" if device.startswith("cuda") else "float32"


def pixel_settings(cfg: ControlNetConfig) -> dict[str, Any]:
    """The settings that change pixels (for the resume key): not batch size, threads or compile flags."""
    settings = dataclasses.asdict(cfg)
    for name in ("batch_size", "threads", "channels_last", "compile"):
        settings.pop(name)
    settings["device"] = resolve_device(cfg.device, DEVICE_PARAM).split(":")[0]
    settings["dtype"] = resolve_dtype(cfg.dtype, settings["device"])
    return settings


def describe(cfg: ControlNetConfig) -> dict[str, Any]:
    """Stage metadata: the pixel settings (device and dtype resolved) and the run settings; loads no model."""
    return {
        **pixel_settings(cfg),
        "pipeline_class": "StableDiffusionXLControlNetPipeline"
        if cfg.pipeline == "sdxl"
        else "StableDiffusionControlNetPipeline",
        "batch_size": cfg.batch_size,
        "channels_last": cfg.channels_last,
        "compile": cfg.compile,
    }


def open(params: ControlNetConfig, cfg: SynthesizeConfig) -> ControlNetBackend:
    """The backend for ``synthesize.controlnet``: weights checked, then the pipeline loaded."""
    return ControlNetBackend(params)


def generation_size(width: int, height: int, resolution: int) -> tuple[int, int]:
    """(w, h) the model runs at: longer side = ``resolution``, both multiples of 8 (the VAE's factor)."""
    scale = resolution / max(width, height)
    return max(8, round(width * scale / 8) * 8), max(8, round(height * scale / 8) * 8)


@dataclass(frozen=True)
class Request:
    """One image to make: text, edge map (H x W uint8), seed and the size to write it at."""

    prompt: str
    negative_prompt: str
    edge: np.ndarray
    seed: int
    width: int
    height: int


class ControlNetBackend:
    """Loads the pipeline once; :meth:`generate` makes a batch of images, one generator per image."""

    name = "controlnet"

    def __init__(self, cfg: ControlNetConfig) -> None:
        self.cfg = cfg
        # Both checks first: a missing base model must not wait for the ControlNet to load.
        base, base_local = check_weights(cfg.base_model, cfg.revision, "pipeline")
        control, control_local = check_weights(cfg.controlnet_model, cfg.controlnet_revision, "model")
        import torch

        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = resolve_device(cfg.device, DEVICE_PARAM)
        self.dtype = resolve_dtype(cfg.dtype, self.device)
        self.pipe = load_pipeline(
            cfg, base, control, self.device, getattr(torch, self.dtype), local_only=base_local and control_local
        )
        self.batch_size = cfg.batch_size

    def generate(self, requests: Sequence[Request]) -> list[np.ndarray]:
        """RGB uint8 images, each at its request's (width, height); requests of one call share a size."""
        return run_pipeline(self.pipe, self.cfg, requests)

    def make(self, records: Sequence[ImageRecord], root: Path) -> list[tuple[np.ndarray, dict[str, Any]]]:
        """Images for manifest rows (edge map, prompt, negative prompt and seed taken from each row)."""
        requests = [
            Request(r.prompt, r.negative_prompt, read_edge(root, r), r.seed, r.width, r.height) for r in records
        ]
        out: list[tuple[np.ndarray, dict[str, Any]]] = [(np.empty(0), {})] * len(requests)
        # Rows of different sizes cannot share one pipeline call: batch each size on its own, keep the order.
        for size in dict.fromkeys((r.width, r.height) for r in requests):
            idx = [i for i, r in enumerate(requests) if (r.width, r.height) == size]
            for j in range(0, len(idx), self.batch_size):
                part = idx[j : j + self.batch_size]
                for i, img in zip(part, self.generate([requests[i] for i in part]), strict=True):
                    out[i] = (img, {})
        return out


def load_pipeline(
    cfg: ControlNetConfig, base: str, control: str, device: str, dtype: Any, local_only: bool = False
) -> Any:
    """Build the diffusers pipeline from checked specs (hub ids or folders: the same call for both).

    ``local_only``: everything is on disk (folders, or hub ids found in the cache while offline), so
    diffusers must not ask the hub for updates.
    """
    from diffusers import ControlNetModel
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    # Per-component loading bars are noise next to the stage's own bar (hub download bars stay).
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    common: dict[str, Any] = {"dtype": dtype, "use_safetensors": True, "local_files_only": local_only}
    if cfg.variant:
        common["variant"] = cfg.variant
    try:
        controlnet = ControlNetModel.from_pretrained(control, revision=cfg.controlnet_revision or None, **common)
        if cfg.pipeline == "sdxl":
            from diffusers import StableDiffusionXLControlNetPipeline

            pipe = StableDiffusionXLControlNetPipeline.from_pretrained(
                base, controlnet=controlnet, revision=cfg.revision or None, **common
            )
        else:
            from diffusers import StableDiffusionControlNetPipeline

            # The safety checker is dropped as upstream 3D-DST does: it blanks images and needs extra weights.
            pipe = StableDiffusionControlNetPipeline.from_pretrained(
                base,
                controlnet=controlnet,
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
                revision=cfg.revision or None,
                **common,
            )
    except (OSError, ValueError) as err:
        raise WeightsError(f"synthesize.controlnet: loading {base!r} + {control!r} failed: {err}") from None
    return prepare_pipeline(pipe, cfg, device)


def prepare_pipeline(pipe: Any, cfg: ControlNetConfig, device: str) -> Any:
    """The stage's run settings on a built pipeline: scheduler, no inner bar, device, memory format, compile.

    Shared with ``benchmarks/synthesize.py`` so the benchmark measures exactly what the stage runs.
    """
    import torch
    from diffusers import DDIMScheduler, UniPCMultistepScheduler

    scheduler_cls = {"unipc": UniPCMultistepScheduler, "ddim": DDIMScheduler}[cfg.scheduler]
    pipe.scheduler = scheduler_cls.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)  # the stage shows one bar over images instead
    pipe.to(device)
    if cfg.channels_last:
        # NHWC is the layout cuDNN's tensor-core and oneDNN's CPU convolutions want (no transposes per conv).
        for module in (pipe.unet, pipe.controlnet, pipe.vae):
            module.to(memory_format=torch.channels_last)
    if cfg.compile:
        pipe.unet = torch.compile(pipe.unet, fullgraph=False)
        pipe.controlnet = torch.compile(pipe.controlnet, fullgraph=False)
    return pipe


def read_edge(root: Path, record: ImageRecord) -> np.ndarray:
    """The row's edge map as H x W uint8 (white edges on black)."""
    if not record.edge:
        raise FileNotFoundError(f"image {record.image_id}: no edge map in its row (did the edges stage run?)")
    edge = layout.imread(root / record.edge, cv2.IMREAD_GRAYSCALE)
    if edge is None:
        raise FileNotFoundError(f"{root / record.edge}: edge map missing or unreadable (image {record.image_id})")
    return edge


def conditioning_image(edge: np.ndarray, size: tuple[int, int]) -> Any:
    """Edge map (H x W or H x W x 3 uint8, white edges on black) -> RGB PIL image at ``size``."""
    from PIL import Image

    if edge.ndim == 2:
        edge = np.repeat(edge[:, :, None], 3, axis=2)
    if (edge.shape[1], edge.shape[0]) != size:
        # Nearest keeps the map binary; a blurred edge is not what the canny ControlNet was trained on.
        edge = cv2.resize(edge, size, interpolation=cv2.INTER_NEAREST)
    return Image.fromarray(np.ascontiguousarray(edge))


def run_pipeline(pipe: Any, cfg: ControlNetConfig, requests: Sequence[Request]) -> list[np.ndarray]:
    """One pipeline call for ``requests`` (same output size); returns RGB uint8 images."""
    import torch

    if not requests:
        return []
    sizes = {(r.width, r.height) for r in requests}
    if len(sizes) != 1:
        raise ValueError(f"one batch must share one output size, got {sorted(sizes)}")
    width, height = sizes.pop()
    gw, gh = generation_size(width, height, cfg.resolution)
    # CPU generators: the latents are drawn on the CPU and moved, so CPU and GPU runs start from the same noise.
    generators = [torch.Generator("cpu").manual_seed(r.seed) for r in requests]
    with torch.inference_mode():
        out = pipe(
            prompt=[r.prompt for r in requests],
            negative_prompt=[r.negative_prompt for r in requests],
            image=[conditioning_image(r.edge, (gw, gh)) for r in requests],
            height=gh,
            width=gw,
            num_inference_steps=cfg.steps,
            guidance_scale=cfg.guidance_scale,
            controlnet_conditioning_scale=cfg.conditioning_scale,
            generator=generators,
            output_type="np",
        ).images
    images = []
    for arr in out:
        img = (np.clip(arr, 0.0, 1.0) * 255.0).round().astype(np.uint8)
        if (gw, gh) != (width, height):
            # The annotation lives in render pixels: the image is written at the render's size.
            interp = cv2.INTER_AREA if gw > width else cv2.INTER_CUBIC
            img = cv2.resize(img, (width, height), interpolation=interp)
        images.append(img)
    return images
