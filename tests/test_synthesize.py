"""synthesize stage: plan, composite backend, annotation inheritance, resume (also after a kill), grid."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from synth_fixtures import make_fixture, write_params

import dst3d.schema
from dst3d import errors
from dst3d.params import BaseConfig
from dst3d.schema import ImageRecord, read_manifest
from dst3d.seeding import derive_seed
from dst3d.synthesize import composite
from dst3d.synthesize.params import CompositeConfig, SynthesizeConfig
from dst3d.synthesize.runner import SynthesizeError, plan, read_info

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "stages"))
import synthesize as stage  # noqa: E402  (stages/ is not a package)


def run_stage(tmp: Path, edges: Path, prompts: Path, params: Path) -> tuple[int, dict]:
    root = edges.parents[1]
    rc = errors.run_stage("synthesize", stage.main, [
        "--params", str(params), "--edges", str(edges), "--prompts", str(prompts), "--out", str(root / "synthesize"),
        "--plots", str(tmp / "plots"), "--metrics", str(tmp / "metrics.json"), "--no-progress",
    ])  # fmt: skip  (as `python stages/synthesize.py` runs it: user errors -> exit code 2)
    metrics = json.loads((tmp / "metrics.json").read_text()) if rc == 0 else {}
    return rc, metrics


@pytest.fixture
def fixture(tmp_path):
    edges, prompts = make_fixture(tmp_path / "data")
    return tmp_path, edges, prompts


def test_plan_ids_seeds_and_prompts(fixture):
    tmp, edges, prompts = fixture
    rows = read_manifest(edges, ImageRecord)
    cfg = SynthesizeConfig(images_per_render=2)
    base = BaseConfig(seed=7, categories=("car", "chair"))
    items = plan(rows, json_lines(prompts), base, cfg, tmp / "data/synthesize")
    assert len(items) == 2 * len(rows)
    first = items[0].record
    assert first.image_id == f"{rows[0].image_id}_s00"
    assert first.seed == derive_seed(7, "synthesize", first.image_id)
    assert first.image == f"synthesize/images/car/car-m000/{first.image_id}.png"
    # the two images of one render use the model's two different prompts
    assert items[0].record.prompt != items[1].record.prompt
    assert len({it.key for it in items}) == len(items)
    # categories outside base.categories are dropped; a model without prompts is an error
    only_car = plan(rows, json_lines(prompts), BaseConfig(categories=("car",)), cfg, tmp / "data/synthesize")
    assert {it.record.category for it in only_car} == {"car"}
    some_prompts = [p for p in json_lines(prompts) if p["model_id"] != "chair-m001"]
    with pytest.raises(SynthesizeError, match="chair-m001"):
        plan(rows, some_prompts, BaseConfig(categories=("car", "chair")), cfg, tmp / "data/synthesize")


def test_keys_follow_settings_and_the_schema_version(fixture, monkeypatch):
    tmp, edges, prompts = fixture
    rows, prompt_rows, base = read_manifest(edges, ImageRecord), json_lines(prompts), BaseConfig(categories=("car",))

    def keys(cfg: SynthesizeConfig) -> set[str]:
        return {it.key for it in plan(rows, prompt_rows, base, cfg, tmp / "data/synthesize")}

    default = keys(SynthesizeConfig())
    assert default == keys(SynthesizeConfig(grid_images=2))  # not a pixel setting
    assert not default & keys(SynthesizeConfig(backends={"composite": CompositeConfig(hue_deg=3.0)}))
    monkeypatch.setattr(dst3d.schema, "SCHEMA_VERSION", dst3d.schema.SCHEMA_VERSION + 1)
    assert not default & keys(SynthesizeConfig())  # a record format change invalidates every image


def test_importing_params_pulls_in_no_backend():
    code = (
        "import sys, dst3d.synthesize.params, dst3d.synthesize.backends; "
        "print(sorted({'cv2', 'PIL', 'torch', 'dst3d.synthesize.runner'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO / "src")))  # fmt: skip
    assert out.stdout.strip() == "[]"


def json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_stage_inherits_annotation_and_resumes(fixture):
    tmp, edges, prompts = fixture
    params = write_params(tmp / "params.yaml", {"backend": "composite", "images_per_render": 2})
    rc, metrics = run_stage(tmp, edges, prompts, params)
    assert rc == 0 and metrics["generated"] == 16 and metrics["images"] == 16 and metrics["reused"] == 0
    out = read_manifest(edges.parents[1] / "synthesize/manifest.jsonl", ImageRecord)
    src = {r.image_id: r for r in read_manifest(edges, ImageRecord)}
    synthesis_fields = dict(image="", seed=0, prompt="", negative_prompt="", backend="")
    for row in out:
        parent = src[row.image_id.rsplit("_s", 1)[0]]
        # Everything but the synthesis fields is the edges row, unchanged (annotations are never recomputed).
        assert dataclasses.replace(row, image_id=parent.image_id, **synthesis_fields) == dataclasses.replace(
            parent, **synthesis_fields
        )
        assert row.backend == "composite" and row.prompt and row.negative_prompt == "lowres, worst quality"
        img = cv2.imread(str(edges.parents[1] / row.image))
        assert img.shape == (row.height, row.width, 3)
        assert read_info(edges.parents[1] / row.image)["seed"] == row.seed
        # every upstream path still resolves from the new manifest's data root
        for f in ("rgb", "mask", "depth", "edge"):
            assert (edges.parents[1] / getattr(row, f)).is_file()
    assert (tmp / "plots/grid.png").stat().st_size > 10_000
    meta = json.loads((edges.parents[1] / "synthesize/meta.json").read_text())
    assert meta["backend"] == "composite" and meta["versions"]["numpy"]
    assert metrics["edge_recall_mean"] > 0.8  # a paste keeps the render's outline where the edge map has it

    # second run: nothing to do
    rc, metrics = run_stage(tmp, edges, prompts, params)
    assert (metrics["generated"], metrics["reused"], metrics["removed"]) == (0, 16, 0)
    # fewer images per render: the stage itself drops the images that are no longer planned
    write_params(params, {"backend": "composite", "images_per_render": 1})
    rc, metrics = run_stage(tmp, edges, prompts, params)
    assert (metrics["generated"], metrics["reused"], metrics["removed"]) == (0, 8, 8)
    assert len(list((edges.parents[1] / "synthesize/images").rglob("*.png"))) == 8
    # a changed input (one edge map) regenerates exactly the images that depend on it
    row = next(iter(src.values()))
    edge_path = edges.parents[1] / row.edge
    edge_path.write_bytes(cv2.imencode(".png", 255 - cv2.imread(str(edge_path)))[1].tobytes())
    rc, metrics = run_stage(tmp, edges, prompts, params)
    assert (metrics["generated"], metrics["reused"]) == (1, 7)


KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {stages!r})
import dst3d.synthesize.runner as synth
import synthesize as stage

real_run = synth.run
def run(*args, **kwargs):
    written = []
    def on_written(item):
        written.append(item)
        if len(written) == {after}:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no manifest: like a crash or an OOM kill
    return real_run(*args, on_written=on_written, **kwargs)
synth.run = run
sys.exit(stage.main(sys.argv[1:]))
"""


def test_resume_after_kill(fixture):
    tmp, edges, prompts = fixture
    root = edges.parents[1]
    params = write_params(tmp / "params.yaml", {"backend": "composite", "images_per_render": 2})
    script = KILL_SCRIPT.format(stages=str(REPO / "stages"), after=5)
    args = ["--params", str(params), "--edges", str(edges), "--prompts", str(prompts),
            "--out", str(root / "synthesize"), "--plots", str(tmp / "plots"), "--metrics", str(tmp / "metrics.json"),
            "--no-progress"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    done = sorted((root / "synthesize/images").rglob("*.png"))
    assert len(done) == 5 and not (root / "synthesize/manifest.jsonl").exists()
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in done}
    # a temp file as a kill during a write would leave it: must be cleaned up, never mistaken for an image
    stray = done[0].with_name(f".{done[0].name}.abc.part.png")
    stray.write_bytes(b"partial")

    rc, metrics = run_stage(tmp, edges, prompts, params)
    assert rc == 0
    assert (metrics["generated"], metrics["reused"], metrics["removed"]) == (11, 5, 1)
    assert not stray.exists()
    for p, (mtime, data) in before.items():
        assert p.stat().st_mtime_ns == mtime and p.read_bytes() == data

    # the resumed result equals an uninterrupted run (composite is deterministic in each image's seed)
    fresh_edges, fresh_prompts = make_fixture(tmp / "fresh" / "data")
    rc, _ = run_stage(tmp / "fresh", fresh_edges, fresh_prompts, params)
    for p in before:
        rel = p.relative_to(root)
        assert (tmp / "fresh" / "data" / rel).read_bytes() == p.read_bytes()


def test_composite_is_deterministic_and_uses_split_backgrounds(fixture):
    tmp, edges, prompts = fixture
    rows = read_manifest(edges, ImageRecord)
    cfg = SynthesizeConfig()
    items = plan(rows, json_lines(prompts), BaseConfig(categories=("car", "chair")), cfg, tmp / "data/synthesize")
    backend = composite.CompositeBackend.open(cfg.composite)
    recs = [it.record for it in items]
    a = backend.make(recs, edges.parents[1])
    b = backend.make(recs, edges.parents[1])
    for (x, ix), (y, iy) in zip(a, b, strict=True):
        assert np.array_equal(x, y) and ix == iy
    # different seeds give different images; the object itself stays where the mask says
    other = backend.make([dataclasses.replace(recs[0], seed=recs[0].seed + 1)], edges.parents[1])[0][0]
    assert np.abs(other.astype(int) - a[0][0]).mean() > 5
    test_names = set(cfg.composite.test_backgrounds)
    for rec, (_, info) in zip(recs, a, strict=True):
        assert (info["background"] in test_names) == (rec.split == "test")
    # with the jitter off, the object is the render's pixels exactly, the rest is the background
    plain = CompositeConfig(
        brightness=(1, 1), contrast=(1, 1), saturation=(1, 1), hue_deg=0, tint=(0, 0), blur_edge_px=0
    )
    rgb, alpha = composite.read_render(edges.parents[1], recs[0])
    img = composite.composite_image(rgb, alpha, np.zeros((50, 80, 3), np.uint8), np.random.default_rng(0), plain)
    assert np.abs(img[alpha == 1].astype(int) - rgb[alpha == 1]).max() <= 1
    assert img[alpha == 0].max() == 0


def test_bundled_backgrounds_and_folder_split(tmp_path):
    split = composite.split_backgrounds(CompositeConfig())
    names = {s: {p.stem for p in v} for s, v in split.items()}
    assert names["test"] == {"forest", "night", "flower"} and not names["train"] & names["test"]
    assert {"city", "sunset", "china", "grace_hopper"} <= names["train"]
    hdr = composite.load_background(str(next(p for p in split["test"] if p.suffix == ".exr")))
    assert hdr.dtype == np.uint8 and hdr.ndim == 3 and 20 < hdr.mean() < 235 and hdr.std() > 10  # tone-mapped
    # a user folder with train/ and test/ sub-folders is split by them
    for s, colour in (("train", 50), ("test", 200)):
        (tmp_path / "bg" / s).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "bg" / s / f"{s}.jpg"), np.full((40, 60, 3), colour, np.uint8))
    got = composite.split_backgrounds(CompositeConfig(backgrounds=str(tmp_path / "bg")))
    assert [p.name for p in got["train"]] == ["train.jpg"] and [p.name for p in got["test"]] == ["test.jpg"]
    with pytest.raises(composite.BackgroundError, match="unknown name"):
        composite.split_backgrounds(CompositeConfig(test_backgrounds=("nowhere",)))


def test_stage_fails_before_work_on_missing_input(fixture):
    tmp, edges, prompts = fixture
    row = read_manifest(edges, ImageRecord)[0]
    os.remove(edges.parents[1] / row.edge)
    params = write_params(tmp / "params.yaml", {"backend": "composite"})
    rc, _ = run_stage(tmp, edges, prompts, params)
    assert rc == 2
    assert not (edges.parents[1] / "synthesize").exists()
