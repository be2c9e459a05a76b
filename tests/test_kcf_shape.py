"""KCF's shape evidence: the annotated pose's outline against the image's edges, and combining evidence."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import trimesh

from dst3d import camera, kcf, kcf_shape
from dst3d.params import BaseConfig, ConfigError
from dst3d.render.annotate import silhouette
from dst3d.training.params import KcfConfig

PX = 96


def l_shape() -> tuple[np.ndarray, np.ndarray]:
    """An object whose front and back differ in outline: a long low body with a tall block at its front (-y)."""
    body = trimesh.creation.box(extents=(0.4, 1.0, 0.3))
    cab = trimesh.creation.box(extents=(0.4, 0.3, 0.5))
    cab.apply_translation((0.0, -0.35, 0.35))
    m = trimesh.util.concatenate([body, cab])
    return np.asarray(m.vertices), np.asarray(m.faces)


def draw(vertices, faces, angles, tmp_path, name="img.png") -> tuple[np.ndarray, np.ndarray, object]:
    """The object's silhouette at ``angles`` as a grey image on a textured background; K, t and the path."""
    K = camera.intrinsics(35.0, 32.0, PX, PX)
    R, t = camera.look_at(*angles, 2.5)
    mask = silhouette(vertices, faces, K, R, t, PX, PX)
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(90, 6, (PX, PX)), 0, 255).astype(np.uint8)
    img[mask] = 200
    path = tmp_path / name
    cv2.imwrite(str(path), img)
    return K, t, path


def test_turned_and_mirrored_wrap():
    a = np.array([[0.25, 0.3, 0.1], [5.0, -0.2, 0.0]])
    np.testing.assert_allclose(kcf_shape.turned(a)[:, 0], [(0.25 + math.pi), (5.0 + math.pi) % (2 * math.pi)])
    np.testing.assert_allclose(kcf_shape.mirrored(a)[:, 0], [2 * math.pi - 0.25, 2 * math.pi - 5.0])
    np.testing.assert_allclose(kcf_shape.turned(a)[:, 1:], a[:, 1:])  # elevation and theta untouched
    np.testing.assert_allclose(kcf_shape.turned(kcf_shape.turned(a)), a)


def test_outline_fit_is_zero_on_its_own_edges_and_capped():
    mask = np.zeros((40, 40), bool)
    mask[10:30, 12:28] = True
    img = np.where(mask, 220, 30).astype(np.uint8)
    d = kcf_shape.edge_distance(img, 100, 200)
    assert kcf_shape.outline_fit(d, mask, 10.0) < 0.6  # Canny marks the step within a pixel
    shifted = np.roll(mask, 6, axis=1)
    assert 3.0 < kcf_shape.outline_fit(d, shifted, 10.0) < 7.0
    assert kcf_shape.outline_fit(d, np.zeros_like(mask), 10.0) == 10.0  # off-image silhouette: worst fit
    assert kcf_shape.outline_fit(np.full((40, 40), 50.0, np.float32), mask, 4.0) == 4.0


def test_pose_fits_tell_front_from_back(tmp_path):
    v, f = l_shape()
    true = np.array([1.2, 0.35, 0.05])  # a side view: the tall block shows which end is the front
    K, t, path = draw(v, f, true, tmp_path)
    d = kcf_shape.edge_distance(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), 100, 200)
    poses = np.stack([true, kcf_shape.turned(true), kcf_shape.mirrored(true), [4.0, -0.3, 0.8]])
    fits = kcf_shape.pose_fits(v, f, K, t, PX, PX, d, poses, 10.0)
    fit, vs_flips = fits[:, 0], fits[:, 1]
    assert fit[0] < 1.0 and np.all(fit[1:] > 2 * fit[0] + 1.0)
    assert vs_flips[0] < -1.0  # both flips fit worse than the annotation
    assert vs_flips[1] > 1.0 and vs_flips[2] > 1.0  # for a flipped annotation, flipping it back fits better


def test_shape_features_same_for_any_worker_count_and_clear_errors(tmp_path):
    v, f = l_shape()
    mesh = tmp_path / "l.obj"
    trimesh.Trimesh(v, f).export(mesh)
    rows = []
    for i, az in enumerate((0.4, 1.3, 2.5, 4.0)):
        angles = np.array([az, 0.3, 0.0])
        K, t, path = draw(v, f, angles, tmp_path, f"{i}.png")
        rows.append((path, K, t, angles))
    images = [r[0] for r in rows]
    Ks, ts = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    poses = np.stack([np.stack([r[3], kcf_shape.turned(r[3])]) for r in rows])
    args = (Ks, ts, [(PX, PX)] * 4, poses, 10.0, (100.0, 200.0))
    one = kcf_shape.shape_features(images, [mesh] * 4, *args, workers=1)
    two = kcf_shape.shape_features(images, [mesh] * 4, *args, workers=2)
    assert one.shape == (4, 2, 2) and np.array_equal(one, two)
    assert np.all(one[:, 0, 0] < one[:, 1, 0])  # the given pose fits better than its turned-around one
    with pytest.raises(kcf_shape.ShapeError, match="missing.png: image missing or unreadable"):
        kcf_shape.shape_features([tmp_path / "missing.png", *images[1:]], [mesh] * 4, *args)
    with pytest.raises(kcf_shape.ShapeError, match="its annotation says 48x48"):
        kcf_shape.shape_features(images, [mesh] * 4, Ks, ts, [(48, 48)] * 4, *args[3:])
    with pytest.raises(kcf_shape.ShapeError, match="nope.obj"):
        kcf_shape.shape_features(images, [tmp_path / "nope.obj"] * 4, *args)


def test_combine_evidence_learns_which_evidence_separates():
    rng = np.random.default_rng(0)
    n = 200
    cats = ["a"] * n
    useless = rng.normal(size=(n, 1))
    useful = rng.normal(size=(n, 1))
    given = np.concatenate([useless, useful], 1)
    alt = np.stack([np.concatenate([rng.normal(size=(n, 1)), useful + 3.0], 1) for _ in range(3)], 1)
    score, alt_score, weights = kcf.combine_evidence(given, alt, cats)
    assert score.shape == (n,) and alt_score.shape == (n, 3)
    assert abs(weights["a"][1]) > 5 * abs(weights["a"][0])
    assert kcf._separation(score, alt_score.ravel()) > 0.95
    one, alt_one, none = kcf.combine_evidence(given[:, :1], alt[..., :1], cats)  # one evidence: as it is
    assert np.array_equal(one, given[:, 0]) and none == {}


def test_shape_evidence_needs_the_meshes():
    from test_kcf import _rows

    with pytest.raises(kcf.KcfError, match=r"no aligned mesh for model\(s\) \['boat0'"):
        kcf.run_kcf(_rows(), "m.jsonl", BaseConfig(categories=("car", "boat")), KcfConfig(folds=2), meshes={})
    with pytest.raises(ConfigError, match="evidence: \\['shape'\\]; must hold 'pose'"):
        KcfConfig(evidence=("shape",)).validate()


def test_closed_outward_meshes_rasterise_only_their_front_faces():
    v, f = l_shape()  # two closed boxes, wound outward
    v2, f2, closed = kcf_shape.closed_outward(v, f)
    assert closed and len(f2) == len(f)
    _, _, inside_out = kcf_shape.closed_outward(v, f[:, ::-1])
    _, _, open_mesh = kcf_shape.closed_outward(v, f[:-2])
    assert not inside_out and not open_mesh
    K = camera.intrinsics(35.0, 32.0, PX, PX)
    rng = np.random.default_rng(1)
    for _ in range(5):
        pose = np.array([rng.uniform(0, 2 * math.pi), rng.uniform(-0.3, 1.2), rng.normal(0, 0.2)])
        _, t = camera.look_at(*pose, 2.5)
        R = camera.rotation_from_angles(*pose)
        full = silhouette(v, f, K, R, t, PX, PX, supersample=2)
        corner = v2[f2[:, 0]]
        normals = np.cross(v2[f2[:, 1]] - corner, v2[f2[:, 2]] - corner)
        front = f2[np.einsum("ij,ij->i", camera.camera_center(R, t) - corner, normals) > 0]
        assert len(front) < len(f2)
        assert np.logical_xor(full, silhouette(v2, front, K, R, t, PX, PX, supersample=2)).sum() <= 3
        d = kcf_shape.edge_distance(np.where(full, 200, 60).astype(np.uint8), 100, 200)
        poses = np.stack([pose, kcf_shape.turned(pose)])
        a = kcf_shape.pose_fits(v2, f2, K, t, PX, PX, d, poses, 10.0, front_only=True)
        b = kcf_shape.pose_fits(v2, f2, K, t, PX, PX, d, poses, 10.0, front_only=False)
        np.testing.assert_allclose(a, b, atol=0.05)
