"""Aeroplanes: fuselage along y with the nose at -y, wings spanning x, fin up along +z."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dst3d.assets import primitives as P
from dst3d.assets.builtin._common import (
    COLORS,
    DARK,
    GLASS,
    RGB,
    TYRE,
    Asset,
    Builder,
    choice,
    pick_color,
    uniform,
)

AEROPLANE_KEYPOINTS: tuple[str, ...] = (
    "nose",
    "tail",
    "wing_left",
    "wing_right",
    "wing_root_left",
    "wing_root_right",
    "elevator_left",
    "elevator_right",
    "rudder_upper",
    "rudder_lower",
)

_KINDS = ("airliner", "light propeller plane", "fighter jet", "business jet", "turboprop airliner")


def _fuselage(
    y_nose: float,
    length: float,
    radius: float,
    nose_len: float,
    tail_len: float,
    pointed: bool = False,
    segments: int = 20,
) -> tuple[P.Mesh, Callable[[float], tuple[float, float]]]:
    """Lofted fuselage; the tail cone sweeps up (flat top, rising belly). Returns (mesh, centre_z(y))."""
    ys, rs, zs = [], [], []
    for u in np.linspace(0.0, 1.0, 8):  # nose: elliptic (airliner) or ogive-like (fighter) growth
        ys.append(y_nose + u * nose_len)
        rs.append(radius * (max(u, 0.015) ** 0.9 if pointed else np.sqrt(max(1 - (1 - u) ** 2, 0.0004))))
        zs.append(-0.25 * radius * (1 - u) ** 2 if not pointed else 0.0)
    for v in np.linspace(0.0, 1.0, 7)[1:]:  # tail cone: radius shrinks, centre rises to keep the top line
        ys.append(y_nose + length - tail_len * (1 - v))
        r = radius * (1 - 0.8 * v)
        rs.append(r)
        zs.append((radius - r) * 0.75)
    rings = []
    ring2 = P.circle(1.0, segments)
    for y, r, z in zip(ys, rs, zs, strict=True):
        rings.append(np.stack([ring2[:, 0] * r, np.full(segments, y), ring2[:, 1] * r + z], axis=1))
    ys_a, zs_a, rs_a = np.array(ys), np.array(zs), np.array(rs)

    def centre(y: float) -> tuple[float, float]:
        return float(np.interp(y, ys_a, zs_a)), float(np.interp(y, ys_a, rs_a))

    return P.loft(rings), centre


def _airfoil(y_le: float, chord: float, thick: float, n: int = 14) -> np.ndarray:
    """(n, 2) points of a lens-shaped airfoil section (chord along +y, thickness along the normal)."""
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    y = y_le + chord * (1 - np.cos(t)) / 2
    h = 0.5 * thick * chord * np.sin(t) * (1.15 - 0.5 * (1 - np.cos(t)) / 2)
    return np.stack([y, h], axis=1)


def _wing(
    x0: float,
    x1: float,
    y_le0: float,
    y_le1: float,
    c0: float,
    c1: float,
    z0: float,
    z1: float,
    thick: float = 0.12,
) -> P.Mesh:
    """A wing panel from span station x0 to x1 (chords c0, c1, leading edges y_le0, y_le1, heights z0, z1)."""
    rings = []
    for x, yle, c, z in ((x0, y_le0, c0, z0), (x1, y_le1, c1, z1)):
        a = _airfoil(yle, c, thick)
        rings.append(np.stack([np.full(len(a), x), a[:, 0], a[:, 1] + z], axis=1))
    return P.loft(rings)


def _fin(
    z0: float,
    z1: float,
    y_le0: float,
    y_le1: float,
    c0: float,
    c1: float,
    thick: float = 0.1,
    x: float = 0.0,
    cant: float = 0.0,
) -> P.Mesh:
    """A vertical fin from height z0 to z1 (optionally canted outward by ``cant`` radians about y)."""
    rings = []
    for z, yle, c in ((z0, y_le0, c0), (z1, y_le1, c1)):
        a = _airfoil(yle, c, thick)
        rings.append(np.stack([a[:, 1], a[:, 0], np.full(len(a), z)], axis=1))
    m = P.loft(rings)
    if cant:
        m = P.transform(m, P.rotation((0, 1, 0), cant), (0, 0, 0))
    return P.transform(m, translate=(x, 0, 0))


def _propeller(b: Builder, hub: np.ndarray, radius: float, blades: int, phase: float, color: RGB) -> None:
    """Spinner plus blades in the plane y = hub.y (spinning about the y axis)."""
    b.add(
        "spinner",
        P.cone(hub + (0, 0.05 * radius * 4, 0), hub - (0, radius * 0.35, 0), radius * 0.16, 12),
        color,
    )
    for k in range(blades):
        ang = phase + 2 * np.pi * k / blades
        blade = P.box((radius * 0.12, radius * 0.04, radius * 0.95), (0, 0, radius * 0.5))
        blade = P.transform(blade, P.rotation((0, 0, 1), 0.35))  # blade pitch
        b.add("propeller", P.transform(blade, P.rotation((0, 1, 0), ang), hub - (0, radius * 0.08, 0)), DARK)


def _gear(b: Builder, x: float, y: float, z_top: float, r: float, z_ground: float = 0.0) -> None:
    """One landing-gear leg with a wheel touching z_ground."""
    b.add("gear", P.cylinder((x, y, z_top), (x, y, z_ground + r), r * 0.18, 8), (0.6, 0.6, 0.62))
    b.add(
        "gear_wheels",
        P.cylinder((x - r * 0.45, y, z_ground + r), (x + r * 0.45, y, z_ground + r), r, 16),
        TYRE,
    )


def aeroplane(rng: np.random.Generator) -> Asset:
    """An aeroplane: airliner, light propeller plane, fighter jet, business jet or turboprop."""
    kind = choice(rng, _KINDS, p=(3, 2, 2, 1.5, 1.5))
    b = Builder("aeroplane", AEROPLANE_KEYPOINTS)
    livery_name, livery = pick_color(
        rng, ("red", "blue", "dark blue", "green", "orange", "teal", "yellow", "purple")
    )
    extras: list[str] = []
    if kind == "fighter jet":
        body_name, body = pick_color(rng, ("grey", "grey", "silver", "olive", "charcoal"))
    else:
        body_name, body = pick_color(rng, ("white", "white", "white", "silver", "cream"))

    if kind == "airliner":
        L = uniform(rng, 35.0, 65.0)
        R = L * uniform(rng, 0.045, 0.055)
        span = L * uniform(rng, 0.9, 1.05)
        root_c, taper = L * uniform(rng, 0.15, 0.19), uniform(rng, 0.25, 0.35)
        sweep = np.radians(uniform(rng, 25, 35))
        wing_y, wing_z = -L / 2 + L * uniform(rng, 0.36, 0.42), -R * 0.55
        dihedral = np.radians(uniform(rng, 4, 7))
        nose_len, tail_len = R * 2.2, L * 0.2
        pointed = False
    elif kind == "light propeller plane":
        L = uniform(rng, 7.5, 9.5)
        R = uniform(rng, 0.55, 0.7)
        span = L * uniform(rng, 1.2, 1.4)
        root_c, taper = uniform(rng, 1.4, 1.7), uniform(rng, 0.7, 1.0)
        sweep = 0.0
        high = rng.random() < 0.55
        wing_y, wing_z = -L / 2 + L * 0.3, (R * 0.95 if high else -R * 0.6)
        dihedral = np.radians(uniform(rng, 1, 4))
        nose_len, tail_len = R * 1.6, L * 0.5
        pointed = False
        extras.append("high wing" if high else "low wing")
    elif kind == "fighter jet":
        L = uniform(rng, 15.0, 19.0)
        R = uniform(rng, 0.8, 1.0)
        delta = rng.random() < 0.5
        span = L * (uniform(rng, 0.55, 0.65) if delta else uniform(rng, 0.6, 0.7))
        root_c = L * (uniform(rng, 0.45, 0.55) if delta else uniform(rng, 0.3, 0.36))
        taper = 0.08 if delta else uniform(rng, 0.25, 0.35)
        sweep = np.radians(uniform(rng, 50, 60) if delta else uniform(rng, 35, 45))
        wing_y, wing_z = -L / 2 + L * (0.4 if delta else 0.45), 0.0
        dihedral = np.radians(uniform(rng, -3, 0))
        nose_len, tail_len = L * 0.3, L * 0.08
        pointed = True
        extras.append("delta wing" if delta else "swept wing")
    elif kind == "business jet":
        L = uniform(rng, 15.0, 22.0)
        R = L * uniform(rng, 0.055, 0.065)
        span = L * uniform(rng, 0.9, 1.0)
        root_c, taper = L * uniform(rng, 0.16, 0.2), uniform(rng, 0.3, 0.4)
        sweep = np.radians(uniform(rng, 22, 30))
        wing_y, wing_z = -L / 2 + L * 0.42, -R * 0.55
        dihedral = np.radians(uniform(rng, 3, 5))
        nose_len, tail_len = R * 3.0, L * 0.25
        pointed = False
    else:  # turboprop airliner
        L = uniform(rng, 22.0, 27.0)
        R = L * uniform(rng, 0.05, 0.06)
        span = L * uniform(rng, 1.0, 1.15)
        root_c, taper = L * uniform(rng, 0.09, 0.11), uniform(rng, 0.5, 0.6)
        sweep = np.radians(uniform(rng, 2, 6))
        wing_y, wing_z = -L / 2 + L * 0.4, R * 0.95
        dihedral = np.radians(uniform(rng, 0, 2))
        nose_len, tail_len = R * 2.0, L * 0.25
        pointed = False
    y_nose = -L / 2
    fus, centre = _fuselage(y_nose, L, R, nose_len, tail_len, pointed)
    b.add("fuselage", fus, body)

    # Wings (mirrored), leading-edge root inside the fuselage.
    half = span / 2
    x_root = R * 0.5
    tip_c = root_c * taper
    y_tip = wing_y + (half - x_root) * np.tan(sweep)
    if kind == "fighter jet" and taper < 0.1:
        y_tip = wing_y + root_c - tip_c * 1.5  # delta: trailing edge straight across
    z_tip = wing_z + (half - x_root) * np.tan(dihedral)
    b.add_sym(
        "wings",
        _wing(
            x_root, half, wing_y, y_tip, root_c, tip_c, wing_z, z_tip, 0.1 if kind != "fighter jet" else 0.05
        ),
        body,
    )
    b.kp_pair("wing", (half, y_tip + tip_c / 2, z_tip))
    zc_root, r_root = centre(wing_y)
    b.kp_pair("wing_root", (r_root * 0.9, wing_y, wing_z))
    if kind == "business jet" or (kind == "airliner" and rng.random() < 0.6):
        wl = P.transform(
            _fin(0, half * 0.08, y_tip, y_tip + tip_c * 0.5, tip_c, tip_c * 0.5, 0.08),
            translate=(half - 0.05, 0, z_tip),
        )
        b.add_sym("winglets", wl, livery)
        extras.append("winglets")
    if kind == "light propeller plane" and wing_z > 0:  # wing struts of a high-wing plane
        b.add_sym(
            "struts",
            P.cylinder(
                (R * 0.8, wing_y + root_c * 0.4, -R * 0.5),
                (half * 0.45, wing_y + root_c * 0.4, wing_z - 0.05),
                0.05,
                6,
            ),
            body,
        )

    # Tail: fin (single, twin canted, or T-tail) and horizontal stabilisers.
    y_tail = y_nose + L
    zc_t, r_t = centre(y_tail - tail_len * 0.3)
    fin_h = {
        "airliner": L * 0.16,
        "light propeller plane": 1.5,
        "fighter jet": L * 0.2,
        "business jet": L * 0.17,
        "turboprop airliner": L * 0.22,
    }[kind]
    fin_c = {
        "airliner": L * 0.15,
        "light propeller plane": 1.3,
        "fighter jet": L * 0.18,
        "business jet": L * 0.16,
        "turboprop airliner": L * 0.16,
    }[kind]
    fin_sweep = np.radians(uniform(rng, 35, 50) if kind != "light propeller plane" else uniform(rng, 20, 35))
    fin_y0 = y_tail - fin_c * 1.05
    fin_z0 = zc_t + r_t * 0.5
    fin_top_y = fin_y0 + fin_h * np.tan(fin_sweep)
    tip_fc = fin_c * 0.45
    twin = kind == "fighter jet" and rng.random() < 0.5
    if twin:
        for sx in (1, -1):
            b.add(
                "fin",
                _fin(
                    fin_z0 - r_t * 0.2,
                    fin_z0 + fin_h * 0.8,
                    fin_y0,
                    fin_top_y * 0.98,
                    fin_c,
                    tip_fc,
                    0.06,
                    sx * R * 0.6,
                    sx * -0.35,
                ),
                livery if kind != "fighter jet" else body,
            )
        extras.append("twin tail")
        fin_top = (
            R * 0.6 + fin_h * 0.8 * np.sin(0.35),
            fin_top_y + tip_fc,
            fin_z0 + fin_h * 0.8 * np.cos(0.35),
        )
        b.kp("rudder_upper", (0.0, fin_top[1], fin_top[2]))
    else:
        b.add(
            "fin",
            _fin(fin_z0 - r_t * 0.3, fin_z0 + fin_h, fin_y0, fin_top_y, fin_c, tip_fc, 0.09),
            livery if kind != "fighter jet" else body,
        )
        b.kp("rudder_upper", (0.0, fin_top_y + tip_fc, fin_z0 + fin_h))
    b.kp("rudder_lower", (0.0, fin_y0 + fin_c, fin_z0))
    t_tail = kind in ("business jet", "turboprop airliner")
    stab_half = {
        "airliner": span * 0.18,
        "light propeller plane": 1.8,
        "fighter jet": span * 0.3,
        "business jet": span * 0.2,
        "turboprop airliner": span * 0.16,
    }[kind]
    stab_c = fin_c * (0.8 if not t_tail else 0.55)
    if t_tail:
        sy0, sz = fin_top_y - 0.05 * fin_c, fin_z0 + fin_h - 0.05
    else:
        sy0, sz = y_tail - stab_c * 1.25, zc_t + (0.0 if kind != "fighter jet" else -r_t * 0.2)
    s_sweep = np.radians(30 if kind != "light propeller plane" else 5)
    sy_tip = sy0 + stab_half * np.tan(s_sweep)
    if not (kind == "fighter jet" and taper < 0.1):  # deltas have no tailplane
        b.add_sym(
            "stabilisers",
            _wing(0.05, stab_half, sy0, sy_tip, stab_c, stab_c * 0.45, sz, sz + stab_half * 0.05, 0.08),
            body,
        )
        b.kp_pair("elevator", (stab_half, sy_tip + stab_c * 0.45, sz + stab_half * 0.05))
    else:
        b.kp_pair("elevator", (half * 0.9, y_tip + tip_c, z_tip))  # trailing wing tip acts as the elevon

    # Engines, propellers, cockpit, windows, gear.
    if kind == "airliner":
        n_eng = 4 if rng.random() < 0.3 else 2
        re = R * (0.45 if n_eng == 2 else 0.33)
        stations = (0.34,) if n_eng == 2 else (0.27, 0.55)
        for f in stations:
            x = x_root + (half - x_root) * f
            yle = wing_y + (x - x_root) * np.tan(sweep)
            zw = wing_z + (x - x_root) * np.tan(dihedral)
            y0 = yle - re * 2.2
            prof = [
                (re * 0.85, 0),
                (re, re * 0.5),
                (re, re * 2.5),
                (re * 0.7, re * 4.0),
                (re * 0.35, re * 4.6),
            ]
            nac = P.lathe(prof, 18, (x, y0, zw - re * 1.05), (0, 1, 0))
            b.add_sym("engines", nac, COLORS["silver"] if rng.random() < 0.4 else body)
            b.add_sym(
                "intakes",
                P.cylinder((x, y0 - 0.02, zw - re * 1.05), (x, y0 + 0.2, zw - re * 1.05), re * 0.8, 18),
                DARK,
            )
            b.add_sym(
                "pylons", P.box((re * 0.25, re * 3.0, re * 0.9), (x, yle + re * 0.2, zw - re * 0.45)), body
            )
        extras.append(f"{'four' if n_eng == 4 else 'twin'}-engine")
    elif kind == "business jet":
        re = R * 0.42
        y_e = y_tail - tail_len * 1.2
        zc_e, r_e = centre(y_e + re * 2)
        prof = [(re * 0.85, 0), (re, re * 0.5), (re, re * 3.0), (re * 0.6, re * 4.2)]
        b.add_sym("engines", P.lathe(prof, 18, (r_e + re * 1.1, y_e, zc_e + r_e * 0.35), (0, 1, 0)), body)
        b.add_sym(
            "intakes",
            P.cylinder(
                (r_e + re * 1.1, y_e - 0.02, zc_e + r_e * 0.35),
                (r_e + re * 1.1, y_e + 0.15, zc_e + r_e * 0.35),
                re * 0.8,
                18,
            ),
            DARK,
        )
        b.add_sym(
            "pylons",
            P.box((re * 1.5, re * 1.5, re * 0.4), (r_e + re * 0.2, y_e + re * 2, zc_e + r_e * 0.35)),
            body,
        )
        extras.append("rear-mounted engines")
    elif kind == "turboprop airliner":
        re = R * 0.28
        for f in (0.3,):
            x = x_root + (half - x_root) * f
            yle = wing_y + (x - x_root) * np.tan(sweep)
            zw = wing_z + (x - x_root) * np.tan(dihedral)
            prof = [(re * 0.6, 0), (re, re * 1.0), (re, re * 4.0), (re * 0.5, re * 6.0)]
            b.add_sym("engines", P.lathe(prof, 16, (x, yle - re * 1.5, zw - re * 0.5), (0, 1, 0)), body)
            hub = np.array([x, yle - re * 1.5, zw - re * 0.5])
            for sx in (1, -1):
                _propeller(b, hub * (sx, 1, 1), re * 3.2, 6 if rng.random() < 0.5 else 4, 0.3 * sx, DARK)
        extras.append("propellers")
    elif kind == "light propeller plane":
        zc_n, _ = centre(y_nose)
        _propeller(
            b,
            np.array([0.0, y_nose, zc_n]),
            R * 1.9,
            2 if rng.random() < 0.7 else 3,
            uniform(rng, 0, 3),
            DARK,
        )
        extras.append("propeller")
    else:  # fighter: canopy, intakes, nozzle
        yc = y_nose + nose_len * 0.8
        zc_c, r_c = centre(yc)
        b.add("canopy", P.sphere((0, yc, zc_c + r_c * 0.8), (r_c * 0.55, L * 0.09, r_c * 0.55), 16, 8), GLASS)
        zc_i, r_i = centre(wing_y)
        b.add_sym(
            "intakes",
            P.box((R * 0.55, L * 0.25, R * 0.9), (r_i + R * 0.1, wing_y - L * 0.02, zc_i - R * 0.2)),
            body,
        )
        b.add_sym(
            "intakes",
            P.box((R * 0.4, 0.05, R * 0.7), (r_i + R * 0.1, wing_y - L * 0.145, zc_i - R * 0.2)),
            DARK,
        )
        b.add(
            "nozzle",
            P.cylinder(
                (0, y_tail - 0.4, centre(y_tail)[0]),
                (0, y_tail + 0.4, centre(y_tail)[0]),
                centre(y_tail)[1] * 1.3,
                16,
            ),
            DARK,
        )
    if kind != "fighter jet":
        # Cockpit windscreen (dark band over the nose) and a row of cabin windows.
        yw = y_nose + nose_len * 0.75
        zc_w, r_w = centre(yw)
        b.add(
            "cockpit",
            P.transform(
                P.box((r_w * 1.2, nose_len * 0.25, r_w * 0.25), (0, 0, 0)),
                P.rotation((1, 0, 0), -0.5),
                (0, yw, zc_w + r_w * 0.78),
            ),
            GLASS,
        )
        if kind == "light propeller plane":
            yw0 = wing_y - 0.1
            zc_w, r_w = centre(yw0 + 0.8)
            b.add("windows", P.box((r_w * 2.06, 1.7, r_w * 0.6), (0, yw0 + 0.8, zc_w + r_w * 0.35)), GLASS)
        else:
            n_win = int((L - nose_len - tail_len) / (R * 0.55))
            for k in range(n_win):
                y = y_nose + nose_len * 1.2 + k * R * 0.55
                zc_k, r_k = centre(y)
                b.add_sym(
                    "windows", P.box((0.06, R * 0.18, R * 0.22), (r_k * 0.99, y, zc_k + r_k * 0.2)), GLASS
                )
        stripe_y0, stripe_y1 = y_nose + nose_len, y_tail - tail_len
        zc_s, r_s = centre((stripe_y0 + stripe_y1) / 2)
        b.add_sym(
            "stripe",
            P.box(
                (0.06, stripe_y1 - stripe_y0, R * 0.12),
                (r_s * 0.99, (stripe_y0 + stripe_y1) / 2, zc_s - r_s * 0.15),
            ),
            livery,
        )
    gear_down = kind in ("light propeller plane",) or rng.random() < 0.5
    if gear_down:
        z_ground = -R * (1.6 if kind != "fighter jet" else 1.5)
        rw = R * (0.28 if kind in ("airliner", "turboprop airliner") else 0.3)
        zc_g, r_g = centre(y_nose + nose_len * 1.2)
        _gear(b, 0.0, y_nose + nose_len * 1.2, zc_g - r_g * 0.8, rw, z_ground)
        for sx in (1, -1):
            _gear(
                b,
                sx * R * 0.9,
                wing_y + root_c * 0.6,
                centre(wing_y + root_c * 0.6)[0] - R * 0.5,
                rw * 1.1,
                z_ground,
            )
        extras.append("landing gear down")
    b.kp("nose", (0.0, y_nose, centre(y_nose)[0]))
    b.kp("tail", (0.0, y_tail, centre(y_tail)[0]))
    b.ground()  # rest on z = 0 (gear, keel or belly lowest)
    b.keywords += [kind, f"{body_name} fuselage", f"{livery_name} livery", *extras]
    b.param(
        body_type=kind,
        color=body_name,
        livery=livery_name,
        length=L,
        fuselage_radius=R,
        span=span,
        sweep_deg=float(np.degrees(sweep)),
        gear_down=gear_down,
    )
    return b.build()
