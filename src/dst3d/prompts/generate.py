"""The prompts stage's core: jobs from the align manifest, generate → validate → regenerate → fallback.

Every aligned model gets ``prompts_per_model`` jobs. All pending jobs of one round go to the backend
together (so the LLM fills whole batches), each with its own seed derived from params' seed, the model
id, the prompt index and the attempt. Candidates are validated in job order against the prompts accepted
so far, so exact duplicates count as invalid and are regenerated. Jobs still invalid after
``max_attempts`` rounds get the template (the configured style, then upstream's); a fallback that is a
duplicate or otherwise invalid is dropped, and counted.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from dst3d.prompts.base import Backend, Request
from dst3d.prompts.params import PromptsConfig, PromptTemplateConfig
from dst3d.prompts.template import TemplateBackend, article_for
from dst3d.prompts.validate import RULES, Validator
from dst3d.prompts.words import name_of, terms_of
from dst3d.schema import ModelRecord
from dst3d.seeding import derive_seed

MAX_EXAMPLES = 3  # rejected replies kept per rule in the metrics, to show what the rules catch


@dataclass(frozen=True)
class Job:
    """One prompt to produce: the ``index``-th prompt of one aligned model."""

    model_id: str
    category: str
    index: int
    name: str
    keywords: tuple[str, ...]
    terms: tuple[str, ...]


def make_jobs(models: Iterable[ModelRecord], cfg: PromptsConfig) -> list[Job]:
    """Jobs in a stable order (category, model id, index). Keywords that only repeat the class name are
    dropped ("a car (car)"); subtypes such as "sedan" are kept (they tell the model what to describe); the
    first ``max_keywords`` are used (assets list the subtype and colours first, small details last)."""
    jobs = []
    for m in sorted(models, key=lambda r: (r.category, r.model_id)):
        name = name_of(cfg, m.category)
        terms = terms_of(cfg, m.category)
        plain = {m.category.lower(), name.lower()}
        words = [k.strip() for k in m.keywords]
        kws = tuple(dict.fromkeys(k for k in words if k and k.lower() not in plain))[: cfg.max_keywords]
        jobs.extend(Job(m.model_id, m.category, i, name, kws, terms) for i in range(cfg.prompts_per_model))
    return jobs


def make_request(job: Job, cfg: PromptsConfig, base_seed: int, attempt: int | str) -> Request:
    """The request for one attempt (1, 2, … or "template"), with its own derived seed."""
    keywords = ", ".join(job.keywords) if job.keywords else job.name
    fields = {
        "name": job.name,
        "article": article_for(job.name),
        "keywords": keywords,
        "category": job.category,
    }
    messages: list[dict[str, str]] = []
    if cfg.system_prompt:
        messages.append({"role": "system", "content": cfg.system_prompt})
    messages.append({"role": "user", "content": cfg.instruction.format(**fields)})
    return Request(
        model_id=job.model_id,
        category=job.category,
        index=job.index,
        name=job.name,
        article=fields["article"],
        keywords=job.keywords,
        messages=tuple(messages),
        seed=derive_seed(base_seed, "prompts", job.model_id, job.index, attempt),
        terms=job.terms,
    )


@dataclass
class CategoryStats:
    jobs: int = 0
    prompts: int = 0
    valid_first_try: int = 0
    valid_after_retry: int = 0
    fallback: int = 0
    dropped: int = 0


@dataclass
class PromptStats:
    """Counts of every outcome; ``rejections`` by rule name (one per invalid candidate)."""

    jobs: int = 0
    candidates: int = 0
    valid_candidates: int = 0
    valid_first_try: int = 0
    valid_after_retry: int = 0
    fallback: int = 0
    dropped: int = 0
    generated_tokens: int = 0
    generate_s: float = 0.0
    rejections: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    per_category: dict[str, CategoryStats] = field(default_factory=dict)

    def reject(self, rule: str, text: str) -> None:
        self.rejections[rule] += 1
        kept = self.examples.setdefault(rule, [])
        if len(kept) < MAX_EXAMPLES:
            kept.append(text)

    def to_dict(self) -> dict[str, Any]:
        backend_prompts = self.valid_first_try + self.valid_after_retry
        return {
            "jobs": self.jobs,
            "prompts": backend_prompts + self.fallback,
            "candidates": self.candidates,
            # Share of everything the backend wrote that passed all rules.
            "validity_rate": self.valid_candidates / self.candidates if self.candidates else None,
            # Share of requested prompts that ended with a backend-written (not fallback) prompt.
            "success_rate": backend_prompts / self.jobs if self.jobs else None,
            "fallback_count": self.fallback,
            "outcomes": {
                "valid_first_try": self.valid_first_try,
                "valid_after_retry": self.valid_after_retry,
                "fallback": self.fallback,
                "dropped": self.dropped,
            },
            "rejections": {rule: self.rejections.get(rule, 0) for rule in RULES},
            "rejected_examples": self.examples,
            "per_category": {k: vars(v) for k, v in sorted(self.per_category.items())},
        }


@dataclass(frozen=True)
class PromptRow:
    """One line of ``data/prompts/prompts.jsonl``. ``attempts`` counts every candidate written for it,
    the template fallback included; ``seed`` is the seed of the accepted candidate's request."""

    model_id: str
    category: str
    index: int
    prompt: str
    negative_prompt: str
    backend: str
    seed: int
    attempts: int
    clip_tokens: int


def _fallback(
    job: Job, cfg: PromptsConfig, base_seed: int, validator: Validator, seen: set[str]
) -> tuple[str, int, int] | None:
    """(prompt, seed, clip tokens) from the configured template style, then upstream's; None if none fits."""
    request = make_request(job, cfg, base_seed, "template")
    styles = dict.fromkeys([cfg.template.style, "upstream"])
    for style in styles:
        template = TemplateBackend(
            replace(cfg.template, style=style) if style != cfg.template.style else cfg.template
        )
        verdict = validator.check(template.write(request), job.terms, seen)
        if verdict.ok:
            return verdict.prompt, request.seed, verdict.clip_tokens
    return None


def generate_prompts(
    jobs: Sequence[Job], backend: Backend, validator: Validator, cfg: PromptsConfig, base_seed: int
) -> tuple[list[PromptRow], PromptStats]:
    """Run every job to a validated prompt (or a fallback, or a counted drop); rows in job order."""
    stats = PromptStats(jobs=len(jobs))
    for job in jobs:
        stats.per_category.setdefault(job.category, CategoryStats()).jobs += 1
    accepted: dict[tuple[str, int], PromptRow] = {}
    seen: set[str] = set()
    pending = list(jobs)
    for attempt in range(1, cfg.validation.max_attempts + 1):
        if not pending:
            break
        requests = [make_request(job, cfg, base_seed, attempt) for job in pending]
        t0 = time.perf_counter()
        completions = backend.generate(requests)
        stats.generate_s += time.perf_counter() - t0
        still = []
        for job, request, completion in zip(pending, requests, completions, strict=True):
            stats.candidates += 1
            stats.generated_tokens += completion.n_tokens
            verdict = validator.check(completion.text, job.terms, seen, completion.finished)
            if not verdict.ok:
                stats.reject(str(verdict.rule), completion.text)
                still.append(job)
                continue
            seen.add(verdict.prompt)
            stats.valid_candidates += 1
            cat = stats.per_category[job.category]
            if attempt == 1:
                stats.valid_first_try += 1
                cat.valid_first_try += 1
            else:
                stats.valid_after_retry += 1
                cat.valid_after_retry += 1
            accepted[(job.model_id, job.index)] = PromptRow(
                job.model_id,
                job.category,
                job.index,
                verdict.prompt,
                cfg.negative_prompt,
                backend.name,
                request.seed,
                attempt,
                verdict.clip_tokens,
            )
        pending = still
    for job in pending:
        cat = stats.per_category[job.category]
        fallback = _fallback(job, cfg, base_seed, validator, seen)
        if fallback is None:
            stats.dropped += 1
            cat.dropped += 1
            continue
        prompt, seed, n_tokens = fallback
        seen.add(prompt)
        stats.fallback += 1
        cat.fallback += 1
        accepted[(job.model_id, job.index)] = PromptRow(
            job.model_id,
            job.category,
            job.index,
            prompt,
            cfg.negative_prompt,
            TemplateBackend.name,
            seed,
            cfg.validation.max_attempts + 1,
            n_tokens,
        )
    rows = [accepted[(j.model_id, j.index)] for j in jobs if (j.model_id, j.index) in accepted]
    for row in rows:
        stats.per_category[row.category].prompts += 1
    return rows, stats


def template_baseline(
    jobs: Sequence[Job], cfg: PromptsConfig, base_seed: int, style: str
) -> list[tuple[str, str]]:
    """(category, prompt) that the template backend of ``style`` writes for the same jobs (first attempt)."""
    template = TemplateBackend(
        PromptTemplateConfig(
            style=style,
            quality=cfg.template.quality,  # type: ignore[arg-type]
            scenes=cfg.template.scenes,
        )
    )
    return [(j.category, template.write(make_request(j, cfg, base_seed, 1))) for j in jobs]
