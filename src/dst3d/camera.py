"""Camera math: angles <-> R, t; intrinsics; projection; rotation error.

The only place for this math. Conventions (see README "Conventions"):

* World = the canonical object frame: up = +z, the object's front faces -y, scale: largest bbox side 1.
* Extrinsics are world->camera in the OpenCV convention (x right, y down, z forward):
  ``X_cam = R @ X_world + t``.
* Angles follow PASCAL3D+ as the upstream 3D-DST code uses them. PASCAL3D+ writes the rotation for a
  camera that looks down its -z axis with y up: ``R_p3d = Rz(theta) Rx(-(pi/2 - elevation)) Rz(-azimuth)``.
  Our OpenCV camera flips y and z of that frame, so ``R = diag(1, -1, -1) @ R_p3d``. With this, azimuth 0 /
  elevation 0 puts the camera on the -y axis looking at the object's front, azimuth grows
  counter-clockwise seen from above (azimuth 90 deg puts the camera on +x), elevation > 0 looks down on
  the object, and theta > 0 rotates the image content counter-clockwise (as PASCAL3D+ does).
"""

from __future__ import annotations

import numpy as np

_FLIP = np.diag([1.0, -1.0, -1.0])


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_from_angles(azimuth: float, elevation: float, theta: float) -> np.ndarray:
    """World->camera rotation (OpenCV) from PASCAL3D+ angles in radians."""
    return _FLIP @ rot_z(theta) @ rot_x(-(np.pi / 2 - elevation)) @ rot_z(-azimuth)


def angles_from_rotation(R: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`rotation_from_angles`: (azimuth in [0, 2pi), elevation in [-pi/2, pi/2], theta).

    With b = elevation - pi/2 the PASCAL3D+ rotation is Rz(theta) Rx(b) Rz(-azimuth); its last row is
    (-sin b sin az, sin b cos az, cos b) and its last column (sin th sin b, -cos th sin b, cos b).
    """
    P = _FLIP @ np.asarray(R, dtype=np.float64)  # back to the PASCAL3D+ camera frame
    cos_b = float(np.clip(P[2, 2], -1.0, 1.0))
    elevation = float(np.pi / 2 - np.arccos(cos_b))
    if 1.0 - abs(cos_b) < 1e-12:
        # Straight down (b = 0) or up (b = -pi): azimuth and theta are coupled; put it all in azimuth.
        sign = 1.0 if cos_b > 0 else -1.0
        azimuth = -float(np.arctan2(sign * P[1, 0], P[0, 0]))
        theta = 0.0
    else:
        azimuth = float(np.arctan2(P[2, 0], -P[2, 1]))
        theta = float(np.arctan2(-P[0, 2], P[1, 2]))
    return azimuth % (2 * np.pi), elevation, theta


def look_at(azimuth: float, elevation: float, theta: float, distance: float) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) of a camera ``distance`` away from the origin, pointing at it."""
    R = rotation_from_angles(azimuth, elevation, theta)
    t = np.array([0.0, 0.0, float(distance)])
    return R, t


def camera_center(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Camera position in world coordinates."""
    return -np.asarray(R).T @ np.asarray(t)


def intrinsics(focal_mm: float, sensor_mm: float, width: int, height: int) -> np.ndarray:
    """Pinhole K for a sensor whose *larger* image side spans ``sensor_mm`` (Blender's 'AUTO' fit)."""
    f_px = focal_mm / sensor_mm * max(width, height)
    return np.array([[f_px, 0.0, width / 2.0], [0.0, f_px, height / 2.0], [0.0, 0.0, 1.0]])


def project(points: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points (N, 3) to pixels (N, 2) (pixel centres at +0.5); also return camera depth z."""
    cam = np.asarray(points, dtype=np.float64) @ np.asarray(R).T + np.asarray(t)
    z = cam[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = (cam @ np.asarray(K).T)[:, :2] / z[:, None]
    return uv, z


def rotation_error(R1: np.ndarray, R2: np.ndarray) -> float:
    """Geodesic distance ||logm(R1^T R2)||_F / sqrt(2) in radians, i.e. the angle of R1^T R2."""
    M = np.asarray(R1).T @ np.asarray(R2)
    # atan2(sin, cos) instead of arccos(cos): near 0, arccos turns the trace's float rounding into a
    # ~2e-8 rad floor, so two identical rotations did not compare as 0.
    c = (np.trace(M) - 1.0) / 2.0
    s = np.linalg.norm([M[2, 1] - M[1, 2], M[0, 2] - M[2, 0], M[1, 0] - M[0, 1]]) / 2.0
    return float(np.arctan2(s, c))
