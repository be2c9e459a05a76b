"""The render backend registry: validated names, a third backend added by one registry line, stale keys.

The third backend lives in a module written to ``tmp_path`` (not in the package): the registry entry and
the module are all it takes, and the worker processes find it through the job file and PYTHONPATH.
"""

from __future__ import annotations

import os
import textwrap

import cv2
import numpy as np
import pytest
from test_render_support import marker_model, write_align

import dst3d.schema
from dst3d.assets import meshio
from dst3d.params import BaseConfig, ConfigError, from_dict, load_all, to_dict
from dst3d.render import annotate, backends
from dst3d.render.params import RenderConfig
from dst3d.render.plan import pixel_settings, plan_views
from dst3d.render.runner import render_views
from dst3d.schema import resolve

QUIET = dict(log=lambda s: None)

FLAT_BACKEND = '''
"""A flat-colour silhouette backend: numpy rasterisation of the projected triangles, nearest depth wins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from dst3d import camera
from dst3d.params import ConfigError


@dataclass(frozen=True)
class Params:
    PIXEL_KEYS: ClassVar[tuple[str, ...]] = ("grey",)

    grey: int = 200

    def validate(self) -> None:
        if not 0 <= self.grey <= 255:
            raise ConfigError("grey: in [0, 255]")


class FlatBackend:
    name = "flat"
    transparent = True
    mask_from_depth = True

    def __init__(self, params: Params) -> None:
        self.params = params

    def render(self, mesh_path, mesh, views):
        for view in views:
            K, R, t = (np.asarray(x, dtype=np.float64) for x in (view.K, view.R, view.t))
            uv, z = camera.project(mesh.vertices, K, R, t)
            h, w = view.height, view.width
            depth = np.full((h, w), np.inf)
            for tri in mesh.faces:
                (x0, y0), (x1, y1), (x2, y2) = uv[tri]
                area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
                if abs(area) < 1e-12 or np.any(z[tri] <= 0):
                    continue
                c0, c1 = max(int(np.floor(min(x0, x1, x2))), 0), min(int(np.ceil(max(x0, x1, x2))), w)
                r0, r1 = max(int(np.floor(min(y0, y1, y2))), 0), min(int(np.ceil(max(y0, y1, y2))), h)
                if c0 >= c1 or r0 >= r1:
                    continue
                px, py = np.meshgrid(np.arange(c0, c1) + 0.5, np.arange(r0, r1) + 0.5)  # pixel centres
                b1 = ((px - x0) * (y2 - y0) - (x2 - x0) * (py - y0)) / area
                b2 = ((x1 - x0) * (py - y0) - (px - x0) * (y1 - y0)) / area
                b0 = 1.0 - b1 - b2
                inside = (b0 >= 0) & (b1 >= 0) & (b2 >= 0)
                zz = 1.0 / (b0 / z[tri[0]] + b1 / z[tri[1]] + b2 / z[tri[2]])  # perspective-correct
                patch = depth[r0:r1, c0:c1]
                patch[inside] = np.minimum(patch[inside], zz[inside])
            covered = np.isfinite(depth)
            rgba = np.zeros((h, w, 4), np.uint8)
            rgba[covered] = (self.params.grey, self.params.grey, self.params.grey, 255)
            yield view, rgba, depth.astype(np.float32)

    def close(self) -> None:
        pass


def open(params, render_cfg, threads):
    return FlatBackend(params)
'''


@pytest.fixture()
def one_model(tmp_path):
    align = tmp_path / "align"
    models = [marker_model(align, "m0", "car")]
    write_align(align, models)
    return align, models


def test_unknown_backend_fails_at_validation_naming_the_registered_ones(tmp_path):
    with pytest.raises(ConfigError, match="'nosuch' is not a registered render backend; allowed: blenderproc, opengl"):
        from_dict(RenderConfig, {"backend": "nosuch"}, "render")
    params = tmp_path / "params.yaml"
    params.write_text("render:\n  backend: nosuch\n")
    with pytest.raises(ConfigError, match=r"params.yaml:render: backend: 'nosuch' is not a registered"):
        load_all(params)


def test_backend_settings_are_sub_sections_and_round_trip():
    cfg = from_dict(RenderConfig, {"backend": "opengl", "opengl": {"msaa": 8}}, "render")
    assert cfg.backend_params() == backends.params_class("opengl")(msaa=8)
    assert cfg.backends["blenderproc"] == backends.params_class("blenderproc")()  # defaults for the others
    assert from_dict(RenderConfig, to_dict(cfg), "again") == cfg
    with pytest.raises(ConfigError, match=r"render.opengl: unknown key.*'samples'"):
        from_dict(RenderConfig, {"opengl": {"samples": 8}}, "render")
    assert pixel_settings(cfg) == {
        "backend": "opengl", "msaa": 8, "depth_scale": 0.0001, "allow_truncated": False, "hdr_background": False
    }  # fmt: skip


def test_a_third_backend_needs_one_registry_line(tmp_path, monkeypatch, one_model):
    align, models = one_model
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "dst3d_test_flat_backend.py").write_text(textwrap.dedent(FLAT_BACKEND))
    monkeypatch.syspath_prepend(str(plugins))  # this process (params validation, planning)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(plugins), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setitem(backends.BACKENDS, "flat", "dst3d_test_flat_backend")  # the one line

    cfg = from_dict(RenderConfig, {"backend": "flat", "width": 64, "height": 64, "views_per_model": 1}, "render")
    assert cfg.backend_params().grey == 200
    with pytest.raises(ConfigError, match=r"render.flat: grey: in \[0, 255\]"):
        from_dict(RenderConfig, {"backend": "flat", "flat": {"grey": 300}}, "render")
    with pytest.raises(ConfigError, match="world maps need backend 'blenderproc'"):
        from_dict(RenderConfig, {"backend": "flat", "light": {"hdr": True}}, "render")

    base = BaseConfig(categories=("car",))
    views = plan_views(models, base, cfg, align)
    assert pixel_settings(cfg)["backend"] == "flat" and pixel_settings(cfg)["grey"] == 200
    result = render_views(views, cfg, tmp_path / "render", **QUIET)  # real worker subprocesses
    assert result.rendered == 1 and not result.skipped
    (record,) = result.records
    assert record.backend == "flat" and record.image_id == views[0].image_id
    out = tmp_path / "render"
    mask = cv2.imread(str(resolve(out, record.mask)), cv2.IMREAD_GRAYSCALE) > 0
    rgba = cv2.imread(str(resolve(out, record.rgb)), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (64, 64, 4) and mask.sum() > 50
    assert np.array_equal(rgba[..., 3] > 0, mask) and set(np.unique(rgba[..., 0][mask])) == {200}
    assert record.bbox == annotate.bbox_from_mask(mask) and record.bbox[2] > record.bbox[0]
    K, R, t = (np.asarray(x) for x in (record.K, record.R, record.t))
    mesh = backends.Mesh(*meshio.load_mesh(views[0].mesh))
    truth = annotate.silhouette(mesh.vertices, mesh.faces, K, R, t, 64, 64)
    assert (mask & truth).sum() / (mask | truth).sum() > 0.9  # crude rasteriser, same geometry

    # the backend's own setting is in the key: changing it re-renders, keeping it reuses
    again = render_views(views, cfg, out, **QUIET)
    assert (again.rendered, again.reused) == (0, 1)
    darker = from_dict(RenderConfig, {**to_dict(cfg), "flat": {"grey": 100}}, "render")
    changed = render_views(plan_views(models, base, darker, align), darker, out, **QUIET)
    assert (changed.rendered, changed.reused) == (1, 0)


def test_backend_module_import_failure_is_a_config_error(monkeypatch):
    monkeypatch.setitem(backends.BACKENDS, "ghost", "dst3d_no_such_module_anywhere")
    with pytest.raises(ConfigError, match="render backend 'ghost': cannot import module"):
        from_dict(RenderConfig, {}, "render")


def test_stale_schema_version_re_renders_finished_views(tmp_path, monkeypatch, one_model):
    align, models = one_model
    base = BaseConfig(categories=("car",))
    cfg = RenderConfig(backend="opengl", views_per_model=2, width=48, height=48)
    out = tmp_path / "render"
    first = render_views(plan_views(models, base, cfg, align), cfg, out, **QUIET)
    assert (first.rendered, first.reused) == (2, 0)
    assert render_views(plan_views(models, base, cfg, align), cfg, out, **QUIET).reused == 2

    monkeypatch.setattr(dst3d.schema, "SCHEMA_VERSION", dst3d.schema.SCHEMA_VERSION + 1)
    bumped = render_views(plan_views(models, base, cfg, align), cfg, out, **QUIET)
    assert (bumped.rendered, bumped.reused) == (2, 0)
    assert bumped.records == first.records  # the same views, rendered again (opengl is deterministic)


def test_mesh_is_the_one_type_backends_receive():
    mesh = backends.Mesh(np.zeros((3, 3)), np.array([[0, 1, 2]]), np.ones((1, 3)))
    vertices, faces, colors = mesh  # unpacks like the tuple meshio returns
    assert mesh.faces is faces and mesh.vertices is vertices and mesh.colors is colors
