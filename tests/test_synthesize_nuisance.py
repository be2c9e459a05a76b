"""OOD nuisance splits of the synthesize stage: planning, prompt modifiers, composite image operations and the
occluded annotation."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from synth_fixtures import make_fixture, write_params
from test_synthesize import json_lines, run_stage

from dst3d import schema
from dst3d.params import BaseConfig, ConfigError
from dst3d.schema import ImageRecord, read_manifest
from dst3d.synthesize import composite, nuisance
from dst3d.synthesize.params import NuisanceConfig, SynthesizeConfig
from dst3d.synthesize.runner import plan

BASE = BaseConfig(seed=3, categories=("car", "chair"))
ON = NuisanceConfig(per_category=2)


@pytest.fixture
def fixture(tmp_path):
    edges, prompts = make_fixture(tmp_path / "data", views=3)
    return tmp_path, edges, prompts


def _plan(fixture, backend: str = "composite", nuisances: NuisanceConfig = ON):
    tmp, edges, prompts = fixture
    cfg = SynthesizeConfig(backend=backend, nuisances=nuisances)
    return plan(read_manifest(edges, ImageRecord), json_lines(prompts), BASE, cfg, tmp / "data/synthesize")


def test_plan_adds_seeded_nuisance_splits_and_keeps_every_other_key(fixture):
    items = _plan(fixture)
    rows = [it.record for it in items if it.record.nuisance]
    src = {r.image_id: r for r in read_manifest(fixture[1], ImageRecord)}
    # 4 kinds x 2 categories x 2 rows (of the 3 test views per category)
    assert len(rows) == 16 and {r.split for r in rows} == {f"ood_{k}" for k in nuisance.KINDS}
    for r in rows:
        parent = src[r.image_id.rsplit("_", 1)[0]]
        assert r.image_id == f"{parent.image_id}_{r.nuisance}" and parent.split == "test"
        assert r.split == nuisance.split_name(r.nuisance)
        assert r.prompt.endswith(", " + nuisance.modifier(r.nuisance, r.seed))
        assert r.image == f"synthesize/images/{r.category}/{r.model_id}/{r.image_id}.png"
        if r.nuisance != "occlusion":  # the annotation is the render's
            assert (r.bbox, r.keypoints_2d, r.visib_fract) == (parent.bbox, parent.keypoints_2d, parent.visib_fract)
    assert len({it.key for it in items}) == len(items)
    # the nuisance splits add rows and change none of the others (their images are reused)
    plain = _plan(fixture, nuisances=NuisanceConfig(per_category=0))
    assert [(it.record, it.key) for it in plain] == [(it.record, it.key) for it in items if not it.record.nuisance]
    # seeded: the same draw again, and a larger per_category only adds rows
    assert [it.key for it in _plan(fixture)] == [it.key for it in items]
    more = {it.record.image_id for it in _plan(fixture, nuisances=NuisanceConfig(per_category=3))}
    assert {r.image_id for r in rows} < more


def test_controlnet_rows_carry_the_prompt_modifier_and_the_render_annotation(fixture):
    rows = [it.record for it in _plan(fixture, "controlnet") if it.record.nuisance]
    src = {r.image_id: r for r in read_manifest(fixture[1], ImageRecord)}
    for r in rows:
        parent = src[r.image_id.rsplit("_", 1)[0]]
        # the prompts stage's prompt (LLM or template alike), then the modifier that names the nuisance
        assert r.backend == "controlnet" and r.prompt.startswith(f"a photo of a {r.category} number 1 in style ")
        assert r.prompt.endswith(", " + nuisance.modifier(r.nuisance, r.seed))
        assert (r.bbox, r.keypoints_2d, r.visib_fract) == (parent.bbox, parent.keypoints_2d, parent.visib_fract)
    weather = {nuisance.variant("weather", r.seed) for r in rows if r.nuisance == "weather"}
    assert weather <= {"rain", "snow", "fog"}


def test_composite_nuisances_change_the_right_pixels(fixture):
    tmp, edges, _ = fixture
    root = edges.parents[1]
    items = [it.record for it in _plan(fixture) if it.record.nuisance]
    backend = composite.CompositeBackend.open(SynthesizeConfig().composite)
    for rec in items:
        img, info = backend.make([rec], root)[0]
        again, _ = backend.make([rec], root)[0]
        assert np.array_equal(img, again)  # seeded
        plain, _ = backend.make([dataclasses.replace(rec, nuisance="")], root)[0]
        _, alpha = composite.read_render(root, rec)
        diff = np.abs(img.astype(int) - plain.astype(int)).max(axis=2)
        assert info["nuisance"].startswith(rec.nuisance + "/")
        if rec.nuisance == "texture":  # only the object is recoloured
            assert diff[alpha == 0].max() == 0 and diff[alpha == 1].mean() > 5
        elif rec.nuisance == "context":  # a procedural background
            assert info["background"] == "procedural" and diff[alpha == 0].mean() > 20
        elif rec.nuisance == "weather":
            assert diff.mean() > 2
        else:  # occlusion: the pixels the annotation calls hidden are painted over, nothing far from the object
            hidden = (alpha > 0.5) & ~nuisance.occluder(np.zeros_like(img), alpha > 0.5, nuisance.op_seed(rec.seed))[1]
            assert hidden.any() and (diff[hidden] > 0).mean() > 0.95
            assert 0 < rec.visib_fract < 1


def test_occluded_annotation_is_the_visible_part(fixture):
    tmp, edges, _ = fixture
    root = edges.parents[1]
    src = {r.image_id: r for r in read_manifest(edges, ImageRecord)}
    for rec in (it.record for it in _plan(fixture) if it.record.nuisance == "occlusion"):
        parent = src[rec.image_id.rsplit("_", 1)[0]]
        _, alpha = composite.read_render(root, parent)
        _, visible = nuisance.occluder(np.zeros((*alpha.shape, 3), np.uint8), alpha > 0.5, nuisance.op_seed(rec.seed))
        assert rec.visib_fract == pytest.approx(visible.sum() / (alpha > 0.5).sum(), abs=1e-5)
        ys, xs = np.nonzero(visible)
        assert rec.bbox == (xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0)
        x0, y0, x1, y1 = parent.bbox
        assert x0 <= rec.bbox[0] and y0 <= rec.bbox[1] and rec.bbox[2] <= x1 and rec.bbox[3] <= y1
        for name, (u, v, vis) in rec.keypoints_2d.items():
            pu, pv, pvis = parent.keypoints_2d[name]
            assert (u, v) == (pu, pv)
            inside = 0 <= int(v) < alpha.shape[0] and 0 <= int(u) < alpha.shape[1]
            covered = inside and alpha[int(v), int(u)] > 0.5 and not visible[int(v), int(u)]
            assert vis == (0 if covered else pvis)


def test_stage_writes_nuisance_rows_and_counts_them(fixture):
    tmp, edges, prompts = fixture
    params = write_params(tmp / "params.yaml", {"backend": "composite",
                                                "nuisances": {"kinds": ["weather", "occlusion"], "per_category": 1}})
    rc, metrics = run_stage(tmp, edges, prompts, params)
    assert rc == 0 and metrics["per_nuisance"] == {"occlusion": 2, "weather": 2}
    assert metrics["per_split"]["ood_weather"] == 2 and metrics["images"] == 12 + 4
    manifest = edges.parents[1] / "synthesize/manifest.jsonl"
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    # the optional field is written only where set: other rows are exactly what they were before it existed
    assert sum("nuisance" in row for row in lines) == 4
    rows = read_manifest(manifest, ImageRecord)
    assert {r.nuisance for r in rows} == {"", "weather", "occlusion"}
    assert schema.to_dict(rows[0]).keys() == {f.name for f in dataclasses.fields(ImageRecord)} - {"nuisance"}
    rc, metrics = run_stage(tmp, edges, prompts, params)
    assert (metrics["generated"], metrics["reused"]) == (0, 16)


def test_nuisance_params_are_checked():
    with pytest.raises(ConfigError, match="kinds"):
        NuisanceConfig(kinds=("rain",)).validate()
    with pytest.raises(ConfigError, match="source_split"):
        NuisanceConfig(source_split="train").validate()
    assert NuisanceConfig().active == () and ON.active == nuisance.KINDS


def test_unknown_kind_is_refused_by_the_image_operation():
    with pytest.raises(ValueError, match="unknown nuisance"):
        nuisance.apply("glare", np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8)), 0)
