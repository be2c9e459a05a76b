"""Workers, resume and bad input: a killed run re-renders only what is missing; nothing partial counts."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
import yaml
from test_render_support import marker_model, write_align

from dst3d.params import BaseConfig
from dst3d.render.params import RenderConfig
from dst3d.render.plan import plan_views
from dst3d.render.runner import RenderError, read_finished, render_views
from dst3d.schema import resolve

REPO = Path(__file__).resolve().parents[1]
QUIET = dict(log=lambda s: None)


def records_on_disk(out: Path) -> list[Path]:
    return sorted((out / "views").rglob("*.json")) if (out / "views").is_dir() else []


def mtimes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in (out / "views").rglob("*") if p.is_file()}


def test_killed_stage_resumes_only_missing_views(tmp_path, three_models):
    """SIGKILL the real stage (BlenderProc workers) mid-run; the re-run renders only the missing views."""
    align, _ = three_models
    # only our sections (the others take their defaults): the test does not depend on the shared file
    params = {
        "base": {"categories": ["car"]},
        "render": dict(width=64, height=64, views_per_shard=6, workers=1, grid_images=2, blenderproc={"samples": 2}),
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "render"
    cmd = [
        sys.executable,
        str(REPO / "stages" / "render.py"),
        "--params",
        str(tmp_path / "params.yaml"),
        "--align",
        str(align),
        "--out",
        str(out),
        "--plots",
        str(tmp_path / "plots"),
        "--metrics",
        str(tmp_path / "render.json"),
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(records_on_disk(out)) < 6 and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the stage and its worker: a whole process group we started
    proc.wait()
    finished = records_on_disk(out)
    assert 6 <= len(finished) < 12, f"kill came too late or too early ({len(finished)} views)"
    assert not (out / "manifest.jsonl").exists()  # no manifest that does not match the files
    for rec in finished:  # whatever is marked finished is complete and readable
        body = json.loads(rec.read_text())
        for kind in ("rgb", "mask", "depth"):
            img = cv2.imread(str(resolve(out, body["record"][kind])), cv2.IMREAD_UNCHANGED)
            assert img is not None and img.shape[:2] == (64, 64)
    before = mtimes(out)
    kept = {k: v for k, v in before.items() if not k.split("/")[-1].startswith(".")}

    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    metrics = json.loads((tmp_path / "render.json").read_text())
    assert metrics["views_reused"] == len(finished)
    assert metrics["views_rendered_this_run"] == 12 - len(finished) and metrics["views_written"] == 12
    after = mtimes(out)
    assert all(after[k] == v for k, v in kept.items() if k in after)  # finished views untouched
    assert not [k for k in after if "/." in k]  # no temp files left behind
    rows = (out / "manifest.jsonl").read_text().splitlines()
    assert len(rows) == 12 and (tmp_path / "plots" / "grid.png").is_file()


def test_resume_reuses_matching_views_and_removes_stale_ones(tmp_path, three_models):
    align, models = three_models
    base = BaseConfig(categories=("car",))
    out = tmp_path / "render"
    cfg = RenderConfig(backend="opengl", views_per_model=3, width=64, height=64, views_per_shard=5)
    first = render_views(plan_views(models, base, cfg, align), cfg, out, **QUIET)
    assert (first.rendered, first.reused, len(first.records)) == (9, 0, 9) and first.shards == 2
    stamp = mtimes(out)

    fewer = dataclasses.replace(cfg, views_per_model=2, views_per_shard=64)  # shard size is not in the key
    second = render_views(plan_views(models, base, fewer, align), fewer, out, **QUIET)
    assert (second.rendered, second.reused) == (0, 6)
    assert second.removed_files == 3 * 4  # view 2 of each model: rgb, mask, depth, record
    assert not list((out / "views").rglob("*_0002*"))
    assert all(mtimes(out)[k] == stamp[k] for k in mtimes(out))

    # a damaged finished view (image deleted) and a stray temp file: only that view is re-rendered
    victim = second.records[0]
    resolve(out, victim.rgb).unlink()
    stray = resolve(out, victim.rgb).parent / ".x_rgb.png.abc.part.png"
    stray.write_bytes(b"partial")
    third = render_views(plan_views(models, base, fewer, align), fewer, out, **QUIET)
    assert (third.rendered, third.reused) == (1, 5) and not stray.exists()

    # a params change that alters the pixels invalidates every view
    tilted = dataclasses.replace(fewer, theta_spread_deg=25.0)
    fourth = render_views(plan_views(models, base, tilted, align), tilted, out, **QUIET)
    assert (fourth.rendered, fourth.reused) == (6, 0)
    assert [r.image_id for r in fourth.records] == [r.image_id for r in second.records]


def test_object_outside_the_frame_is_a_counted_skip(tmp_path):
    align = tmp_path / "align"
    models = [marker_model(align, "near", "car", distance=1.0, strategy=1)]
    write_align(align, models)
    base = BaseConfig(categories=("car",))
    cfg = RenderConfig(backend="opengl", views_per_model=3, width=64, height=64)
    views = plan_views(models, base, cfg, align)
    result = render_views(views, cfg, tmp_path / "render", **QUIET)
    assert result.records == [] and result.skipped == {"outside_frame": 3}
    assert all(read_finished(tmp_path / "render", v)["reason"] == "outside_frame" for v in views)
    assert not list((tmp_path / "render").rglob("*.png"))  # no image without a valid annotation

    cut = dataclasses.replace(cfg, allow_truncated=True)
    truncated = render_views(plan_views(models, base, cut, align), cut, tmp_path / "render", **QUIET)
    assert len(truncated.records) == 3 and not truncated.skipped
    for r in truncated.records:
        assert 0 < r.visib_fract < 1
        assert 0 <= r.bbox[0] < r.bbox[2] <= 64 and 0 <= r.bbox[1] < r.bbox[3] <= 64
        for u, v, vis in r.keypoints_2d.values():
            assert not vis or (0 <= u < 64 and 0 <= v < 64)


def test_failed_worker_keeps_finished_views_and_says_why(tmp_path, three_models):
    align, models = three_models
    base = BaseConfig(categories=("car",))
    cfg = RenderConfig(backend="opengl", views_per_model=2, width=64, height=64, views_per_shard=4)
    views = plan_views(models, base, cfg, align)
    resolve(align, models[2].mesh).write_text("this is not a mesh\n")  # corrupted after planning
    with pytest.raises(RenderError, match="worker") as err:
        render_views(views, cfg, tmp_path / "render", **QUIET)
    assert "m2" in str(err.value) or "mesh" in str(err.value).lower()
    done = [v for v in views if read_finished(tmp_path / "render", v) is not None]
    assert {v.model_id for v in done} == {"m0", "m1"}


def test_stage_rejects_a_model_id_missing_from_the_align_manifest(tmp_path, three_models):
    align, _ = three_models
    params = {"base": {"categories": ["car"]}, "render": {"backend": "opengl", "models": ["m0", "ghost"]}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "stages" / "render.py"),
            "--params",
            str(tmp_path / "params.yaml"),
            "--align",
            str(align),
            "--out",
            str(tmp_path / "render"),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
        timeout=120,
    )
    assert proc.returncode != 0 and "['ghost'] are not in the align manifest" in proc.stderr
    assert not (tmp_path / "render").exists()


def test_rendering_is_deterministic(tmp_path, three_models):
    """Same plan, two data roots: identical records and byte-identical masks (opengl is deterministic)."""
    align, models = three_models
    base = BaseConfig(categories=("car",))
    cfg = RenderConfig(backend="opengl", views_per_model=1, width=64, height=64)
    views = plan_views(models, base, cfg, align)
    a = render_views(views, cfg, tmp_path / "a" / "render", **QUIET)
    b = render_views(views, cfg, tmp_path / "b" / "render", **QUIET)
    assert a.records == b.records and a.records[0].rgb.startswith("render/views/")
    for r in a.records:
        assert (
            resolve(tmp_path / "a" / "render", r.mask).read_bytes()
            == resolve(tmp_path / "b" / "render", r.mask).read_bytes()
        )
