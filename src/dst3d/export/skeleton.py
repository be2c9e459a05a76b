"""COCO keypoint skeletons: per category, edges between keypoints that are physically connected.

Names are the bundled assets' (:data:`dst3d.assets.builtin.KEYPOINT_NAMES`; left/right are the object's
own, object-left = +x). Each skeleton links every keypoint of its category into one graph (checked in the
tests), mostly along real parts (an axle, a wheel base, a chair leg, a box edge); where a keypoint has no
part in common with the others (a table's ``top_center``, a monitor's ``screen_center``) it is linked to
the part it lies on. ``docs/exports.md`` has the table.
"""

from __future__ import annotations

from collections.abc import Sequence

from dst3d.assets.builtin import KEYPOINT_NAMES


def _box(prefix_a: str, prefix_b: str) -> list[tuple[str, str]]:
    """The 12 edges of a box whose corners are ``<front|back>_<top|bottom>_<left|right>``-style names."""
    edges = []
    for end in (prefix_a, prefix_b):  # the two end faces
        edges += [
            (f"{end}_top_left", f"{end}_top_right"),
            (f"{end}_bottom_left", f"{end}_bottom_right"),
            (f"{end}_top_left", f"{end}_bottom_left"),
            (f"{end}_top_right", f"{end}_bottom_right"),
        ]
    edges += [(f"{prefix_a}_{v}_{s}", f"{prefix_b}_{v}_{s}") for v in ("top", "bottom") for s in ("left", "right")]
    return edges


def _wheels() -> list[tuple[str, str]]:
    """Axles and wheel base of a four-wheeled (or, with left/right hub sides, two-wheeled) vehicle."""
    return [
        ("wheel_front_left", "wheel_front_right"),
        ("wheel_back_left", "wheel_back_right"),
        ("wheel_front_left", "wheel_back_left"),
        ("wheel_front_right", "wheel_back_right"),
    ]


SKELETONS: dict[str, tuple[tuple[str, str], ...]] = {
    "aeroplane": (
        ("nose", "wing_root_left"), ("nose", "wing_root_right"),  # fuselage, front
        ("wing_root_left", "wing_left"), ("wing_root_right", "wing_right"),  # wings
        ("wing_root_left", "tail"), ("wing_root_right", "tail"),  # fuselage, back
        ("tail", "elevator_left"), ("tail", "elevator_right"),  # tailplane
        ("tail", "rudder_lower"), ("rudder_lower", "rudder_upper"),  # fin
    ),
    "bicycle": (
        ("wheel_front_left", "wheel_front_right"), ("wheel_back_left", "wheel_back_right"),  # hubs
        ("head_center", "wheel_front_left"), ("head_center", "wheel_front_right"),  # fork
        ("head_center", "handle_left"), ("head_center", "handle_right"),  # handlebar
        ("head_center", "seat_front"), ("seat_front", "seat_back"),  # top tube, saddle
        ("seat_back", "pedal_left"), ("seat_back", "pedal_right"),  # seat tube to the cranks
        ("pedal_left", "pedal_right"),  # crank axle
        ("pedal_left", "wheel_back_left"), ("pedal_right", "wheel_back_right"),  # chain stays
    ),
    "boat": (
        ("bow_top", "bow_bottom"), ("bow_top", "bow_left"), ("bow_top", "bow_right"),  # stem
        ("bow_left", "stern_left"), ("bow_right", "stern_right"),  # gunwales
        ("stern_left", "stern_right"), ("stern_left", "stern_bottom"), ("stern_right", "stern_bottom"),  # transom
        ("bow_bottom", "stern_bottom"),  # keel
        ("bow_top", "top"),  # mast / superstructure top to the bow (a sailboat's forestay)
    ),
    "bottle": (
        ("mouth", "neck"), ("neck", "shoulder_left"), ("neck", "shoulder_right"),
        ("shoulder_left", "body_left"), ("shoulder_right", "body_right"),
        ("body_left", "bottom_left"), ("body_right", "bottom_right"),
        ("bottom_left", "bottom"), ("bottom_right", "bottom"),
        ("label_center", "body_left"), ("label_center", "body_right"),  # the label wraps the body
    ),
    "bus": (
        *_box("front", "back"),
        ("headlight_left", "front_bottom_left"), ("headlight_right", "front_bottom_right"),
        ("taillight_left", "back_bottom_left"), ("taillight_right", "back_bottom_right"),
        *_wheels(),
        ("wheel_front_left", "front_bottom_left"), ("wheel_front_right", "front_bottom_right"),
    ),
    "car": (
        *_wheels(),
        ("headlight_left", "headlight_right"), ("taillight_left", "taillight_right"),  # front and rear
        ("headlight_left", "wheel_front_left"), ("headlight_right", "wheel_front_right"),
        ("taillight_left", "wheel_back_left"), ("taillight_right", "wheel_back_right"),
        ("roof_front_left", "roof_front_right"), ("roof_back_left", "roof_back_right"),  # roof
        ("roof_front_left", "roof_back_left"), ("roof_front_right", "roof_back_right"),
        ("roof_front_left", "headlight_left"), ("roof_front_right", "headlight_right"),  # bonnet / A-pillar
        ("roof_back_left", "taillight_left"), ("roof_back_right", "taillight_right"),  # boot / C-pillar
        ("mirror_left", "roof_front_left"), ("mirror_right", "roof_front_right"),  # mirrors on the A-pillar
    ),
    "chair": (
        ("back_top_left", "back_top_right"),  # backrest
        ("back_top_left", "seat_back_left"), ("back_top_right", "seat_back_right"),
        ("seat_front_left", "seat_front_right"), ("seat_back_left", "seat_back_right"),  # seat
        ("seat_front_left", "seat_back_left"), ("seat_front_right", "seat_back_right"),
        ("leg_front_left", "seat_front_left"), ("leg_front_right", "seat_front_right"),  # legs
        ("leg_back_left", "seat_back_left"), ("leg_back_right", "seat_back_right"),
    ),
    "diningtable": (
        ("top_front_left", "top_front_right"), ("top_back_left", "top_back_right"),  # top
        ("top_front_left", "top_back_left"), ("top_front_right", "top_back_right"),
        ("leg_front_left", "top_front_left"), ("leg_front_right", "top_front_right"),  # legs
        ("leg_back_left", "top_back_left"), ("leg_back_right", "top_back_right"),
        ("top_center", "top_front_left"), ("top_center", "top_front_right"),  # the top's diagonals
        ("top_center", "top_back_left"), ("top_center", "top_back_right"),
    ),
    "motorbike": (
        ("wheel_front_left", "wheel_front_right"), ("wheel_back_left", "wheel_back_right"),  # hubs
        ("head_center", "wheel_front_left"), ("head_center", "wheel_front_right"),  # fork
        ("head_center", "handle_left"), ("head_center", "handle_right"), ("head_center", "headlight"),
        ("head_center", "seat_front"), ("seat_front", "seat_back"),  # tank, seat
        ("seat_back", "wheel_back_left"), ("seat_back", "wheel_back_right"),  # rear frame / swingarm
    ),
    "sofa": (
        ("front_bottom_left", "front_bottom_right"), ("back_bottom_left", "back_bottom_right"),  # base
        ("front_bottom_left", "back_bottom_left"), ("front_bottom_right", "back_bottom_right"),
        ("seat_front_left", "front_bottom_left"), ("seat_front_right", "front_bottom_right"),
        ("seat_front_left", "seat_front_right"),  # seat front edge
        ("back_top_left", "back_top_right"),  # backrest
        ("back_top_left", "back_bottom_left"), ("back_top_right", "back_bottom_right"),
        ("arm_front_left", "seat_front_left"), ("arm_front_right", "seat_front_right"),  # arms
        ("arm_front_left", "back_top_left"), ("arm_front_right", "back_top_right"),
    ),
    "train": (
        *_box("front", "back"),
        ("headlight_left", "front_bottom_left"), ("headlight_right", "front_bottom_right"),
        ("wheel_front_left", "wheel_front_right"), ("wheel_back_left", "wheel_back_right"),  # bogies
        ("wheel_front_left", "front_bottom_left"), ("wheel_front_right", "front_bottom_right"),
        ("wheel_back_left", "back_bottom_left"), ("wheel_back_right", "back_bottom_right"),
    ),
    "tvmonitor": (
        ("screen_top_left", "screen_top_right"), ("screen_bottom_left", "screen_bottom_right"),  # screen
        ("screen_top_left", "screen_bottom_left"), ("screen_top_right", "screen_bottom_right"),
        ("screen_center", "back_center"),  # through the housing
        ("screen_bottom_left", "base_front"), ("screen_bottom_right", "base_front"),  # stand
        ("base_front", "base_back"), ("back_center", "base_back"),
    ),
}  # fmt: skip


def keypoint_order(category: str, seen: set[str]) -> list[str]:
    """The category's keypoint list: the assets' order when the rows use those names, else sorted names."""
    canonical = KEYPOINT_NAMES.get(category, ())
    if seen and seen <= set(canonical):
        return list(canonical)
    return sorted(seen)


def coco_skeleton(category: str, names: Sequence[str]) -> list[list[int]]:
    """COCO ``skeleton``: 1-based index pairs into ``names``, the category's edges whose ends are both there."""
    where = {n: i + 1 for i, n in enumerate(names)}
    return [[where[a], where[b]] for a, b in SKELETONS.get(category, ()) if a in where and b in where]
