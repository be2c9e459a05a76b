"""Furniture: chair, dining table, sofa (z up; the side you sit down from / the front faces -y).

Chairs are sat on from -y (backrest at +y); sofas and tables are wide along x, their front (seat
front, or the long side of a table) facing -y.
"""

from __future__ import annotations

import numpy as np

from dst3d.assets import primitives as P
from dst3d.assets.builtin._common import CHROME, DARK, GLASS, Asset, Builder, choice, pick_color, uniform

CHAIR_KEYPOINTS: tuple[str, ...] = (
    "back_top_left",
    "back_top_right",
    "seat_front_left",
    "seat_front_right",
    "seat_back_left",
    "seat_back_right",
    "leg_front_left",
    "leg_front_right",
    "leg_back_left",
    "leg_back_right",
)
TABLE_KEYPOINTS: tuple[str, ...] = (
    "top_front_left",
    "top_front_right",
    "top_back_left",
    "top_back_right",
    "leg_front_left",
    "leg_front_right",
    "leg_back_left",
    "leg_back_right",
    "top_center",
)
SOFA_KEYPOINTS: tuple[str, ...] = (
    "front_bottom_left",
    "front_bottom_right",
    "back_bottom_left",
    "back_bottom_right",
    "seat_front_left",
    "seat_front_right",
    "back_top_left",
    "back_top_right",
    "arm_front_left",
    "arm_front_right",
)

_WOODS = ("oak", "walnut", "pine", "mahogany", "black", "white")
_FABRICS = (
    "grey",
    "charcoal",
    "beige",
    "navy",
    "dark green",
    "brown",
    "red",
    "teal",
    "cream",
    "blue",
    "tan",
    "olive",
    "purple",
    "yellow",
    "dark red",
)


def _leg(top: np.ndarray, bottom: np.ndarray, style: str, r: float) -> P.Mesh:
    """One furniture leg from ``top`` to ``bottom`` in the given style."""
    if style == "square":
        d = bottom - top
        if abs(d[0]) < 1e-9 and abs(d[1]) < 1e-9:
            return P.box_between(top - (r, r, 0), bottom + (r, r, 0))
        return P.frustum(top, bottom, r * 1.2, r * 1.2, 4)
    if style == "tapered":
        return P.frustum(top, bottom, r * 1.15, r * 0.6, 12)
    if style == "turned":  # lathe profile with beads
        length = float(np.linalg.norm(bottom - top))
        prof = [
            (r * 1.1, 0.0),
            (r * 1.1, 0.12 * length),
            (r * 0.7, 0.16 * length),
            (r * 1.2, 0.22 * length),
            (r * 0.75, 0.3 * length),
            (r * 0.9, 0.6 * length),
            (r * 0.6, 0.85 * length),
            (r * 0.8, 0.93 * length),
            (r * 0.55, length),
        ]
        return P.lathe(prof, 12, top, bottom - top)
    return P.cylinder(top, bottom, r, 12)  # round / metal


def _foot(root: np.ndarray, tip: np.ndarray, half_width: float, height: float) -> P.Mesh:
    """A tapering triangular-section foot from a pedestal ``root`` (x, y) out to ``tip`` on the floor."""
    d = (tip - root) / np.linalg.norm(tip - root)
    n = np.array([-d[1], d[0]])

    def tri(c: np.ndarray, w: float, h: float) -> np.ndarray:
        return np.array([[*(c + n * w), 0.0], [*(c - n * w), 0.0], [*c, h]])

    return P.loft([tri(root, half_width, height), tri(tip, half_width * 0.55, height * 0.35)])


# =========================================================================== chair
_CHAIR_KINDS = (
    "dining chair",
    "ladder-back chair",
    "armchair",
    "office chair",
    "plastic shell chair",
    "bar chair",
)


def chair(rng: np.random.Generator) -> Asset:
    """A chair: seat, legs (or a 5-star base), backrest in one of several styles, optional arms."""
    kind = choice(rng, _CHAIR_KINDS, p=(3, 1.5, 1.5, 1.5, 1.5, 1))
    b = Builder("chair", CHAIR_KEYPOINTS)
    wood_name, wood = pick_color(rng, _WOODS)
    fabric_name, fabric = pick_color(rng, _FABRICS)
    sw, sd = uniform(rng, 0.42, 0.5), uniform(rng, 0.4, 0.48)
    sh = uniform(rng, 0.43, 0.48) if kind != "bar chair" else uniform(rng, 0.66, 0.76)
    bh = uniform(rng, 0.35, 0.55)
    tilt = np.radians(uniform(rng, 4, 14))
    extras: list[str] = []
    upholstered = kind == "armchair" or (kind == "dining chair" and rng.random() < 0.35)
    st = uniform(rng, 0.03, 0.05) if not upholstered else uniform(rng, 0.07, 0.11)
    if kind == "armchair":
        sw, sd, sh, bh = sw * 1.25, sd * 1.15, sh * 0.92, bh * 1.05
    y0, y1 = -sd / 2, sd / 2  # seat front / back edge
    z_seat = sh  # top of the seat
    back_dir = np.array([0.0, np.sin(tilt), np.cos(tilt)])
    seat_color = fabric if upholstered else wood

    if kind == "office chair":
        base_name, base = pick_color(rng, ("black", "black", "silver", "grey"))
        col_top = sh - st - 0.03
        b.add("column", P.cylinder((0, 0, 0.1), (0, 0, col_top), 0.025, 12), CHROME)
        b.add("column", P.cylinder((0, 0, 0.09), (0, 0, 0.2), 0.035, 12), CHROME)
        arm_len = uniform(rng, 0.3, 0.34)
        legs_xy = {}
        for k in range(5):
            a = np.radians(-90 + 72 * k)
            tip = np.array([arm_len * np.cos(a), arm_len * np.sin(a)])
            b.add("base", P.frustum((0, 0, 0.1), (tip[0], tip[1], 0.07), 0.03, 0.018, 6), base)
            b.add(
                "casters",
                P.cylinder((tip[0] - 0.02, tip[1], 0.03), (tip[0] + 0.02, tip[1], 0.03), 0.03, 10),
                DARK,
            )
            legs_xy[k] = tip
        b.add("seat", P.rounded_box((sw, sd, st), st * 0.4, (0, 0, sh - st / 2), 3), fabric)
        b.add("mechanism", P.box((0.2, 0.2, 0.05), (0, 0, sh - st - 0.02)), DARK)
        bar_top = np.array([0, y1 + 0.05, sh + 0.12])
        b.add(
            "back_support",
            P.tube(
                P.bezier([(0, 0.08, sh - st - 0.03), (0, y1 + 0.08, sh - st - 0.03), bar_top], 8), 0.02, 6
            ),
            base,
        )
        bc = np.array([0, y1 + 0.03, z_seat + 0.06]) + back_dir * (bh / 2 + 0.02)
        back = P.rounded_box((sw * 0.95, 0.07, bh), 0.03, (0, 0, 0), 3)
        b.add("back", P.transform(back, P.rotation((1, 0, 0), -tilt), bc), fabric)
        top = bc + back_dir * (bh / 2)
        b.kp_pair("back_top", (sw * 0.95 / 2, top[1], top[2]))
        if rng.random() < 0.6:
            for sx in (1, -1):
                x = sx * (sw / 2 + 0.03)
                b.add("arms", P.box((0.03, 0.06, 0.2), (x, 0.02, sh + 0.05)), base)
                b.add("arms", P.rounded_box((0.06, 0.26, 0.03), 0.012, (x, 0.0, sh + 0.16), 2), DARK)
            extras.append("armrests")
        b.kp_pair("leg_front", (*legs_xy[1], 0.0))  # arms at -18 deg (front-left) and 198 deg (front-right)
        b.kp("leg_front_right", (*legs_xy[4], 0.0))
        b.kp("leg_back_left", (*legs_xy[2], 0.0))
        b.kp("leg_back_right", (*legs_xy[3], 0.0))
        extras += ["swivel", "five-star base", "casters", f"{fabric_name} upholstery"]
    elif kind == "plastic shell chair":
        shell_name, shell = pick_color(
            rng, ("white", "black", "red", "yellow", "grey", "teal", "orange", "light blue")
        )
        # One moulded piece: seat loft that curls up into the back.
        sections = []
        for t in np.linspace(0.0, 1.0, 9):
            # Path: along the seat from front to back, then up the back.
            if t <= 0.5:
                u = t / 0.5
                c = np.array([0.0, y0 + u * sd, z_seat - 0.02 * np.sin(u * np.pi)])
                nrm = np.array([0.0, 0.0, 1.0])
            else:
                u = (t - 0.5) / 0.5
                c = np.array([0.0, y1, z_seat]) + back_dir * (u * bh)
                nrm = np.array([0.0, -np.cos(tilt), np.sin(tilt)])
            width = sw * (1.0 - 0.15 * max(0.0, t - 0.6))
            prof = P.rounded_rect(width, 0.012, 0.005, 1)
            curl = 0.04 * (prof[:, 0] / (width / 2)) ** 2  # edges curl up (toward the sitter)
            ring = (
                c[None] + prof[:, :1] * np.array([1.0, 0.0, 0.0]) + (prof[:, 1:] + curl[:, None]) * nrm[None]
            )
            sections.append(ring)
        b.add("shell", P.loft(sections), shell)
        legs_style = choice(rng, ("metal", "wood"))
        leg_col = CHROME if legs_style == "metal" else wood
        corners = {}
        for sx in (1, -1):
            for sy, name in ((-1, "front"), (1, "back")):
                top = np.array([sx * sw * 0.3, sy * sd * 0.3, z_seat - 0.03])
                bot = np.array([sx * sw * 0.45, sy * sd * 0.45, 0.0])
                b.add("legs", P.cylinder(top, bot, 0.012 if legs_style == "metal" else 0.018, 10), leg_col)
                corners[(sx, name)] = bot
        b.kp_pair("leg_front", corners[(1, "front")])
        b.kp_pair("leg_back", corners[(1, "back")])
        top = np.array([0, y1, z_seat]) + back_dir * bh
        b.kp_pair("back_top", (sw * 0.85 / 2, top[1], top[2] + 0.03))
        extras += ["moulded plastic seat", f"{shell_name} shell", f"{legs_style} legs"]
        st = 0.0
    else:
        # Four-legged chairs: seat board/cushion, legs, back posts continuing the back legs.
        leg_style = choice(
            rng,
            ("square", "round", "tapered", "turned") if kind != "bar chair" else ("round", "square", "metal"),
        )
        if kind == "ladder-back chair":
            leg_style = "round"
        lr = uniform(rng, 0.016, 0.024)
        inset = lr + 0.01
        leg_col = wood if leg_style != "metal" else CHROME
        splay = uniform(rng, 0.0, 0.04) if kind != "bar chair" else 0.05
        feet = {}
        for sx in (1, -1):
            for sy, name in ((-1, "front"), (1, "back")):
                top = np.array([sx * (sw / 2 - inset), sy * (sd / 2 - inset), z_seat - st])
                bot = top * np.array([1, 1, 0]) + np.array([sx * splay, sy * splay, 0.0])
                if name == "back" and kind != "bar chair":
                    bot = bot + (0, 0.02, 0)
                b.add("legs", _leg(top, bot, leg_style, lr), leg_col)
                feet[(sx, name)] = bot
        b.kp_pair("leg_front", feet[(1, "front")])
        b.kp_pair("leg_back", feet[(1, "back")])
        # Stretchers between the legs (ladder-back and bar chairs always; others sometimes).
        if kind in ("ladder-back chair", "bar chair") or rng.random() < 0.4:
            zs = 0.15 if kind != "bar chair" else 0.25
            for sx in (1, -1):
                fa, fb = feet[(sx, "front")], feet[(sx, "back")]
                ta = np.array([sx * (sw / 2 - inset), -(sd / 2 - inset), z_seat - st])
                tb = np.array([sx * (sw / 2 - inset), sd / 2 - inset, z_seat - st])
                pa = fa + (ta - fa) * zs / (z_seat - st)
                pb = fb + (tb - fb) * zs / (z_seat - st)
                b.add("stretchers", P.cylinder(pa, pb, lr * 0.5, 8), leg_col)
            fa, fb = feet[(1, "front")], feet[(-1, "front")]
            zf = 0.2 if kind != "bar chair" else 0.3
            b.add(
                "stretchers",
                P.cylinder(
                    fa * (1, 1, 0) + (0, 0, zf) - (splay * 0.5, 0, 0),
                    fb * (1, 1, 0) + (0, 0, zf) + (splay * 0.5, 0, 0),
                    lr * 0.6,
                    8,
                ),
                leg_col,
            )
            extras.append("footrest" if kind == "bar chair" else "stretchers")
        b.add(
            "seat", P.rounded_box((sw, sd, st), min(st * 0.4, 0.03), (0, 0, z_seat - st / 2), 2), seat_color
        )
        if kind == "bar chair":
            bh = bh * 0.6
        # Back posts: continue the back legs upward along the tilted back direction.
        post_r = lr * 0.9
        p_base = {sx: np.array([sx * (sw / 2 - inset), sd / 2 - inset, z_seat - st]) for sx in (1, -1)}
        post_len = bh + st
        if kind != "armchair":
            for sx in (1, -1):
                b.add(
                    "back_posts",
                    _leg(
                        p_base[sx],
                        p_base[sx] + back_dir * post_len,
                        "round"
                        if leg_style == "turned"
                        else leg_style
                        if leg_style != "tapered"
                        else "square",
                        post_r,
                    ),
                    leg_col,
                )
        top_c = np.array([0, sd / 2 - inset, z_seat - st]) + back_dir * post_len
        back_style = {
            "ladder-back chair": "ladder",
            "armchair": "upholstered",
            "bar chair": choice(rng, ("panel", "ladder")),
        }.get(
            kind,
            choice(
                rng,
                ("panel", "slats", "spindles", "ladder", "upholstered")
                if not upholstered
                else ("upholstered", "panel"),
            ),
        )
        rot = P.rotation((1, 0, 0), -tilt)
        inner_w = sw - 2 * inset

        def on_back(h: float) -> np.ndarray:
            return np.array([0, sd / 2 - inset, z_seat]) + back_dir * h

        if back_style == "panel":
            ph = bh * uniform(rng, 0.35, 0.7)
            c = on_back(bh - ph / 2 - 0.01)
            b.add(
                "back",
                P.transform(P.rounded_box((inner_w + 0.01, 0.022, ph), 0.008, (0, 0, 0), 2), rot, c),
                seat_color,
            )
        elif back_style in ("slats", "spindles"):
            rail_h = 0.06
            b.add(
                "back",
                P.transform(P.box((inner_w + 0.01, 0.025, rail_h), (0, 0, 0)), rot, on_back(bh - rail_h / 2)),
                wood,
            )
            n = int(rng.integers(3, 6)) if back_style == "slats" else int(rng.integers(5, 9))
            for k in range(n):
                x = -inner_w / 2 + inner_w * (k + 1) / (n + 1)
                if back_style == "slats":
                    m = P.box((inner_w / (n + 1) * 0.5, 0.015, bh - rail_h - 0.06), (x, 0, 0))
                else:
                    m = P.cylinder(
                        (x, 0, -(bh - rail_h - 0.06) / 2), (x, 0, (bh - rail_h - 0.06) / 2), 0.008, 8
                    )
                b.add("back", P.transform(m, rot, on_back(0.06 + (bh - rail_h - 0.06) / 2)), wood)
            extras.append(f"{back_style} back")
        elif back_style == "ladder":
            n = int(rng.integers(3, 5))
            for k in range(n):
                h = bh * (0.35 + 0.63 * k / max(n - 1, 1))
                b.add(
                    "back",
                    P.transform(
                        P.rounded_box((inner_w + 0.01, 0.018, 0.06), 0.008, (0, 0, 0), 1), rot, on_back(h)
                    ),
                    wood,
                )
            extras.append("ladder back")
        else:  # upholstered back cushion
            bw = sw if kind == "armchair" else inner_w + 0.02
            c = on_back(bh / 2 + 0.01) + back_dir * 0.0 + np.array([0, 0.01, 0])
            b.add(
                "back",
                P.transform(
                    P.rounded_box((bw, 0.08 if kind == "armchair" else 0.05, bh), 0.03, (0, 0, 0), 3), rot, c
                ),
                fabric,
            )
            extras.append("upholstered back")
        b.kp_pair(
            "back_top",
            (inner_w / 2 + (post_r if kind != "armchair" else sw / 2 - inner_w / 2), top_c[1], top_c[2]),
        )
        with_arms = kind == "armchair" or (kind == "dining chair" and rng.random() < 0.2)
        if with_arms:
            ah = uniform(rng, 0.18, 0.24)
            for sx in (1, -1):
                x = sx * (sw / 2 - inset * (0.3 if kind == "armchair" else 1.0))
                if kind == "armchair":
                    b.add(
                        "arms",
                        P.rounded_box(
                            (0.1, sd, ah + st), 0.03, (x + sx * 0.03, 0.0, z_seat - st + (ah + st) / 2), 3
                        ),
                        fabric,
                    )
                else:
                    b.add(
                        "arms",
                        P.cylinder(
                            (x, -sd / 2 + inset, z_seat), (x, -sd / 2 + inset, z_seat + ah), lr * 0.8, 8
                        ),
                        wood,
                    )
                    b.add(
                        "arms", P.rounded_box((0.05, sd * 0.95, 0.025), 0.01, (x, 0.0, z_seat + ah), 1), wood
                    )
            extras.append("armrests")
        extras += [f"{wood_name} wood" if leg_style != "metal" else "metal legs", f"{leg_style} legs"]
        if upholstered:
            extras.append(f"{fabric_name} upholstery")
    z_top = z_seat
    b.kp_pair("seat_front", (sw / 2, y0, z_top))
    b.kp_pair("seat_back", (sw / 2, y1, z_top))
    b.keywords += [kind, *extras]
    b.param(
        body_type=kind,
        wood=wood_name,
        fabric=fabric_name,
        seat_width=sw,
        seat_depth=sd,
        seat_height=sh,
        back_height=bh,
        back_tilt_deg=float(np.degrees(tilt)),
    )
    return b.build()


# =========================================================================== dining table
_TABLE_KINDS = (
    "rectangular table",
    "round pedestal table",
    "trestle table",
    "oval table",
    "square table",
    "glass-top table",
)


def diningtable(rng: np.random.Generator) -> Asset:
    """A dining table: top (rectangular, round, oval, square, glass) on legs, a pedestal or trestles."""
    kind = choice(rng, _TABLE_KINDS, p=(3, 1.5, 1, 1.2, 1.2, 1))
    b = Builder("diningtable", TABLE_KEYPOINTS)
    wood_name, wood = pick_color(rng, ("oak", "walnut", "pine", "mahogany", "white", "black", "oak"))
    height = uniform(rng, 0.72, 0.77)
    thick = uniform(rng, 0.025, 0.05)
    extras: list[str] = []
    top_color = wood if kind != "glass-top table" else GLASS
    if kind in ("rectangular table", "trestle table", "glass-top table"):
        L, Wd = uniform(rng, 1.3, 2.2), uniform(rng, 0.78, 1.0)
    elif kind == "square table":
        L = Wd = uniform(rng, 0.8, 1.1)
    elif kind == "oval table":
        L, Wd = uniform(rng, 1.5, 2.1), uniform(rng, 0.9, 1.1)
    else:
        L = Wd = uniform(rng, 0.9, 1.3)
    round_top = kind in ("round pedestal table", "oval table")
    zt = height - thick / 2
    if round_top:
        disc = P.cylinder((0, 0, height - thick), (0, 0, height), 1.0, 40)
        b.add("top", P.transform(disc, scale=(L / 2, Wd / 2, 1.0)), top_color)
        cx, cy = L / 2 * np.cos(np.pi / 4), Wd / 2 * np.sin(np.pi / 4)
    else:
        r = 0.02 if kind != "glass-top table" else 0.01
        b.add("top", P.rounded_box((L, Wd, thick), min(r, thick * 0.4), (0, 0, zt), 2), top_color)
        cx, cy = L / 2, Wd / 2
    b.kp_pair("top_front", (cx, -cy, height))
    b.kp_pair("top_back", (cx, cy, height))
    b.kp("top_center", (0.0, 0.0, height))
    z_under = height - thick

    if kind == "round pedestal table" or (kind == "oval table" and rng.random() < 0.4):
        prof = [
            (0.09, 0.0),
            (0.06, 0.12),
            (0.05, 0.3),
            (0.07, 0.4),
            (0.05, 0.5),
            (0.045, z_under - 0.12),
            (0.1, z_under - 0.02),
            (0.1, z_under),
        ]
        if kind == "oval table":  # two pedestals along the long axis
            xs = (-L * 0.25, L * 0.25)
        else:
            xs = (0.0,)
        for x in xs:
            b.add("pedestal", P.lathe(prof, 16, (x, 0, 0.0)), wood)
            for k in range(4):
                a = np.pi / 4 + k * np.pi / 2
                tip = np.array(
                    [x + 0.36 * np.cos(a), 0.36 * np.sin(a) * (Wd / L if kind == "oval table" else 1.0), 0.0]
                )
                b.add("feet", _foot(np.array([x, 0.0]), tip[:2], 0.035, 0.09), wood)
        feet_xy = {
            (sx, sy): (
                xs[0 if sx < 0 else -1] + sx * 0.36 * np.cos(np.pi / 4),
                sy * 0.36 * np.sin(np.pi / 4) * (Wd / L if kind == "oval table" else 1.0),
            )
            for sx in (1, -1)
            for sy in (1, -1)
        }
        extras.append("pedestal base" if len(xs) == 1 else "twin pedestals")
    elif kind == "trestle table":
        feet_xy = {}
        for sx in (1, -1):
            x = sx * (L / 2 - 0.22)
            b.add("trestles", P.box((0.07, Wd * 0.8, 0.06), (x, 0, 0.03)), wood)
            b.add(
                "trestles",
                P.box((0.07, 0.12, z_under - 0.06 - 0.05), (x, 0, 0.06 + (z_under - 0.11) / 2)),
                wood,
            )
            b.add("trestles", P.box((0.07, Wd * 0.75, 0.05), (x, 0, z_under - 0.025)), wood)
            for sy in (1, -1):
                feet_xy[(sx, sy)] = (x, sy * Wd * 0.4)
        b.add("trestles", P.box((L - 0.44, 0.05, 0.08), (0, 0, 0.35)), wood)
        extras += ["trestle base", "farmhouse style"]
    else:
        leg_style = (
            choice(rng, ("square", "tapered", "turned", "round")) if kind != "glass-top table" else "metal"
        )
        leg_col = wood if leg_style != "metal" else CHROME
        lr = uniform(rng, 0.025, 0.045) if leg_style != "metal" else 0.018
        inset = lr + uniform(rng, 0.03, 0.08)
        feet_xy = {}
        hx = (L / 2 * 0.72) if kind == "oval table" else L / 2 - inset
        hy = (Wd / 2 * 0.72) if kind == "oval table" else Wd / 2 - inset
        splay = 0.04 if leg_style == "metal" else 0.0
        for sx in (1, -1):
            for sy in (1, -1):
                top = np.array([sx * hx, sy * hy, z_under])
                bot = np.array([sx * (hx + splay), sy * (hy + splay), 0.0])
                b.add("legs", _leg(top, bot, leg_style, lr), leg_col)
                feet_xy[(sx, sy)] = (bot[0], bot[1])
        if leg_style != "metal" and kind != "oval table":  # apron boards under the top
            ah = uniform(rng, 0.06, 0.11)
            b.add("apron", P.box((2 * hx, 0.022, ah), (0, -hy, z_under - ah / 2)), wood)
            b.add("apron", P.box((2 * hx, 0.022, ah), (0, hy, z_under - ah / 2)), wood)
            b.add("apron", P.box((0.022, 2 * hy, ah), (-hx, 0, z_under - ah / 2)), wood)
            b.add("apron", P.box((0.022, 2 * hy, ah), (hx, 0, z_under - ah / 2)), wood)
            extras.append("apron")
        if leg_style == "metal":
            for sy in (1, -1):
                b.add("frame", P.box((2 * hx, 0.025, 0.025), (0, sy * hy, z_under - 0.0125)), CHROME)
            extras.append("metal frame")
        extras.append(f"{leg_style} legs")
    b.kp_pair("leg_front", (*feet_xy[(1, -1)], 0.0))
    b.kp_pair("leg_back", (*feet_xy[(1, 1)], 0.0))
    if rng.random() < 0.2 and kind != "glass-top table":  # a runner down the middle
        runner_name, runner = pick_color(rng, ("white", "red", "cream", "green", "blue"))
        b.add("runner", P.box((L * 0.7, Wd * 0.3, 0.004), (0, 0, height + 0.002)), runner)
        extras.append(f"{runner_name} table runner")
    b.keywords += [kind, f"{wood_name} finish" if kind != "glass-top table" else "glass top", *extras]
    b.param(body_type=kind, wood=wood_name, length=L, width=Wd, height=height, top_thickness=thick)
    return b.build()


# =========================================================================== sofa
_SOFA_KINDS = (
    "three-seat sofa",
    "loveseat",
    "sectional sofa",
    "chesterfield sofa",
    "armless sofa",
    "modern sofa",
)


def sofa(rng: np.random.Generator) -> Asset:
    """A sofa: base frame, seat and back cushions, arms (several styles), legs, chaise, pillows."""
    kind = choice(rng, _SOFA_KINDS, p=(3, 2, 1.5, 1, 0.8, 1.5))
    b = Builder("sofa", SOFA_KEYPOINTS)
    fabric_name, fabric = pick_color(
        rng, _FABRICS + ("brown", "black") if kind == "chesterfield sofa" else _FABRICS
    )
    if kind == "chesterfield sofa":
        fabric_name, fabric = pick_color(rng, ("brown", "dark red", "dark green", "black", "tan"))
    leg_name, leg_col = pick_color(rng, ("walnut", "black", "oak", "silver"))
    n = {
        "three-seat sofa": 3,
        "loveseat": 2,
        "sectional sofa": 3,
        "chesterfield sofa": 3,
        "armless sofa": 3,
        "modern sofa": int(rng.integers(2, 5)),
    }[kind]
    seat_w = uniform(rng, 0.55, 0.68)
    arm_w = (
        0.0
        if kind == "armless sofa"
        else (uniform(rng, 0.2, 0.28) if kind == "chesterfield sofa" else uniform(rng, 0.1, 0.24))
    )
    D = uniform(rng, 0.85, 1.0)
    leg_h = uniform(rng, 0.04, 0.15) if kind != "modern sofa" else uniform(rng, 0.12, 0.2)
    seat_h = uniform(rng, 0.42, 0.47)
    back_h = uniform(rng, 0.78, 0.95) if kind != "modern sofa" else uniform(rng, 0.68, 0.78)
    arm_h = back_h if kind == "chesterfield sofa" else uniform(rng, 0.56, 0.68)
    back_t = uniform(rng, 0.14, 0.22)
    cush_t = uniform(rng, 0.1, 0.15)
    W = n * seat_w + 2 * arm_w
    x_in = n * seat_w / 2  # inner face of the arms
    base_top = seat_h - cush_t
    y0, y1 = -D / 2, D / 2
    extras: list[str] = []
    rad = 0.04 if kind != "modern sofa" else 0.015
    b.add("frame", P.rounded_box((W, D, base_top - leg_h), rad, (0, 0, (leg_h + base_top) / 2), 2), fabric)
    b.add(
        "frame",
        P.rounded_box(
            (W - 2 * arm_w + 0.02, back_t, back_h - leg_h), rad, (0, y1 - back_t / 2, (leg_h + back_h) / 2), 2
        ),
        fabric,
    )
    seat_y0, seat_y1 = y0 + 0.02, y1 - back_t
    cushion_col = fabric
    for k in range(n):
        xc = -x_in + seat_w * (k + 0.5)
        b.add(
            "seat_cushions",
            P.rounded_box(
                (seat_w - 0.01, seat_y1 - seat_y0 + 0.02, cush_t),
                cush_t * 0.3,
                (xc, (seat_y0 + seat_y1) / 2, base_top + cush_t / 2),
                3,
            ),
            cushion_col,
        )
    back_cushions = kind not in ("chesterfield sofa",) and (kind != "modern sofa" or rng.random() < 0.5)
    if back_cushions:
        bc_h = back_h - seat_h - uniform(rng, 0.0, 0.06)
        bc_t = uniform(rng, 0.14, 0.2)
        n_back = n if rng.random() < 0.75 else 1
        bw = n * seat_w / n_back
        for k in range(n_back):
            xc = -x_in + bw * (k + 0.5)
            cush = P.rounded_box((bw - 0.01, bc_t, bc_h), 0.05, (0, 0, 0), 3)
            b.add(
                "back_cushions",
                P.transform(
                    cush, P.rotation((1, 0, 0), -0.18), (xc, seat_y1 - bc_t / 2 + 0.03, seat_h + bc_h / 2)
                ),
                cushion_col,
            )
        extras.append("back cushions")
    if kind == "chesterfield sofa":  # tufting buttons on the back
        for k in range(int(n * 4)):
            x = -x_in + (k + 0.5) * (2 * x_in) / (n * 4)
            for zz in (seat_h + 0.12, seat_h + 0.24):
                b.add(
                    "buttons",
                    P.sphere(
                        (x + (0.04 if zz > seat_h + 0.2 else 0.0), y1 - back_t - 0.005, zz), 0.012, 6, 3
                    ),
                    tuple(c * 0.6 for c in fabric),
                )
        extras += ["tufted back", "rolled arms", "leather"]
    if arm_w > 0:
        xc = x_in + arm_w / 2
        if kind == "chesterfield sofa":  # arms as high as the back, topped by an outward roll
            b.add_sym(
                "arms",
                P.rounded_box((arm_w, D, arm_h - leg_h - 0.06), 0.04, (xc, 0, (leg_h + arm_h - 0.06) / 2), 2),
                fabric,
            )
            b.add_sym(
                "arms",
                P.cylinder((xc + 0.03, y0, arm_h - 0.08), (xc + 0.03, y1, arm_h - 0.08), arm_w * 0.6, 16),
                fabric,
            )
        else:
            b.add_sym(
                "arms",
                P.rounded_box(
                    (arm_w, D, arm_h - leg_h), min(0.06, arm_w * 0.4), (xc, 0, (leg_h + arm_h) / 2), 3
                ),
                fabric,
            )
        arm_top = arm_h if kind != "chesterfield sofa" else arm_h - 0.08 + arm_w * 0.6
        b.kp_pair("arm_front", (x_in + arm_w / 2, y0, arm_top))
    else:
        b.kp_pair("arm_front", (x_in, y0, seat_h))
        extras.append("armless")
    if kind == "sectional sofa":  # chaise extension toward the front on the object-left (+x) or right
        side = 1 if rng.random() < 0.5 else -1
        ext = uniform(rng, 0.55, 0.8)
        xc = side * (x_in - seat_w / 2)
        b.add(
            "frame",
            P.rounded_box(
                (seat_w, ext, base_top - leg_h), rad, (xc, y0 - ext / 2 + 0.01, (leg_h + base_top) / 2), 2
            ),
            fabric,
        )
        b.add(
            "seat_cushions",
            P.rounded_box(
                (seat_w - 0.01, ext, cush_t),
                cush_t * 0.3,
                (xc, y0 - ext / 2 + 0.02, base_top + cush_t / 2),
                3,
            ),
            cushion_col,
        )
        b.add(
            "legs", P.cylinder((xc, y0 - ext + 0.06, leg_h), (xc, y0 - ext + 0.06, 0.0), 0.025, 10), leg_col
        )
        extras.append(f"chaise on the {'left' if side > 0 else 'right'}")
    # Legs.
    leg_style = choice(rng, ("round", "tapered", "square", "metal"))
    lr = 0.025 if leg_style != "metal" else 0.012
    xs = [-(W / 2 - 0.06), W / 2 - 0.06] + ([0.0] if W > 2.0 else [])
    for x in xs:
        for y in (y0 + 0.06, y1 - 0.06):
            b.add(
                "legs",
                _leg(np.array([x, y, leg_h]), np.array([x, y, 0.0]), leg_style, lr),
                leg_col if leg_style != "metal" else CHROME,
            )
    if rng.random() < 0.5:  # throw pillows in the corners
        pillow_name, pillow = pick_color(
            rng, ("white", "yellow", "orange", "red", "teal", "cream", "pink", "grey")
        )
        for sx in (1, -1):
            pl = P.rounded_box((0.4, 0.12, 0.38), 0.05, (0, 0, 0), 2)
            pl = P.transform(
                pl,
                P.rotation((0, 1, 0), sx * 0.25) @ P.rotation((1, 0, 0), -0.3),
                (sx * (x_in - 0.25), seat_y1 - 0.18, seat_h + 0.2),
            )
            b.add("pillows", pl, pillow)
        extras.append(f"{pillow_name} throw pillows")
    b.kp_pair("front_bottom", (W / 2, y0, leg_h))
    b.kp_pair("back_bottom", (W / 2, y1, leg_h))
    b.kp_pair("seat_front", (x_in, seat_y0, seat_h))
    b.kp_pair("back_top", (W / 2 - arm_w, y1, back_h))
    b.keywords += [
        kind,
        f"{fabric_name} upholstery",
        f"{n}-seat",
        f"{leg_name} legs" if leg_style != "metal" else "metal legs",
        *extras,
    ]
    b.param(
        body_type=kind,
        fabric=fabric_name,
        seats=n,
        width=W,
        depth=D,
        seat_height=seat_h,
        back_height=back_h,
        arm_width=arm_w,
        leg_height=leg_h,
    )
    return b.build()
