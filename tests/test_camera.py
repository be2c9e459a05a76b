"""Camera math: conventions, round trips, known rotations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import logm

from dst3d import camera

D = np.deg2rad


def _uv(point, az=0.0, el=0.0, th=0.0, d=3.0):
    R, t = camera.look_at(az, el, th, d)
    K = camera.intrinsics(35, 32, 200, 200)
    uv, z = camera.project(np.array([point], dtype=float), K, R, t)
    return uv[0], z[0]


def test_rotation_is_proper():
    rng = np.random.default_rng(0)
    for az, el, th in rng.uniform(-np.pi, np.pi, size=(50, 3)):
        R = camera.rotation_from_angles(az, el, th)
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0)


def test_azimuth_zero_looks_at_front_from_minus_y():
    R, t = camera.look_at(0.0, 0.0, 0.0, 3.0)
    np.testing.assert_allclose(camera.camera_center(R, t), [0, -3, 0], atol=1e-12)
    (u0, v0), z0 = _uv([0, 0, 0])
    assert (u0, v0) == pytest.approx((100, 100)) and z0 == pytest.approx(3.0)
    (u, v), _ = _uv([0, 0, 0.5])  # up (+z) is up in the image (smaller v)
    assert v < v0 and u == pytest.approx(u0)
    (u, v), _ = _uv([0.5, 0, 0])  # +x (object-left) is image right when facing the front
    assert u > u0 and v == pytest.approx(v0)
    (_, _), z = _uv([0, -0.5, 0])  # the front (-y) is nearer the camera
    assert z < z0


def test_azimuth_and_elevation_move_the_camera():
    R, t = camera.look_at(D(90), 0.0, 0.0, 2.0)
    np.testing.assert_allclose(camera.camera_center(R, t), [2, 0, 0], atol=1e-12)
    R, t = camera.look_at(D(180), 0.0, 0.0, 2.0)
    np.testing.assert_allclose(camera.camera_center(R, t), [0, 2, 0], atol=1e-12)
    R, t = camera.look_at(0.0, D(90), 0.0, 2.0)  # elevation 90: straight above, looking down
    np.testing.assert_allclose(camera.camera_center(R, t), [0, 0, 2], atol=1e-12)
    R, t = camera.look_at(D(30), D(40), D(10), 2.0)
    c = camera.camera_center(R, t)
    assert np.linalg.norm(c) == pytest.approx(2.0)
    assert np.arcsin(c[2] / 2.0) == pytest.approx(D(40))


def test_theta_rotates_image_counter_clockwise():
    (u0, v0), _ = _uv([0.5, 0, 0])
    (u, v), _ = _uv([0.5, 0, 0], th=D(90))
    assert u == pytest.approx(100, abs=1e-9) and v < 100  # right -> up: counter-clockwise on screen


def test_angles_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(200):
        az, el, th = rng.uniform(0, 2 * np.pi), rng.uniform(-np.pi / 2 + 1e-3, np.pi / 2 - 1e-3), rng.uniform(-3, 3)
        got = camera.angles_from_rotation(camera.rotation_from_angles(az, el, th))
        assert got == pytest.approx((az, el, th), abs=1e-9)


@pytest.mark.parametrize("el", [np.pi / 2, -np.pi / 2])
def test_angles_round_trip_at_the_poles(el):
    R = camera.rotation_from_angles(0.7, el, 0.3)
    az, el2, th = camera.angles_from_rotation(R)
    np.testing.assert_allclose(camera.rotation_from_angles(az, el2, th), R, atol=1e-9)


def test_rotation_error_known_values():
    assert camera.rotation_error(np.eye(3), camera.rot_z(0.3)) == pytest.approx(0.3)
    assert camera.rotation_error(camera.rot_x(1.0), camera.rot_x(-0.5)) == pytest.approx(1.5)
    assert camera.rotation_error(np.eye(3), camera.rot_z(np.pi)) == pytest.approx(np.pi)
    rng = np.random.default_rng(2)
    for _ in range(20):
        R1 = camera.rotation_from_angles(*rng.uniform(-1, 1, 3))
        R2 = camera.rotation_from_angles(*rng.uniform(-1, 1, 3))
        ref = np.linalg.norm(logm(R1.T @ R2), "fro") / np.sqrt(2)
        assert camera.rotation_error(R1, R2) == pytest.approx(ref, abs=1e-6)
        assert camera.rotation_error(R1, R2) == pytest.approx(camera.rotation_error(R2, R1))


def test_intrinsics_match_blender_auto_fit():
    K = camera.intrinsics(35, 32, 512, 512)
    assert K[0, 0] == pytest.approx(560.0) and K[1, 1] == pytest.approx(560.0)
    assert (K[0, 2], K[1, 2]) == (256.0, 256.0)
    K = camera.intrinsics(35, 32, 640, 480)  # sensor spans the larger side
    assert K[0, 0] == pytest.approx(35 / 32 * 640)
