"""`dvc repro` of the align stage in a temp git repo; a second repro is a no-op."""

from __future__ import annotations

import json

import pytest
from pipeline_utils import dvc, make_repo, ran_stages, smoke_params

from dst3d.schema import ModelRecord, read_manifest


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    params = smoke_params(
        {"base": {"categories": ["car", "chair"]}, "align": {"instances_per_category": 2, "contact_sheet": True}}
    )
    return make_repo(tmp_path_factory.mktemp("align"), params)


def test_dvc_repro_align_then_noop(repo):
    first = dvc(repo, "repro", "align")
    assert ran_stages(first.stdout) == ["align"]
    rows = read_manifest(repo / "data" / "align" / "manifest.jsonl", ModelRecord)
    assert sorted(r.model_id for r in rows) == ["car-b000", "car-b001", "chair-b000", "chair-b001"]
    for r in rows:
        assert (repo / "data" / r.mesh).is_file() and r.seed is not None and r.keypoints and r.keywords
    metrics = json.loads((repo / "metrics" / "align.json").read_text())
    assert metrics["per_category"] == {"car": 2, "chair": 2}
    assert (repo / "metrics" / "plots" / "align" / "contact_sheet.png").stat().st_size > 1000
    second = dvc(repo, "repro", "align")
    assert ran_stages(second.stdout) == []
    assert "didn't change" in second.stdout or "is cached" in second.stdout or "up to date" in second.stdout


def test_same_seed_same_meshes(repo, tmp_path):
    """Re-running from scratch reproduces identical mesh files (seeded generation)."""
    before = {p.relative_to(repo): p.read_bytes() for p in (repo / "data" / "align").rglob("*.obj")}
    dvc(repo, "repro", "-f", "align")
    after = {p.relative_to(repo): p.read_bytes() for p in (repo / "data" / "align").rglob("*.obj")}
    assert before and before == after
