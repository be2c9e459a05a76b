"""Household objects: bottle (label at -y) and tvmonitor (screen facing -y), z up."""

from __future__ import annotations

import numpy as np

from dst3d.assets import primitives as P
from dst3d.assets.builtin._common import COLORS, DARK, RGB, Asset, Builder, choice, pick_color, uniform

BOTTLE_KEYPOINTS: tuple[str, ...] = (
    "mouth",
    "neck",
    "shoulder_left",
    "shoulder_right",
    "body_left",
    "body_right",
    "bottom_left",
    "bottom_right",
    "bottom",
    "label_center",
)
TV_KEYPOINTS: tuple[str, ...] = (
    "screen_top_left",
    "screen_top_right",
    "screen_bottom_left",
    "screen_bottom_right",
    "screen_center",
    "back_center",
    "base_front",
    "base_back",
)

# =========================================================================== bottle
_BOTTLE_KINDS = ("wine bottle", "water bottle", "soda bottle", "beer bottle", "liquor bottle", "milk bottle")

_GLASS_COLORS: dict[str, RGB] = {
    "dark green glass": (0.08, 0.25, 0.12),
    "green glass": (0.25, 0.55, 0.3),
    "amber glass": (0.45, 0.22, 0.05),
    "brown glass": (0.3, 0.14, 0.04),
    "clear glass": (0.78, 0.85, 0.86),
    "clear plastic": (0.72, 0.86, 0.95),
    "blue plastic": (0.35, 0.6, 0.9),
    "pale green glass": (0.6, 0.78, 0.62),
    "cobalt blue glass": (0.1, 0.2, 0.6),
    "white plastic": (0.93, 0.93, 0.92),
}


def _label_band(
    radius: float, z0: float, z1: float, span: float, thickness: float = 0.0015, n: int = 20
) -> P.Mesh:
    """A curved label: an annular sector extruded vertically, centred on the -y direction."""
    a = -np.pi / 2 + np.linspace(-span / 2, span / 2, n)
    outer = np.stack([(radius + thickness) * np.cos(a), (radius + thickness) * np.sin(a)], 1)
    inner = np.stack([(radius - 0.002) * np.cos(a[::-1]), (radius - 0.002) * np.sin(a[::-1])], 1)
    return P.extrude(np.concatenate([outer, inner]), z1 - z0, "xy", (z0 + z1) / 2)


def _shoulder(
    r0: float, r1: float, z0: float, height: float, sharp: float, n: int = 7
) -> list[tuple[float, float]]:
    """Profile points from body radius r0 at z0 to neck radius r1 at z0 + height (sharp>1: squarer)."""
    pts = []
    for t in np.linspace(0.0, 1.0, n)[1:]:
        c = np.cos(t * np.pi / 2) ** (1.0 / sharp)
        pts.append((r1 + (r0 - r1) * c, z0 + height * np.sin(t * np.pi / 2) ** sharp))
    return pts


def bottle(rng: np.random.Generator) -> Asset:
    """A bottle: lathe-profiled glass/plastic body, shoulder, neck, cap or capsule, label facing -y."""
    kind = choice(rng, _BOTTLE_KINDS, p=(3, 2.5, 2, 2, 1.5, 1))
    b = Builder("bottle", BOTTLE_KEYPOINTS)
    glass_options = {
        "wine bottle": ("dark green glass", "dark green glass", "amber glass", "clear glass"),
        "water bottle": ("clear plastic", "blue plastic", "clear plastic"),
        "soda bottle": ("pale green glass", "clear glass", "green glass"),
        "beer bottle": ("brown glass", "brown glass", "green glass", "amber glass"),
        "liquor bottle": ("clear glass", "amber glass", "cobalt blue glass"),
        "milk bottle": ("white plastic", "clear glass"),
    }[kind]
    glass_name = choice(rng, glass_options)
    glass = _GLASS_COLORS[glass_name]
    label_name, label = pick_color(
        rng, ("white", "cream", "red", "yellow", "blue", "black", "green", "orange", "beige")
    )
    cap_name, cap = pick_color(
        rng, ("red", "blue", "white", "black", "silver", "yellow", "green", "dark red")
    )
    square = kind == "liquor bottle" and rng.random() < 0.6
    seg = 28
    extras: list[str] = []
    if kind == "wine bottle":
        R, Hb = uniform(rng, 0.036, 0.04), uniform(rng, 0.18, 0.22)
        neck_r, sh_h, neck_l = (
            uniform(rng, 0.013, 0.015),
            uniform(rng, 0.035, 0.07),
            uniform(rng, 0.075, 0.095),
        )
        sharp = 1.6 if sh_h < 0.05 else 0.8
        extras.append("bordeaux shape" if sh_h < 0.05 else "burgundy shape")
    elif kind == "water bottle":
        R, Hb = uniform(rng, 0.031, 0.036), uniform(rng, 0.13, 0.17)
        neck_r, sh_h, neck_l = uniform(rng, 0.0125, 0.0135), uniform(rng, 0.05, 0.07), 0.018
        sharp = 0.9
    elif kind == "soda bottle":
        R, Hb = uniform(rng, 0.028, 0.032), uniform(rng, 0.1, 0.12)
        neck_r, sh_h, neck_l = uniform(rng, 0.011, 0.013), uniform(rng, 0.07, 0.09), 0.02
        sharp = 0.7
    elif kind == "beer bottle":
        R, Hb = uniform(rng, 0.029, 0.032), uniform(rng, 0.11, 0.14)
        neck_r, sh_h, neck_l = (
            uniform(rng, 0.011, 0.0125),
            uniform(rng, 0.035, 0.05),
            uniform(rng, 0.05, 0.07),
        )
        sharp = 0.9
    elif kind == "liquor bottle":
        R, Hb = uniform(rng, 0.038, 0.045), uniform(rng, 0.14, 0.18)
        neck_r, sh_h, neck_l = uniform(rng, 0.013, 0.016), uniform(rng, 0.02, 0.035), uniform(rng, 0.04, 0.06)
        sharp = 1.8
    else:  # milk bottle / jug: wide body, short wide neck
        R, Hb = uniform(rng, 0.045, 0.055), uniform(rng, 0.12, 0.16)
        neck_r, sh_h, neck_l = uniform(rng, 0.018, 0.022), uniform(rng, 0.04, 0.06), 0.02
        sharp = 1.2
    z_sh = Hb
    z_neck = z_sh + sh_h
    top = z_neck + neck_l
    prof: list[tuple[float, float]] = [(0.0, 0.0), (R * 0.9, 0.0), (R, 0.008)]
    if kind == "water bottle":  # moulded ribs
        for k, z in enumerate(np.linspace(0.02, Hb - 0.01, 9)):
            prof.append((R * (0.94 if k % 2 else 1.0), float(z)))
    elif kind == "soda bottle":  # contour: bulge, waist, bulge
        for z, f in ((0.02, 1.0), (Hb * 0.3, 0.97), (Hb * 0.5, 0.86), (Hb * 0.75, 0.97), (Hb, 1.0)):
            prof.append((R * f, float(z)))
        extras.append("contour bottle")
    else:
        prof.append((R, Hb))
    prof += _shoulder(R, neck_r, z_sh, sh_h, sharp)
    prof.append((neck_r, top - 0.006))
    lip = kind in ("wine bottle", "beer bottle", "soda bottle")
    if lip:
        prof += [(neck_r * 1.15, top - 0.005), (neck_r * 1.15, top), (0.0, top)]
    else:
        prof += [(neck_r, top), (0.0, top)]
    if square:  # square liquor bottle: lofted rounded squares, then a round neck
        rings = []
        for z, s in ((0.0, 0.95), (0.006, 1.0), (Hb, 1.0), (Hb + sh_h * 0.6, 0.7)):
            sq = P.rounded_rect(2 * R * s, 2 * R * s, R * 0.25 * s, 3)
            rings.append(np.stack([sq[:, 0], sq[:, 1], np.full(len(sq), z)], 1))
        b.add("glass", P.loft(rings), glass)
        neck = [(R * 0.7 * 0.9, Hb + sh_h * 0.6 - 0.002), (neck_r, z_neck), (neck_r, top), (0.0, top)]
        b.add("glass", P.lathe([(0.0, Hb + sh_h * 0.6 - 0.002), *neck], seg), glass)
        b.add("label", P.box((1.5 * R, 0.002, Hb * 0.45), (0, -R - 0.0005, Hb * 0.5)), label)
        z_label = Hb * 0.5
        extras.append("square bottle")
    else:
        b.add("glass", P.lathe(prof, seg), glass)
        z0 = Hb * uniform(rng, 0.25, 0.4)
        z1 = min(Hb * uniform(rng, 0.7, 0.85), Hb - 0.005)
        if kind == "soda bottle":
            z0, z1 = Hb * 0.55, Hb * 0.72  # the band sits in the waist
        span = np.radians(uniform(rng, 150, 230) if kind != "water bottle" else 300)
        r_lab = R if kind != "soda bottle" else R * 0.88
        b.add("label", _label_band(r_lab, z0, z1, span), label)
        z_label = (z0 + z1) / 2
    # Closure: foil capsule for wine, crown cap for beer/soda, screw cap otherwise.
    if kind == "wine bottle":
        cap_z0 = top - uniform(rng, 0.04, 0.055)
        b.add(
            "capsule",
            P.lathe(
                [(0, cap_z0), (neck_r * 1.22, cap_z0), (neck_r * 1.22, top + 0.001), (0, top + 0.001)], seg
            ),
            cap,
        )
        extras.append(f"{cap_name} foil capsule")
    elif kind in ("beer bottle", "soda bottle"):
        b.add("cap", P.cylinder((0, 0, top - 0.004), (0, 0, top + 0.003), neck_r * 1.3, 16), cap)
        extras.append(f"{cap_name} crown cap")
    else:
        cap_h = 0.02 if kind != "liquor bottle" else uniform(rng, 0.02, 0.035)
        cap_r = neck_r * (1.2 if kind != "liquor bottle" else 1.5)
        b.add("cap", P.cylinder((0, 0, top - 0.008), (0, 0, top - 0.008 + cap_h), cap_r, 20), cap)
        extras.append(f"{cap_name} screw cap")
    mouth_z = top + 0.003
    b.kp("mouth", (0.0, 0.0, mouth_z))
    b.kp("neck", (0.0, -neck_r, z_neck))
    b.kp_pair("shoulder", (R * (0.95 if not square else 1.0), 0.0, z_sh + (0.005 if not square else 0.0)))
    b.kp_pair("body", (R, 0.0, Hb * 0.5))
    b.kp_pair("bottom", (R, 0.0, 0.004))
    b.kp("bottom", (0.0, 0.0, 0.0))
    b.kp("label_center", (0.0, -R - 0.0015, z_label))
    b.keywords += [kind, glass_name, f"{label_name} label", *extras]
    b.param(
        body_type=kind,
        glass=glass_name,
        label=label_name,
        cap=cap_name,
        radius=R,
        body_height=Hb,
        neck_radius=neck_r,
        height=top,
        square=square,
    )
    return b.build()


# =========================================================================== tvmonitor
_TV_KINDS = ("flat-screen tv", "computer monitor", "crt monitor", "crt television")
_SCREEN: RGB = (0.11, 0.14, 0.21)  # off screens: dark but bluer than a black bezel


def tvmonitor(rng: np.random.Generator) -> Asset:
    """A TV or monitor: screen panel with bezel facing -y, on a pedestal, feet, arm stand or CRT body."""
    kind = choice(rng, _TV_KINDS, p=(3, 3, 1.5, 1.5))
    b = Builder("tvmonitor", TV_KEYPOINTS)
    shell_name, shell = pick_color(
        rng,
        ("black", "black", "charcoal", "silver", "white", "grey")
        if "crt" not in kind
        else ("beige", "cream", "grey", "black", "silver"),
    )
    extras: list[str] = []
    screen_on = rng.random() < 0.25
    screen = _SCREEN
    if screen_on:  # a lit screen: a bright, saturated flat colour
        screen_name, screen = pick_color(rng, ("light blue", "blue", "teal", "white", "green"))
        extras.append("screen on")
    tilt = 0.0
    if kind == "flat-screen tv":
        diag = uniform(rng, 0.8, 1.6)
        w, h = diag * 0.872, diag * 0.49
        bezel, depth, chin = uniform(rng, 0.008, 0.02), uniform(rng, 0.03, 0.06), uniform(rng, 0.0, 0.03)
        stand = choice(rng, ("pedestal", "feet"))
        z_bottom = uniform(rng, 0.06, 0.12)
        extras += ["widescreen", f"{stand} stand"]
    elif kind == "computer monitor":
        diag = uniform(rng, 0.55, 0.8)
        aspect = choice(rng, ("16:9", "16:10", "21:9"), p=(3, 1.5, 1))
        ar = {"16:9": 16 / 9, "16:10": 1.6, "21:9": 21 / 9}[aspect]
        h = diag / np.sqrt(1 + ar**2)
        w = h * ar
        bezel, depth, chin = uniform(rng, 0.008, 0.02), uniform(rng, 0.02, 0.04), uniform(rng, 0.0, 0.04)
        stand = choice(rng, ("arm", "pedestal"))
        z_bottom = uniform(rng, 0.08, 0.16)
        tilt = np.radians(uniform(rng, 0, 12))
        extras += [f"{aspect} display", f"{stand} stand"]
    else:
        diag = uniform(rng, 0.38, 0.5) if kind == "crt monitor" else uniform(rng, 0.5, 0.7)
        w, h = diag * 0.8, diag * 0.6
        bezel, depth, chin = (
            uniform(rng, 0.025, 0.04),
            0.05,
            0.0 if kind == "crt monitor" else uniform(rng, 0.06, 0.1),
        )
        stand = "swivel base" if kind == "crt monitor" else "cabinet"
        z_bottom = 0.05 if kind == "crt monitor" else 0.03
        extras += ["boxy cathode-ray tube", "4:3 screen"]
    W, Hp = w + 2 * bezel, h + 2 * bezel + chin
    zc = z_bottom + Hp / 2  # panel centre height
    # Panel in its local frame (centre at origin, front face at y = -depth/2), then tilted about x.
    parts: list[tuple[str, P.Mesh, RGB]] = []
    parts.append(("bezel", P.rounded_box((W, depth, Hp), min(0.01, depth * 0.3), (0, 0, 0), 2), shell))
    z_scr = chin / 2
    parts.append(("screen", P.box((w, 0.004, h), (0, -depth / 2 - 0.001, z_scr)), screen))
    back_y = depth / 2
    if kind in ("flat-screen tv", "computer monitor"):
        bd = depth * uniform(rng, 0.6, 1.2)
        parts.append(
            (
                "back",
                P.rounded_box(
                    (W * 0.6, bd, Hp * 0.55), bd * 0.3, (0, depth / 2 + bd / 2 - 0.005, -Hp * 0.05), 2
                ),
                shell,
            )
        )
        back_y = depth / 2 + bd - 0.005
    else:  # the deep tapered CRT housing
        tube_d = w * uniform(rng, 0.75, 0.95)
        r0 = P.rounded_rect(W * 0.98, Hp * 0.98, 0.02, 2)
        r1 = P.rounded_rect(W * 0.5, Hp * 0.55, 0.03, 2)
        rings = [
            np.stack([r0[:, 0], np.full(len(r0), depth / 2 - 0.01), r0[:, 1]], 1),
            np.stack([r0[:, 0] * 0.97, np.full(len(r0), depth / 2 + tube_d * 0.3), r0[:, 1] * 0.96], 1),
            np.stack([r1[:, 0], np.full(len(r1), depth / 2 + tube_d), r1[:, 1] - Hp * 0.08], 1),
        ]
        parts.append(("housing", P.loft(rings), shell))
        back_y = depth / 2 + tube_d
        if kind == "crt television":  # speaker grille and knobs below the screen
            parts.append(
                (
                    "grille",
                    P.box(
                        (w * 0.55, 0.004, chin * 0.6),
                        (-w * 0.15, -depth / 2 - 0.001, -Hp / 2 + bezel * 0.5 + chin * 0.5),
                    ),
                    DARK,
                )
            )
            for k in range(2):
                parts.append(
                    (
                        "knobs",
                        P.cylinder(
                            (w * 0.3 + k * 0.05, -depth / 2, -Hp / 2 + bezel * 0.5 + chin * 0.5),
                            (w * 0.3 + k * 0.05, -depth / 2 - 0.015, -Hp / 2 + bezel * 0.5 + chin * 0.5),
                            0.014,
                            12,
                        ),
                        DARK,
                    )
                )
            extras.append("knobs")
    if not screen_on:
        extras.append("screen off")
    parts.append(
        (
            "led",
            P.box((0.006, 0.004, 0.004), (W / 2 - 0.04, -depth / 2 - 0.001, -Hp / 2 + 0.01)),
            (0.1, 0.9, 0.3) if screen_on else (0.9, 0.2, 0.1),
        )
    )
    rot = P.rotation((1, 0, 0), -tilt)  # positive tilt leans the top back (+y)

    def place(p: np.ndarray) -> np.ndarray:
        return rot @ np.asarray(p, dtype=np.float64) + np.array([0.0, 0.0, zc])

    for name, m, c in parts:
        b.add(name, P.transform(m, rot, (0, 0, zc)), c)

    # Stand.
    stand_color = shell if rng.random() < 0.7 else COLORS["silver"]
    if stand in ("pedestal", "arm"):
        base_w = W * (0.35 if kind == "flat-screen tv" else 0.45)
        base_d = uniform(rng, 0.18, 0.26) if kind != "flat-screen tv" else uniform(rng, 0.22, 0.3)
        base_round = rng.random() < 0.4
        y_base = 0.03 + (0.04 if stand == "arm" else 0.0)
        if base_round:
            b.add(
                "stand",
                P.transform(
                    P.cylinder((0, 0, 0), (0, 0, 0.018), 1.0, 28),
                    scale=(base_w / 2, base_d / 2, 1),
                    translate=(0, y_base, 0),
                ),
                stand_color,
            )
        else:
            b.add("stand", P.rounded_box((base_w, base_d, 0.018), 0.008, (0, y_base, 0.009), 2), stand_color)
        neck_top = place((0, back_y - 0.01, -Hp * 0.05))
        neck_y = y_base + base_d * (0.15 if stand == "arm" else 0.0)
        b.add("stand", P.cylinder((0, neck_y, 0.015), (0, neck_y, neck_top[2]), 0.025, 10), stand_color)
        b.add(
            "stand",
            P.box_between(
                (-0.035, min(neck_y, neck_top[1]) - 0.02, neck_top[2] - 0.04),
                (0.035, max(neck_y, neck_top[1]) + 0.02, neck_top[2] + 0.03),
            ),
            stand_color,
        )
        base_front, base_back = (0.0, y_base - base_d / 2, 0.0), (0.0, y_base + base_d / 2, 0.0)
    elif stand == "feet":
        foot_x = W / 2 - uniform(rng, 0.05, 0.2) * W
        for sx in (1, -1):
            for sy in (1, -1):
                b.add(
                    "stand",
                    P.cylinder(
                        (sx * foot_x, 0.0, z_bottom + 0.02), (sx * (foot_x + 0.04), sy * 0.12, 0.01), 0.012, 8
                    ),
                    stand_color,
                )
        base_front, base_back = (0.0, -0.12, 0.0), (0.0, 0.12, 0.0)
    elif stand == "swivel base":
        b.add("stand", P.cylinder((0, back_y * 0.4, 0), (0, back_y * 0.4, z_bottom), W * 0.25, 24), shell)
        base_front, base_back = (0.0, back_y * 0.4 - W * 0.25, 0.0), (0.0, back_y * 0.4 + W * 0.25, 0.0)
    else:  # CRT television on short feet
        for sx in (1, -1):
            for yy in (0.0, depth / 2 + 0.06):
                b.add(
                    "stand",
                    P.box((0.04, 0.04, z_bottom + 0.02), (sx * W * 0.4, yy, (z_bottom + 0.02) / 2)),
                    DARK,
                )
        base_front, base_back = (0.0, -depth / 2, 0.0), (0.0, back_y, 0.0)

    sy = -depth / 2 - 0.003
    b.kp_pair("screen_top", place((w / 2, sy, z_scr + h / 2)))
    b.kp_pair("screen_bottom", place((w / 2, sy, z_scr - h / 2)))
    b.kp("screen_center", place((0.0, sy, z_scr)))
    b.kp(
        "back_center",
        place((0.0, back_y, -Hp * 0.05 if kind in ("flat-screen tv", "computer monitor") else -Hp * 0.08)),
    )
    b.kp("base_front", base_front)
    b.kp("base_back", base_back)
    b.keywords += [kind, f"{shell_name} casing", *extras]
    b.param(
        body_type=kind,
        color=shell_name,
        diagonal=diag,
        screen_width=w,
        screen_height=h,
        stand=stand,
        tilt_deg=float(np.degrees(tilt)),
        screen_on=screen_on,
    )
    return b.build()
