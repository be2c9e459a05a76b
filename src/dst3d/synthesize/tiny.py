"""A tiny, randomly initialised SD1.5-shaped (or SDXL-shaped) ControlNet pipeline for tests and offline trials.

``make_tiny_controlnet(out)`` writes two folders laid out like the two hub repositories the paper uses:

* ``out/sd15`` — a ``StableDiffusionPipeline`` (UNet2DConditionModel, 4-block AutoencoderKL so the VAE
  scale factor is 8 as in SD, CLIPTextModel + CLIPTokenizer, PNDM scheduler config), and
* ``out/controlnet`` — a ``ControlNetModel.from_unet`` of that UNet (conditioning embedding /8 like SD's).

Both are written with ``save_pretrained`` (safetensors) and are loaded by the ``controlnet`` backend
through exactly the code path that loads real weights: point ``synthesize.controlnet.base_model`` and
``controlnet_model`` at the two folders. The tokenizer is byte-level (every byte is a token, no merges)
and written here, so no vocabulary has to be downloaded; its context is 128 tokens instead of SD's 77
so that character-level tokens do not cut typical prompts.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from dst3d.prompts.clip_tokens import bytes_to_unicode

TINY_CONTEXT = 128
_SPECIAL = ("<|startoftext|>", "<|endoftext|>")
_ZERO_INIT = ("controlnet_down_blocks", "controlnet_mid_block", "controlnet_cond_embedding.conv_out")


def write_byte_level_tokenizer_files(folder: Path) -> int:
    """Write a CLIP ``vocab.json`` + ``merges.txt`` covering every byte (with and without ``</w>``); return its size."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    for tok in _SPECIAL:
        vocab[tok] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return len(vocab)


def _tokenizer(vocab_dir: Path):
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(vocab_dir), model_max_length=TINY_CONTEXT)


def _text_encoder(vocab_size: int, hidden: int, projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    cfg = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=TINY_CONTEXT,
        projection_dim=hidden,
        hidden_act="quick_gelu",  # SD1.5's CLIP ViT-L/14 text tower uses quick_gelu
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(cfg)


def _vae():
    from diffusers import AutoencoderKL

    # 4 blocks -> 3 downsamplings -> scale factor 8, like SD's VAE (block_out_channels (128, 256, 512, 512)).
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 16, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
        scaling_factor=0.18215,
    )


def _scheduler():
    from diffusers import PNDMScheduler

    # SD1.5's shipped scheduler config (the backend swaps in UniPC/DDIM from it, as with real weights).
    return PNDMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        set_alpha_to_one=False,
        skip_prk_steps=True,
        steps_offset=1,
    )


def make_tiny_controlnet(out: str | Path, seed: int = 0, sdxl: bool = False) -> dict[str, str]:
    """Build, save and return ``{'base_model': ..., 'controlnet_model': ...}`` folders under ``out``."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Writing model shards" bars for a 150 kB file
    out = Path(out)
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_size = write_byte_level_tokenizer_files(Path(tmp))
        tokenizer = _tokenizer(Path(tmp))
        assert len(tokenizer) == vocab_size
        hidden = 32
        unet_kwargs: dict = dict(
            block_out_channels=(32, 64),
            layers_per_block=1,
            sample_size=16,
            in_channels=4,
            out_channels=4,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            attention_head_dim=8,
            norm_num_groups=8,
        )
        if not sdxl:
            unet = UNet2DConditionModel(cross_attention_dim=hidden, **unet_kwargs)
            components = dict(text_encoder=_text_encoder(vocab_size, hidden), tokenizer=tokenizer)
        else:
            # SDXL: two text encoders whose hidden states are concatenated (cross_attention_dim = 2 * hidden),
            # plus the "text_time" added condition: pooled text projection + 6 size/crop numbers.
            time_dim = 8
            unet = UNet2DConditionModel(
                cross_attention_dim=2 * hidden,
                addition_embed_type="text_time",
                addition_time_embed_dim=time_dim,
                projection_class_embeddings_input_dim=6 * time_dim + hidden,
                use_linear_projection=True,
                **unet_kwargs,
            )
            components = dict(
                text_encoder=_text_encoder(vocab_size, hidden),
                tokenizer=tokenizer,
                text_encoder_2=_text_encoder(vocab_size, hidden, projection=True),
                tokenizer_2=_tokenizer(Path(tmp)),
            )
        controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 16, 16, 32))
        # from_unet copies the UNet's weights; give the ControlNet's own zero convs random weights so the
        # control signal reaches the UNet (real ControlNets are trained; zero convs would hide bugs).
        with torch.no_grad():
            for name, p in controlnet.named_parameters():
                if name.startswith(_ZERO_INIT):
                    p.normal_(0.0, 0.02)
        if sdxl:
            from diffusers import StableDiffusionXLPipeline

            pipe = StableDiffusionXLPipeline(unet=unet, vae=_vae(), scheduler=_scheduler(), **components)
        else:
            from diffusers import StableDiffusionPipeline

            pipe = StableDiffusionPipeline(
                unet=unet,
                vae=_vae(),
                scheduler=_scheduler(),
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
                **components,
            )
        name = "sdxl" if sdxl else "sd15"
        pipe.save_pretrained(out / name, safe_serialization=True)
        controlnet.save_pretrained(out / f"controlnet{'-sdxl' if sdxl else ''}", safe_serialization=True)
    return {"base_model": str(out / name), "controlnet_model": str(out / f"controlnet{'-sdxl' if sdxl else ''}")}


def folder_size(path: str | Path) -> int:
    """Total bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
