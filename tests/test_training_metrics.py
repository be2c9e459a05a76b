"""Rotation-error metrics (dst3d.training.metrics) against hand-computed rotations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dst3d import camera
from dst3d.training import metrics

D = np.deg2rad


@pytest.mark.parametrize(
    ("pred", "gt", "expected_deg"),
    [
        ((0.3, 0.2, 0.1), (0.3, 0.2, 0.1), 0.0),
        ((D(90), 0.0, 0.0), (0.0, 0.0, 0.0), 90.0),  # R1^T R2 = Rz(90): azimuth alone
        ((D(200), D(10), 0.0), (D(20), D(10), 0.0), 180.0),  # turned around
        ((1.0, D(40), 0.0), (1.0, D(10), 0.0), 30.0),  # elevation alone
        ((1.0, 0.2, D(15)), (1.0, 0.2, D(-15)), 30.0),  # in-plane alone
        ((D(30), D(90), D(30)), (0.0, D(90), 0.0), 0.0),  # top view: azimuth and theta cancel
        # el = 0: M = Rx(90) Rz(90) Rx(-90) Rz(-90) = Ry(-90) Rz(-90) = [[0,0,-1],[-1,0,0],[0,1,0]], trace 0
        ((D(90), 0.0, D(90)), (0.0, 0.0, 0.0), 120.0),
    ],
)
def test_rotation_errors_hand_computed(pred, gt, expected_deg):
    err = metrics.rotation_errors(np.array([pred]), np.array([gt]))
    assert np.degrees(err[0]) == pytest.approx(expected_deg, abs=1e-6)


def test_the_rotation_math_is_camera_py(monkeypatch):
    monkeypatch.setattr(camera, "rotation_error", lambda R1, R2: 7.0)
    assert metrics.rotation_errors(np.zeros((2, 3)), np.ones((2, 3))).tolist() == [7.0, 7.0]


def test_pose_summary_thresholds_and_median():
    s = metrics.pose_summary(D([5.0, 20.0, 40.0]))
    assert s == pytest.approx({"n": 3, "acc_pi_6": 2 / 3, "acc_pi_18": 1 / 3, "median_deg": 20.0})
    assert metrics.pose_summary(np.array([])) == {"n": 0, "acc_pi_6": None, "acc_pi_18": None, "median_deg": None}
    assert metrics.THRESHOLDS["acc_pi_6"] == math.pi / 6 and metrics.THRESHOLDS["acc_pi_18"] == math.pi / 18


def test_summarize_per_category_mean_and_pooled():
    errors = D([5.0, 50.0, 60.0, 70.0, 5.0])
    cats = ["car", "car", "car", "car", "boat"]
    out = metrics.summarize(errors, cats, pred_labels=[0, 0, 1, 1, 1], true_labels=[0, 0, 0, 0, 1])
    assert out["per_category"]["car"]["acc_pi_6"] == 0.25 and out["per_category"]["boat"]["acc_pi_6"] == 1.0
    assert out["per_category"]["car"]["median_deg"] == pytest.approx(55.0)
    assert out["per_category"]["car"]["top1"] == 0.5 and out["per_category"]["boat"]["top1"] == 1.0
    # each category counts once in the mean; the pooled numbers weigh images
    assert out["mean"]["acc_pi_6"] == pytest.approx(0.625) and out["all"]["acc_pi_6"] == pytest.approx(0.4)
    assert out["mean"]["top1"] == pytest.approx(0.75) and out["all"]["top1"] == pytest.approx(0.6)
    assert out["mean"]["median_deg"] == pytest.approx((55.0 + 5.0) / 2)
    assert "top1" not in metrics.summarize(errors, cats)["mean"]
    with pytest.raises(ValueError):
        metrics.summarize(errors, cats[:2])


def test_confusion_matrix_and_auroc():
    m = metrics.confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]
    assert metrics.auroc(np.array([0.9, 0.8, 0.1, 0.2]), np.array([1, 1, 0, 0])) == 1.0
    assert metrics.auroc(np.array([0.1, 0.2, 0.9, 0.8]), np.array([1, 1, 0, 0])) == 0.0
    assert metrics.auroc(np.ones(4), np.array([1, 0, 1, 0])) == 0.5
    # positives {3, 5}, negatives {1, 2, 4}: of the 6 pairs only (3, 4) is ranked wrong
    assert metrics.auroc(np.array([3, 1, 5, 2, 4]), np.array([1, 0, 1, 0, 0])) == pytest.approx(5 / 6)
    assert metrics.auroc(np.array([1.0, 2.0]), np.array([1, 1])) is None
