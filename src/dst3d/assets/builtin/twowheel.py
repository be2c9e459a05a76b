"""Two-wheelers: bicycle and motorbike (wheels in the y-z plane, front wheel at -y, z up).

Geometry is laid out in a side view: ``s`` is the distance *forward* (toward -y), so a side-view point
(s, z) at lateral offset x is the 3D point (x, -s, z).
"""

from __future__ import annotations

import numpy as np

from dst3d.assets import primitives as P
from dst3d.assets.builtin._common import (
    CHROME,
    COLORS,
    DARK,
    GLASS,
    HEADLIGHT,
    RGB,
    TAILLIGHT,
    TYRE,
    Asset,
    Builder,
    choice,
    pick_color,
    uniform,
)

BICYCLE_KEYPOINTS: tuple[str, ...] = (
    "wheel_front_left",
    "wheel_front_right",
    "wheel_back_left",
    "wheel_back_right",
    "handle_left",
    "handle_right",
    "pedal_left",
    "pedal_right",
    "seat_front",
    "seat_back",
    "head_center",
)
MOTORBIKE_KEYPOINTS: tuple[str, ...] = (
    "wheel_front_left",
    "wheel_front_right",
    "wheel_back_left",
    "wheel_back_right",
    "handle_left",
    "handle_right",
    "headlight",
    "seat_front",
    "seat_back",
    "head_center",
)


def _p(x: float, s: float, z: float) -> np.ndarray:
    """Side-view coordinates (lateral x, forward s, height z) -> canonical 3D point."""
    return np.array([x, -s, z], dtype=np.float64)


def _rod(b: Builder, name: str, a: np.ndarray, c: np.ndarray, r: float, color: RGB, seg: int = 8) -> None:
    b.add(name, P.cylinder(a, c, r, seg), color)


def _spoked_wheel(
    b: Builder, hub: np.ndarray, R: float, tyre_r: float, rim: RGB, n_spokes: int, hub_half: float = 0.045
) -> None:
    """Bicycle wheel: thin torus tyre, rim ring, hub and tangent-free radial spokes."""
    b.add("tyres", P.torus(hub, R - tyre_r, tyre_r, (1, 0, 0), 40, 8), TYRE)
    rim_r = R - 2 * tyre_r
    b.add("rims", P.torus(hub, rim_r, 0.011, (1, 0, 0), 40, 6, minor_scale=(1.0, 1.3)), rim)
    b.add("hubs", P.cylinder(hub - (hub_half, 0, 0), hub + (hub_half, 0, 0), 0.018, 10), CHROME)
    for k in range(n_spokes):
        a = 2 * np.pi * k / n_spokes
        side = hub_half * 0.8 * (1 if k % 2 else -1)
        end = hub + np.array([0.0, np.cos(a) * (rim_r - 0.008), np.sin(a) * (rim_r - 0.008)])
        b.add("spokes", P.cylinder(hub + (side, 0, 0), end, 0.0022, 4), CHROME)


def _saddle(
    center: np.ndarray, length: float, width: float, color: RGB, b: Builder
) -> tuple[np.ndarray, ...]:
    """A tapered saddle (nose toward -y); returns its nose and tail points."""
    secs = []
    for u, w, h in ((0.0, 0.35, 0.035), (0.35, 0.45, 0.045), (0.7, 1.0, 0.055), (1.0, 0.9, 0.045)):
        y = center[1] - length / 2 + u * length
        secs.append(np.stack([np.zeros(1)], 0))  # placeholder, replaced below
        ring = P.rounded_rect(width * w, h, h * 0.45, 2)
        secs[-1] = np.stack([ring[:, 0], np.full(len(ring), y), ring[:, 1] + center[2]], axis=1)
    b.add("saddle", P.loft(secs), color)
    return center + (0, -length / 2, 0.02), center + (0, length / 2, 0.02)


# =========================================================================== bicycle
_BIKE_KINDS = ("road bike", "mountain bike", "city bike", "bmx")


def bicycle(rng: np.random.Generator) -> Asset:
    """A bicycle: two thin-tyred spoked wheels, diamond or step-through frame, fork, bars, saddle, cranks."""
    kind = choice(rng, _BIKE_KINDS, p=(3, 3, 2.5, 1))
    b = Builder("bicycle", BICYCLE_KEYPOINTS)
    frame_name, frame = pick_color(
        rng,
        (
            "red",
            "blue",
            "black",
            "white",
            "silver",
            "green",
            "yellow",
            "orange",
            "teal",
            "dark blue",
            "purple",
            "grey",
            "pink",
        ),
    )
    R = {"road bike": 0.335, "mountain bike": uniform(rng, 0.33, 0.37), "city bike": 0.34, "bmx": 0.255}[kind]
    tyre_r = {"road bike": 0.013, "mountain bike": 0.027, "city bike": 0.02, "bmx": 0.026}[kind]
    wb = {
        "road bike": uniform(rng, 0.97, 1.02),
        "mountain bike": uniform(rng, 1.08, 1.18),
        "city bike": uniform(rng, 1.05, 1.12),
        "bmx": uniform(rng, 0.88, 0.95),
    }[kind]
    tube_r = {"road bike": 0.016, "mountain bike": 0.022, "city bike": 0.018, "bmx": 0.02}[kind]
    size = uniform(rng, 0.9, 1.08)
    s_r, s_f = -wb / 2, wb / 2  # hubs (forward coordinate)
    rear_hub, front_hub = _p(0, s_r, R), _p(0, s_f, R)
    rim_name = choice(rng, ("silver", "black")) if kind != "bmx" else choice(rng, ("silver", "black", "red"))
    n_spokes = 28 if kind != "bmx" else 36
    n_spokes = n_spokes // 2  # visual density is enough at half count, and keeps faces down
    for hub in (rear_hub, front_hub):
        _spoked_wheel(b, hub, R, tyre_r, COLORS[rim_name], n_spokes)

    # Frame geometry in side view.
    bb = np.array([s_r + (0.42 if kind != "bmx" else 0.36), R - (0.07 if kind != "bmx" else 0.0)])
    st_ang = np.radians(73 if kind != "bmx" else 70)
    st_dir = np.array([-np.cos(st_ang), np.sin(st_ang)])
    st_len = {"road bike": 0.55, "mountain bike": 0.45, "city bike": 0.5, "bmx": 0.25}[kind] * size
    st_top = bb + st_len * st_dir
    ht_ang = np.radians(72 if kind != "mountain bike" else 68)
    ht_dir = np.array([-np.cos(ht_ang), np.sin(ht_ang)])
    fork_len = {"road bike": 0.37, "mountain bike": 0.5, "city bike": 0.4, "bmx": 0.33}[kind]
    crown = np.array([s_f, R]) + fork_len * ht_dir + np.array([-0.04, 0.0])
    ht_len = {"road bike": 0.15, "mountain bike": 0.12, "city bike": 0.18, "bmx": 0.12}[kind] * size
    ht_top = crown + ht_len * ht_dir

    def P3(q: np.ndarray, x: float = 0.0) -> np.ndarray:
        return _p(x, q[0], q[1])

    _rod(b, "frame", P3(crown), P3(ht_top), tube_r * 1.25, frame)  # head tube
    _rod(b, "frame", P3(bb), P3(st_top), tube_r, frame)  # seat tube
    if kind == "city bike":  # step-through: a low swooping main tube instead of the top tube
        path = P.bezier(
            [
                P3(ht_top - 0.03 * ht_dir),
                P3(np.array([crown[0] - 0.25, crown[1] - 0.25])),
                P3(np.array([bb[0] + 0.1, bb[1] + 0.02])),
                P3(bb),
            ],
            12,
        )
        b.add("frame", P.tube(path, tube_r * 1.2, 8), frame)
        path2 = P.bezier([P3(crown + 0.02 * ht_dir), P3(np.array([crown[0] - 0.2, bb[1] + 0.05])), P3(bb)], 8)
        b.add("frame", P.tube(path2, tube_r, 8), frame)
    else:
        tt_end = st_top - (0.0 if kind == "road bike" else 0.08 if kind == "mountain bike" else 0.05) * st_dir
        _rod(b, "frame", P3(tt_end), P3(ht_top - 0.02 * ht_dir), tube_r * 0.95, frame)  # top tube
        _rod(b, "frame", P3(bb), P3(crown + 0.03 * ht_dir), tube_r * 1.15, frame)  # down tube
    ss_top = st_top - 0.04 * st_dir
    for sx in (1, -1):
        _rod(
            b, "frame", P3(bb, sx * 0.03), P3(np.array([s_r, R]), sx * 0.06), tube_r * 0.6, frame
        )  # chainstays
        _rod(
            b, "frame", P3(ss_top, sx * 0.015), P3(np.array([s_r, R]), sx * 0.06), tube_r * 0.55, frame
        )  # seatstays
        if kind == "mountain bike":  # suspension fork: fat stanchions into lowers
            mid = crown + (np.array([s_f, R]) - crown) * 0.45
            _rod(b, "fork", P3(crown, sx * 0.06), P3(mid, sx * 0.06), 0.018, CHROME)
            _rod(b, "fork", P3(mid, sx * 0.06), P3(np.array([s_f, R]), sx * 0.055), 0.024, DARK)
        else:
            _rod(b, "fork", P3(crown, sx * 0.05), P3(np.array([s_f, R]), sx * 0.05), tube_r * 0.7, frame)
    b.add("fork", P.box((0.13, 0.05, 0.04), P3(crown)), frame if kind != "mountain bike" else DARK)

    # Cockpit: stem and handlebar.
    bar_h = {"road bike": 0.03, "mountain bike": 0.05, "city bike": 0.2, "bmx": 0.22}[kind]
    stem_top = ht_top + ht_dir * (0.04 + bar_h)
    bar_c = stem_top + np.array([0.1 if kind in ("road bike", "mountain bike") else 0.02, 0.0])
    bar_color = DARK if rng.random() < 0.6 else CHROME
    _rod(b, "stem", P3(ht_top), P3(stem_top), 0.014, bar_color)
    _rod(b, "stem", P3(stem_top), P3(bar_c), 0.014, bar_color)
    if kind == "road bike":  # drop bars
        half = 0.21
        b.add("handlebar", P.cylinder(P3(bar_c, -half), P3(bar_c, half), 0.012, 8), bar_color)
        for sx in (1, -1):
            path = P.bezier(
                [
                    P3(bar_c, sx * half),
                    P3(bar_c + (0.13, 0.0), sx * half),
                    P3(bar_c + (0.12, -0.14), sx * half),
                    P3(bar_c + (0.0, -0.12), sx * half),
                ],
                10,
            )
            b.add("handlebar", P.tube(path, 0.013, 8), bar_color)
        handle = P3(bar_c + (0.01, -0.12), half)
    elif kind == "mountain bike":
        half = uniform(rng, 0.32, 0.37)
        b.add("handlebar", P.cylinder(P3(bar_c, -half), P3(bar_c, half), 0.012, 8), bar_color)
        for sx in (1, -1):
            b.add("grips", P.cylinder(P3(bar_c, sx * (half - 0.12)), P3(bar_c, sx * half), 0.017, 8), DARK)
        handle = P3(bar_c, half)
    elif kind == "city bike":  # swept-back bars
        half = 0.28
        for sx in (1, -1):
            path = P.bezier(
                [P3(bar_c, 0.0), P3(bar_c, sx * half * 0.8), P3(bar_c + (-0.18, 0.02), sx * half)], 10
            )
            b.add("handlebar", P.tube(path, 0.012, 8), bar_color)
            b.add(
                "grips",
                P.cylinder(
                    P3(bar_c + (-0.12, 0.013), sx * half), P3(bar_c + (-0.2, 0.02), sx * half), 0.018, 8
                ),
                DARK,
            )
        handle = P3(bar_c + (-0.18, 0.02), half)
    else:  # bmx riser bar with crossbar
        half = 0.3
        for sx in (1, -1):
            _rod(b, "handlebar", P3(bar_c - (0, 0.17)), P3(bar_c, sx * half), 0.012, bar_color)
        b.add("handlebar", P.cylinder(P3(bar_c, -half), P3(bar_c, half), 0.012, 8), bar_color)
        b.add(
            "handlebar",
            P.cylinder(P3(bar_c - (0, 0.1), -half * 0.5), P3(bar_c - (0, 0.1), half * 0.5), 0.01, 8),
            bar_color,
        )
        for sx in (1, -1):
            b.add("grips", P.cylinder(P3(bar_c, sx * (half - 0.1)), P3(bar_c, sx * half), 0.018, 8), DARK)
        handle = P3(bar_c, half)
    b.kp_pair("handle", handle)

    # Seat post and saddle.
    post = {"road bike": 0.18, "mountain bike": 0.25, "city bike": 0.22, "bmx": 0.12}[kind] * size
    seat_top = st_top + st_dir * post
    _rod(b, "seatpost", P3(st_top), P3(seat_top), 0.013, CHROME)
    saddle_name, saddle = pick_color(rng, ("black", "black", "brown", "tan"))
    width = 0.15 if kind != "city bike" else 0.22
    nose, tail = _saddle(P3(seat_top + (0.0, 0.03)), 0.27 if kind != "city bike" else 0.25, width, saddle, b)
    b.kp("seat_front", nose)
    b.kp("seat_back", tail)

    # Drivetrain on the object-right (-x) side: chainring, cassette, chain; cranks and pedals on both.
    ring_r = 0.1 if kind != "bmx" else 0.085
    b.add("drivetrain", P.cylinder(P3(bb, -0.075), P3(bb, -0.065), ring_r, 24), CHROME)
    b.add(
        "drivetrain",
        P.cylinder(P3(np.array([s_r, R]), -0.07), P3(np.array([s_r, R]), -0.055), 0.05, 16),
        CHROME,
    )
    b.add("drivetrain", P.cylinder(P3(bb, -0.06), P3(bb, 0.06), 0.022, 10), CHROME)
    for top in (True, False):
        y_off = ring_r if top else -ring_r
        p0 = P3(bb + (0.0, y_off), -0.07)
        p1 = P3(np.array([s_r, R + (0.05 if top else -0.05)]), -0.062)
        b.add("chain", P.cylinder(p0, p1, 0.004, 4), DARK)
    phase = uniform(rng, 0.0, 2 * np.pi)
    crank = 0.17
    for sx, ph in ((1, phase), (-1, phase + np.pi)):
        end = bb + crank * np.array([np.cos(ph), np.sin(ph)])
        _rod(b, "cranks", P3(bb, sx * 0.08), P3(end, sx * 0.09), 0.01, CHROME)
        b.add("pedals", P.box((0.09, 0.07, 0.02), P3(end, sx * 0.14)), DARK)
        b.kp("pedal_left" if sx > 0 else "pedal_right", P3(end, sx * 0.14))

    extras: list[str] = []
    if kind == "city bike":  # mudguards, rack, chain guard, maybe a basket
        guard_name, guard = (frame_name, frame) if rng.random() < 0.5 else ("black", COLORS["black"])
        for hub_s, a0, a1 in ((s_r, 0.25, 2.7), (s_f, 0.45, 2.9)):
            # Arc over the wheel: angles measured from +s toward +z in the side view.
            arc = [
                P3(np.array([hub_s, R]) + (R + 0.035) * np.array([np.cos(a), np.sin(a)]))
                for a in np.linspace(a0 if hub_s > 0 else np.pi - a1, a1 if hub_s > 0 else np.pi - a0, 14)
            ]
            b.add("mudguards", P.tube(np.array(arc), 0.022, 6), guard)
        b.add("rack", P.box((0.12, 0.32, 0.015), P3(np.array([s_r + 0.02, R + 0.07 + R * 0.25]))), DARK)
        for sx in (1, -1):
            _rod(
                b,
                "rack",
                P3(np.array([s_r, R]), sx * 0.06),
                P3(np.array([s_r - 0.1, R * 1.3]), sx * 0.06),
                0.006,
                DARK,
            )
        b.add(
            "chain_guard",
            P.rounded_box((0.012, 0.5, 0.09), 0.005, P3((bb + np.array([s_r, R])) / 2, -0.09), 1),
            guard,
        )
        if rng.random() < 0.5:
            c = P3(bar_c + (0.17, -0.05))
            bw, bd, bh = 0.34, 0.26, 0.2
            basket = (0.55, 0.4, 0.22)
            b.add("basket", P.box((bw, bd, 0.01), c - (0, 0, bh / 2)), basket)
            for sx in (1, -1):
                b.add("basket", P.box((0.01, bd, bh), c + (sx * bw / 2, 0, 0)), basket)
                b.add("basket", P.box((bw, 0.01, bh), c + (0, sx * bd / 2, 0)), basket)
            extras.append("front basket")
        extras += ["step-through frame", "mudguards", "rear rack"]
    elif kind == "mountain bike":
        for hub in (rear_hub, front_hub):
            b.add("discs", P.cylinder(hub + (-0.055, 0, 0), hub + (-0.05, 0, 0), 0.08, 16), CHROME)
        extras += ["suspension fork", "knobby tyres", "flat handlebar", "disc brakes"]
    elif kind == "road bike":
        extras += ["drop handlebars", "thin tyres"]
    else:
        extras += ["small wheels", "riser handlebar"]
    b.kp_pair("wheel_front", front_hub + (0.045, 0, 0))
    b.kp_pair("wheel_back", rear_hub + (0.045, 0, 0))
    b.kp("head_center", P3((crown + ht_top) / 2))
    b.keywords += [kind, f"{frame_name} frame", f"{saddle_name} saddle", *extras]
    b.param(
        body_type=kind,
        color=frame_name,
        saddle=saddle_name,
        wheel_radius=R,
        tyre_radius=tyre_r,
        wheelbase=wb,
        frame_size=size,
        crank_phase=phase,
    )
    return b.build()


# =========================================================================== motorbike
_MOTO_KINDS = ("sport bike", "cruiser", "dirt bike", "scooter", "standard motorcycle")


def _moto_wheel(b: Builder, hub: np.ndarray, R: float, t: float, width: float, rim: RGB, disc: bool) -> None:
    """Chunky motorbike wheel: fat torus tyre, rim disc, hub, optional brake disc."""
    b.add("tyres", P.torus(hub, R - t, t, (1, 0, 0), 36, 10, minor_scale=(1.0, width / (2 * t))), TYRE)
    b.add("rims", P.cylinder(hub - (width * 0.3, 0, 0), hub + (width * 0.3, 0, 0), R - t * 1.7, 24), rim)
    b.add(
        "hubs", P.cylinder(hub - (width * 0.45, 0, 0), hub + (width * 0.45, 0, 0), (R - t) * 0.25, 12), CHROME
    )
    if disc:
        for sx in (1, -1):
            b.add(
                "brake_discs",
                P.cylinder(
                    hub + (sx * width * 0.42, 0, 0), hub + (sx * width * 0.48, 0, 0), (R - t) * 0.62, 20
                ),
                CHROME,
            )


def motorbike(rng: np.random.Generator) -> Asset:
    """A motorbike: two chunky wheels, raked fork, tank, seat, engine, exhaust, bars and headlight."""
    kind = choice(rng, _MOTO_KINDS, p=(2.5, 2, 1.5, 1.5, 2))
    b = Builder("motorbike", MOTORBIKE_KEYPOINTS)
    body_name, body = pick_color(
        rng,
        (
            "red",
            "blue",
            "black",
            "white",
            "orange",
            "yellow",
            "green",
            "silver",
            "dark red",
            "dark blue",
            "teal",
            "charcoal",
        ),
    )
    if kind == "dirt bike":
        body_name, body = pick_color(rng, ("orange", "yellow", "red", "blue", "green", "white"))
    spec = {  # wheelbase, front R, rear R, tyre section t, widths (front, rear), rake deg, seat height
        "sport bike": (1.40, 0.31, 0.315, 0.065, (0.12, 0.18), 24, 0.82),
        "cruiser": (1.62, 0.34, 0.33, 0.07, (0.13, 0.18), 33, 0.68),
        "dirt bike": (1.48, 0.37, 0.34, 0.05, (0.09, 0.12), 27, 0.95),
        "scooter": (1.30, 0.23, 0.23, 0.06, (0.11, 0.12), 27, 0.78),
        "standard motorcycle": (1.45, 0.32, 0.32, 0.065, (0.12, 0.16), 26, 0.8),
    }[kind]
    wb, Rf, Rr, t, (wf, wr), rake, seat_h = spec
    wb *= uniform(rng, 0.95, 1.05)
    seat_h *= uniform(rng, 0.95, 1.05)
    s_r, s_f = -wb / 2, wb / 2
    front_hub, rear_hub = _p(0, s_f, Rf), _p(0, s_r, Rr)
    rim_name = choice(rng, ("black", "silver", "charcoal"))
    _moto_wheel(b, front_hub, Rf, t, wf, COLORS[rim_name], True)
    _moto_wheel(b, rear_hub, Rr, t, wr, COLORS[rim_name], False)
    b.kp_pair("wheel_front", front_hub + (wf / 2, 0, 0))
    b.kp_pair("wheel_back", rear_hub + (wr / 2, 0, 0))

    # Steering: fork legs along the rake axis up to the triple clamp.
    axis = np.array([-np.sin(np.radians(rake)), np.cos(np.radians(rake))])
    fork_len = {
        "sport bike": 0.72,
        "cruiser": 0.85,
        "dirt bike": 0.95,
        "scooter": 0.62,
        "standard motorcycle": 0.75,
    }[kind]
    head = np.array([s_f, Rf]) + fork_len * axis
    leg_x = wf / 2 + 0.04
    fork_color = CHROME if kind in ("cruiser", "standard motorcycle") else DARK
    for sx in (1, -1):
        if kind == "scooter" and sx < 0:
            continue
        b.add("fork", P.cylinder(_p(sx * leg_x, s_f, Rf), _p(sx * leg_x, *head), 0.03, 10), fork_color)
    b.add("fork", P.box((leg_x * 2 + 0.08, 0.08, 0.05), _p(0, *head)), DARK)
    bar_rise = {
        "sport bike": 0.02,
        "cruiser": 0.22,
        "dirt bike": 0.1,
        "scooter": 0.12,
        "standard motorcycle": 0.1,
    }[kind]
    half = {
        "sport bike": 0.3,
        "cruiser": 0.42,
        "dirt bike": 0.4,
        "scooter": 0.33,
        "standard motorcycle": 0.36,
    }[kind]
    bar_c = head + axis * bar_rise
    back = {"cruiser": 0.22, "standard motorcycle": 0.06}.get(kind, 0.0)
    for sx in (1, -1):
        path = P.bezier(
            [_p(0, *bar_c), _p(sx * half * 0.6, *bar_c), _p(sx * half, bar_c[0] - back, bar_c[1] + 0.02)], 8
        )
        b.add("handlebar", P.tube(path, 0.014, 8), DARK if kind != "cruiser" else CHROME)
        b.add(
            "grips",
            P.cylinder(
                _p(sx * (half - 0.1), bar_c[0] - back * 0.8, bar_c[1] + 0.02),
                _p(sx * (half + 0.01), bar_c[0] - back, bar_c[1] + 0.02),
                0.02,
                8,
            ),
            DARK,
        )
        b.add(
            "mirrors",
            P.cylinder(
                _p(sx * half * 0.6, *bar_c), _p(sx * half * 0.75, bar_c[0] - 0.02, bar_c[1] + 0.2), 0.008, 6
            ),
            DARK,
        )
        b.add(
            "mirrors",
            P.sphere(_p(sx * half * 0.78, bar_c[0] - 0.02, bar_c[1] + 0.22), (0.06, 0.02, 0.04), 10, 5),
            DARK,
        )
    b.kp_pair("handle", _p(half + 0.01, bar_c[0] - back, bar_c[1] + 0.02))
    b.kp("head_center", _p(0, *head))

    extras: list[str] = []
    seat_len = {
        "sport bike": 0.45,
        "cruiser": 0.5,
        "dirt bike": 0.7,
        "scooter": 0.6,
        "standard motorcycle": 0.6,
    }[kind]
    seat_color = COLORS["black"] if kind != "cruiser" or rng.random() < 0.6 else COLORS["brown"]
    engine_c = np.array([(s_r + s_f) / 2 + 0.05, 0.45 if kind != "dirt bike" else 0.55])

    if kind == "scooter":
        # Step-through body: floorboard, leg shield, bulbous rear body under the seat.
        b.add("body", P.rounded_box((0.3, 0.55, 0.08), 0.03, _p(0, 0.1, 0.3)), body)
        shield_rings = []
        for k, (zz, w) in enumerate(((0.3, 0.34), (0.55, 0.38), (0.8, 0.36), (1.0, 0.3))):
            r = P.rounded_rect(w, 0.13, 0.05, 2)
            y_k = -(head[0] - 0.1 - 0.16 * (k / 3))  # the shield leans back with the steering axis
            shield_rings.append(np.stack([r[:, 0], y_k + r[:, 1], np.full(len(r), zz)], 1))
        shield = P.loft(shield_rings)
        b.add("body", P.transform(shield, translate=(0, 0, 0)), body)
        rear = P.sphere(_p(0, s_r + 0.25, 0.5), (0.2, 0.42, 0.22), 18, 9)
        b.add("body", rear, body)
        b.add("body", P.sphere(_p(0, s_f, Rf + 0.12), (0.1, 0.22, 0.05), 14, 6), body)  # front mudguard
        seat_z = 0.76 * seat_h / 0.78
        b.add("seat", P.rounded_box((0.28, seat_len, 0.1), 0.045, _p(0, s_r + 0.3, seat_z)), seat_color)
        sf, sb = (
            _p(0, s_r + 0.3 + seat_len / 2, seat_z + 0.05),
            _p(0, s_r + 0.3 - seat_len / 2, seat_z + 0.05),
        )
        b.add(
            "headlight_housing",
            P.rounded_box((0.22, 0.14, 0.12), 0.04, _p(0, bar_c[0] + 0.02, bar_c[1])),
            body,
        )
        hl = _p(0, bar_c[0] + 0.09, bar_c[1])
        b.add("headlight", P.sphere(hl, (0.07, 0.025, 0.05), 12, 6), HEADLIGHT)
        b.add(
            "exhaust", P.cylinder(_p(-0.15, s_r + 0.45, 0.28), _p(-0.15, s_r - 0.05, 0.35), 0.04, 10), CHROME
        )
        extras += ["step-through", "small wheels", "leg shield"]
    else:
        # Engine block (+ cylinders), frame spine, tank, seat, tail, swingarm, exhaust.
        eng_color = CHROME if kind == "cruiser" else DARK
        b.add("engine", P.rounded_box((0.3, 0.42, 0.32), 0.05, _p(0, *engine_c)), DARK)
        if kind == "cruiser":  # V-twin
            for ang in (-0.45, 0.45):
                d = np.array([np.sin(ang) * -1, np.cos(ang)])
                base = engine_c + (0, 0.12)
                b.add("cylinders", P.cylinder(_p(0, *base), _p(0, *(base + 0.3 * d)), 0.09, 14), eng_color)
                for k in range(4):
                    b.add(
                        "cylinders",
                        P.cylinder(
                            _p(0, *(base + (0.08 + 0.05 * k) * d)),
                            _p(0, *(base + (0.1 + 0.05 * k) * d)),
                            0.12,
                            14,
                        ),
                        eng_color,
                    )
            extras.append("v-twin engine")
        else:
            b.add(
                "cylinders",
                P.rounded_box((0.26, 0.22, 0.22), 0.04, _p(0, engine_c[0] + 0.12, engine_c[1] + 0.22)),
                eng_color,
            )
        spine0 = head - axis * 0.05
        tank_c = spine0 + (np.array([-0.3, -0.08]) if kind != "dirt bike" else np.array([-0.25, -0.08]))
        b.add(
            "frame", P.cylinder(_p(0, *spine0), _p(0, engine_c[0] - 0.3, engine_c[1] + 0.1), 0.035, 8), DARK
        )
        b.add("frame", P.cylinder(_p(0, *spine0), _p(0, engine_c[0] + 0.2, engine_c[1] - 0.1), 0.03, 8), DARK)
        tank_r = {
            "sport bike": (0.17, 0.26, 0.13),
            "cruiser": (0.15, 0.3, 0.12),
            "dirt bike": (0.13, 0.2, 0.1),
            "standard motorcycle": (0.16, 0.27, 0.12),
        }[kind]
        b.add("tank", P.sphere(_p(0, *tank_c), tank_r, 18, 9), body)
        seat_z = seat_h
        seat_mid_s = tank_c[0] - tank_r[1] - seat_len / 2 + 0.05
        if kind == "dirt bike":
            seat_mid_s = tank_c[0] - seat_len / 2 + 0.05
        b.add(
            "seat",
            P.rounded_box(
                (0.26 if kind != "cruiser" else 0.34, seat_len, 0.09), 0.04, _p(0, seat_mid_s, seat_z)
            ),
            seat_color,
        )
        sf, sb = (
            _p(0, seat_mid_s + seat_len / 2, seat_z + 0.04),
            _p(0, seat_mid_s - seat_len / 2, seat_z + 0.04),
        )
        # Side covers bridging tank, seat and engine so the bike reads as one body.
        b.add(
            "body",
            P.rounded_box((0.22, seat_len * 0.9, 0.22), 0.05, _p(0, seat_mid_s + 0.05, seat_z - 0.15)),
            body,
        )
        tail_s = seat_mid_s - seat_len / 2
        if kind == "sport bike":
            tail = P.loft(
                [
                    np.stack([r[:, 0], np.full(len(r), -s), r[:, 1] + z], 1)
                    for s, z, r in (
                        (tail_s + 0.1, seat_z - 0.05, P.rounded_rect(0.24, 0.16, 0.05, 2)),
                        (tail_s - 0.25, seat_z + 0.08, P.rounded_rect(0.12, 0.08, 0.03, 2)),
                    )
                ]
            )
            b.add("body", tail, body)
            tl = _p(0, tail_s - 0.26, seat_z + 0.08)
        else:
            b.add(
                "fenders",
                P.tube(
                    np.array(
                        [
                            _p(0, s_r + (Rr + 0.05) * np.cos(a), Rr + (Rr + 0.05) * np.sin(a))
                            for a in np.linspace(0.5, 2.4, 10)
                        ]
                    ),
                    wr * 0.55,
                    8,
                ),
                body if kind != "dirt bike" else COLORS["white"],
            )
            tl = _p(0, s_r - (Rr + 0.05) * np.cos(1.1), Rr + (Rr + 0.07) * np.sin(1.1))
        b.add("taillight", P.rounded_box((0.12, 0.05, 0.05), 0.015, tl), TAILLIGHT)
        pivot = engine_c + (-0.22, -0.05)
        for sx in (1, -1):
            b.add(
                "swingarm",
                P.box_between(
                    _p(sx * (wr / 2 + 0.02), pivot[0], pivot[1] - 0.03),
                    _p(sx * (wr / 2 + 0.05), s_r, Rr + 0.03),
                ),
                DARK,
            )
            b.add(
                "shocks",
                P.cylinder(
                    _p(sx * (wr / 2 + 0.04), s_r + 0.12, Rr + 0.05),
                    _p(sx * 0.1, seat_mid_s - 0.1, seat_z - 0.1),
                    0.025,
                    8,
                ),
                (0.8, 0.5, 0.1),
            )
        # Exhaust on the object-right (-x) side, twin pipes on cruisers.
        pipes = 2 if kind == "cruiser" else 1
        for k in range(pipes):
            z0 = engine_c[1] - 0.1 + 0.07 * k
            z_end = (Rr + 0.05 + 0.07 * k) if kind != "dirt bike" else seat_z - 0.15
            path = np.array(
                [
                    _p(-0.12, engine_c[0] + 0.15, z0 + 0.1),
                    _p(-0.17, engine_c[0] - 0.1, z0 - 0.05),
                    _p(-0.2, s_r + 0.1, z_end),
                ]
            )
            b.add("exhaust", P.tube(path, 0.03, 8), CHROME)
            b.add(
                "exhaust",
                P.cylinder(_p(-0.2, s_r + 0.3, z_end), _p(-0.2, s_r - 0.2, z_end + 0.05), 0.055, 12),
                CHROME,
            )
        if kind == "sport bike":  # full fairing with a windscreen
            secs = []
            for s, z0, z1, w in (
                (head[0] + 0.24, head[1] - 0.2, head[1] - 0.1, 0.1),
                (head[0] + 0.12, head[1] - 0.32, head[1] + 0.02, 0.26),
                (head[0] - 0.05, head[1] - 0.45, head[1] + 0.08, 0.34),
                (head[0] - 0.3, engine_c[1] - 0.05, head[1] - 0.05, 0.32),
                (engine_c[0] + 0.05, engine_c[1] - 0.15, engine_c[1] + 0.2, 0.26),
            ):
                r = P.rounded_rect(w, z1 - z0, 0.06, 2)
                secs.append(np.stack([r[:, 0], np.full(len(r), -s), r[:, 1] + (z0 + z1) / 2], 1))
            b.add("fairing", P.loft(secs), body)
            ws = P.box((0.3, 0.01, 0.22), (0, 0, 0))
            b.add(
                "windscreen",
                P.transform(ws, P.rotation((1, 0, 0), -0.9), _p(0, head[0] - 0.02, head[1] + 0.14)),
                GLASS,
            )
            hl = _p(0, head[0] + 0.21, head[1] - 0.12)
            b.add("headlight", P.sphere(hl, (0.12, 0.03, 0.05), 12, 6), HEADLIGHT)
            extras += ["full fairing", "clip-on handlebars"]
        else:
            hl_c = head + axis * 0.0 + np.array([0.12, -0.05])
            hr = 0.09 if kind != "dirt bike" else 0.06
            if kind == "dirt bike":  # number plate with a small light, high front fender
                b.add("number_plate", P.box((0.24, 0.03, 0.22), _p(0, *hl_c)), COLORS["white"])
                hl = _p(0, hl_c[0] + 0.02, hl_c[1] - 0.06)
                b.add("headlight", P.sphere(hl, (0.05, 0.02, 0.04), 10, 5), HEADLIGHT)
                b.add(
                    "fenders",
                    P.rounded_box((0.12, 0.5, 0.03), 0.012, _p(0, s_f + 0.05, head[1] - 0.28)),
                    COLORS["white"],
                )
                extras += ["knobby tyres", "long-travel suspension", "number plate"]
            else:
                b.add(
                    "headlight_housing",
                    P.cylinder(_p(0, *hl_c), _p(0, hl_c[0] - 0.12, hl_c[1]), hr, 16),
                    CHROME,
                )
                hl = _p(0, hl_c[0] + 0.01, hl_c[1])
                b.add(
                    "headlight",
                    P.cylinder(_p(0, hl_c[0] + 0.015, hl_c[1]), _p(0, hl_c[0] - 0.01, hl_c[1]), hr * 0.9, 16),
                    HEADLIGHT,
                )
                front_fender = [
                    _p(0, s_f + (Rf + 0.04) * np.cos(a), Rf + (Rf + 0.04) * np.sin(a))
                    for a in np.linspace(0.7, 2.3, 9)
                ]
                b.add("fenders", P.tube(np.array(front_fender), wf * 0.55, 8), body)
                if kind == "cruiser":
                    extras += ["chrome", "pulled-back handlebars", "teardrop tank"]
        b.add(
            "foot_pegs",
            P.cylinder(_p(-0.25, pivot[0] + 0.05, 0.35), _p(0.25, pivot[0] + 0.05, 0.35), 0.015, 6),
            DARK,
        )
    b.kp("headlight", hl + (0, -0.02, 0))
    b.kp("seat_front", sf)
    b.kp("seat_back", sb)
    b.keywords += [kind, body_name, f"{rim_name} wheels", *extras]
    b.param(
        body_type=kind, color=body_name, rims=rim_name, wheelbase=wb, seat_height=seat_h, rake_deg=float(rake)
    )
    return b.build()
