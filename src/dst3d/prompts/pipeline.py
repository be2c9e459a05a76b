"""One prompts run, start to end: validator and backend built once, prompts generated, metrics assembled."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from dst3d.prompts import make_validator, open_backend
from dst3d.prompts.base import Backend
from dst3d.prompts.generate import Job, PromptRow, PromptStats, generate_prompts, make_jobs, template_baseline
from dst3d.prompts.params import PromptsConfig
from dst3d.schema import ModelRecord


def _r(value: float | None) -> float | None:
    """Rounded for the metrics file: 4 decimals is far below run-to-run noise (and hides float dust)."""
    return None if value is None else round(value, 4)


def _ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline; None when either is missing or the baseline is 0 (identical template prompts)."""
    if value is None or baseline is None or baseline <= 1e-6:
        return None
    return value / baseline


def diversity_metrics(
    rows: Sequence[PromptRow], jobs: Sequence[Job], cfg: PromptsConfig, base_seed: int
) -> dict[str, Any]:
    """Diversity of the written prompts and of both template styles for the same jobs, per category.

    The goal compares with the template backend as configured (``template.style``, default ``rich``):
    upstream's template repeats one sentence per category, so its diversity is 0 and any ratio to it is
    meaningless; it is reported for reference.
    """
    from dst3d.prompts.diversity import SentenceEmbedder, diversity_by_category  # imported here: torch

    d = cfg.diversity
    embedder = SentenceEmbedder(d.model, d.batch_size)
    written = diversity_by_category(embedder, [(r.category, r.prompt) for r in rows])
    # The same without the template fallbacks: what the backend itself wrote.
    own = diversity_by_category(
        embedder, [(r.category, r.prompt) for r in rows if r.attempts <= cfg.validation.max_attempts]
    )
    by_style = {
        style: diversity_by_category(embedder, template_baseline(jobs, cfg, base_seed, style))
        for style in ("rich", "upstream")
    }
    baseline = by_style[cfg.template.style]
    ratio = _ratio(written["mean"], baseline["mean"])
    categories = sorted({j.category for j in jobs})
    return {
        "model": d.model,
        "measure": "mean pairwise cosine distance of sentence embeddings, per category, then averaged",
        "prompts": _r(written["mean"]),
        "prompts_backend_only": _r(own["mean"]),
        "template_rich": _r(by_style["rich"]["mean"]),
        "template_upstream": _r(by_style["upstream"]["mean"]),
        "baseline": f"template_{cfg.template.style}",
        "ratio_vs_baseline": _r(ratio),
        "goal_ratio": d.goal_ratio,
        "goal_met": None if ratio is None else bool(ratio >= d.goal_ratio),
        "per_category": {
            c: {
                "prompts": _r(written["per_category"].get(c)),
                "prompts_backend_only": _r(own["per_category"].get(c)),
                "template_rich": _r(by_style["rich"]["per_category"].get(c)),
                "template_upstream": _r(by_style["upstream"]["per_category"].get(c)),
            }
            for c in categories
        },
    }


def build_metrics(
    rows: Sequence[PromptRow],
    stats: PromptStats,
    backend: Backend,
    diversity: dict[str, Any] | None,
    wall_s: float,
) -> dict[str, Any]:
    """The content of ``metrics/prompts.json``."""
    out = stats.to_dict()
    tokens = np.array([r.clip_tokens for r in rows]) if rows else np.zeros(0)
    out["backend"] = backend.describe()
    out["clip_tokens"] = {
        "mean": float(tokens.mean()) if len(tokens) else None,
        "max": int(tokens.max()) if len(tokens) else None,
    }
    out["diversity"] = diversity
    out["timing"] = {
        "wall_s": round(wall_s, 2),
        "generate_s": round(stats.generate_s, 2),
        "prompts_per_s": round(stats.candidates / stats.generate_s, 3) if stats.generate_s > 0 else None,
        "tokens_per_s": round(stats.generated_tokens / stats.generate_s, 1) if stats.generate_s > 0 else None,
        "generated_tokens": stats.generated_tokens,
    }
    return out


def run(
    models: Sequence[ModelRecord], cfg: PromptsConfig, base_seed: int, backend: Backend | None = None
) -> tuple[list[PromptRow], dict[str, Any]]:
    """Prompts and metrics for ``models``; the backend (its model) is built once here unless given."""
    t0 = time.perf_counter()
    validator = make_validator(cfg)  # before the model: a missing CLIP vocabulary fails in a second
    backend = backend if backend is not None else open_backend(cfg)
    jobs = make_jobs(models, cfg)
    rows, stats = generate_prompts(jobs, backend, validator, cfg, base_seed)
    diversity = diversity_metrics(rows, jobs, cfg, base_seed) if cfg.diversity.enabled else None
    return rows, build_metrics(rows, stats, backend, diversity, time.perf_counter() - t0)
