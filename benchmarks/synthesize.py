"""Seconds per image of the synthesize stage's ControlNet path vs a naive diffusers baseline.

The model is the real SD1.5 + canny-ControlNet *architecture* (UNet 860M, ControlNet 361M, CLIP ViT-L/14
text tower 123M, SD VAE 84M parameters) built from its public configs with random weights: no download,
no dst3d data. Timings do not depend on the weights' values.

* ``naive``: diffusers as its docs show it: fp32, one image per call, default attention, NCHW.
* ``stage ...``: the stage's own code (``prepare_pipeline`` + ``run_pipeline``: per-image generators,
  channels_last, the configured dtype and batch size), so the numbers are what ``dvc repro`` gets.

CPU (default): 256 px, 2 steps (a few minutes on 2 cores). GPU: ``--device cuda`` runs 512 px, 20 steps,
fp16/bf16 at batch 1/4/8, with/without SDPA and channels_last, and ``--compile`` adds torch.compile.

    python benchmarks/synthesize.py                      # CPU
    python benchmarks/synthesize.py --device cuda --compile --json bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

# Public configs (stable-diffusion-v1-5 unet/vae config.json, openai/clip-vit-large-patch14 text config,
# lllyasviel/control_v11p_sd15_canny = ControlNetModel.from_unet of that UNet).
SD15_UNET = dict(
    sample_size=64, in_channels=4, out_channels=4, center_input_sample=False, flip_sin_to_cos=True, freq_shift=0,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, downsample_padding=1, mid_block_scale_factor=1,
    act_fn="silu", norm_num_groups=32, norm_eps=1e-5, cross_attention_dim=768, attention_head_dim=8,
)  # fmt: skip
SD_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=4, sample_size=512, act_fn="silu", layers_per_block=2,
    down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    block_out_channels=(128, 256, 512, 512), norm_num_groups=32, scaling_factor=0.18215,
)  # fmt: skip
CLIP_L14_TEXT = dict(
    vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
    max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768,
)  # fmt: skip
CONTROLNET_COND_CHANNELS = (16, 32, 96, 256)
PROMPT = "a photo of a red car parked on a wet street at dusk, best quality, extremely detailed"
NEGATIVE = "longbody, lowres, bad anatomy, cropped, worst quality, low quality"


@dataclass(frozen=True)
class Variant:
    name: str
    naive: bool = False
    dtype: str = "float32"
    batch: int = 1
    channels_last: bool = True
    sdpa: bool = True
    compile: bool = False


def build_pipeline() -> Any:
    """SD1.5 + ControlNet with random weights from the public configs (fp32, on the CPU)."""
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        PNDMScheduler,
        StableDiffusionControlNetPipeline,
        UNet2DConditionModel,
    )  # fmt: skip
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from dst3d.synthesize.tiny import write_byte_level_tokenizer_files

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        # The token ids a real CLIP vocabulary gives do not change the cost: a byte-level one stands in.
        n = write_byte_level_tokenizer_files(Path(tmp))
        tokenizer = CLIPTokenizer.from_pretrained(tmp, model_max_length=77)
    text = CLIPTextModel(CLIPTextConfig(**CLIP_L14_TEXT, bos_token_id=n - 2, eos_token_id=n - 1, pad_token_id=n - 1))
    unet = UNet2DConditionModel(**SD15_UNET)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=CONTROLNET_COND_CHANNELS)
    scheduler = PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
        set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1,
    )  # fmt: skip
    pipe = StableDiffusionControlNetPipeline(
        vae=AutoencoderKL(**SD_VAE), text_encoder=text, tokenizer=tokenizer, unet=unet, controlnet=controlnet,
        scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    return pipe


def n_params(pipe: Any) -> dict[str, float]:
    return {
        name: sum(p.numel() for p in getattr(pipe, name).parameters()) / 1e6
        for name in ("unet", "controlnet", "text_encoder", "vae")
    }


def edge_map(size: int) -> np.ndarray:
    """A car-like outline: what a canny map of a render looks like (cost does not depend on it)."""
    import cv2

    edge = np.zeros((size, size), np.uint8)
    s = size / 256
    cv2.rectangle(edge, (int(40 * s), int(120 * s)), (int(216 * s), int(180 * s)), 255, 1)
    cv2.circle(edge, (int(80 * s), int(180 * s)), int(20 * s), 255, 1)
    cv2.circle(edge, (int(176 * s), int(180 * s)), int(20 * s), 255, 1)
    return edge


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 5 ms)."""

    def __enter__(self) -> PeakRSS:
        import psutil

        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def configure(pipe: Any, v: Variant, device: str, steps: int, resolution: int) -> Any:
    """Put the shared modules in the variant's state; returns the ControlNetConfig the stage would use."""
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    from dst3d.synthesize.controlnet import prepare_pipeline
    from dst3d.synthesize.params import ControlNetConfig

    fmt = torch.channels_last if v.channels_last else torch.contiguous_format
    pipe.to(device, getattr(torch, v.dtype))
    for module in (pipe.unet, pipe.controlnet, pipe.vae):
        module.to(memory_format=fmt)
        module.set_attn_processor(AttnProcessor2_0() if v.sdpa else AttnProcessor())
    cfg = ControlNetConfig(
        steps=steps, resolution=resolution, batch_size=v.batch, dtype=v.dtype, channels_last=v.channels_last,
        compile=v.compile, device=device,
    )  # fmt: skip
    if not v.naive:
        prepare_pipeline(pipe, cfg, device)
    return cfg


def time_variant(
    pipe: Any, v: Variant, device: str, steps: int, resolution: int, repeats: int, warmup: int
) -> dict[str, Any]:
    from PIL import Image

    from dst3d.synthesize.controlnet import Request, run_pipeline

    base = {k: getattr(pipe, k) for k in ("unet", "controlnet")}
    cfg = configure(pipe, v, device, steps, resolution)
    edge = edge_map(resolution)

    def call(i: int) -> None:
        if v.naive:  # the docs' way: one prompt, one PIL image, one generator, PIL output
            pipe(
                PROMPT, image=Image.fromarray(np.repeat(edge[:, :, None], 3, 2)), negative_prompt=NEGATIVE,
                num_inference_steps=steps, guidance_scale=9.0, controlnet_conditioning_scale=1.0,
                height=resolution, width=resolution, generator=torch.Generator(device).manual_seed(i),
            )  # fmt: skip
        else:
            reqs = [Request(PROMPT, NEGATIVE, edge, 1000 * i + j, resolution, resolution) for j in range(v.batch)]
            run_pipeline(pipe, cfg, reqs)

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        for i in range(warmup):  # allocator, kernel selection, compilation
            call(-1 - i)
        sync()
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(repeats):
            call(i + 1)
        sync()
        took = time.perf_counter() - t0
    for k, m in base.items():  # undo torch.compile wrappers for the next variant
        setattr(pipe, k, m)
    per_image = took / (repeats * v.batch)
    peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else rss.peak
    return {
        **v.__dict__,
        "s_per_image": per_image,
        "images_per_s": 1.0 / per_image,
        "warmup_s": warm,
        "peak_mem_gib": peak / 2**30,
        "peak_kind": "cuda max allocated" if device.startswith("cuda") else "process RSS",
    }


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def variants(device: str, batch_sizes: list[int], compile_: bool, cpu_bf16: bool) -> list[Variant]:
    naive = Variant("naive (diffusers defaults: fp32, batch 1)", naive=True, channels_last=False)
    if not device.startswith("cuda"):
        # The stage's CPU default (dtype auto = fp32), and bf16 where the CPU has native bf16 dot products.
        out = [Variant(f"stage: fp32, channels_last, batch {b}", batch=b) for b in batch_sizes]
        if cpu_bf16:
            out += [Variant(f"stage: bf16, channels_last, batch {b}", dtype="bfloat16", batch=b) for b in batch_sizes]
        return [naive, *out]
    out = [naive]
    for dtype in ("float16", "bfloat16"):
        short = "fp16" if dtype == "float16" else "bf16"
        out += [Variant(f"stage: {short}, channels_last, batch {b}", dtype=dtype, batch=b) for b in batch_sizes]
    top = max(batch_sizes)
    out += [
        Variant(f"ablation: fp16, batch {top}, NCHW", dtype="float16", batch=top, channels_last=False),
        Variant(f"ablation: fp16, batch {top}, no SDPA", dtype="float16", batch=top, sdpa=False),
    ]
    if compile_:
        out += [Variant(f"stage: fp16, channels_last, batch {b}, compile", dtype="float16", batch=b, compile=True)
                for b in sorted({1, top})]  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--resolution", type=int, default=None, help="default: 256 on CPU, 512 on CUDA")
    ap.add_argument("--steps", type=int, default=None, help="default: 2 on CPU, 20 on CUDA (the paper's)")
    ap.add_argument("--batch-sizes", default=None, help="comma list; default: 1 on CPU, 1,4,8 on CUDA")
    ap.add_argument("--repeats", type=int, default=None, help="timed calls per variant (default: 1 on CPU, 3 on CUDA)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed calls first (default: 0 on CPU, 1 on CUDA)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile variants (CUDA)")
    ap.add_argument("--cpu-bf16", choices=["auto", "on", "off"], default="auto", help="CPU bf16 variant")
    ap.add_argument("--only", default="", help="run only variants whose name contains this text")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        ap.error("--device cuda but no CUDA device is visible")
    if args.threads:
        torch.set_num_threads(args.threads)
    resolution = args.resolution or (512 if cuda else 256)
    steps = args.steps or (20 if cuda else 2)
    batch_sizes = [int(b) for b in (args.batch_sizes or ("1,4,8" if cuda else "1")).split(",")]
    repeats = args.repeats or (3 if cuda else 1)
    # A CPU call takes minutes and its first-call overhead is small next to that (oneDNN primitive set-up);
    # on a GPU the first call pays allocator growth, cuDNN autotuning and compilation, so it is never timed.
    warmup = args.warmup if args.warmup is not None else (1 if cuda else 0)
    bf16 = args.cpu_bf16 == "on" or (args.cpu_bf16 == "auto" and cpu_has_bf16())
    if cuda:
        torch.backends.cudnn.benchmark = True  # fixed shapes per variant: let cuDNN pick its fastest kernels

    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()  # per-.to() dtype notes would drown the table
    t0 = time.perf_counter()
    pipe = build_pipeline()
    params = n_params(pipe)
    print(f"built SD1.5 + ControlNet from configs in {time.perf_counter() - t0:.0f} s: "
          + ", ".join(f"{k} {v:.0f}M" for k, v in params.items()))  # fmt: skip
    device_name = torch.cuda.get_device_name(args.device) if cuda else platform.processor() or platform.machine()
    print(f"device {args.device} ({device_name}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}; {resolution} px, {steps} steps, guidance 9.0; per variant "
          f"{warmup} warm-up + {repeats} timed call(s)")  # fmt: skip
    results = []
    for v in variants(args.device, batch_sizes, args.compile, bf16):
        if args.only and args.only not in v.name and not v.naive:
            continue
        r = time_variant(pipe, v, args.device, steps, resolution, repeats, warmup)
        results.append(r)
        print(f"  {v.name:45s} {r['s_per_image']:8.3f} s/img  {r['images_per_s']:7.3f} img/s  "
              f"peak {r['peak_mem_gib']:6.2f} GiB  (warm-up {r['warmup_s']:.1f} s)", flush=True)  # fmt: skip
    naive = results[0]["s_per_image"]
    rows = ["| variant | s / image | images / s | speed-up vs naive | peak memory (GiB) |", "|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r['name']} | {r['s_per_image']:.3f} | {r['images_per_s']:.3f} | "
                    f"{naive / r['s_per_image']:.2f}x | {r['peak_mem_gib']:.2f} |")  # fmt: skip
    print("\n" + "\n".join(rows))
    best = min(results[1:], key=lambda r: r["s_per_image"]) if len(results) > 1 else results[0]
    print(f"\nbest stage variant: {best['name']}: {naive / best['s_per_image']:.2f}x the naive baseline "
          f"({best['s_per_image']:.3f} vs {naive:.3f} s/image)")  # fmt: skip
    if args.json:
        meta = {"device": args.device, "device_name": device_name, "resolution": resolution, "steps": steps,
                "torch": torch.__version__, "threads": torch.get_num_threads(), "params_m": params,
                "load_average_end": os.getloadavg()[0]}  # fmt: skip
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
