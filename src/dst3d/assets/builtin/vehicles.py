"""Road and rail vehicles: car, bus, train (long axis along y, front at -y, z up)."""

from __future__ import annotations

import numpy as np

from dst3d.assets import primitives as P
from dst3d.assets.builtin._common import (
    CHROME,
    COLORS,
    DARK,
    GLASS,
    HEADLIGHT,
    PLATE,
    RGB,
    TAILLIGHT,
    TYRE,
    Asset,
    Builder,
    arch,
    choice,
    pick_color,
    uniform,
    wheel,
)

CAR_KEYPOINTS: tuple[str, ...] = (
    "wheel_front_left",
    "wheel_front_right",
    "wheel_back_left",
    "wheel_back_right",
    "headlight_left",
    "headlight_right",
    "taillight_left",
    "taillight_right",
    "roof_front_left",
    "roof_front_right",
    "roof_back_left",
    "roof_back_right",
    "mirror_left",
    "mirror_right",
)
BUS_KEYPOINTS: tuple[str, ...] = (
    "wheel_front_left",
    "wheel_front_right",
    "wheel_back_left",
    "wheel_back_right",
    "headlight_left",
    "headlight_right",
    "taillight_left",
    "taillight_right",
    "front_top_left",
    "front_top_right",
    "front_bottom_left",
    "front_bottom_right",
    "back_top_left",
    "back_top_right",
    "back_bottom_left",
    "back_bottom_right",
)
TRAIN_KEYPOINTS: tuple[str, ...] = (
    "front_top_left",
    "front_top_right",
    "front_bottom_left",
    "front_bottom_right",
    "headlight_left",
    "headlight_right",
    "back_top_left",
    "back_top_right",
    "back_bottom_left",
    "back_bottom_right",
    "wheel_front_left",
    "wheel_front_right",
    "wheel_back_left",
    "wheel_back_right",
)

_BODY_COLORS = (
    "red",
    "dark red",
    "blue",
    "dark blue",
    "light blue",
    "white",
    "black",
    "silver",
    "grey",
    "green",
    "dark green",
    "yellow",
    "orange",
    "beige",
    "teal",
    "charcoal",
)


def _section_xz(y: float, width: float, z0: float, z1: float, radius: float, cs: int = 3) -> np.ndarray:
    """A rounded-rectangle ring in the plane at ``y`` spanning x in +-width/2 and z in [z0, z1]."""
    ring = P.rounded_rect(width, z1 - z0, radius, cs)
    return np.stack([ring[:, 0], np.full(len(ring), y), ring[:, 1] + (z0 + z1) / 2], axis=1)


def _section_xy(z: float, width: float, y0: float, y1: float, radius: float, cs: int = 3) -> np.ndarray:
    """A rounded-rectangle ring in the plane at height ``z`` spanning x in +-width/2 and y in [y0, y1]."""
    ring = P.rounded_rect(width, y1 - y0, radius, cs)
    return np.stack([ring[:, 0], ring[:, 1] + (y0 + y1) / 2, np.full(len(ring), z)], axis=1)


# =========================================================================== car
# Cabin stations as fractions of the length from the nose: windshield base a, roof front b, roof back c,
# rear-glass base d; plus roof height H, belt (window sill) height, hood drop, wheel radius.
_CAR_SPECS: dict[str, dict[str, tuple[float, float]]] = {
    "sedan": dict(
        L=(4.5, 5.0),
        W=(1.75, 1.88),
        H=(1.40, 1.50),
        belt=(0.92, 1.0),
        drop=(0.12, 0.2),
        R=(0.31, 0.34),
        gc=(0.13, 0.17),
        a=(0.30, 0.34),
        b=(0.13, 0.16),
        c=(0.27, 0.31),
        d=(0.10, 0.13),
        deck=(0.0, 0.04),
    ),
    "hatchback": dict(
        L=(3.8, 4.3),
        W=(1.68, 1.80),
        H=(1.45, 1.55),
        belt=(0.92, 0.98),
        drop=(0.12, 0.18),
        R=(0.29, 0.32),
        gc=(0.13, 0.16),
        a=(0.24, 0.28),
        b=(0.15, 0.18),
        c=(0.44, 0.48),
        d=(0.06, 0.08),
        deck=(0.02, 0.06),
    ),
    "suv": dict(
        L=(4.4, 4.9),
        W=(1.85, 1.98),
        H=(1.68, 1.85),
        belt=(1.08, 1.18),
        drop=(0.05, 0.1),
        R=(0.36, 0.40),
        gc=(0.20, 0.25),
        a=(0.24, 0.28),
        b=(0.10, 0.13),
        c=(0.5, 0.54),
        d=(0.03, 0.05),
        deck=(0.0, 0.03),
    ),
    "pickup": dict(
        L=(5.2, 5.8),
        W=(1.88, 2.0),
        H=(1.80, 1.92),
        belt=(1.12, 1.22),
        drop=(0.03, 0.08),
        R=(0.38, 0.42),
        gc=(0.24, 0.29),
        a=(0.25, 0.28),
        b=(0.09, 0.11),
        c=(0.16, 0.26),
        d=(0.02, 0.03),
        deck=(-0.02, 0.02),
    ),
    "coupe": dict(
        L=(4.3, 4.7),
        W=(1.78, 1.90),
        H=(1.26, 1.36),
        belt=(0.84, 0.9),
        drop=(0.14, 0.22),
        R=(0.32, 0.35),
        gc=(0.11, 0.14),
        a=(0.34, 0.38),
        b=(0.16, 0.19),
        c=(0.17, 0.21),
        d=(0.17, 0.21),
        deck=(-0.03, 0.01),
    ),
    "wagon": dict(
        L=(4.6, 4.9),
        W=(1.78, 1.88),
        H=(1.46, 1.54),
        belt=(0.94, 1.0),
        drop=(0.12, 0.18),
        R=(0.31, 0.34),
        gc=(0.13, 0.16),
        a=(0.29, 0.32),
        b=(0.14, 0.16),
        c=(0.42, 0.46),
        d=(0.05, 0.07),
        deck=(0.0, 0.03),
    ),
    "minivan": dict(
        L=(4.7, 5.1),
        W=(1.85, 1.98),
        H=(1.75, 1.90),
        belt=(1.0, 1.08),
        drop=(0.12, 0.2),
        R=(0.32, 0.35),
        gc=(0.14, 0.18),
        a=(0.15, 0.19),
        b=(0.14, 0.17),
        c=(0.56, 0.6),
        d=(0.03, 0.05),
        deck=(0.0, 0.03),
    ),
}


def car(rng: np.random.Generator) -> Asset:
    """A car: lofted lower body, glass greenhouse with pillars and roof, four wheels, lights, mirrors."""
    kind = choice(rng, tuple(_CAR_SPECS), p=(3, 2, 2, 1.5, 1.5, 1, 1))
    s = {k: uniform(rng, *v) for k, v in _CAR_SPECS[kind].items()}
    color_name, body = pick_color(rng, _BODY_COLORS)
    b = Builder("car", CAR_KEYPOINTS)
    L, W, H, belt, R, gc = s["L"], s["W"], s["H"], s["belt"], s["R"], s["gc"]
    hood = belt - s["drop"]
    deck = belt + s["deck"]
    fa = s["a"]
    fb = fa + s["b"]
    fc = fb + s["c"]
    fd = min(fc + s["d"], 0.985)
    y0 = -L / 2

    def Y(frac: float) -> float:
        return y0 + frac * L

    # Lower body: rounded sections from the nose to the tail (hood slopes up to the windshield base).
    stations = [  # (fraction, width factor, z bottom, z top)
        (0.0, 0.88, gc + 0.12, hood - 0.06),
        (0.035, 0.97, gc + 0.03, hood),
        (fa, 1.0, gc, belt),
        (max(fd, fa + 0.05), 1.0, gc, deck),
        (0.97, 0.97, gc + 0.03, deck),
        (1.0, 0.9, gc + 0.12, deck - 0.06),
    ]
    rad = 0.12 if kind not in ("suv", "pickup", "minivan") else 0.09
    b.add("body", P.loft([_section_xz(Y(f), W * w, z0, z1, rad) for f, w, z0, z1 in stations]), body)
    ys = [Y(f) for f, *_ in stations]
    widths = [W * w for _, w, *_ in stations]

    def half_width(y: float) -> float:
        return float(np.interp(y, ys, widths)) / 2

    # Greenhouse: glass frustum from the belt line to the roof, then roof panel and pillars on top.
    wb, wt = W * 0.93, W * (0.80 if kind in ("sedan", "coupe", "hatchback", "wagon") else 0.86)
    cab0 = _section_xy(belt - 0.03, wb, Y(fa), Y(fd), 0.08)
    cab1 = _section_xy(H - 0.03, wt, Y(fb), Y(fc), 0.06)
    b.add("windows", P.loft([cab0, cab1]), GLASS)
    roof_color = body
    two_tone = kind in ("hatchback", "suv", "coupe") and rng.random() < 0.3
    if two_tone:
        roof_color = COLORS["black"] if color_name not in ("black", "charcoal") else COLORS["white"]
    b.add(
        "roof",
        P.rounded_box((wt + 0.02, Y(fc) - Y(fb) + 0.04, 0.07), 0.03, (0, (Y(fb) + Y(fc)) / 2, H - 0.02), 2),
        roof_color,
    )
    pr = 0.045

    def pillar(f_bottom: float, f_top: float, r: float) -> None:
        p0 = (wb / 2 - 0.03, Y(f_bottom), belt - 0.02)
        p1 = (wt / 2 - 0.01, Y(f_top), H - 0.04)
        b.add_sym("pillars", P.cylinder(p0, p1, r, 6), roof_color)

    pillar(fa, fb, pr)
    pillar(fd, fc, pr * 1.6)
    doors = 2 if kind == "coupe" else 4
    if kind == "hatchback" and rng.random() < 0.4:
        doors = 2
    if kind == "pickup":
        doors = 4 if s["c"] > 0.21 else 2
    n_mid = {"sedan": 1, "hatchback": 1, "coupe": 0, "suv": 2, "wagon": 2, "minivan": 2, "pickup": 1}[kind]
    if doors == 2 and kind == "pickup":
        n_mid = 0
    for k in range(n_mid):
        t = (k + 1) / (n_mid + 1) if kind != "sedan" else 0.52
        pillar(fa + (fd - fa) * t, fb + (fc - fb) * t, pr * 0.9)
    b.add_sym(
        "belt_trim",
        P.box_between(
            (wb / 2 - 0.05, Y(fa) + 0.15, belt - 0.05), (half_width(Y(fa) + 0.5) + 0.004, Y(fd) - 0.05, belt)
        ),
        roof_color,
    )

    # Wheels with dark wheel wells above them.
    width = uniform(rng, 0.2, 0.24) + (0.04 if kind in ("suv", "pickup") else 0.0)
    front_axle = Y(uniform(rng, 0.16, 0.2) if kind != "minivan" else uniform(rng, 0.14, 0.17))
    back_axle = Y(uniform(rng, 0.80, 0.84) if kind != "pickup" else uniform(rng, 0.76, 0.8))
    rim_name = choice(rng, ("silver", "charcoal", "black"), p=(3, 2, 1))
    for yw in (front_axle, back_axle):
        xw = half_width(yw) - width / 2 + 0.035
        for sx in (1, -1):
            wheel((sx * xw, yw, R), R, width, 0.3, TYRE, COLORS[rim_name], b)
        b.add_sym("wheel_wells", arch(yw, R - 0.02, R + 0.06, half_width(yw) + 0.003, 0.012), DARK)
        key = "front" if yw == front_axle else "back"
        b.kp_pair(f"wheel_{key}", (xw + width / 2, yw, R))

    # Lights, grille, plates, bumpers, mirrors.
    z_hl = hood - 0.13
    x_hl = W * 0.31
    b.add_sym("headlights", P.sphere((x_hl, y0 + 0.03, z_hl), (0.17, 0.07, 0.06), 12, 6), HEADLIGHT)
    b.kp_pair("headlight", (x_hl + 0.05, y0 - 0.03, z_hl))
    grille_h = 0.22 if kind in ("suv", "pickup") else 0.12
    b.add(
        "grille",
        P.rounded_box((W * (0.36 if kind != "pickup" else 0.48), 0.08, grille_h), 0.02, (0, y0 + 0.02, z_hl - 0.02), 1),
        DARK,
    )
    bumper_z = gc + 0.2
    b.add("bumpers", P.rounded_box((W * 0.9, 0.1, 0.12), 0.04, (0, y0 + 0.03, bumper_z), 2), DARK)
    b.add("bumpers", P.rounded_box((W * 0.9, 0.1, 0.12), 0.04, (0, -y0 - 0.03, bumper_z), 2), DARK)
    b.add("plates", P.box((0.46, 0.03, 0.11), (0, y0 - 0.015, bumper_z + 0.1)), PLATE)
    z_tl = deck - 0.13
    x_tl = W * 0.36
    b.add("plates", P.box((0.46, 0.03, 0.11), (0, -y0 + 0.015, bumper_z + 0.1)), PLATE)
    b.add_sym("taillights", P.rounded_box((0.28, 0.08, 0.1), 0.02, (x_tl, -y0 - 0.01, z_tl), 1), TAILLIGHT)
    b.kp_pair("taillight", (x_tl + 0.08, -y0 + 0.03, z_tl))
    ym = Y(fa) + 0.12
    xm = half_width(ym) + 0.13
    b.add_sym("mirrors", P.rounded_box((0.17, 0.07, 0.11), 0.025, (xm - 0.03, ym, belt + 0.06), 1), roof_color)
    b.add_sym(
        "mirrors",
        P.box_between((half_width(ym) - 0.05, ym - 0.02, belt), (xm - 0.1, ym + 0.02, belt + 0.04)),
        roof_color,
    )
    b.kp_pair("mirror", (xm + 0.055, ym, belt + 0.06))
    b.kp_pair("roof_front", (wt / 2, Y(fb), H))
    b.kp_pair("roof_back", (wt / 2, Y(fc), H))

    extras = []
    if kind == "pickup":  # open cargo bed behind the cab
        bed0, bed1 = Y(fd) + 0.02, -y0 - 0.04
        wall = 0.3
        for sx in (1, -1):
            b.add(
                "body",
                P.box_between((sx * (W / 2 - 0.065), bed0, deck - 0.02), (sx * (W / 2 - 0.005), bed1, deck + wall)),
                body,
            )
        b.add(
            "body",
            P.box_between((-W / 2 + 0.005, bed1 - 0.06, deck - 0.02), (W / 2 - 0.005, bed1, deck + wall)),
            body,
        )
        b.add(
            "bed",
            P.box_between((-W / 2 + 0.07, bed0, deck - 0.01), (W / 2 - 0.07, bed1 - 0.06, deck + 0.01)),
            DARK,
        )
        extras.append("open cargo bed")
    if kind in ("suv", "wagon", "minivan") and rng.random() < 0.5:
        for sx in (1, -1):
            b.add(
                "roof_rails",
                P.box_between(
                    (sx * (wt / 2 - 0.1), Y(fb) + 0.15, H + 0.01),
                    (sx * (wt / 2 - 0.06), Y(fc) - 0.1, H + 0.06),
                ),
                DARK,
            )
        extras.append("roof rails")
    if kind in ("coupe", "hatchback", "sedan") and rng.random() < 0.3:
        zs = deck + 0.08 if kind != "hatchback" else H - 0.05
        ys_ = -y0 - 0.15 if kind != "hatchback" else Y(fc) + 0.05
        b.add("spoiler", P.box((W * 0.8, 0.18, 0.03), (0, ys_, zs)), roof_color)
        b.add_sym("spoiler", P.box((0.03, 0.06, 0.1), (W * 0.3, ys_, zs - 0.05)), roof_color)
        extras.append("rear spoiler")
    b.keywords += [kind, f"{'two' if doors == 2 else 'four'}-door", color_name, *extras]
    if two_tone:
        b.keywords.append("two-tone roof")
    b.keywords.append(f"{rim_name} wheels")
    b.param(
        body_type=kind,
        color=color_name,
        length=L,
        width=W,
        height=H,
        wheel_radius=R,
        doors=doors,
        belt=belt,
        hood=hood,
        two_tone=two_tone,
        rims=rim_name,
        **{f"station_{k}": s[k] for k in ("a", "b", "c", "d")},
    )
    return b.build()


# =========================================================================== bus
_BUS_SPECS: dict[str, dict[str, tuple[float, float]]] = {
    "city bus": dict(L=(10.5, 12.5), W=(2.5, 2.55), H=(2.9, 3.1), gc=(0.3, 0.35), R=(0.48, 0.52)),
    "coach": dict(L=(11.5, 13.0), W=(2.5, 2.55), H=(3.4, 3.7), gc=(0.4, 0.45), R=(0.5, 0.54)),
    "double-decker": dict(L=(9.5, 11.0), W=(2.5, 2.55), H=(4.2, 4.4), gc=(0.3, 0.35), R=(0.48, 0.52)),
    "school bus": dict(L=(9.0, 11.0), W=(2.4, 2.5), H=(3.0, 3.2), gc=(0.35, 0.4), R=(0.48, 0.52)),
    "minibus": dict(L=(6.0, 7.2), W=(2.0, 2.1), H=(2.5, 2.7), gc=(0.2, 0.25), R=(0.35, 0.38)),
}


def bus(rng: np.random.Generator) -> Asset:
    """A bus: long rounded body, window bands, windscreen, doors on the kerb side, wheels, lights."""
    kind = choice(rng, tuple(_BUS_SPECS), p=(3, 2, 1.5, 1.5, 1))
    s = {k: uniform(rng, *v) for k, v in _BUS_SPECS[kind].items()}
    L, W, H, gc, R = s["L"], s["W"], s["H"], s["gc"], s["R"]
    palette = {
        "city bus": ("red", "blue", "white", "green", "orange", "yellow", "teal", "silver"),
        "coach": ("white", "silver", "blue", "dark blue", "red", "charcoal"),
        "double-decker": ("red", "red", "blue", "green", "white"),
        "school bus": ("yellow",),
        "minibus": ("white", "silver", "blue", "yellow", "grey"),
    }[kind]
    color_name, body = pick_color(rng, palette)
    stripe_name, stripe = pick_color(rng, ("black", "white", "red", "blue", "yellow", "grey", "orange"))
    if stripe_name == color_name:
        stripe_name, stripe = "black", COLORS["black"]
    if kind == "school bus":
        stripe_name, stripe = "black", COLORS["black"]
    b = Builder("bus", BUS_KEYPOINTS)
    y0, y1 = -L / 2, L / 2
    hood_len = {"school bus": uniform(rng, 1.2, 1.5), "minibus": uniform(rng, 0.6, 0.8)}.get(kind, 0.0)
    rad = 0.22 if kind == "coach" else 0.15
    yb = y0 + hood_len  # front face of the passenger box
    # Body: lofted so the coach/minibus fronts can slope and school/minibus get a hood.
    secs = []
    if hood_len > 0:
        hood_top = 1.35 if kind == "school bus" else 1.1
        secs += [
            _section_xz(y0, W * 0.82, gc + 0.25, hood_top - 0.1, 0.1),
            _section_xz(y0 + 0.15, W * 0.88, gc + 0.1, hood_top, 0.12),
            _section_xz(yb - 0.05, W * 0.92, gc + 0.05, hood_top + 0.15, 0.12),
        ]
        slope = 0.7 if kind == "minibus" else 0.08
        secs += [_section_xz(yb + slope, W, gc, H, rad)]
    else:
        slope = 0.25 if kind == "coach" else 0.05
        secs += [_section_xz(y0, W * 0.96, gc + 0.05, H - 0.12, rad), _section_xz(y0 + slope, W, gc, H, rad)]
    secs += [_section_xz(y1 - 0.05, W, gc, H, rad), _section_xz(y1, W * 0.97, gc + 0.05, H - 0.06, rad)]
    b.add("body", P.loft(secs), body)
    yf = yb + (0.7 if kind == "minibus" else 0.0)  # where the full-height box starts

    # Windscreen (on the front face, or on the minibus's sloped front).
    z_ws0 = 1.5 if kind == "school bus" else 1.25 if kind == "minibus" else 0.95 if kind != "coach" else 1.1
    z_ws1 = H - (0.45 if kind != "double-decker" else 2.05)
    if kind == "minibus":  # glass laid on the sloped front, 4 cm proud of the body surface
        q0 = np.array([yb - 0.05, 1.25])
        q1 = np.array([yf, H])
        d = (q1 - q0) / np.linalg.norm(q1 - q0)
        out = np.array([-d[1], d[0]]) * 0.04
        g0, g1 = q0 + (q1 - q0) * 0.12 + out, q0 + (q1 - q0) * 0.9 + out
        quad = np.array([g0, g0 - out * 1.5, g1 - out * 1.5, g1])
        b.add("windscreen", P.extrude(quad, W * 0.86, "yz"), GLASS)
    else:
        b.add("windscreen", P.box((W * 0.9, 0.06, z_ws1 - z_ws0), (0, yb - 0.005, (z_ws0 + z_ws1) / 2)), GLASS)
        _sign_band(b, W, yb, H - 0.24)
    if kind == "double-decker":
        b.add("windscreen", P.box((W * 0.9, 0.06, 0.85), (0, yb - 0.005, H - 0.75)), GLASS)
        _sign_band(b, W, yb, z_ws1 + 0.3)
    # The rear is mostly body: a small high window (none on most coaches), and on rear-engined buses a big
    # dark engine grille low down (school buses and minibuses have their engine in front).
    rear_engine = kind in ("city bus", "coach", "double-decker")
    if kind == "coach" and rng.random() < 0.6:
        rear_window = 0.0
    else:
        rear_window = {"city bus": 0.5, "coach": 0.4, "double-decker": 0.7}.get(kind, 0.75)
    if rear_window:
        w_h = 0.55 if rear_engine else 0.75
        b.add("windows", P.box((W * rear_window, 0.06, w_h), (0, y1 + 0.005, H - 0.35 - w_h / 2)), GLASS)
    if rear_engine:
        b.add("engine_grille", P.box((W * 0.72, 0.06, 0.75), (0, y1 + 0.005, gc + 1.0)), DARK)
        for k in range(3):  # louvre slats across the grille
            b.add("engine_grille", P.box((W * 0.74, 0.08, 0.05), (0, y1 + 0.01, gc + 0.75 + k * 0.25)), body)
        b.add("plates", P.box((0.52, 0.03, 0.12), (0, y1 + 0.03, gc + 0.42)), PLATE)
    b.add("plates", P.box((0.52, 0.03, 0.12), (0, y0 - 0.06, gc + 0.42)), PLATE)

    # Side windows: a row of panes per deck, doors on the kerb side (object-right, -x).
    rows = [(H - 1.25 if kind != "coach" else H - 1.5, H - 0.35)]
    if kind == "double-decker":
        rows = [(1.15, 1.95), (H - 1.35, H - 0.3)]
    if kind == "school bus":
        rows = [(1.55, 2.5)]
    if kind == "minibus":
        rows = [(1.3, H - 0.3)]
    pane = uniform(rng, 1.0, 1.4) if kind != "minibus" else uniform(rng, 0.8, 1.0)
    gap = 0.12
    door_w = 1.1 if kind != "minibus" else 0.9
    start, end = yf + (0.35 if kind != "minibus" else 0.1), y1 - (1.3 if kind in ("city bus", "coach") else 0.4)
    doors = [yf + 0.15 if kind != "school bus" else yf + 0.1]
    if kind == "city bus":
        doors.append(round(((start + end) / 2) * 2) / 2)
    for z0, z1 in rows:
        n = int((end - start + gap) // (pane + gap))
        span = n * (pane + gap) - gap
        for side in (1, -1):
            for k in range(n):
                ya = start + (end - start - span) / 2 + k * (pane + gap)
                if side == -1 and z0 < 2.2 and any(d - 0.05 < ya + pane and ya < d + door_w + 0.05 for d in doors):
                    continue
                b.add(
                    "windows",
                    P.box_between((side * (W / 2 - 0.02), ya, z0), (side * (W / 2 + 0.02), ya + pane, z1)),
                    GLASS,
                )
    for d in doors:
        b.add(
            "doors",
            P.box_between((-W / 2 - 0.025, d, gc + 0.15), (-W / 2 + 0.02, d + door_w, rows[0][1])),
            (0.12, 0.15, 0.18),
        )
    if kind in ("city bus", "coach"):  # engine-bay air intakes on both sides, behind the last window
        b.add_sym(
            "engine_grille",
            P.box_between((W / 2 - 0.02, y1 - 1.2, gc + 0.55), (W / 2 + 0.025, y1 - 0.35, gc + 1.15)),
            DARK,
        )
    stripe_z = rows[0][0] - 0.25
    for side in (1, -1):
        b.add(
            "stripe",
            P.box_between(
                (side * (W / 2 - 0.01), yf + 0.05, stripe_z - 0.08),
                (side * (W / 2 + 0.012), y1 - 0.05, stripe_z + 0.08),
            ),
            stripe,
        )
    if kind == "school bus":
        for side in (1, -1):
            b.add(
                "stripe",
                P.box_between((side * (W / 2 - 0.01), yf + 0.05, 1.05), (side * (W / 2 + 0.012), y1 - 0.05, 1.15)),
                stripe,
            )

    # Wheels.
    if kind == "school bus" or kind == "minibus":
        front_axle = y0 + hood_len * 0.55 + (0.35 if kind == "school bus" else 0.2)
    else:
        front_axle = y0 + uniform(rng, 2.2, 2.7)
    back_axles = [y1 - uniform(rng, 2.6, 3.2) * (0.5 if kind == "minibus" else 1.0)]
    if kind == "coach" and rng.random() < 0.6:
        back_axles.append(back_axles[0] - 1.35)
    tw = 0.3 if kind != "minibus" else 0.22
    for yw in [front_axle, *back_axles]:
        for sx in (1, -1):
            wheel((sx * (W / 2 - tw / 2 + 0.04), yw, R), R, tw, 0.28, TYRE, CHROME, b, segments=28)
        b.add_sym("wheel_wells", arch(yw, R - 0.05, R + 0.1, W / 2 + 0.003, 0.015), DARK)
    b.kp_pair("wheel_front", (W / 2 + 0.04, front_axle, R))
    b.kp_pair("wheel_back", (W / 2 + 0.04, back_axles[0], R))

    # Lights, bumpers, mirrors, roof equipment.
    z_hl = (gc + 0.45) if hood_len == 0 else 1.0 if kind == "school bus" else 0.8
    x_hl = W / 2 - 0.3
    b.add_sym("headlights", P.rounded_box((0.32, 0.08, 0.16), 0.03, (x_hl, y0 + 0.01, z_hl), 1), HEADLIGHT)
    b.kp_pair("headlight", (x_hl, y0 - 0.03, z_hl))
    b.add_sym("taillights", P.rounded_box((0.2, 0.08, 0.45), 0.03, (W / 2 - 0.18, y1, 1.0), 1), TAILLIGHT)
    b.kp_pair("taillight", (W / 2 - 0.18, y1 + 0.04, 1.0))
    bumper = (0.2, 0.2, 0.22) if kind != "school bus" else COLORS["black"]
    b.add("bumpers", P.rounded_box((W * 0.98, 0.16, 0.28), 0.05, (0, y0 + 0.02, gc + 0.15), 2), bumper)
    b.add("bumpers", P.rounded_box((W * 0.98, 0.16, 0.28), 0.05, (0, y1 - 0.02, gc + 0.15), 2), bumper)
    if kind != "minibus":  # the long "rabbit ear" mirrors of big buses
        arm = P.tube(
            P.bezier(
                [
                    (W / 2 - 0.05, yb + 0.3, H - 0.35),
                    (W / 2 + 0.3, yb - 0.1, H - 0.3),
                    (W / 2 + 0.25, yb - 0.35, H - 0.7),
                ],
                8,
            ),
            0.025,
            6,
        )
        b.add_sym("mirrors", arm, DARK)
        b.add_sym("mirrors", P.rounded_box((0.1, 0.06, 0.4), 0.02, (W / 2 + 0.25, yb - 0.35, H - 0.9), 1), DARK)
    else:
        b.add_sym("mirrors", P.rounded_box((0.1, 0.15, 0.22), 0.03, (W / 2 + 0.1, yb + 0.3, 1.35), 1), DARK)
    extras = []
    if kind in ("city bus", "coach") and rng.random() < 0.6:
        b.add(
            "roof_unit",
            P.rounded_box((W * 0.6, uniform(rng, 1.8, 3.0), 0.3), 0.08, (0, y0 + L * 0.35, H + 0.1), 2),
            COLORS["silver"],
        )
        extras.append("roof air conditioning")
    b.kp_pair("front_top", (W / 2 - 0.05, yb + (0.7 if kind == "minibus" else 0.0), H - 0.05))
    b.kp_pair("front_bottom", (W / 2 - 0.05, y0, gc + 0.1))
    b.kp_pair("back_top", (W / 2 - 0.05, y1, H - 0.05))
    b.kp_pair("back_bottom", (W / 2 - 0.05, y1, gc + 0.1))
    b.keywords += [kind, color_name, f"{stripe_name} stripe", *extras]
    b.param(
        body_type=kind,
        color=color_name,
        stripe=stripe_name,
        length=L,
        width=W,
        height=H,
        wheel_radius=R,
        axles=1 + len(back_axles),
        doors=len(doors),
        pane_length=pane,
    )
    return b.build()


def _sign_band(b: Builder, W: float, y: float, z: float) -> None:
    """A bus's destination sign: amber display in a black band across the front face at ``y``, height z."""
    b.add("sign_band", P.box((W * 0.9, 0.06, 0.4), (0, y - 0.01, z)), DARK)
    b.add("sign", P.box((W * 0.6, 0.05, 0.2), (0, y - 0.04, z)), (0.95, 0.6, 0.1))


# =========================================================================== train
_TRAIN_KINDS = ("high-speed train", "diesel locomotive", "steam locomotive", "commuter train")


def _pantograph(b: Builder, y: float, H: float, heights: tuple[float, float, float]) -> None:
    """Roof pantograph of an electric unit at ``y``: base, folded arm, collector bar (heights above H)."""
    mid, top, bar = heights
    b.add("pantograph", P.box((0.8, 1.2, 0.25), (0, y, H + 0.1)), DARK)
    b.add(
        "pantograph",
        P.tube(np.array([[0, y - 0.5, H + 0.2], [0, y + 0.4, H + mid], [0, y - 0.4, H + top]]), 0.05, 6),
        DARK,
    )
    b.add("pantograph", P.box((1.6, 0.1, 0.05), (0, y - 0.4, H + bar)), DARK)


def _bogie(b: Builder, yc: float, gauge: float, r: float, wheelbase: float, frame: RGB) -> list[float]:
    """A two-axle bogie centred at ``yc``; returns the axle y positions."""
    axles = [yc - wheelbase / 2, yc + wheelbase / 2]
    for ya in axles:
        for sx in (1, -1):
            b.add(
                "wheels",
                P.cylinder((sx * (gauge / 2 - 0.06), ya, r), (sx * (gauge / 2 + 0.08), ya, r), r, 18),
                DARK,
            )
    b.add("bogies", P.box((gauge + 0.35, wheelbase + 0.9, 0.45), (0, yc, r + 0.05)), (0.18, 0.18, 0.2))
    return axles


def _coupling_end(
    b: Builder,
    y: float,
    half_w: float,
    z_coupler: float,
    z_lamps: float,
    gangway: tuple[float, float] | None,
    buffers: bool,
    lamps: bool = True,
) -> None:
    """The rear (+y) end of the last vehicle at ``y``, unlike any cab: no windscreen, no headlights, but a
    dark gangway bellows (``gangway`` = its z range), a coupler (plus side buffers) and two red tail lamps."""
    if gangway is not None:  # black rubber bellows round a grey end door with a small window
        z0, z1 = gangway
        b.add("gangway", P.rounded_box((half_w * 0.8, 0.5, z1 - z0), 0.08, (0, y + 0.1, (z0 + z1) / 2), 1), DARK)
        door = P.box((half_w * 0.5, 0.06, z1 - z0 - 0.3), (0, y + 0.36, (z0 + z1) / 2))
        b.add("gangway_door", door, (0.55, 0.56, 0.58))
        b.add("windows", P.box((half_w * 0.3, 0.04, 0.5), (0, y + 0.39, z1 - 0.55)), GLASS)
    steel = (0.25, 0.25, 0.27)
    b.add("coupler", P.box((0.32, 0.9, 0.3), (0, y + 0.35, z_coupler)), steel)
    if buffers:
        for sx in (1, -1):
            x = sx * 0.88
            b.add("coupler", P.cylinder((x, y, z_coupler), (x, y + 0.45, z_coupler), 0.12, 10), steel)
            b.add("coupler", P.cylinder((x, y + 0.45, z_coupler), (x, y + 0.52, z_coupler), 0.22, 12), steel)
    if lamps:  # red lamps in black housings (they must show on a red body too)
        b.add_sym("lamp_housings", P.box((0.4, 0.08, 0.3), (half_w * 0.72, y + 0.02, z_lamps)), DARK)
        b.add_sym("taillights", P.box((0.26, 0.06, 0.17), (half_w * 0.72, y + 0.08, z_lamps)), TAILLIGHT)


def _side_windows(
    b: Builder,
    y_from: float,
    y_to: float,
    z0: float,
    z1: float,
    half_w: float,
    pane: float,
    gap: float,
    skip: list[tuple[float, float]] = (),
) -> None:
    """A row of window panes on both sides."""
    n = max(1, int((y_to - y_from + gap) // (pane + gap)))
    span = n * (pane + gap) - gap
    for k in range(n):
        ya = y_from + (y_to - y_from - span) / 2 + k * (pane + gap)
        if any(s0 < ya + pane and ya < s1 for s0, s1 in skip):
            continue
        b.add_sym("windows", P.box_between((half_w - 0.02, ya, z0), (half_w + 0.025, ya + pane, z1)), GLASS)


def train(rng: np.random.Generator) -> Asset:
    """A train: a leading unit (streamlined, diesel, steam or commuter) and optionally one more car."""
    kind = choice(rng, _TRAIN_KINDS, p=(1, 1, 1, 1))
    b = Builder("train", TRAIN_KEYPOINTS)
    gauge, W = 1.435, uniform(rng, 2.9, 3.15)
    floor = 1.15
    n_cars = 1 if rng.random() < 0.7 else 2
    body_names = {
        "high-speed train": ("white", "silver"),
        "diesel locomotive": ("yellow", "orange", "red", "blue", "green"),
        "steam locomotive": ("black", "dark green", "dark red"),
        "commuter train": ("silver", "white", "blue", "red", "green"),
    }[kind]
    color_name, body = pick_color(rng, body_names)
    accent_name, accent = pick_color(rng, ("red", "blue", "yellow", "orange", "green", "purple", "teal"))
    y0 = 0.0  # built from the nose backward, recentred at the end
    extras: list[str] = []
    axles: list[float] = []
    wr = 0.46
    if kind == "high-speed train":
        Lc, H, nose = uniform(rng, 18.0, 22.0), uniform(rng, 3.8, 4.1), uniform(rng, 5.0, 8.0)
        secs = []
        for t in np.linspace(1.0, 0.0, 9):  # t = 1 at the nose tip
            y = y0 + nose * (1 - t)
            top = H - (H - floor - 0.7) * t**1.6
            bot = floor - 0.35 + 0.3 * t**2
            w = W * (1 - 0.55 * t**2.2)
            secs.append(_section_xz(y, w, bot, max(top, bot + 0.3), min(0.45, w / 2.2)))
        secs.append(_section_xz(y0 + Lc, W, floor - 0.35, H, 0.45))
        b.add("body", P.loft(secs), body)
        # Cockpit window on the nose slope.
        tw = 0.42
        yw = y0 + nose * (1 - tw)
        zw = H - (H - floor - 0.7) * tw**1.6
        ang = np.arctan2((H - floor - 0.7) * 1.6 * tw**0.6, nose)
        win = P.sphere((0, 0, 0), (W * 0.36, 1.3, 0.12), 16, 6)
        b.add("windscreen", P.transform(win, P.rotation((1, 0, 0), ang), (0, yw, zw + 0.05)), GLASS)
        b.add_sym(
            "stripe",
            P.box_between((W / 2 - 0.02, y0 + nose * 0.6, floor + 0.35), (W / 2 + 0.02, y0 + Lc - 0.2, floor + 0.6)),
            accent,
        )
        _side_windows(b, y0 + nose + 1.0, y0 + Lc - 1.0, floor + 1.0, floor + 1.75, W / 2, 1.1, 0.5)
        z_hl = floor + 0.15
        x_hl = W * 0.22
        b.add_sym("headlights", P.sphere((x_hl, y0 + nose * 0.1, z_hl + 0.15), (0.25, 0.22, 0.1), 10, 5), HEADLIGHT)
        b.kp_pair("headlight", (x_hl, y0 + nose * 0.1 - 0.1, z_hl + 0.15))
        b.kp_pair("front_top", (W * 0.3, yw, zw + 0.1))
        b.kp_pair("front_bottom", (W * 0.2, y0 + 0.2, floor - 0.3))
        axles += _bogie(b, y0 + nose * 0.55, gauge, wr, 2.5, DARK)
        axles += _bogie(b, y0 + Lc - 2.5, gauge, wr, 2.5, DARK)
        tail_h = H
        extras.append("streamlined nose")
        _pantograph(b, y0 + Lc * 0.7, H, (1.0, 1.6, 1.62))
        tail = dict(z_coupler=floor - 0.2, z_lamps=floor + 0.3, gangway=(floor - 0.1, H - 0.45), buffers=False)
    elif kind == "diesel locomotive":
        Lc, H = uniform(rng, 17.0, 21.0), uniform(rng, 4.1, 4.4)
        deck = floor + 0.15
        b.add("frame", P.box_between((-W / 2, y0, floor - 0.3), (W / 2, y0 + Lc, deck)), DARK)
        nose_len = uniform(rng, 1.2, 2.0)
        cab0, cab1 = y0 + nose_len, y0 + nose_len + uniform(rng, 2.8, 3.4)
        b.add(
            "body",
            P.rounded_box(
                (W * 0.7, nose_len + 0.3, H - 1.4 - deck),
                0.15,
                (0, y0 + (nose_len + 0.3) / 2 + 0.1, (deck + H - 1.4) / 2),
                2,
            ),
            body,
        )
        b.add(
            "body",
            P.rounded_box((W * 0.98, cab1 - cab0, H - deck), 0.15, (0, (cab0 + cab1) / 2, (deck + H) / 2), 2),
            body,
        )
        hood_h = H - uniform(rng, 0.25, 0.45)
        b.add(
            "body",
            P.rounded_box(
                (W * 0.72, y0 + Lc - 0.4 - cab1, hood_h - deck),
                0.12,
                (0, (cab1 + y0 + Lc - 0.4) / 2, (deck + hood_h) / 2),
                2,
            ),
            body,
        )
        for k in range(3):
            b.add(
                "fans",
                P.cylinder((0, cab1 + 3 + k * 3.5, hood_h - 0.05), (0, cab1 + 3 + k * 3.5, hood_h + 0.08), 0.6, 16),
                DARK,
            )
        b.add("windscreen", P.box((W * 0.8, 0.06, 0.8), (0, cab0 - 0.005, H - 0.75)), GLASS)
        b.add("windows", P.box((0.06, 1.1, 0.8), (W * 0.49, cab0 + 1.2, H - 0.75)), GLASS)
        b.add("windows", P.box((0.06, 1.1, 0.8), (-W * 0.49, cab0 + 1.2, H - 0.75)), GLASS)
        b.add_sym(
            "stripe",
            P.box_between((W * 0.36 - 0.01, cab1, deck + 0.5), (W * 0.36 + 0.02, y0 + Lc - 0.4, deck + 0.8)),
            accent,
        )
        b.add_sym(
            "stripe",
            P.box_between((W * 0.49 - 0.01, cab0, deck + 0.5), (W * 0.49 + 0.02, cab1, deck + 0.8)),
            accent,
        )
        for sx in (1, -1):  # hand rails along the walkway
            b.add(
                "rails",
                P.box_between((sx * (W / 2 - 0.06), cab1, deck + 0.9), (sx * (W / 2 - 0.02), y0 + Lc, deck + 0.95)),
                CHROME,
            )
        b.add("fuel_tank", P.rounded_box((W * 0.8, 4.0, 0.9), 0.3, (0, y0 + Lc / 2, floor - 0.6), 2), DARK)
        z_hl = H - 1.65
        x_hl = W * 0.18
        b.add_sym("headlights", P.cylinder((x_hl, y0 + 0.1, z_hl), (x_hl, y0 - 0.02, z_hl), 0.14, 12), HEADLIGHT)
        b.kp_pair("headlight", (x_hl, y0 + 0.05, z_hl))
        b.kp_pair("front_top", (W * 0.4, cab0, H))
        b.kp_pair("front_bottom", (W / 2, y0, floor - 0.3))
        axles += _bogie(b, y0 + 3.5, gauge, wr * 1.1, 2.8, DARK)
        axles += _bogie(b, y0 + Lc - 3.5, gauge, wr * 1.1, 2.8, DARK)
        tail_h = hood_h
        b.add("bumpers", P.box((W, 0.3, 0.5), (0, y0 + 0.05, floor - 0.3)), COLORS["grey"])
        # The long hood's end: radiator grille and tail lamps on it, coupler and buffers on the frame below.
        b.add("grille", P.box((W * 0.5, 0.06, 1.0), (0, y0 + Lc - 0.4, hood_h - 0.9)), DARK)
        if n_cars == 1:  # lamps only at the train's tail, not where a coach is coupled on
            b.add_sym(
                "taillights",
                P.rounded_box((0.22, 0.1, 0.18), 0.03, (W * 0.27, y0 + Lc - 0.38, hood_h - 0.3), 1),
                TAILLIGHT,
            )
        tail = dict(z_coupler=floor - 0.1, z_lamps=deck, gangway=None, buffers=True, lamps=False)
        extras.append("cab unit")
    elif kind == "steam locomotive":
        Lc = uniform(rng, 11.0, 13.0)
        H = uniform(rng, 4.2, 4.5)
        boiler_r = uniform(rng, 0.8, 0.95)
        deck = floor + 0.25
        zb = deck + boiler_r + 0.1
        cab0 = y0 + Lc - uniform(rng, 2.8, 3.2)
        b.add(
            "frame",
            P.box_between((-W / 2 + 0.15, y0 + 0.3, deck - 0.15), (W / 2 - 0.15, y0 + Lc, deck)),
            DARK,
        )
        b.add("boiler", P.cylinder((0, y0 + 0.5, zb), (0, cab0, zb), boiler_r, 24), body)
        b.add("smokebox", P.cylinder((0, y0 + 0.35, zb), (0, y0 + 1.9, zb), boiler_r * 1.04, 24), DARK)
        b.add(
            "smokebox_door",
            P.cylinder((0, y0 + 0.3, zb), (0, y0 + 0.36, zb), boiler_r * 0.9, 24),
            (0.25, 0.25, 0.25),
        )
        b.add(
            "chimney",
            P.frustum((0, y0 + 1.1, zb + boiler_r * 0.6), (0, y0 + 1.1, H - 0.2), 0.28, 0.36, 14),
            DARK,
        )
        b.add("chimney", P.cylinder((0, y0 + 1.1, H - 0.25), (0, y0 + 1.1, H), 0.42, 14), DARK)
        b.add(
            "dome",
            P.sphere((0, y0 + (cab0 - y0) * 0.55, zb + boiler_r * 0.85), (0.42, 0.55, 0.55), 14, 7),
            body,
        )
        b.add("cab", P.box_between((-W / 2 + 0.1, cab0, deck), (W / 2 - 0.1, y0 + Lc, H - 0.25)), body)
        b.add(
            "cab_roof",
            P.rounded_box((W - 0.05, Lc - (cab0 - y0) + 0.4, 0.2), 0.08, (0, cab0 + (y0 + Lc - cab0) / 2, H - 0.2), 2),
            DARK,
        )
        b.add_sym(
            "windows",
            P.box_between((W / 2 - 0.12, cab0 + 0.5, H - 1.5), (W / 2 - 0.06, cab0 + 1.6, H - 0.7)),
            GLASS,
        )
        drive_r = uniform(rng, 0.7, 0.85)
        n_drive = 3 if rng.random() < 0.6 else 2
        spacing = drive_r * 2 + 0.25
        first = cab0 - 0.3 - (n_drive - 1) * spacing
        red = (0.6, 0.08, 0.06)
        for k in range(n_drive):
            yw = first + k * spacing
            for sx in (1, -1):
                b.add(
                    "driving_wheels",
                    P.cylinder((sx * 0.72, yw, drive_r), (sx * 0.9, yw, drive_r), drive_r, 24),
                    red,
                )
                b.add("tyres", P.torus((sx * 0.91, yw, drive_r), drive_r - 0.06, 0.06, (1, 0, 0), 24, 6), DARK)
            axles.append(yw)
        for sx in (1, -1):
            b.add(
                "rods",
                P.box_between(
                    (sx * 0.93, first, drive_r - 0.35),
                    (sx * 0.99, first + (n_drive - 1) * spacing, drive_r - 0.22),
                ),
                CHROME,
            )
            b.add(
                "cylinders",
                P.cylinder((sx * 1.05, y0 + 0.9, deck - 0.3), (sx * 1.05, y0 + 2.3, deck - 0.3), 0.35, 14),
                DARK,
            )
        for ya in (y0 + 1.2, first - spacing * 0.9):
            if ya < first - 0.9:
                for sx in (1, -1):
                    b.add(
                        "driving_wheels",
                        P.cylinder((sx * 0.72, ya, 0.45), (sx * 0.86, ya, 0.45), 0.45, 18),
                        red,
                    )
        b.add(
            "cowcatcher",
            P.extrude(np.array([[y0 - 0.6, 0.12], [y0 + 0.3, 0.12], [y0 + 0.3, deck - 0.2]]), W * 0.8, "yz"),
            red,
        )
        b.add("bumpers", P.box((W, 0.3, 0.45), (0, y0 + 0.3, deck - 0.2)), red)
        z_hl = zb + boiler_r + 0.15
        b.add("headlights", P.cylinder((0, y0 + 0.7, z_hl), (0, y0 + 0.35, z_hl), 0.18, 12), HEADLIGHT)
        b.kp_pair("headlight", (0.18, y0 + 0.35, z_hl))
        b.kp_pair("front_top", (boiler_r * 0.7, y0 + 0.3, zb + boiler_r * 0.7))
        b.kp_pair("front_bottom", (W / 2, y0 + 0.15, deck - 0.4))
        tail_h = H - 0.25
        extras += ["steam engine", "chimney", f"{n_drive * 2}-coupled driving wheels"]
        # Tender.
        tl = uniform(rng, 6.0, 7.5)
        t0 = y0 + Lc + 0.4
        b.add("tender", P.box_between((-W / 2 + 0.1, t0, deck - 0.1), (W / 2 - 0.1, t0 + tl, H - 0.7)), body)
        b.add(
            "coal",
            P.extrude(
                np.array(
                    [
                        [t0 + 0.3, H - 0.7],
                        [t0 + tl - 0.3, H - 0.7],
                        [t0 + tl - 0.8, H - 0.3],
                        [t0 + 1.0, H - 0.2],
                    ]
                ),
                W - 0.4,
                "yz",
            ),
            (0.05, 0.05, 0.05),
        )
        axles += _bogie(b, t0 + 1.6, gauge, 0.45, 1.8, DARK)
        axles += _bogie(b, t0 + tl - 1.6, gauge, 0.45, 1.8, DARK)
        Lc = Lc + 0.4 + tl
        tail = dict(z_coupler=deck - 0.2, z_lamps=H - 1.0, gangway=None, buffers=True)
    else:  # commuter / metro unit with a slightly raked flat cab front
        Lc, H = uniform(rng, 18.0, 22.0), uniform(rng, 3.7, 4.0)
        rake = uniform(rng, 0.2, 0.8)
        secs = [
            _section_xz(y0, W * 0.94, floor - 0.3, floor + 1.0, 0.2),
            _section_xz(y0 + 0.2, W * 0.98, floor - 0.35, floor + 1.2, 0.3),
            _section_xz(y0 + 0.2 + rake, W, floor - 0.35, H, 0.35),
            _section_xz(y0 + Lc, W, floor - 0.35, H, 0.35),
        ]
        b.add("body", P.loft(secs), body)
        zw0, zw1 = floor + 1.3, H - 0.55

        def on_face(z: float, out: float) -> np.ndarray:
            """(y, z) on the raked cab face at height z, ``out`` metres proud of it (toward -y)."""
            return np.array([y0 + 0.2 + rake * (z - floor - 1.2) / (H - floor - 1.2) - out, z])

        # Windscreen over a black mask that also frames the destination sign: a dark cab front.
        p0, p1 = on_face(zw0, 0.07), on_face(zw1, 0.07)
        b.add("windscreen", P.extrude(np.array([p0, p1, p1 + (0.12, 0), p0 + (0.12, 0)]), W * 0.84, "yz"), GLASS)
        m0, m1 = on_face(zw0 - 0.15, 0.04), on_face(H - 0.12, 0.04)
        b.add("cab_mask", P.extrude(np.array([m0, m1, m1 + (0.12, 0), m0 + (0.12, 0)]), W * 0.9, "yz"), DARK)
        s0, s1 = on_face(H - 0.45, 0.07), on_face(H - 0.2, 0.07)
        b.add("sign", P.extrude(np.array([s0, s1, s1 + (0.1, 0), s0 + (0.1, 0)]), W * 0.5, "yz"), (0.95, 0.6, 0.1))
        b.add_sym(  # cab side windows, just behind the windscreen
            "windows",
            P.box_between((W / 2 - 0.02, y0 + 0.3 + rake, zw0), (W / 2 + 0.03, y0 + 1.4 + rake, zw1)),
            GLASS,
        )
        door_w = 1.3
        doors = [y0 + Lc * f for f in (0.18, 0.5, 0.8)]
        for d in doors:
            b.add_sym(
                "doors",
                P.box_between((W / 2 - 0.02, d, floor - 0.2), (W / 2 + 0.03, d + door_w, H - 0.6)),
                accent,
            )
        _side_windows(
            b,
            y0 + 2.5,
            y0 + Lc - 0.8,
            floor + 0.9,
            H - 0.7,
            W / 2,
            1.4,
            0.3,
            skip=[(d - 0.1, d + door_w + 0.1) for d in doors],
        )
        b.add_sym(
            "stripe",
            P.box_between((W / 2 - 0.02, y0 + 0.4, floor + 0.2), (W / 2 + 0.022, y0 + Lc - 0.1, floor + 0.45)),
            accent,
        )
        z_hl = floor + 0.45
        x_hl = W * 0.34
        b.add_sym("headlights", P.rounded_box((0.4, 0.1, 0.18), 0.04, (x_hl, y0 + 0.04, z_hl), 1), HEADLIGHT)
        b.kp_pair("headlight", (x_hl, y0 - 0.02, z_hl))
        b.kp_pair("front_top", (W / 2 - 0.1, y0 + 0.2 + rake, H - 0.1))
        b.kp_pair("front_bottom", (W / 2 - 0.1, y0, floor - 0.3))
        axles += _bogie(b, y0 + 2.8, gauge, wr, 2.5, DARK)
        axles += _bogie(b, y0 + Lc - 2.8, gauge, wr, 2.5, DARK)
        tail_h = H
        _pantograph(b, y0 + Lc * 0.68, H, (0.9, 1.5, 1.52))
        tail = dict(z_coupler=floor - 0.2, z_lamps=floor + 0.35, gangway=(floor - 0.1, H - 0.5), buffers=False)

    end = y0 + Lc
    if n_cars == 2:  # one passenger coach behind the leading unit
        gap = 0.9
        c0 = end + gap
        cl = uniform(rng, 16.0, 20.0)
        ch = min(tail_h, 4.0) if kind != "steam locomotive" else 3.9
        coach_color = body if kind != "steam locomotive" else COLORS[choice(rng, ("dark red", "dark green", "brown"))]
        b.add(
            "coach",
            P.rounded_box((W * 0.98, cl, ch - floor + 0.35), 0.3, (0, c0 + cl / 2, (floor - 0.35 + ch) / 2), 3),
            coach_color,
        )
        b.add(
            "gangway",
            P.box((W * 0.6, gap + 0.4, ch - floor - 0.4), (0, end + gap / 2, (floor + ch) / 2)),
            DARK,
        )
        _side_windows(b, c0 + 1.0, c0 + cl - 1.0, floor + 0.95, ch - 0.75, W * 0.49, 1.2, 0.4)
        b.add_sym(
            "stripe",
            P.box_between((W * 0.49 - 0.02, c0 + 0.3, floor + 0.25), (W * 0.49 + 0.022, c0 + cl - 0.3, floor + 0.45)),
            accent,
        )
        axles += _bogie(b, c0 + 2.5, gauge, wr, 2.5, DARK)
        axles += _bogie(b, c0 + cl - 2.5, gauge, wr, 2.5, DARK)
        end, tail_h = c0 + cl, ch
        tail = dict(z_coupler=floor - 0.2, z_lamps=floor + 0.35, gangway=(floor - 0.1, ch - 0.5), buffers=True)
        extras.append("passenger coach")
    # One driving end only: the last vehicle's rear is a coupling end (see _coupling_end).
    _coupling_end(b, end, W / 2 - (0.1 if kind == "steam locomotive" and n_cars == 1 else 0.0), **tail)
    b.kp_pair("back_top", (W / 2 - 0.1, end, tail_h - 0.1))
    b.kp_pair("back_bottom", (W / 2 - 0.1, end, floor - 0.3))
    b.kp_pair("wheel_front", (gauge / 2 + 0.08, min(axles), wr))
    b.kp_pair("wheel_back", (gauge / 2 + 0.08, max(axles), wr))
    # Recentre along y so the train's middle is at y = 0 like every other long object.
    shift = -(y0 + end) / 2
    b.shift((0.0, shift, 0.0))
    b.keywords += [kind, color_name, f"{accent_name} accents", "railway", *extras]
    b.param(body_type=kind, color=color_name, accent=accent_name, cars=n_cars, length=end - y0, width=W)
    return b.build()
