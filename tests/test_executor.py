"""base.executor: `ray` gives the same data as `local` (render, synthesize, kcf), survives a killed worker
without redoing finished views, names what failed, and refuses an unreachable address at once."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from pose_fixture import make_dataset, meshes
from synth_fixtures import make_fixture
from test_kcf import FAST_FIT, FAST_MODEL

from dst3d import executor as executors
from dst3d import kcf
from dst3d.params import BaseConfig, ConfigError, ExecutorConfig, from_dict, load_all
from dst3d.render import backends as render_backends
from dst3d.render.params import RenderConfig
from dst3d.render.plan import plan_views
from dst3d.render.runner import RenderError, read_finished, render_views
from dst3d.schema import ImageRecord, read_jsonl, read_manifest, resolve
from dst3d.synthesize import backends as synth_backends
from dst3d.synthesize import runner as synth
from dst3d.synthesize.params import SynthesizeConfig
from dst3d.training.params import KcfConfig

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"
RAY = ExecutorConfig(kind="ray")
QUIET = dict(log=lambda s: None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_local():
    """One small local Ray instance for the module (2 CPUs, own short temp dir), always shut down.

    Its workers inherit PYTHONPATH: src/ (this checkout) and tests/ (the fault-injecting backend)."""
    ray = pytest.importorskip("ray")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(SRC), *filter(None, [old])])
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    tmp = tempfile.mkdtemp(prefix="r", dir="/tmp")  # unix socket paths under it must stay < 108 chars
    try:
        ray.init(address="local", num_cpus=2, _temp_dir=tmp, include_dashboard=False, log_to_driver=False,
                 object_store_memory=100 * 2**20)
        yield ray
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def _render_files(out: Path, records: list[ImageRecord]) -> dict[str, bytes]:
    kinds = ("rgb", "mask", "depth")
    return {f"{r.image_id}/{k}": (out.parent / getattr(r, k)).read_bytes() for r in records for k in kinds}


# --------------------------------------------------------------------------- params
def test_executor_params_are_checked_without_ray(tmp_path):
    assert load_all(TESTS.parent / "params.yaml")["base"].executor == ExecutorConfig()  # the default: local
    cfg = from_dict(BaseConfig, {"executor": {"kind": "ray", "address": "10.0.0.1:6379"}}, "params.yaml:base")
    assert cfg.executor.kind == "ray" and cfg.executor.max_retries == 3
    with pytest.raises(ConfigError, match=r"base.executor.kind: 'dask' is not one of \['local', 'ray'\]"):
        from_dict(BaseConfig, {"executor": {"kind": "dask"}}, "params.yaml:base")
    with pytest.raises(ConfigError, match=r"base.executor: address: expected host:port.*'headnode'"):
        from_dict(BaseConfig, {"executor": {"kind": "ray", "address": "headnode"}}, "params.yaml:base")
    with pytest.raises(ConfigError, match=r"did you mean 'max_retries'"):
        from_dict(BaseConfig, {"executor": {"max_retry": 1}}, "params.yaml:base")


def test_unreachable_address_is_one_line_naming_it_within_seconds(tmp_path, three_models):
    port = free_port()  # nothing listens there
    cfg = ExecutorConfig(kind="ray", address=f"127.0.0.1:{port}", connect_timeout_s=2.0)
    t0 = time.perf_counter()
    with pytest.raises(executors.ExecutorError) as err:
        executors.preflight(cfg)  # what every stage runs first: no Ray import, one TCP connect
    assert time.perf_counter() - t0 < 5
    assert f"'127.0.0.1:{port}'" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(executors.ExecutorError, match=f"'127.0.0.1:{port}'"):
        with executors.session(cfg):
            pass
    # ... and from a stage: the error comes before any view is rendered
    align, _ = three_models
    params = {"base": {"categories": ["car"], "executor": {"kind": "ray", "address": f"127.0.0.1:{port}"}},
              "render": {"backend": "opengl", "views_per_model": 1, "width": 32, "height": 32}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, str(TESTS.parent / "stages" / "render.py"), "--params", str(tmp_path / "params.yaml"),
         "--align", str(align), "--out", str(tmp_path / "render"), "--plots", str(tmp_path / "plots"),
         "--metrics", str(tmp_path / "m.json")],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(SRC)), timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"dst3d render: base.executor.address: cannot reach the Ray cluster at '127.0.0.1:{port}'")
    assert not list((tmp_path / "render").rglob("*.png"))


# --------------------------------------------------------------------------- same data
def test_render_same_data_local_and_ray(ray_local, tmp_path, three_models):
    align, models = three_models
    cfg = RenderConfig(backend="opengl", views_per_model=2, width=48, height=48, views_per_shard=2)
    views = plan_views(models, BaseConfig(categories=("car",)), cfg, align)
    a = render_views(views, cfg, tmp_path / "a" / "render", **QUIET)
    b = render_views(views, cfg, tmp_path / "b" / "render", executor=RAY, **QUIET)
    assert b.shards == 3 and b.rendered == 6
    assert a.records == b.records  # equal manifest rows (paths are relative to each data root)
    assert _render_files(tmp_path / "a" / "render", a.records) == _render_files(tmp_path / "b" / "render", b.records)


def test_synthesize_same_data_local_and_ray(ray_local, tmp_path):
    edges, prompts = make_fixture(tmp_path / "data", views=3)
    cfg = SynthesizeConfig(backend="composite", images_per_render=2)
    base = BaseConfig(categories=("car", "chair"))
    out_a, out_b = tmp_path / "data" / "synth_a", tmp_path / "data" / "synth_b"
    items_a = synth.plan(read_manifest(edges, ImageRecord), read_jsonl(prompts), base, cfg, out_a)
    items_b = synth.plan(read_manifest(edges, ImageRecord), read_jsonl(prompts), base, cfg, out_b)
    written: list[str] = []
    sa = synth.run(items_a, out_a, lambda: synth_backends.open_backend(cfg), progress=False)
    ray_cfg = dataclasses.replace(RAY, batch_size=5, concurrency=2)
    sb = synth.run(items_b, out_b, lambda: pytest.fail("the driver opens no backend"), progress=False,
                   on_written=lambda it: written.append(it.record.image_id), executor=ray_cfg, cfg=cfg)
    assert sa.generated == sb.generated == 24 and sorted(written) == sorted(i.record.image_id for i in items_b)
    assert sa.backgrounds == sb.backgrounds
    for ia, ib in zip(items_a, items_b, strict=True):
        assert dataclasses.replace(ia.record, image="") == dataclasses.replace(ib.record, image="")
        assert (tmp_path / "data" / ia.record.image).read_bytes() == (tmp_path / "data" / ib.record.image).read_bytes()
    again = synth.run(items_b, out_b, lambda: pytest.fail("nothing to do"), progress=False, executor=ray_cfg, cfg=cfg)
    assert again.reused == 24 and again.generated == 0


def test_kcf_same_data_local_and_ray(ray_local, tmp_path):
    root = make_dataset(tmp_path / "data", models_per_category=3, views=8, px=48, seed=1, azimuths=8)
    manifest = root / "synthesize" / "manifest.jsonl"
    rows = read_manifest(manifest, ImageRecord)
    cfg = KcfConfig(folds=3, model=FAST_MODEL, fit=dataclasses.replace(FAST_FIT, epochs=2))
    base = BaseConfig(seed=0, categories=("car", "chair"))
    epochs: list[tuple[int, int]] = []
    a = kcf.run_kcf(rows, manifest, base, cfg, meshes=meshes(root))
    b = kcf.run_kcf(rows, manifest, dataclasses.replace(base, executor=RAY), cfg,
                    on_epoch=lambda k: lambda row: epochs.append((k, row["epoch"])), meshes=meshes(root))
    assert a.rows == b.rows  # kcf_score and kcf_keep equal, bit for bit
    assert sorted(epochs) == [(k, e) for k in range(3) for e in (1, 2)]  # per-fold curves still reach tracking
    assert kcf.score_rows(a) == kcf.score_rows(b)


# --------------------------------------------------------------------------- faults
@pytest.fixture()
def killer(monkeypatch, tmp_path):
    """Render backend 'killer' (tests/test_executor_support.py), armed to kill its Ray worker after 2 views;
    returns its marker file and its render params."""
    monkeypatch.setitem(render_backends.BACKENDS, "killer", "test_executor_support")
    import test_executor_support

    marker = tmp_path / "killed.json"
    return marker, dict(backend="killer", backends={"killer": test_executor_support.Params(marker=str(marker))},
                        views_per_model=2, width=48, height=48, views_per_shard=6)

def _gone(pid: int, timeout: float = 10.0) -> bool:
    """True once ``pid`` no longer runs: no such process, or a zombie its parent has not reaped yet (a killed
    Ray worker lingers as one for a moment — os.kill(pid, 0) still succeeds on it)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except (ProcessLookupError, FileNotFoundError):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)



@pytest.mark.slow  # a few Ray tasks, each starting a render subprocess
def test_killed_ray_worker_is_retried_and_finished_views_are_not_redone(ray_local, tmp_path, three_models, killer):
    align, models = three_models
    killer, params = killer
    cfg = RenderConfig(**params)
    views = plan_views(models, BaseConfig(categories=("car",)), cfg, align)
    out = tmp_path / "ray" / "render"
    logs: list[str] = []
    result = render_views(views, cfg, out, log=logs.append, executor=RAY)
    body = json.loads(killer.read_text())  # the kill happened, after 2 finished views
    assert len(body["finished"]) == 2 and result.rendered == 6 and len(result.records) == 6
    assert any("4 rendered, 2 already finished" in line for line in logs), logs  # the retry skipped those 2
    killed_at = killer.stat().st_mtime_ns
    by_id = {v.image_id: v for v in views}
    for image_id in body["finished"]:  # written before the kill, never rewritten
        assert (out / by_id[image_id].path("record")).stat().st_mtime_ns <= killed_at
        assert (out / by_id[image_id].path("rgb")).stat().st_mtime_ns <= killed_at
    # the worker and its render subprocess are gone: PR_SET_PDEATHSIG killed the orphan (had it survived, it
    # would still sleep now or have written its .survived file)
    for pid in (body["pid"], body["ppid"]):
        assert _gone(pid), f"process {pid} still alive"
    assert not killer.with_suffix(".survived").exists()
    # the same pixels as an undisturbed local run
    plain = dataclasses.replace(cfg, backend="opengl", backends={})
    local = render_views(plan_views(models, BaseConfig(categories=("car",)), plain, align), plain,
                         tmp_path / "local" / "render", **QUIET)
    assert [dataclasses.replace(r, backend="") for r in local.records] == [
        dataclasses.replace(r, backend="") for r in result.records]
    assert _render_files(tmp_path / "local" / "render", local.records) == _render_files(out, result.records)


@pytest.mark.slow  # a few Ray tasks, each starting a render subprocess
def test_worker_killed_past_its_retries_fails_naming_the_shard(ray_local, tmp_path, three_models, killer):
    align, models = three_models
    cfg = RenderConfig(**killer[1])
    views = plan_views(models, BaseConfig(categories=("car",)), cfg, align)
    out = tmp_path / "render"
    with pytest.raises(RenderError) as err:
        render_views(views, cfg, out, executor=dataclasses.replace(RAY, max_retries=0), **QUIET)
    first = str(err.value).splitlines()[0]
    assert first.startswith("render shard 0 (car_m0_0000 .. car_m2_0001): its Ray worker died 1 time(s)"), first
    assert "re-run to resume" in first
    finished = [v for v in views if read_finished(out, v) is not None]
    assert len(finished) == 2  # what was finished is complete and stays; nothing else counts as done
    assert not (out / "manifest.jsonl").exists()


@pytest.mark.slow  # a few Ray tasks, each starting a render subprocess
def test_failing_task_is_not_retried_and_names_the_shard(ray_local, tmp_path, three_models):
    align, models = three_models
    cfg = RenderConfig(backend="opengl", views_per_model=2, width=48, height=48, views_per_shard=2)
    views = plan_views(models, BaseConfig(categories=("car",)), cfg, align)
    resolve(align, models[2].mesh).write_text("this is not a mesh\n")  # corrupted after planning
    with pytest.raises(RenderError) as err:
        render_views(views, cfg, tmp_path / "render", executor=RAY, **QUIET)
    first = str(err.value).splitlines()[0]
    assert first.startswith("render shard 2 (car_m2_0000 .. car_m2_0001) failed: render shard 2"), first
    assert {v.model_id for v in views if read_finished(tmp_path / "render", v)} <= {"m0", "m1"}
