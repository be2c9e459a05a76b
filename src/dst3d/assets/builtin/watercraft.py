"""Boats: lofted hull along y with the bow at -y, deck up (+z), plus type-specific superstructure."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dst3d.assets import primitives as P
from dst3d.assets.builtin._common import COLORS, DARK, GLASS, Asset, Builder, choice, pick_color, uniform

BOAT_KEYPOINTS: tuple[str, ...] = (
    "bow_top",
    "bow_bottom",
    "bow_left",
    "bow_right",
    "stern_left",
    "stern_right",
    "stern_bottom",
    "top",
)

_KINDS = ("sailboat", "motorboat", "fishing boat", "passenger ship", "cargo ship", "rowboat", "canoe")


class _Hull:
    """Hull shape functions over u in [0, 1] (0 = stern at +y, 1 = bow at -y)."""

    def __init__(
        self,
        L: float,
        beam: float,
        depth: float,
        fullness: float,
        bow_rise: float,
        transom: float,
        bow_keel_rise: float = 0.7,
    ) -> None:
        self.L, self.beam, self.depth = L, beam, depth
        self.fullness, self.bow_rise, self.transom, self.bkr = fullness, bow_rise, transom, bow_keel_rise

    def y(self, u: float) -> float:
        return self.L / 2 - u * self.L

    def half_beam(self, u: float) -> float:
        if u <= 0.5:  # stern: from the transom width (0 = pointed stern) to full beam
            k = self.transom + (1 - self.transom) * np.sin(u / 0.5 * np.pi / 2) ** (
                0.6 if self.transom else 1.0
            )
        else:
            v = (u - 0.5) / 0.5
            k = 1 - v**1.8
        return max(float(k) * self.beam / 2, 0.012 * self.beam)

    def deck_z(self, u: float) -> float:
        return self.depth + self.bow_rise * u**2

    def keel_depth(self, u: float) -> float:
        """Depth of the keel below the deck line (the keel rises toward the bow, and aft if pointed)."""
        d = self.depth
        if u > 0.6:
            d *= 1 - self.bkr * ((u - 0.6) / 0.4) ** 1.5
        if self.transom == 0 and u < 0.3:
            d *= 1 - self.bkr * ((0.3 - u) / 0.3) ** 1.5
        return d + (self.deck_z(u) - self.depth)

    def power(self, u: float) -> float:
        """Superellipse exponent: full sections amidships, V-shaped toward the bow."""
        return self.fullness + (1.1 - self.fullness) * max(0.0, (u - 0.55) / 0.45)

    def section(self, u: float, inset: float = 0.0, n: int = 11) -> np.ndarray:
        """Half-superellipse from deck-left (+x) under the keel to deck-right, at station u."""
        hb = self.half_beam(u)
        D = self.keel_depth(u)
        if inset:
            hb, D = max(hb - inset, hb * 0.3), max(D - inset, D * 0.3)
        p = 2.0 / self.power(u)
        th = np.linspace(0.0, np.pi, n)
        c, s = np.cos(th), np.sin(th)
        x = hb * np.sign(c) * np.abs(c) ** p
        z = self.deck_z(u) - D * np.abs(s) ** p
        return np.stack([x, np.full(n, self.y(u)), z], axis=1)

    def mesh(self, open_shell: float = 0.0, stations: int = 16) -> P.Mesh:
        us = np.linspace(0.0, 1.0, stations)
        if open_shell:  # U-shaped section: outer skin, then the inner skin back up (an open boat)
            rings = [np.concatenate([self.section(u), self.section(u, open_shell)[::-1]]) for u in us]
        else:
            rings = [self.section(u) for u in us]
        return P.loft(rings)

    def deck(self, thickness: float, stations: int = 16) -> P.Mesh:
        """A thin deck plate following the sheer line and the hull's plan shape."""
        rings = []
        for u in np.linspace(0.0, 0.995, stations):
            r = P.rounded_rect(2 * self.half_beam(u) * 0.97, thickness, thickness * 0.4, 1)
            rings.append(
                np.stack([r[:, 0], np.full(len(r), self.y(u)), r[:, 1] + self.deck_z(u) + thickness * 0.3], 1)
            )
        return P.loft(rings)


def _windows_band(b: Builder, y0: float, y1: float, x: float, z: float, h: float) -> None:
    """A dark window strip on both sides."""
    b.add_sym(
        "windows",
        P.box_between(
            (x - 0.01 * max(1.0, abs(y1 - y0) / 10), y0, z - h / 2),
            (x + 0.02 * max(1.0, abs(y1 - y0) / 10), y1, z + h / 2),
        ),
        GLASS,
    )


def _transom(b: Builder, h: _Hull, color: tuple[float, float, float]) -> None:
    """A panel in a colour of its own on the flat stern: from behind, a boat shows a wide flat end."""
    sec = h.section(0.0)
    top = h.deck_z(0.0)
    poly = np.stack([sec[:, 0] * 0.88, top - (top - sec[:, 2]) * 0.8 - h.L * 0.004], axis=1)
    b.add("transom", P.extrude(poly, h.L * 0.006, "xz", h.y(0.0) + h.L * 0.002), color)


def _rudder(b: Builder, h: _Hull) -> None:
    """A rudder blade hanging under the stern (a ship's and a fishing boat's side-view cue at the back)."""
    y, L = h.y(0.0), h.L
    zk = h.deck_z(0.0) - h.keel_depth(0.0)
    blade = np.array([[-0.07, 0.03], [-0.02, 0.03], [-0.02, -0.035], [-0.06, -0.035]]) * L + (y, zk)
    b.add("rudder", P.extrude(blade, L * 0.008, "yz"), DARK)


def _outboard(b: Builder, h: _Hull) -> None:
    """An outboard motor hanging on the transom: cowling above the deck line, leg down into the water."""
    y_s, L = h.L / 2, h.L
    cowl = P.rounded_box((L * 0.06, L * 0.07, L * 0.08), L * 0.012, (0, y_s + L * 0.04, h.deck_z(0) + L * 0.02), 2)
    b.add("motor", cowl, DARK)
    b.add("motor", P.box((L * 0.02, L * 0.025, L * 0.14), (0, y_s + L * 0.045, h.deck_z(0) - L * 0.08)), DARK)


def boat(rng: np.random.Generator) -> Asset:
    """A boat: sailboat, motorboat, fishing boat, passenger ship, cargo ship, rowboat or canoe."""
    kind = choice(rng, _KINDS, p=(2.5, 2, 1.5, 1.5, 1, 1, 0.8))
    b = Builder("boat", BOAT_KEYPOINTS)
    hull_palette = {
        "sailboat": ("white", "white", "navy", "dark green", "red"),
        "motorboat": ("white", "white", "red", "blue", "black"),
        "fishing boat": ("red", "blue", "green", "white", "orange", "teal"),
        "passenger ship": ("white", "navy", "dark blue", "red"),
        "cargo ship": ("red", "dark blue", "black", "dark green", "grey"),
        "rowboat": ("white", "blue", "green", "red", "brown", "teal"),
        "canoe": ("red", "orange", "green", "yellow", "brown", "blue"),
    }[kind]
    hull_name, hull_color = pick_color(rng, hull_palette)
    deck_name, deck_color = pick_color(rng, ("oak", "pine", "cream", "white", "tan"))
    extras: list[str] = []
    top_z, top_y = 0.0, 0.0
    if kind == "sailboat":
        L = uniform(rng, 8.0, 14.0)
        h = _Hull(L, L * uniform(rng, 0.28, 0.34), L * uniform(rng, 0.09, 0.11), 2.2, L * 0.035, 0.7)
    elif kind == "motorboat":
        L = uniform(rng, 5.0, 9.0)
        h = _Hull(L, L * uniform(rng, 0.34, 0.4), L * uniform(rng, 0.12, 0.15), 1.3, L * 0.06, 0.9, 0.8)
    elif kind == "fishing boat":
        L = uniform(rng, 8.0, 15.0)
        h = _Hull(L, L * uniform(rng, 0.3, 0.36), L * uniform(rng, 0.14, 0.17), 2.0, L * 0.06, 0.75)
    elif kind == "passenger ship":
        L = uniform(rng, 40.0, 120.0)
        h = _Hull(L, L * uniform(rng, 0.15, 0.18), L * uniform(rng, 0.08, 0.1), 4.0, L * 0.025, 0.85)
    elif kind == "cargo ship":
        L = uniform(rng, 60.0, 150.0)
        h = _Hull(L, L * uniform(rng, 0.14, 0.16), L * uniform(rng, 0.08, 0.1), 5.0, L * 0.022, 0.9)
    elif kind == "rowboat":
        L = uniform(rng, 3.0, 4.5)
        h = _Hull(L, L * uniform(rng, 0.33, 0.4), L * uniform(rng, 0.13, 0.16), 1.8, L * 0.07, 0.45, 0.6)
    else:
        L = uniform(rng, 4.0, 5.5)
        h = _Hull(
            L, uniform(rng, 0.8, 0.95), uniform(rng, 0.32, 0.38), 1.8, uniform(rng, 0.08, 0.15), 0.0, 0.5
        )
    open_boat = kind in ("rowboat", "canoe")
    b.add("hull", h.mesh(open_shell=0.04 if open_boat else 0.0), hull_color)
    if not open_boat:
        b.add("deck", h.deck(max(0.02, L * 0.004)), deck_color)
    if kind in ("sailboat", "motorboat", "fishing boat", "rowboat"):  # ships keep one hull colour all round
        _transom(b, h, COLORS["navy"] if hull_name in ("white", "cream") else COLORS["white"])
    y_at: Callable[[float], float] = h.y

    if kind == "sailboat":
        u_mast = uniform(rng, 0.55, 0.62)
        y_m, z_d = y_at(u_mast), h.deck_z(u_mast)
        mast_h = L * uniform(rng, 1.1, 1.4)
        b.add("mast", P.cylinder((0, y_m, z_d), (0, y_m, z_d + mast_h), L * 0.008, 10), COLORS["silver"])
        boom_z = z_d + L * 0.13
        boom_end = y_at(0.12)
        b.add("mast", P.cylinder((0, y_m, boom_z), (0, boom_end, boom_z), L * 0.006, 8), COLORS["silver"])
        # Cabin trunk with portholes band, then keel fin and rudder below.
        cab = P.rounded_box(
            (h.beam * 0.55, L * 0.3, L * 0.06), L * 0.012, (0, y_at(0.4), h.deck_z(0.4) + L * 0.025), 2
        )
        b.add("cabin", cab, COLORS["white"])
        _windows_band(b, y_at(0.5), y_at(0.3), h.beam * 0.275, h.deck_z(0.4) + L * 0.035, L * 0.015)
        keel = np.array(
            [[y_at(0.55), 0.02 * L], [y_at(0.38), 0.02 * L], [y_at(0.42), -0.12 * L], [y_at(0.5), -0.12 * L]]
        )
        b.add("keel", P.extrude(keel, L * 0.012, "yz"), DARK)
        b.add(
            "keel",
            P.extrude(
                np.array(
                    [
                        [y_at(0.04), 0.04 * L],
                        [y_at(-0.0), 0.04 * L],
                        [y_at(0.0), -0.06 * L],
                        [y_at(0.04), -0.06 * L],
                    ]
                ),
                L * 0.01,
                "yz",
            ),
            DARK,
        )
        sails = rng.random() < 0.8
        if sails:
            sail_name, sail = pick_color(rng, ("white", "white", "cream", "red", "light blue"))
            main = np.array(
                [
                    [y_m + 0.05 * L * 0.1, boom_z + 0.05],
                    [boom_end - 0.1, boom_z + 0.05],
                    [y_m + 0.1, z_d + mast_h * 0.97],
                ]
            )
            b.add("sails", P.extrude(main, L * 0.006, "yz"), sail)
            jib = np.array(
                [
                    [y_m - 0.15, z_d + mast_h * 0.85],
                    [y_m - 0.1, z_d + L * 0.08],
                    [y_at(0.97), h.deck_z(0.97) + 0.1],
                ]
            )
            b.add("sails", P.extrude(jib, L * 0.006, "yz", offset=0.0), sail)
            extras += [f"{sail_name} sails", "sails up"]
        else:
            extras.append("sails furled")
        top_z, top_y = z_d + mast_h, y_m
        extras.append("mast")
    elif kind == "motorboat":
        u_ws = uniform(rng, 0.55, 0.62)
        z = h.deck_z(u_ws)
        ws = P.box((h.half_beam(u_ws) * 1.7, L * 0.012, L * 0.07), (0, 0, 0))
        b.add(
            "windscreen", P.transform(ws, P.rotation((1, 0, 0), -0.7), (0, y_at(u_ws), z + L * 0.03)), GLASS
        )
        b.add(
            "console",
            P.rounded_box(
                (h.beam * 0.3, L * 0.08, L * 0.06),
                L * 0.01,
                (h.beam * 0.15, y_at(u_ws) + L * 0.06, z + L * 0.02),
                2,
            ),
            COLORS["white"],
        )
        for k in range(2):
            yy = y_at(0.25 + 0.12 * k)
            b.add(
                "seats",
                P.rounded_box(
                    (h.beam * 0.7, L * 0.06, L * 0.04), L * 0.01, (0, yy, h.deck_z(0.3) + L * 0.02), 2
                ),
                COLORS["cream"],
            )
        _outboard(b, h)
        top_z, top_y = z + L * 0.06, y_at(u_ws)
        extras += ["speedboat", "outboard motor", "windscreen"]
    elif kind == "fishing boat":
        u_wh = uniform(rng, 0.26, 0.42)  # wheelhouse aft of amidships
        z = h.deck_z(u_wh)
        whl, whw, whh = L * uniform(rng, 0.18, 0.25), h.beam * 0.7, L * uniform(rng, 0.13, 0.17)
        b.add(
            "wheelhouse",
            P.rounded_box((whw, whl, whh), L * 0.01, (0, y_at(u_wh), z + whh / 2), 2),
            COLORS["white"],
        )
        b.add(
            "wheelhouse",
            P.box((whw * 1.1, whl * 1.15, L * 0.012), (0, y_at(u_wh), z + whh + L * 0.006)),
            COLORS["white"],
        )
        _windows_band(b, y_at(u_wh) - whl * 0.4, y_at(u_wh) + whl * 0.4, whw / 2, z + whh * 0.72, whh * 0.3)
        b.add(
            "windows",
            P.box((whw * 0.8, L * 0.01, whh * 0.3), (0, y_at(u_wh) - whl / 2 - 0.01, z + whh * 0.72)),
            GLASS,
        )
        mast_h = L * uniform(rng, 0.45, 0.6)
        y_m = y_at(min(u_wh + 0.2, 0.8))
        zm = h.deck_z(min(u_wh + 0.2, 0.8))
        b.add("mast", P.cylinder((0, y_m, zm), (0, y_m, zm + mast_h), L * 0.008, 8), COLORS["white"])
        b.add(
            "mast",
            P.cylinder((0, y_m, zm + mast_h * 0.7), (0, y_m + L * 0.35, zm + L * 0.05), L * 0.005, 6),
            COLORS["white"],
        )
        top_z, top_y = zm + mast_h, y_m
        b.add(
            "gear",
            P.cylinder(
                (-h.beam * 0.2, y_at(0.12), h.deck_z(0.12) + L * 0.03),
                (h.beam * 0.2, y_at(0.12), h.deck_z(0.12) + L * 0.03),
                L * 0.03,
                12,
            ),
            COLORS["orange"],
        )
        _rudder(b, h)
        if rng.random() < 0.6:  # a trawler's A-frame gantry over the stern
            ya, za, ga = y_at(0.03), h.deck_z(0.03), L * uniform(rng, 0.13, 0.18)
            xa = h.half_beam(0.03) * 0.8
            b.add_sym("gantry", P.cylinder((xa, ya, za), (xa * 0.7, ya, za + ga), L * 0.008, 8), COLORS["orange"])
            bar = P.cylinder((-xa * 0.7, ya, za + ga), (xa * 0.7, ya, za + ga), L * 0.008, 8)
            b.add("gantry", bar, COLORS["orange"])
            extras.append("stern gantry")
        extras += ["wheelhouse", "mast", "trawler"]
    elif kind in ("passenger ship", "cargo ship"):
        n_levels = int(rng.integers(2, 5)) if kind == "passenger ship" else int(rng.integers(3, 6))
        lvl_h = L * 0.022
        zd = h.deck_z(0.5)
        if kind == "passenger ship":
            u0, u1 = uniform(rng, 0.12, 0.2), uniform(rng, 0.68, 0.75)
        else:
            u0, u1 = 0.04, uniform(rng, 0.12, 0.16)
        for k in range(n_levels):
            shrink = 0.06 * k
            ua, ub = u0 + shrink * 0.5, u1 - shrink * (0.6 if kind == "passenger ship" else 0.2)
            ya, yb = y_at(ub), y_at(ua)
            w = min(h.half_beam(ua), h.half_beam(ub)) * 2 * (0.92 - 0.04 * k)
            zc = zd + lvl_h * (k + 0.5)
            b.add(
                "superstructure", P.box((w, yb - ya, lvl_h * 0.98), (0, (ya + yb) / 2, zc)), COLORS["white"]
            )
            _windows_band(b, ya + L * 0.01, yb - L * 0.01, w / 2, zc + lvl_h * 0.1, lvl_h * 0.35)
            b.add("windows", P.box((w * 0.85, L * 0.004, lvl_h * 0.35), (0, ya - L * 0.0015, zc + lvl_h * 0.1)), GLASS)
        top_lvl = zd + lvl_h * n_levels
        _rudder(b, h)
        funnel_name, funnel = pick_color(rng, ("red", "yellow", "blue", "black", "orange"))
        yf = y_at(u0 + (0.15 if kind == "passenger ship" else 0.05))
        fr = L * 0.02
        b.add(
            "funnel",
            P.rounded_box((fr * 1.6, fr * 3, L * 0.06), fr * 0.5, (0, yf, top_lvl + L * 0.03), 2),
            funnel,
        )
        b.add("funnel_top", P.box((fr * 1.65, fr * 3.05, L * 0.012), (0, yf, top_lvl + L * 0.055)), DARK)
        top_z, top_y = top_lvl + L * 0.06, yf
        if kind == "passenger ship":
            for k in range(int(L // 15)):
                yy = y_at(u0 + 0.05) - k * 10 * L / 100
                if yy < y_at(u1 - 0.05):
                    break
                b.add_sym(
                    "lifeboats",
                    P.rounded_box(
                        (L * 0.012, L * 0.06, L * 0.012),
                        L * 0.005,
                        (h.half_beam(0.45) * 0.95, yy, zd + lvl_h * 1.2),
                        2,
                    ),
                    COLORS["orange"],
                )
            extras += ["ferry", f"{funnel_name} funnel", f"{n_levels} decks"]
        else:
            # Container rows on deck between the bridge and the bow.
            palette = ("red", "blue", "green", "orange", "grey", "white", "yellow", "teal", "brown")
            cl, cw, ch = L * 0.045, L * 0.018, L * 0.02
            u = u1 + 0.03
            while u < 0.82:
                n_w = max(2, int(2 * h.half_beam(u) * 0.9 // cw))
                stack = int(rng.integers(1, 4))
                for j in range(n_w):
                    x = (j - (n_w - 1) / 2) * cw
                    for k in range(stack):
                        cname = choice(rng, palette)
                        b.add(
                            f"containers_{cname}",
                            P.box(
                                (cw * 0.95, cl * 0.95, ch * 0.95),
                                (x, y_at(u) - cl / 2, h.deck_z(u) + ch * (k + 0.5)),
                            ),
                            COLORS[cname],
                        )
                u += cl / L
            extras += ["container ship", f"{funnel_name} funnel", "bridge at the stern"]
    elif kind == "rowboat":
        zs = h.deck_z(0.5) - h.keel_depth(0.5) * 0.45
        for u in (0.3, 0.55):
            w = 2 * h.half_beam(u) * 0.85
            b.add("thwarts", P.box((w, L * 0.06, 0.03), (0, y_at(u), h.deck_z(u) - 0.08)), deck_color)
        b.add("floor", P.box((h.beam * 0.4, L * 0.6, 0.02), (0, y_at(0.45), zs)), deck_color)
        if rng.random() < 0.6:
            for sx in (1, -1):
                oar = P.cylinder(
                    (sx * h.beam * 0.1, y_at(0.3), h.deck_z(0.42) + 0.05),
                    (sx * h.beam * 1.2, y_at(0.52), h.deck_z(0.42) - 0.1),
                    0.02,
                    6,
                )
                b.add("oars", oar, COLORS["pine"])
                b.add(
                    "oars",
                    P.box((0.05, 0.16, 0.5), (sx * h.beam * 1.15, y_at(0.51), h.deck_z(0.42) - 0.1)),
                    COLORS["pine"],
                )
            extras.append("oars")
        if rng.random() < 0.4:
            _outboard(b, h)
            extras.append("outboard motor")
        top_z = h.deck_z(1.0)
        extras += ["wooden seats", "open boat"]
    else:  # canoe: pointed at both ends like the real ones; the seats tell the ends apart
        for u in (0.3, 0.5, 0.7):
            b.add(
                "thwarts",
                P.box((2 * h.half_beam(u) * 0.9, 0.05, 0.025), (0, y_at(u), h.deck_z(u) - 0.06)),
                deck_color,
            )
        for u in (0.1, 0.8):  # the stern seat sits near the end, the bow seat leaves the paddler leg room
            b.add(
                "seats",
                P.box((2 * h.half_beam(u) * 0.92, 0.22, 0.03), (0, y_at(u), h.deck_z(u) - 0.08)),
                deck_color,
            )
        if rng.random() < 0.5:
            paddle = P.cylinder(
                (0.2, y_at(0.4), h.deck_z(0.4) + 0.02), (-0.3, y_at(0.7), h.deck_z(0.7) + 0.05), 0.015, 6
            )
            b.add("paddle", paddle, COLORS["pine"])
            b.add(
                "paddle",
                P.box((0.14, 0.35, 0.015), (-0.3, y_at(0.75), h.deck_z(0.75) + 0.05)),
                COLORS["pine"],
            )
            extras.append("paddle")
        top_z = h.deck_z(1.0)
        extras += ["open boat", "pointed ends"]

    ub = 0.8
    b.kp("bow_top", (0.0, y_at(1.0), h.deck_z(1.0)))
    b.kp("bow_bottom", (0.0, y_at(0.85), h.deck_z(0.85) - h.keel_depth(0.85)))
    b.kp_pair("bow", (h.half_beam(ub), y_at(ub), h.deck_z(ub)))
    b.kp_pair("stern", (h.half_beam(0.0), y_at(0.0), h.deck_z(0.0)))
    b.kp("stern_bottom", (0.0, y_at(0.0), h.deck_z(0.0) - h.keel_depth(0.0)))
    b.kp("top", (0.0, top_y, top_z) if kind not in ("rowboat", "canoe") else (0.0, y_at(1.0), h.deck_z(1.0)))
    b.ground()  # rest on z = 0 (gear, keel or belly lowest)
    b.keywords += [kind, f"{hull_name} hull", *extras]
    b.param(body_type=kind, color=hull_name, deck=deck_name, length=L, beam=h.beam, depth=h.depth)
    return b.build()
