"""`dvc repro` of align -> render -> edges in a temp git repo: an edges param re-runs edges only."""

from __future__ import annotations

import json

import pytest
import yaml
from pipeline_utils import dvc, make_repo, ran_stages, smoke_params

from dst3d.schema import ImageRecord, read_manifest, resolve


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    params = smoke_params(
        {
            "base": {"categories": ["car", "chair"]},
            "align": {"instances_per_category": 1},
            "render": {"backend": "opengl", "views_per_model": 2, "width": 64, "height": 64, "grid_images": 2},
            "edges": {"grid_images": 2},
        }
    )
    return make_repo(tmp_path_factory.mktemp("render-pipeline"), params)


@pytest.mark.slow  # ~25-50 s on 2 cores (three dvc repro runs of three stages)
def test_repro_render_edges_then_an_edges_param_reruns_only_edges(repo):
    first = dvc(repo, "repro", "edges")
    assert ran_stages(first.stdout) == ["align", "render", "edges"]
    rows = read_manifest(repo / "data" / "edges" / "manifest.jsonl", ImageRecord)
    assert len(rows) == 4 and all(resolve(repo / "data" / "edges", r.edge).is_file() for r in rows)
    metrics = json.loads((repo / "metrics" / "render.json").read_text())
    assert metrics["views_written"] == 4 and metrics["backend"] == "opengl"
    shown = dvc(repo, "plots", "show", "--json").stdout
    assert "azimuth.csv" in shown and "elevation.csv" in shown and "theta.csv" in shown

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["edges"]["low_threshold"] = 50.0
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    second = dvc(repo, "repro", "edges")
    assert ran_stages(second.stdout) == ["edges"]

    params["render"]["views_per_model"] = 3  # render re-runs; the persistent folder keeps the 4 old views
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = dvc(repo, "repro", "edges")
    assert ran_stages(third.stdout) == ["render", "edges"]
    metrics = json.loads((repo / "metrics" / "render.json").read_text())
    assert (metrics["views_reused"], metrics["views_rendered_this_run"]) == (4, 2)
