"""controlnet backend on the tiny pipeline: the real diffusers loading and generation path at 64 px, 2 steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from synth_fixtures import make_fixture, write_params

from dst3d.cli import main as cli
from dst3d.params import BaseConfig
from dst3d.schema import ImageRecord, read_manifest
from dst3d.synthesize.controlnet import ControlNetBackend, Request, WeightsError, check_weights, generation_size
from dst3d.synthesize.params import ControlNetConfig, SynthesizeConfig
from dst3d.synthesize.runner import plan, read_info, run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("tiny")
    assert cli(["make-tiny-controlnet", str(out)]) == 0
    return {"base_model": str(out / "sd15"), "controlnet_model": str(out / "controlnet")}


@pytest.fixture(scope="module")
def backend(tiny) -> ControlNetBackend:
    return ControlNetBackend(ControlNetConfig(steps=2, resolution=64, batch_size=4, **tiny))


def test_tiny_model_is_sd15_shaped_safetensors(tiny):
    base = Path(tiny["base_model"])
    index = json.loads((base / "model_index.json").read_text())
    assert {"unet", "vae", "text_encoder", "tokenizer", "scheduler"} <= set(index)
    vae = json.loads((base / "vae/config.json").read_text())
    assert 2 ** (len(vae["block_out_channels"]) - 1) == 8  # the VAE scale factor of SD
    weights = list(base.parent.rglob("*.safetensors"))
    assert len(weights) == 4 and not list(base.parent.rglob("*.bin"))
    size = sum(p.stat().st_size for p in base.parent.rglob("*") if p.is_file())
    assert 1e6 < size < 10e6


def _edge(size: int = 64) -> np.ndarray:
    edge = np.zeros((size, size), np.uint8)
    cv2.rectangle(edge, (10, 14), (50, 44), 255, 1)
    cv2.line(edge, (10, 14), (30, 4), 255, 1)
    return edge


def test_batch_equals_one_by_one(backend):
    reqs = [Request(f"a photo of a car, view {i}", "lowres", _edge(), 1000 + i, 64, 64) for i in range(3)]
    batch = backend.generate(reqs)
    single = [backend.generate([r])[0] for r in reqs]
    for b, s in zip(batch, single, strict=True):
        assert b.shape == (64, 64, 3) and b.dtype == np.uint8
        diff = np.abs(b.astype(int) - s)
        # one generator per image: identical noise; only float summation order differs with the batch size
        assert diff.max() <= 2 and (diff > 0).mean() < 0.02
    # a regenerated image equals itself; another seed is another image
    assert np.array_equal(backend.generate([reqs[0]])[0], single[0])
    assert np.abs(single[0].astype(int) - single[1]).mean() > 5


def test_output_is_written_at_the_render_size():
    assert generation_size(256, 192, 512) == (512, 384)
    assert generation_size(100, 100, 64) == (64, 64)
    assert generation_size(64, 48, 64) == (64, 48)


def test_controlnet_through_the_runner_resumes(tiny, backend, tmp_path):
    edges, prompts = make_fixture(tmp_path / "data", models_per_category=1, views=2)
    rows = read_manifest(edges, ImageRecord)
    cfg = SynthesizeConfig(backend="controlnet", backends={"controlnet": backend.cfg})
    prompt_rows = [json.loads(line) for line in prompts.read_text().splitlines()]
    out = tmp_path / "data" / "synthesize"
    items = plan(rows, prompt_rows, BaseConfig(categories=("car", "chair")), cfg, out)
    opened = []

    def open_backend():
        opened.append(1)
        return backend

    stats = run(items, out, open_backend, progress=False)
    assert (stats.generated, stats.reused, len(opened)) == (4, 0, 1)
    info = read_info(tmp_path / "data" / items[0].record.image)
    assert info["key"] == items[0].key and info["backend"] == "controlnet" and info["edge_recall"] is not None
    # nothing to do: the pipeline is not even loaded
    stats = run(items, out, open_backend, progress=False)
    assert (stats.generated, stats.reused, len(opened)) == (0, 4, 1)
    # one image lost: only it is remade, and it is the same image (its own seed)
    lost = tmp_path / "data" / items[2].record.image
    original = cv2.imread(str(lost))
    lost.unlink()
    stats = run(items, out, open_backend, progress=False)
    assert (stats.generated, stats.reused) == (1, 3)
    assert np.abs(cv2.imread(str(lost)).astype(int) - original).max() <= 2
    # a pixel-relevant setting (steps) changes every key; batch size does not
    def controlnet(**kw) -> SynthesizeConfig:
        return SynthesizeConfig(backend="controlnet", backends={"controlnet": ControlNetConfig(resolution=64, **kw)})

    more_steps = controlnet(steps=3, **tiny)
    bigger_batch = controlnet(steps=2, **tiny)
    base = BaseConfig(categories=("car", "chair"))
    assert {i.key for i in plan(rows, prompt_rows, base, bigger_batch, out)} == {i.key for i in items}
    assert not {i.key for i in plan(rows, prompt_rows, base, more_steps, out)} & {i.key for i in items}


def test_sdxl_pipeline_by_params(tmp_path):
    assert cli(["make-tiny-controlnet", str(tmp_path), "--sdxl"]) == 0
    cfg = ControlNetConfig(
        pipeline="sdxl", base_model=str(tmp_path / "sdxl"), controlnet_model=str(tmp_path / "controlnet-sdxl"),
        steps=2, resolution=64,
    )  # fmt: skip
    xl = ControlNetBackend(cfg)
    assert type(xl.pipe).__name__ == "StableDiffusionXLControlNetPipeline"
    img = xl.generate([Request("a photo of a chair", "lowres", _edge(), 5, 64, 64)])[0]
    assert img.shape == (64, 64, 3) and img.std() > 1


def test_local_weights_errors(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        check_weights(str(tmp_path / "missing"), "", "pipeline")
    (tmp_path / "nobin").mkdir()
    (tmp_path / "nobin" / "config.json").write_text("{}")
    (tmp_path / "nobin" / "diffusion_pytorch_model.bin").write_bytes(b"0")
    with pytest.raises(WeightsError, match="safetensors"):
        check_weights(str(tmp_path / "nobin"), "", "model")


def test_offline_missing_weights_fail_before_any_work(tmp_path):
    """No network, empty cache: the stage stops at once, naming the id and how to use a local folder."""
    edges, prompts = make_fixture(tmp_path / "data", models_per_category=1, views=1)
    params = write_params(tmp_path / "params.yaml", {"backend": "controlnet"})  # the paper's hub ids
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, str(REPO / "stages/synthesize.py"), "--params", str(params), "--edges", str(edges),
         "--prompts", str(prompts), "--out", str(tmp_path / "data/synthesize"), "--plots", str(tmp_path / "plots"),
         "--metrics", str(tmp_path / "m.json")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in proc.stderr
    assert "synthesize.controlnet.base_model=/path/to/folder" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data/synthesize").exists() and not (tmp_path / "m.json").exists()


def test_hub_id_from_cache_offline(tiny, tmp_path):
    """A hub id downloaded earlier loads from the HF cache with no network (the paper setup on an offline box)."""
    import shutil

    commit = "0123456789abcdef0123456789abcdef01234567"
    hub = tmp_path / "hf" / "hub"
    for repo, src in (("tiny/sd15", tiny["base_model"]), ("tiny/canny", tiny["controlnet_model"])):
        folder = hub / f"models--{repo.replace('/', '--')}"
        shutil.copytree(src, folder / "snapshots" / commit)
        (folder / "refs").mkdir()
        (folder / "refs" / "main").write_text(commit)
    edges, prompts = make_fixture(tmp_path / "data", models_per_category=1, views=1)
    params = write_params(tmp_path / "params.yaml", {
        "backend": "controlnet",
        "controlnet": {"base_model": "tiny/sd15", "controlnet_model": "tiny/canny", "steps": 2, "resolution": 64,
                       "threads": 1},
    })  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, str(REPO / "stages/synthesize.py"), "--params", str(params), "--edges", str(edges),
         "--prompts", str(prompts), "--out", str(tmp_path / "data/synthesize"), "--plots", str(tmp_path / "plots"),
         "--metrics", str(tmp_path / "m.json"), "--no-progress"],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["generated"] == 2 and metrics["backend"] == "controlnet"
    meta = json.loads((tmp_path / "data/synthesize/meta.json").read_text())
    assert meta["controlnet"]["base_model"] == "tiny/sd15" and meta["controlnet"]["controlnet_model"] == "tiny/canny"
