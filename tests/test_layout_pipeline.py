"""The same tiny pipeline (align -> render -> edges -> prompts -> synthesize) with base.layout files and shards:
equal rows apart from the file references, identical decoded pixels, every reader served, resume kept."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from pipeline_utils import REPO, smoke_params

from dst3d import layout
from dst3d.export.common import place
from dst3d.schema import ImageRecord, read_manifest, resolve
from dst3d.training.data import load_rgb, samples_from_records

TINY = {
    "base": {"categories": ["car", "chair"], "shard_size": 3},
    "align": {"instances_per_category": 1, "contact_sheet": False},
    "render": {"backend": "opengl", "views_per_model": 3, "width": 48, "height": 48, "workers": 1, "grid_images": 2},
    "edges": {"workers": 1, "grid_images": 2},
    "prompts": {"backend": "template", "prompts_per_model": 1, "diversity": {"enabled": False}},
    "synthesize": {"grid_images": 2},
}
FIELDS = ("rgb", "mask", "depth", "edge", "image")


def stage(name: str, *argv: str) -> None:
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(list(argv)) == 0


def run(work: Path, which: str, params: Path) -> None:
    data, plots = work / "data", work / "plots"
    p = ("--params", str(params))
    for name, args in {
        "render": ("--align", f"{data}/align", "--out", f"{data}/render"),
        "edges": ("--render", f"{data}/render", "--out", f"{data}/edges"),
        "synthesize": ("--edges", f"{data}/edges/manifest.jsonl", "--prompts", f"{data}/prompts/prompts.jsonl",
                       "--out", f"{data}/synthesize", "--no-progress"),
    }.items():
        if name in which:
            stage(name, *p, *args, "--plots", f"{plots}/{name}", "--metrics", f"{work}/{name}.json")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("layout-pipeline")
    out = {}
    for lay in ("files", "shards"):
        params = smoke_params({**TINY, "base": {**TINY["base"], "layout": lay}})
        (tmp / f"{lay}.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        work = tmp / lay
        if lay == "files":
            d = work / "data"
            stage("align", "--params", str(tmp / "files.yaml"), "--out", f"{d}/align", "--plots", f"{work}/pa",
                  "--metrics", f"{work}/align.json")
            stage("prompts", "--params", str(tmp / "files.yaml"), "--manifest", f"{d}/align/manifest.jsonl",
                  "--out", f"{d}/prompts", "--metrics", f"{work}/prompts.json")
        else:  # the same align and prompts outputs: only the layout differs
            for sub in ("align", "prompts"):
                shutil.copytree(tmp / "files" / "data" / sub, work / "data" / sub)
        run(work, "render edges synthesize", tmp / f"{lay}.yaml")
        out[lay] = work
    out["params"] = tmp / "shards.yaml"
    return out


def rows(work: Path) -> list[ImageRecord]:
    return read_manifest(work / "data" / "synthesize" / "manifest.jsonl", ImageRecord)


def test_same_rows_and_pixels_in_both_layouts(runs):
    files, shards = rows(runs["files"]), rows(runs["shards"])
    assert len(files) == len(shards) > 0
    no_refs = dict.fromkeys(FIELDS, "")
    for f, s in zip(files, shards, strict=True):
        assert dataclasses.replace(f, **no_refs) == dataclasses.replace(s, **no_refs)
        for field in FIELDS:
            assert not layout.is_member(getattr(f, field)) and layout.is_member(getattr(s, field))
            a = layout.imread(resolve(runs["files"] / "data" / "render", getattr(f, field)), -1)
            b = layout.imread(resolve(runs["shards"] / "data" / "render", getattr(s, field)), -1)
            np.testing.assert_array_equal(a, b)
    # shards hold everything: no loose per-image file is left in any stage folder
    for st in ("render", "edges", "synthesize"):
        assert not list((runs["shards"] / "data" / st).rglob("*.png")), st
        assert list((runs["shards"] / "data" / st / "shards").glob(f"{st}-*.tar"))
    assert shards[0].image.startswith("synthesize/shards/synthesize-000000.tar#")
    assert shards[0].image.endswith(".image.png")


def test_readers_take_shard_members(runs, tmp_path):
    manifest = runs["shards"] / "data" / "synthesize" / "manifest.jsonl"
    f_manifest = runs["files"] / "data" / "synthesize" / "manifest.jsonl"
    s = samples_from_records(rows(runs["shards"]), manifest, ["car", "chair"])
    f = samples_from_records(rows(runs["files"]), f_manifest, ["car", "chair"])
    np.testing.assert_array_equal(load_rgb(s[0], 128), load_rgb(f[0], 128))  # training/kcf/evaluate's loader
    render_s = samples_from_records(rows(runs["shards"]), manifest, ["car", "chair"], "rgb")[0]  # RGBA renders
    render_f = samples_from_records(rows(runs["files"]), f_manifest, ["car", "chair"], "rgb")[0]
    np.testing.assert_array_equal(load_rgb(render_s, 128), load_rgb(render_f, 128))
    dst = tmp_path / "x.png"
    place(resolve(manifest, rows(runs["shards"])[0].image), dst, "symlink")  # exports copy a member out
    assert dst.read_bytes() == (Path(f[0].path)).read_bytes()


def test_a_rerun_in_shards_reuses_everything_and_a_lost_shard_is_redone(runs):
    work = runs["shards"]
    shard = work / "data" / "render" / "shards" / "render-000001.tar"
    before = {p.name: p.read_bytes() for p in shard.parent.iterdir()}
    shard.unlink()  # e.g. a pack killed before its rename: the shard's views are rendered again
    run(work, "render", runs["params"])
    metrics = json.loads((work / "render.json").read_text())
    assert (metrics["views_reused"], metrics["views_rendered_this_run"]) == (3, 3)
    assert {p.name: p.read_bytes() for p in shard.parent.iterdir()} == before  # same bytes: DVC sees no change
    run(work, "synthesize", runs["params"])
    assert json.loads((work / "synthesize.json").read_text())["reused"] == 6
