"""What every prompt backend takes and returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from dst3d.errors import UserError


class PromptBackendError(UserError, RuntimeError):
    """A backend cannot produce text at all (model missing, server unreachable after retries)."""


@dataclass(frozen=True)
class Request:
    """One prompt to write: the chat messages for a language model, and the fields a template uses.

    ``seed`` is this attempt's own seed (derived from params' seed, the model id, the prompt index and
    the attempt number), so every backend is deterministic for the same params.
    """

    model_id: str
    category: str
    index: int
    name: str
    article: str
    keywords: tuple[str, ...]
    messages: tuple[dict[str, str], ...]
    seed: int
    terms: tuple[str, ...] = ()  # words that name the category (id, name, synonyms)


@dataclass(frozen=True)
class Completion:
    """A backend's raw reply. ``finished`` is False when it stopped at the token limit."""

    text: str
    finished: bool = True
    n_tokens: int = 0


class Backend(Protocol):
    """A prompt writer; ``generate`` returns one completion per request, in order."""

    name: str

    def generate(self, requests: Sequence[Request]) -> list[Completion]: ...

    def describe(self) -> dict[str, object]: ...
