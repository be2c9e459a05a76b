"""Prompts for the synthesize stage: LLM-written, validated, measured for diversity.

Backends: ``llm`` (transformers causal LM, default SmolLM2-135M-Instruct GGUF), ``openai`` (any
OpenAI-compatible chat endpoint), ``template`` (upstream's template and a seeded combiner); the
registry and :func:`open_backend` are in :mod:`.backends`.
"""

from __future__ import annotations

from dst3d.prompts.backends import BACKENDS, open_backend
from dst3d.prompts.base import Backend, Completion, PromptBackendError, Request
from dst3d.prompts.clip_tokens import ClipTokenCounter
from dst3d.prompts.generate import Job, PromptRow, PromptStats, generate_prompts, make_jobs, make_request
from dst3d.prompts.params import PromptsConfig
from dst3d.prompts.template import TemplateBackend
from dst3d.prompts.validate import RULES, Validator, Verdict

__all__ = [
    "BACKENDS",
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
    "make_jobs",
    "make_request",
    "make_validator",
    "open_backend",
]


def make_validator(cfg: PromptsConfig) -> Validator:
    """The validator with CLIP's merges loaded from ``validation.clip_bpe``."""
    v = cfg.validation
    return Validator(ClipTokenCounter.from_spec(v.clip_bpe), v.clip_max_tokens, v.min_words)
