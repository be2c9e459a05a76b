"""Viewpoint/lighting sampling statistics and the view plan (pure numpy, no rendering)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_render_support import marker_model, write_align

from dst3d import camera
from dst3d.params import BaseConfig, ConfigError, from_dict
from dst3d.render import sampling
from dst3d.render.params import LightConfig, RenderConfig
from dst3d.render.plan import PlanError, plan_views
from dst3d.schema import ModelRecord

N = 4000


def draws(strategy: int, cfg: RenderConfig | None = None, **kw) -> np.ndarray:
    """(N, 4) azimuth, elevation, theta (degrees) and distance."""
    cfg = cfg or RenderConfig(theta="zero")
    rng = np.random.default_rng(123)
    vps = [sampling.sample_viewpoint(rng, strategy, cfg, **kw) for _ in range(N)]
    return np.array(
        [[np.degrees(v.azimuth), np.degrees(v.elevation), np.degrees(v.theta), v.distance] for v in vps]
    )


def signed(az: np.ndarray) -> np.ndarray:
    return (az + 180.0) % 360.0 - 180.0


def truncnorm_moments(mean: float, std: float, lo: float, hi: float) -> tuple[float, float]:
    x = np.random.default_rng(0).normal(mean, std, 400_000)
    x = x[(x >= lo) & (x <= hi)]
    return float(x.mean()), float(x.std())


@pytest.mark.parametrize("strategy", [1, 3, 5])
def test_all_azimuth_strategies_are_uniform(strategy):
    az = draws(strategy)[:, 0]
    assert az.min() >= 0 and az.max() < 360
    counts, _ = np.histogram(az, bins=12, range=(0, 360))
    assert counts.min() > N / 12 * 0.8 and counts.max() < N / 12 * 1.2


@pytest.mark.parametrize("strategy", [2, 4])
def test_front_strategies_centre_on_the_front(strategy):
    """Upstream's [-195, 15) in its +x-based azimuth is [-105, 105) around our front (-y, azimuth 0)."""
    d = draws(strategy)
    az = signed(d[:, 0])
    front = d[:, 1] > -89  # views that did not wrap past the bottom pole
    assert np.all(np.abs(az[front]) <= 105.0 + 1e-6)
    assert abs(az[front].mean()) < 4.0
    counts, _ = np.histogram(az[front], bins=6, range=(-105, 105))
    assert counts.min() > counts.max() * 0.8


def test_strategy_1_and_2_polar_is_truncated_normal_90_30():
    for strategy in (1, 2):
        el = draws(strategy)[:, 1]
        polar = 90.0 - el
        assert polar.min() >= 0 and polar.max() <= 180
        mean, std = truncnorm_moments(90, 30, 0, 180)
        assert abs(polar.mean() - mean) < 2.0 and abs(polar.std() - std) < 2.0


def test_strategy_3_polar_60_20_wraps_past_the_pole_like_upstream():
    """Polar angles in (180, 195] wrap: camera on the other side (azimuth + 180), still upright."""
    rng = np.random.default_rng(5)
    cfg = RenderConfig(theta="zero")
    mean, std = truncnorm_moments(60, 20, 0, 195)
    el = draws(3)[:, 1]
    assert el.min() >= -90 and el.max() <= 90
    assert abs((90 - el).mean() - mean) < 2.0 and abs((90 - el).std() - std) < 2.0
    # force a wrap with an elevation offset: polar 60 - (-150) = 210 -> 150 on the opposite side
    vp = sampling.sample_viewpoint(rng, 3, cfg, elevation_offset_deg=-150.0)
    assert np.degrees(vp.elevation) < 0 and vp.theta == 0.0


def test_strategy_5_polar_uniform():
    el = draws(5)[:, 1]
    counts, _ = np.histogram(el, bins=6, range=(-90, 90))
    assert counts.min() > N / 6 * 0.8


def test_azimuth_and_elevation_offsets_shift_the_camera():
    base = draws(2)
    shifted = draws(2, azimuth_offset_deg=30.0, elevation_offset_deg=10.0)
    assert np.allclose(signed(shifted[:, 0] - base[:, 0])[np.abs(base[:, 1]) < 70], 30.0, atol=1e-6)
    assert shifted[:, 1].mean() - base[:, 1].mean() == pytest.approx(10.0, abs=1.0)


@pytest.mark.parametrize("kind,spread", [("zero", 10.0), ("normal", 12.0), ("uniform", 20.0)])
def test_theta_distribution(kind, spread):
    th = draws(1, RenderConfig(theta=kind, theta_spread_deg=spread))[:, 2]
    if kind == "zero":
        assert np.all(th == 0)
    elif kind == "normal":
        assert abs(th.mean()) < 1.0 and th.std() == pytest.approx(spread, rel=0.05)
    else:
        assert (
            th.min() >= -spread
            and th.max() <= spread
            and th.std() == pytest.approx(2 * spread / 12**0.5, rel=0.05)
        )


def test_distance_fixed_or_truncated_normal():
    assert np.all(draws(1, RenderConfig(), distance=3.0)[:, 3] == 3.0)
    d = draws(1, RenderConfig(distance_range=(-0.5, 1.5), distance_std=0.5), distance=2.5)[:, 3]
    assert d.min() >= 2.0 and d.max() <= 4.0
    mean, std = truncnorm_moments(2.5, 0.5, 2.0, 4.0)
    assert d.mean() == pytest.approx(mean, abs=0.03) and d.std() == pytest.approx(std, abs=0.03)


def test_lighting_ranges_and_sun_on_the_camera_side():
    cfg = LightConfig(
        sun_strength=(1.0, 2.0),
        sun_elevation_deg=(20.0, 70.0),
        sun_azimuth_spread_deg=60.0,
        ambient=(0.2, 0.4),
    )
    rng = np.random.default_rng(1)
    for az in np.linspace(0, 2 * np.pi, 25):
        light = sampling.sample_lighting(rng, cfg, az)
        d = np.array(light.sun_direction)
        assert np.isclose(np.linalg.norm(d), 1.0)
        assert 1.0 <= light.sun_strength <= 2.0 and 0.2 <= light.ambient <= 0.4 and light.hdr == ""
        assert np.degrees(np.arcsin(d[2])) == pytest.approx(np.clip(np.degrees(np.arcsin(d[2])), 20, 70))
        cam = sampling.direction(az, 0.0)
        horiz = d[:2] / np.linalg.norm(d[:2])
        assert np.degrees(np.arccos(np.clip(horiz @ cam[:2], -1, 1))) <= 60.0 + 1e-6


def test_world_maps_ship_with_bpy_and_split():
    maps = sampling.world_maps()
    assert len(maps) >= 8 and all(p.suffix == ".exr" and p.is_file() for p in maps.values())
    split = sampling.split_world_maps(LightConfig(hdr=True), maps)
    assert set(split["test"]) == {"forest", "night"} and not set(split["train"]) & set(split["test"])
    with pytest.raises(ValueError, match="unknown map"):
        sampling.split_world_maps(LightConfig(hdr=True, hdr_test_maps=("mars",)), maps)


# ----------------------------------------------------------------------------- the plan
@pytest.fixture()
def align(tmp_path):
    a = tmp_path / "align"
    models = [
        marker_model(a, "m0", "car"),
        marker_model(a, "m1", "car"),
        marker_model(a, "m2", "chair", strategy=3),
    ]
    write_align(a, models)
    return a, models


def test_plan_is_seeded_per_view_and_consistent(align):
    a, models = align
    base = BaseConfig(seed=0, categories=("car", "chair"))
    cfg = RenderConfig(views_per_model=5)
    views = plan_views(models, base, cfg, a)
    assert len(views) == 15 and len({v.seed for v in views}) == 15 and len({v.key for v in views}) == 15
    assert [v.key for v in plan_views(models, base, cfg, a)] == [v.key for v in views]  # reproducible
    for v in views:
        vp = v.viewpoint
        assert (
            0 <= vp.azimuth < 2 * np.pi
            and -np.pi / 2 <= vp.elevation <= np.pi / 2
            and -np.pi < vp.theta <= np.pi
        )
        R = camera.rotation_from_angles(vp.azimuth, vp.elevation, vp.theta)
        assert camera.rotation_error(np.array(v.R), R) < 1e-9
        assert np.allclose(v.t, [0, 0, vp.distance])
    assert {v.strategy for v in views if v.model_id == "m2"} == {3}
    # more views per model keeps the first ones (seeded by image id): resume reuses them
    more = plan_views(models, base, dataclasses.replace(cfg, views_per_model=7), a)
    assert {v.key for v in views} <= {v.key for v in more}
    other = plan_views(models, BaseConfig(seed=1, categories=("car", "chair")), cfg, a)
    assert not {v.key for v in views} & {v.key for v in other}


def test_plan_key_changes_with_pixel_settings_not_with_workers(align):
    a, models = align
    base = BaseConfig(seed=0, categories=("car", "chair"))

    def keys(render: dict) -> list[str]:
        return [v.key for v in plan_views(models, base, from_dict(RenderConfig, render, "render"), a)]

    default = keys({})
    assert default == [v.key for v in plan_views(models, base, RenderConfig(), a)]  # built without sub-sections
    assert default == keys({"workers": 1, "views_per_shard": 3, "blenderproc": {"threads": 1, "device": "cpu"}})
    assert default == keys({"opengl": {"msaa": 8}})  # an inactive backend's settings are not in the key
    assert not set(default) & set(keys({"blenderproc": {"samples": 16}}))
    gl = keys({"backend": "opengl"})
    assert not set(default) & set(gl) and not set(gl) & set(keys({"backend": "opengl", "opengl": {"msaa": 8}}))


def test_splits_per_category_are_seeded(tmp_path):
    a = tmp_path / "align"
    models = [marker_model(a, f"m{i}", "car") for i in range(5)]
    views = plan_views(
        models, BaseConfig(categories=("car",)), RenderConfig(views_per_model=1, test_fraction=0.2), a
    )
    assert sorted(v.split for v in views) == ["test", "train", "train", "train", "train"]


def test_plan_errors_are_clear(align, tmp_path):
    a, models = align
    base = BaseConfig(seed=0, categories=("car", "chair"))
    with pytest.raises(PlanError, match=r"model id\(s\) \['nope'\] are not in the align manifest"):
        plan_views(models, base, RenderConfig(models=("m0", "nope")), a)
    with pytest.raises(PlanError, match="no aligned models for .*'bus'"):
        plan_views(models, BaseConfig(categories=("car", "bus")), RenderConfig(), a)
    near = [dataclasses.replace(models[0], distance=0.8)]
    with pytest.raises(PlanError, match="inside the object's bounding sphere"):
        plan_views(near, BaseConfig(categories=("car",)), RenderConfig(), a)
    gone = [ModelRecord(model_id="x", category="car", source="t", mesh="meshes/missing.obj")]
    with pytest.raises(PlanError, match="not found"):
        plan_views(gone, BaseConfig(categories=("car",)), RenderConfig(), a)
    only = plan_views(models, base, RenderConfig(models=("m2",), views_per_model=2), a)
    assert {v.model_id for v in only} == {"m2"}


def test_render_params_are_validated():
    with pytest.raises(ConfigError, match="strategy"):
        from_dict(RenderConfig, {"strategy": 7}, "render")
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(RenderConfig, {"sampels": 8}, "render")
    with pytest.raises(ConfigError, match="'samples' moved to render.blenderproc.samples"):
        from_dict(RenderConfig, {"samples": 8}, "render")
    with pytest.raises(ConfigError, match="'msaa' moved to render.opengl.msaa"):
        from_dict(RenderConfig, {"msaa": 8}, "render")
    with pytest.raises(ConfigError, match="'grid_views' moved to render.grid_images"):
        from_dict(RenderConfig, {"grid_views": 8}, "render")
    with pytest.raises(ConfigError, match=r"render.blenderproc: samples: must be >= 1"):
        from_dict(RenderConfig, {"blenderproc": {"samples": 0}}, "render")
    with pytest.raises(ConfigError, match="world maps need backend"):
        from_dict(RenderConfig, {"backend": "opengl", "light": {"hdr": True}}, "render")
    with pytest.raises(ConfigError, match="distance_range"):
        from_dict(RenderConfig, {"distance_range": [0.5, 1.0]}, "render")
