"""Typed params: unknown keys, wrong types and bad values fail naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dst3d.config import ConfigError, load_all, load_stage

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
