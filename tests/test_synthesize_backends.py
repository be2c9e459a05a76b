"""The synthesize backend registry: a third backend added by one registry line and its own module.

This is the worked example of docs/extending.md ("Add a synthesis backend"): keep the two in step.
"""

from __future__ import annotations

import textwrap

import cv2
import numpy as np
import pytest
from synth_fixtures import make_fixture, write_params
from test_synthesize import run_stage

from dst3d.params import ConfigError, from_dict
from dst3d.schema import ImageRecord, read_manifest, resolve
from dst3d.synthesize import backends
from dst3d.synthesize.params import SynthesizeConfig

FLAT_GREY = '''
"""A synthesis backend that pastes each render on a flat grey background."""

from dataclasses import asdict, dataclass

import numpy as np

from dst3d.params import ConfigError
from dst3d.synthesize.composite import read_render


@dataclass(frozen=True)
class Params:  # params.yaml: synthesize.flatgrey
    grey: int = 128

    def validate(self) -> None:
        if not 0 <= self.grey <= 255:
            raise ConfigError("grey: in [0, 255]")


class FlatGrey:
    name = "flatgrey"
    batch_size = 8

    def __init__(self, params: Params) -> None:
        self.grey = params.grey

    def make(self, records, root):
        out = []
        for rec in records:
            rgb, alpha = read_render(root, rec)  # RGB uint8, alpha float in 0..1
            a = alpha[..., None]
            image = rgb * a + self.grey * (1.0 - a)
            out.append((np.round(image).astype(np.uint8), {"grey": self.grey}))
        return out


def open(params, cfg):  # the backend, ready to make images
    return FlatGrey(params)


def pixel_settings(params):  # what changes pixels: part of every image's resume key
    return asdict(params)


def describe(params):  # stage metadata (metrics/synthesize.json)
    return {"grey": params.grey}
'''


@pytest.fixture()
def flatgrey(tmp_path, monkeypatch):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "dst3d_test_flatgrey.py").write_text(textwrap.dedent(FLAT_GREY))
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    # the one registry line: (params class, implementation module)
    monkeypatch.setitem(backends.BACKENDS, "flatgrey", ("dst3d_test_flatgrey:Params", "dst3d_test_flatgrey"))


def test_unknown_backend_fails_at_validation_naming_the_registered_ones():
    with pytest.raises(ConfigError, match="'nosuch' is not a registered synthesize backend; allowed: composite, "
                                          "controlnet"):
        from_dict(SynthesizeConfig, {"backend": "nosuch"}, "synthesize")


def test_a_third_synthesis_backend_needs_one_registry_line(tmp_path, flatgrey):
    with pytest.raises(ConfigError, match=r"synthesize.flatgrey: grey: in \[0, 255\]"):
        from_dict(SynthesizeConfig, {"backend": "flatgrey", "flatgrey": {"grey": 300}}, "synthesize")
    edges, prompts = make_fixture(tmp_path / "data")
    params = write_params(tmp_path / "params.yaml", {"backend": "flatgrey", "flatgrey": {"grey": 90}})
    rc, metrics = run_stage(tmp_path, edges, prompts, params)
    assert rc == 0 and metrics["images"] == metrics["generated"] == 8
    manifest = tmp_path / "data" / "synthesize" / "manifest.jsonl"
    for rec in read_manifest(manifest, ImageRecord):
        image = cv2.imread(str(resolve(manifest, rec.image)))
        mask = cv2.imread(str(resolve(manifest, rec.mask)), cv2.IMREAD_GRAYSCALE)
        far = cv2.dilate(mask, np.ones((5, 5), np.uint8)) == 0  # away from the anti-aliased rim
        assert far.any() and np.all(image[far] == 90)  # the flat background, exactly
        assert rec.bbox and rec.keypoints_2d  # the render's annotation is inherited
    # its own setting is in the key: a new grey remakes every image, the same grey reuses them
    rc, again = run_stage(tmp_path, edges, prompts, params)
    assert again["reused"] == 8
    params = write_params(tmp_path / "params.yaml", {"backend": "flatgrey", "flatgrey": {"grey": 40}})
    rc, changed = run_stage(tmp_path, edges, prompts, params)
    assert changed["generated"] == 8
