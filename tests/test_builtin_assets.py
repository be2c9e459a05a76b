"""The bundled parametric asset library: validity, determinism, variety, canonical frame, contact sheet."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from dst3d.assets import builtin
from dst3d.assets import primitives as P
from dst3d.assets.contact_sheet import render_views, write_contact_sheet

SEEDS = range(4)

# (front keypoint, back keypoint): the front one must have the smaller y (front faces -y).
FRONT_BACK = {
    "aeroplane": [("nose", "tail"), ("wing_root_left", "elevator_left")],
    "bicycle": [("wheel_front_left", "wheel_back_left"), ("seat_front", "seat_back")],
    "boat": [("bow_top", "stern_left"), ("bow_bottom", "stern_bottom")],
    "bottle": [("label_center", "mouth"), ("label_center", "body_left")],
    "bus": [
        ("wheel_front_left", "wheel_back_left"),
        ("headlight_left", "taillight_left"),
        ("front_top_right", "back_top_right"),
    ],
    "car": [
        ("wheel_front_left", "wheel_back_left"),
        ("headlight_left", "taillight_left"),
        ("roof_front_right", "roof_back_right"),
    ],
    "chair": [("seat_front_left", "seat_back_left"), ("leg_front_right", "leg_back_right")],
    "diningtable": [("top_front_left", "top_back_left")],
    "motorbike": [
        ("wheel_front_left", "wheel_back_left"),
        ("headlight", "seat_back"),
        ("seat_front", "seat_back"),
    ],
    "sofa": [("front_bottom_left", "back_bottom_left"), ("seat_front_left", "back_top_left")],
    "train": [
        ("front_top_left", "back_top_left"),
        ("wheel_front_left", "wheel_back_left"),
        ("headlight_right", "back_bottom_right"),
    ],
    "tvmonitor": [("screen_center", "back_center"), ("base_front", "base_back")],
}
# (upper keypoint, lower keypoint): the upper one must have the larger z (up is +z).
UP_DOWN = {
    "aeroplane": [("rudder_upper", "rudder_lower")],
    "bicycle": [("seat_back", "pedal_left"), ("handle_left", "wheel_front_left")],
    "boat": [("top", "stern_bottom"), ("bow_top", "bow_bottom")],
    "bottle": [("mouth", "neck"), ("shoulder_left", "bottom_left")],
    "bus": [("front_top_left", "front_bottom_left"), ("back_top_left", "wheel_back_left")],
    "car": [("roof_front_left", "wheel_front_left"), ("roof_back_right", "taillight_right")],
    "chair": [("back_top_left", "seat_back_left"), ("seat_front_left", "leg_front_left")],
    "diningtable": [("top_front_left", "leg_front_left"), ("top_center", "leg_back_right")],
    "motorbike": [("handle_left", "wheel_front_left"), ("seat_front", "wheel_back_left")],
    "sofa": [("back_top_left", "seat_front_left"), ("seat_front_left", "front_bottom_left")],
    "train": [("front_top_left", "front_bottom_left"), ("back_top_right", "wheel_back_right")],
    "tvmonitor": [("screen_top_left", "screen_bottom_left"), ("screen_bottom_right", "base_front")],
}


@pytest.fixture(scope="module")
def assets() -> dict[str, list[builtin.Asset]]:
    return {c: [builtin.generate(c, np.random.default_rng(s)) for s in SEEDS] for c in builtin.CATEGORIES}


def _closed_and_consistent(f: np.ndarray, n: int) -> bool:
    """Every directed edge occurs once and its reverse once: watertight with consistent winding."""
    e = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]).astype(np.int64)
    key, rkey = e[:, 0] * (n + 1) + e[:, 1], e[:, 1] * (n + 1) + e[:, 0]
    return len(np.unique(key)) == len(key) and bool(np.isin(rkey, key).all())


def test_categories_and_keypoint_names() -> None:
    assert builtin.CATEGORIES == (
        "aeroplane",
        "bicycle",
        "boat",
        "bottle",
        "bus",
        "car",
        "chair",
        "diningtable",
        "motorbike",
        "sofa",
        "train",
        "tvmonitor",
    )
    assert set(builtin.KEYPOINT_NAMES) == set(builtin.CATEGORIES)


def test_unknown_category_names_it_and_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="spaceship") as err:
        builtin.generate("spaceship", np.random.default_rng(0))
    assert "aeroplane" in str(err.value) and "tvmonitor" in str(err.value)


@pytest.mark.parametrize("category", builtin.CATEGORIES)
def test_same_seed_gives_identical_asset(category: str) -> None:
    a = builtin.generate(category, np.random.default_rng(123))
    b = builtin.generate(category, np.random.default_rng(123))
    va, fa, ca = a.merged()
    vb, fb, cb = b.merged()
    assert np.array_equal(va, vb) and np.array_equal(fa, fb) and np.array_equal(ca, cb)
    assert a.keypoints == b.keypoints and a.keywords == b.keywords and a.shape_params == b.shape_params


def test_different_seeds_give_different_instances(assets: dict[str, list[builtin.Asset]]) -> None:
    for category, items in assets.items():
        sigs = set()
        for a in items:
            v = a.merged()[0]
            sigs.add((len(v), round(float(np.ptp(v, axis=0).sum()), 6)))
        assert len(sigs) == len(items), f"{category}: repeated instances across seeds"
        more = [builtin.generate(category, np.random.default_rng(s)) for s in range(len(items), 10)]
        kinds = {a.shape_params["body_type"] for a in [*items, *more]}
        assert len(kinds) >= 3, f"{category}: only body types {kinds} in 10 draws"


def test_meshes_are_valid(assets: dict[str, list[builtin.Asset]]) -> None:
    for category, items in assets.items():
        for a in items:
            assert a.category == category and a.parts
            v, f, c = a.merged()
            assert v.dtype == np.float64 and v.shape[1] == 3 and np.isfinite(v).all()
            assert f.dtype == np.int64 and f.min() >= 0 and f.max() < len(v)
            assert c.shape == (len(f), 3) and c.min() >= 0 and c.max() <= 1
            assert 100 <= len(f) <= 20_000, f"{category}: {len(f)} faces"
            tri = v[f]
            area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1) / 2
            assert area.min() > 1e-14, f"{category}: degenerate triangle"
            assert v.min(axis=0)[2] > -0.25 * np.ptp(v, axis=0)[2], f"{category}: sinks far below z = 0"
            for p in a.parts:  # every part is closed, consistently wound and outward
                assert _closed_and_consistent(p.faces, len(p.vertices)), f"{category}/{p.name} is not closed"
                assert P.signed_volume((p.vertices, p.faces)) > 0, f"{category}/{p.name} is inside out"


def test_keypoints_and_metadata(assets: dict[str, list[builtin.Asset]]) -> None:
    for category, items in assets.items():
        for a in items:
            assert tuple(a.keypoints) == builtin.KEYPOINT_NAMES[category]
            v = a.merged()[0]
            lo, hi = v.min(axis=0), v.max(axis=0)
            pad = 0.05 * (hi - lo).max()
            for name, p in a.keypoints.items():
                p = np.asarray(p)
                assert np.isfinite(p).all() and np.all(p >= lo - pad) and np.all(p <= hi + pad), (
                    category,
                    name,
                )
                if name.endswith("_left") or name.startswith("left_"):
                    assert p[0] > 0, f"{category}: {name} should be at +x (object-left)"
                if name.endswith("_right") or name.startswith("right_"):
                    assert p[0] < 0, f"{category}: {name} should be at -x (object-right)"
            assert a.keywords and all(isinstance(k, str) and k for k in a.keywords)
            json.dumps(a.shape_params)  # JSON-serialisable
            assert "body_type" in a.shape_params


@pytest.mark.parametrize("category", builtin.CATEGORIES)
def test_front_faces_minus_y_and_up_is_z(category: str) -> None:
    for seed in range(6):
        kp = builtin.generate(category, np.random.default_rng(seed)).keypoints
        for front, back in FRONT_BACK[category]:
            assert kp[front][1] < kp[back][1], f"{category} seed {seed}: {front} not in front of {back}"
        for upper, lower in UP_DOWN[category]:
            assert kp[upper][2] > kp[lower][2], f"{category} seed {seed}: {upper} not above {lower}"


def test_primitives_are_closed_and_outward() -> None:
    meshes = [
        P.box((1, 2, 3)),
        P.rounded_box((1, 2, 0.5), 0.1),
        P.cylinder((0, 0, 0), (1, 1, 0), 0.3),
        P.cone((0, 0, 0), (0, 0, -1), 0.3),
        P.sphere((0, 0, 1), (1, 2, 0.5)),
        P.torus((0, 0, 0), 1, 0.2),
        P.extrude(np.array([[0, 0], [2, 0], [2, 1], [1, 0.3], [0, 1]]), 0.5, "yz"),
        P.tube(P.bezier([(0, 0, 0), (1, 0, 1), (2, 2, 0)], 10), 0.1),
        P.lathe([(0, 0), (0.3, 0), (0.3, 1), (0.1, 1.3), (0, 1.4)]),
        P.mirror(P.box((1, 1, 1), (2, 0, 0))),
    ]
    for v, f in meshes:
        assert _closed_and_consistent(f, len(v)) and P.signed_volume((v, f)) > 0
    assert P.signed_volume(P.box((1, 2, 3))) == pytest.approx(6.0)


def test_contact_sheet_writes_png(tmp_path) -> None:
    items = []
    for c in ("car", "chair"):
        a = builtin.generate(c, np.random.default_rng(0))
        items.append((c, *a.merged()))
    out = write_contact_sheet(items, tmp_path / "sheet.png", cell=64)
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] >= 64 and img.shape[1] >= 4 * 64
    assert (img < 200).mean() > 0.02  # something was drawn, not just a white page


def test_azimuth_zero_view_sees_the_front() -> None:
    # A cube whose -y faces are red and all others blue: the azimuth-0 camera must see red.
    v, f = P.box((1, 1, 1))
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    colors = np.where((n[:, 1] < -0.5)[:, None], [[1.0, 0.0, 0.0]], [[0.0, 0.0, 1.0]])
    front, side = render_views(v, f, colors, ((0.0, 0.0), (90.0, 0.0)), 48)
    b, g, r = (front[..., k].astype(int) for k in range(3))
    assert ((r > 100) & (b < 50)).sum() > 200  # red dominates the front view
    b, g, r = (side[..., k].astype(int) for k in range(3))
    assert ((b > 100) & (r < 50)).sum() > 200 and ((r > 100) & (b < 50)).sum() == 0
