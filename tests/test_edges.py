"""The edges stage: alpha-aware Canny, depth edges, 3-channel output, manifest rows carried forward."""

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
import yaml

from dst3d.edges import detect as edges
from dst3d.edges.params import EdgesConfig
from dst3d.params import ConfigError, from_dict
from dst3d.render.annotate import encode_depth
from dst3d.schema import ImageRecord, read_manifest, resolve, write_manifest

REPO = Path(__file__).resolve().parents[1]


def rgba_object(colour=(40, 40, 40), size=64, background_rgb=0) -> tuple[np.ndarray, np.ndarray]:
    """BGRA image of a filled quadrilateral with a lighter inner face; background fully transparent."""
    img = np.zeros((size, size, 4), np.uint8)
    img[..., :3] = background_rgb
    outer = np.array([[12, 14], [50, 10], [54, 50], [16, 54]], np.int32)
    cv2.fillPoly(img, [outer], (*colour, 255))
    inner = np.array([[22, 24], [40, 22], [42, 40], [24, 42]], np.int32)
    cv2.fillPoly(img, [inner], (*(min(c + 120, 255) for c in colour), 255))
    return img, img[..., 3] > 0


def test_silhouette_is_an_edge_even_when_the_object_matches_the_background():
    """A black object on the black background upstream's dropped alpha gives: the outline still shows."""
    img, mask = rgba_object(colour=(0, 0, 0))
    cfg = EdgesConfig()
    e = edges.edge_map(img, None, None, cfg)
    outline = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    assert (e[outline] > 0).mean() > 0.4  # the outline is traced
    plain = edges.edge_map(img, None, None, dataclasses.replace(cfg, silhouette=False))
    assert (plain[outline] > 0).mean() < 0.05  # without the alpha channel it would vanish (upstream's case)


def test_background_has_no_edges_and_edges_hug_the_object():
    img, mask = rgba_object(colour=(90, 160, 30))
    img[..., :3][~mask] = np.random.default_rng(0).integers(0, 255, (np.count_nonzero(~mask), 3))  # junk rgb
    e = edges.edge_map(img, None, None, EdgesConfig())
    near = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert e.any() and not e[~near].any()  # transparent pixels' rgb never leaks into the edge map
    inner = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert e[inner].any()  # the inner face's border (a colour edge) is found too


def test_with_constant_alpha_it_is_exactly_cv2_canny():
    rng = np.random.default_rng(1)
    rgb = cv2.GaussianBlur(rng.integers(0, 255, (48, 64, 3)).astype(np.uint8), (5, 5), 1.5)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    for cfg in (
        EdgesConfig(low_threshold=20, high_threshold=60),
        EdgesConfig(low_threshold=20, high_threshold=60, l2_gradient=True, aperture=5),
    ):
        ours = edges.edge_map(rgba, None, None, cfg)
        ref = cv2.Canny(
            rgb, cfg.low_threshold, cfg.high_threshold, apertureSize=cfg.aperture, L2gradient=cfg.l2_gradient
        )
        assert np.array_equal(ours, ref)


def test_rgb_render_with_background_uses_the_mask():
    img, mask = rgba_object(colour=(200, 200, 200))
    rgb = img[..., :3].copy()
    rgb[~mask] = (0, 255, 0)  # a visible background (hdr_background renders)
    e = edges.edge_map(rgb, mask, None, EdgesConfig())
    near = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert e.any() and not e[~near].any()
    with pytest.raises(ValueError, match="needs its mask"):
        edges.edge_map(rgb, None, None, EdgesConfig())


def test_depth_edges_mark_the_near_side_of_a_step():
    depth = np.zeros((20, 20), np.float32)
    depth[2:18, 2:18] = 3.0
    depth[2:18, 10:18] = 2.0  # a nearer half: a 33% jump at column 10
    e = edges.depth_edges(depth, 0.05)
    assert e[5:15, 10].all() and not e[:, 9].any() and not e[:, 12].any()
    assert not edges.depth_edges(depth, 0.6).any()


def test_edges_params_are_validated():
    with pytest.raises(ConfigError, match="low_threshold"):
        from_dict(EdgesConfig, {"low_threshold": 300, "high_threshold": 200}, "edges")
    with pytest.raises(ConfigError):
        from_dict(EdgesConfig, {"aperture": 7}, "edges")


# ------------------------------------------------------------------------------------------ stage
def fake_render(root: Path, n: int = 6) -> list[ImageRecord]:
    """A render folder as the render stage writes it (RGBA, mask, uint16 depth, manifest)."""
    records = []
    for i in range(n):
        img, mask = rgba_object(colour=(30 * i, 200 - 20 * i, 90))
        folder = Path("views") / "car" / f"m{i % 2}"
        (root / folder).mkdir(parents=True, exist_ok=True)
        rid = f"car_m{i % 2}_{i:04d}"
        cv2.imwrite(str(root / folder / f"{rid}_rgb.png"), img)
        cv2.imwrite(str(root / folder / f"{rid}_mask.png"), mask.astype(np.uint8) * 255)
        depth = np.where(mask, 2.5, 0.0)
        cv2.imwrite(str(root / folder / f"{rid}_depth.png"), encode_depth(depth, mask, 1e-4))
        folder = root.name / folder  # record paths are relative to the data root
        records.append(
            ImageRecord(
                image_id=rid,
                category="car",
                model_id=f"m{i % 2}",
                source="test",
                split="train",
                azimuth=0.1 * i,
                elevation=0.2,
                theta=0.0,
                distance=2.5,
                K=((70.0, 0, 32), (0, 70.0, 32), (0, 0, 1)),
                R=((1.0, 0, 0), (0, 1.0, 0), (0, 0, 1.0)),
                t=(0.0, 0.0, 2.5),
                width=64,
                height=64,
                bbox=(12.0, 10.0, 55.0, 55.0),
                keypoints_2d={"a": (20.0, 20.0, 1)},
                rgb=f"{folder}/{rid}_rgb.png",
                mask=f"{folder}/{rid}_mask.png",
                depth=f"{folder}/{rid}_depth.png",
                depth_scale=1e-4,
                seed=i,
                backend="test",
            )
        )
    write_manifest(root / "manifest.jsonl", records)
    return records


def run_stage(tmp: Path, **over) -> subprocess.CompletedProcess:
    (tmp / "params.yaml").write_text(yaml.safe_dump({"edges": over}))  # other sections: their defaults
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "stages" / "edges.py"),
            "--params",
            str(tmp / "params.yaml"),
            "--render",
            str(tmp / "data" / "render"),
            "--out",
            str(tmp / "data" / "edges"),
            "--plots",
            str(tmp / "plots"),
            "--metrics",
            str(tmp / "edges.json"),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
        timeout=120,
    )


def test_stage_writes_3_channel_edges_and_carries_the_rows(tmp_path):
    records = fake_render(tmp_path / "data" / "render")
    proc = run_stage(tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "data" / "edges"
    rows = read_manifest(out / "manifest.jsonl", ImageRecord)
    assert [r.image_id for r in rows] == [r.image_id for r in records]
    for row, rec in zip(rows, records):
        assert dataclasses.replace(row, edge="") == rec  # the render row, carried forward unchanged
        assert row.edge == f"edges/views/car/{rec.model_id}/{rec.image_id}_edge.png"
        for name in (row.rgb, row.mask, row.depth, row.edge):  # every path resolves from the data root
            assert resolve(out, name).is_file()
        e = cv2.imread(str(resolve(out, row.edge)), cv2.IMREAD_UNCHANGED)
        assert e.shape == (64, 64, 3) and set(np.unique(e)) <= {0, 255} and (e[..., 0] == e[..., 2]).all()
    metrics = json.loads((tmp_path / "edges.json").read_text())
    assert (
        metrics["images"] == 6
        and metrics["edge_pixels_off_object_max"] == 0
        and metrics["empty_edge_maps"] == 0
    )
    assert (tmp_path / "plots" / "grid.png").is_file()
    assert not (tmp_path / "data" / "edges.staging").exists()


def test_stage_parallel_equals_serial(tmp_path):
    fake_render(tmp_path / "data" / "render", n=8)
    assert run_stage(tmp_path, workers=2, depth_edges=True).returncode == 0
    par = {p.name: p.read_bytes() for p in (tmp_path / "data" / "edges").rglob("*_edge.png")}
    assert run_stage(tmp_path, workers=1, depth_edges=True).returncode == 0
    ser = {p.name: p.read_bytes() for p in (tmp_path / "data" / "edges").rglob("*_edge.png")}
    assert par == ser and len(par) == 8


def test_stage_missing_render_image_is_a_clear_error(tmp_path):
    records = fake_render(tmp_path / "data" / "render", n=2)
    resolve(tmp_path / "data" / "render", records[1].rgb).unlink()
    proc = run_stage(tmp_path)
    assert proc.returncode != 0 and "render image missing" in proc.stderr
    assert not (tmp_path / "data" / "edges").exists()  # nothing half-made
