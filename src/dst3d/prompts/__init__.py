"""Prompts for the synthesize stage: LLM-written, validated, measured for diversity.

Backends: ``llm`` (transformers causal LM, default SmolLM2-135M-Instruct GGUF), ``openai`` (any
OpenAI-compatible chat endpoint), ``template`` (upstream's template and a seeded combiner).
"""

from __future__ import annotations

from dst3d.config import PromptsConfig
from dst3d.prompts.base import Backend, Completion, PromptBackendError, Request
from dst3d.prompts.clip_tokens import ClipTokenCounter
from dst3d.prompts.generate import Job, PromptRow, PromptStats, generate_prompts, make_jobs, make_request
from dst3d.prompts.template import TemplateBackend
from dst3d.prompts.validate import RULES, Validator, Verdict

__all__ = [
    "RULES",
    "Backend",
    "ClipTokenCounter",
    "Completion",
    "Job",
    "PromptBackendError",
    "PromptRow",
    "PromptStats",
    "Request",
    "TemplateBackend",
    "Validator",
    "Verdict",
    "generate_prompts",
    "make_backend",
    "make_jobs",
    "make_request",
    "make_validator",
]


def make_backend(cfg: PromptsConfig) -> Backend:
    """The configured backend, its model loaded now (once per stage run)."""
    if cfg.backend == "llm":
        from dst3d.prompts.llm import LLMBackend  # imported here: pulls in torch and transformers

        return LLMBackend(cfg.llm, cfg.sampling)
    if cfg.backend == "openai":
        from dst3d.prompts.openai_api import OpenAIBackend

        return OpenAIBackend(cfg.openai, cfg.sampling)
    return TemplateBackend(cfg.template)


def make_validator(cfg: PromptsConfig) -> Validator:
    """The validator with CLIP's merges loaded from ``validation.clip_bpe``."""
    v = cfg.validation
    return Validator(ClipTokenCounter.from_spec(v.clip_bpe), v.clip_max_tokens, v.min_words)
