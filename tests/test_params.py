"""Typed params: unknown keys, wrong types and bad values fail naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dst3d.params import ConfigError, load_all, load_stage

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_repo_params_are_valid():
    typed = load_all(REPO / "params.yaml")
    assert "align" in typed and typed["base"].categories


def test_unknown_key_names_key_and_allowed(tmp_path):
    p = _write(tmp_path, {"align": {"instances_per_categroy": 3}})
    with pytest.raises(ConfigError) as e:
        load_stage("align", p)
    msg = str(e.value)
    assert "instances_per_categroy" in msg and "instances_per_category" in msg and "align" in msg


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match="unknown section.*'algin'"):
        load_stage("align", _write(tmp_path, {"algin": {}}))


def test_wrong_type(tmp_path):
    with pytest.raises(ConfigError, match=r"align.instances_per_category: expected an integer"):
        load_stage("align", _write(tmp_path, {"align": {"instances_per_category": "five"}}))
    with pytest.raises(ConfigError, match=r"base.seed: expected an integer"):
        load_stage("align", _write(tmp_path, {"base": {"seed": True}}))


def test_nested_source_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"sources\[0\].kind: 'shapenett' is not one of"):
        load_stage("align", _write(tmp_path, {"align": {"sources": [{"kind": "shapenett"}]}}))
    with pytest.raises(ConfigError, match=r"sources\[0\].*unknown key.*'pth'"):
        load_stage("align", _write(tmp_path, {"align": {"sources": [{"kind": "folder", "pth": "x"}]}}))
    with pytest.raises(ConfigError, match="path: required"):
        load_stage("align", _write(tmp_path, {"align": {"sources": [{"kind": "folder"}]}}))


def test_bad_values(tmp_path):
    with pytest.raises(ConfigError, match="categories: empty"):
        load_stage("align", _write(tmp_path, {"base": {"categories": []}}))
    with pytest.raises(ConfigError, match="instances_per_category: must be >= 1"):
        load_stage("align", _write(tmp_path, {"align": {"instances_per_category": 0}}))


def test_missing_and_malformed_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_all(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_all(bad)


def test_defaults_fill_in(tmp_path):
    base, cfg = load_stage("align", _write(tmp_path, {"base": {"seed": 7}}))
    assert base.seed == 7 and cfg.instances_per_category == 5 and cfg.sources[0].kind == "builtin"
    assert isinstance(base.categories, tuple)


def test_training_section_is_shared_and_overridable(tmp_path):
    p = _write(tmp_path, {"training": {"fit": {"epochs": 7, "lr": 0.01}}, "kcf": {"fit": {"epochs": 3}}})
    typed = load_all(p)
    assert typed["train"].fit.epochs == 7 and typed["train"].fit.lr == 0.01
    assert typed["kcf"].fit.epochs == 3 and typed["kcf"].fit.lr == 0.01  # override key by key
    assert typed["kcf"].model == typed["train"].model == typed["training"].model


def test_training_override_errors_name_the_stage_key(tmp_path):
    with pytest.raises(ConfigError, match=r"params.yaml:kcf.fit: unknown key.*'epoch'.*did you mean 'epochs'"):
        load_all(_write(tmp_path, {"kcf": {"fit": {"epoch": 3}}}))
    with pytest.raises(ConfigError, match=r"params.yaml:training.fit.epochs: expected an integer"):
        load_all(_write(tmp_path, {"training": {"fit": {"epochs": "many"}}}))


def test_unknown_key_hint_gives_the_dvc_exp_spelling(tmp_path):
    with pytest.raises(ConfigError, match=r"dvc exp run -S align.instances_per_category=") as e:
        load_all(_write(tmp_path, {"align": {"instances_per_categroy": 3}}))
    assert "\n" not in str(e.value)


def test_section_modules_are_light():
    """Validating params.yaml imports every section module: none may pull in torch, bpy, mlflow or cv2."""
    code = (
        "import sys; from dst3d.params import load_all; load_all(sys.argv[1]); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'bpy', 'mlflow', 'cv2', 'moderngl', "
        "'diffusers', 'transformers'}); print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(REPO / "params.yaml")], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("stage", ["align", "render", "edges", "prompts", "synthesize", "kcf", "train"])
def test_stage_params_error_is_one_line(tmp_path, stage):
    """A params error from any stage: `dst3d <stage>: <message>` on stderr, exit 2, no traceback."""
    p = _write(tmp_path, {"base": {"seed": "zero"}})
    run = subprocess.run([sys.executable, str(REPO / "stages" / f"{stage}.py"), "--params", str(p)],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2
    expected = f"dst3d {stage}: params.yaml:base.seed: expected an integer, got str 'zero'"
    assert run.stderr.strip().splitlines() == [expected]
    debug = subprocess.run([sys.executable, str(REPO / "stages" / f"{stage}.py"), "--params", str(p), "--debug"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr
