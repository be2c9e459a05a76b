"""The ``composite`` backend: the render pasted by its alpha onto a background photo (the paper's "Rendered + BG").

No model, no GPU, milliseconds per image: the offline default. Backgrounds come from a folder in params
or, by default, from files that installed packages already ship:

* the 8 world HDR panoramas inside the ``bpy`` wheel (``bpy/<version>/datafiles/studiolights/world/*.exr``,
  CC0, Poly Haven), tone-mapped to sRGB; and
* the photographs ``matplotlib`` (``mpl-data/sample_data/grace_hopper.jpg``) and ``scikit-learn``
  (``datasets/images/china.jpg``, ``flower.jpg``) ship.

Backgrounds are split: those named in ``test_backgrounds`` serve only test-split images, so evaluation
sees backgrounds that training never did. Each image draws a background, a crop, a flip and colour /
lighting jitter from its own seed, so any image can be rebuilt alone. Rows of the OOD nuisance splits
(``nuisance`` set) get their nuisance on top (:mod:`dst3d.synthesize.nuisance`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dst3d import layout
from dst3d.errors import UserError
from dst3d.schema import ImageRecord
from dst3d.synthesize import nuisance
from dst3d.synthesize.params import CompositeConfig, SynthesizeConfig

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".exr", ".hdr")
PACKAGE_PHOTOS = (
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ("sklearn", "datasets/images/china.jpg"),
    ("sklearn", "datasets/images/flower.jpg"),
)


class BackgroundError(UserError, ValueError):
    """The background set is missing, empty or cannot be split as asked."""


def _package_dir(name: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_backgrounds() -> list[Path]:
    """The bpy world panoramas and the package photographs that are installed here."""
    found: list[Path] = []
    bpy = _package_dir("bpy")
    if bpy is not None:
        found += sorted(bpy.glob("*/datafiles/studiolights/world/*.exr"))
    for package, rel in PACKAGE_PHOTOS:
        root = _package_dir(package)
        if root is not None and (root / rel).is_file():
            found.append(root / rel)
    return found


def split_backgrounds(cfg: CompositeConfig) -> dict[str, list[Path]]:
    """``{'train': [...], 'test': [...]}``; a folder with train/ and test/ sub-folders is split by them."""
    if cfg.backgrounds:
        root = Path(cfg.backgrounds).expanduser()
        if not root.is_dir():
            raise BackgroundError(f"synthesize.composite.backgrounds: folder {str(root)!r} not found")
        if (root / "train").is_dir() and (root / "test").is_dir():
            split = {
                s: sorted(p for p in (root / s).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
                for s in ("train", "test")
            }
            for s, paths in split.items():
                if not paths:
                    raise BackgroundError(f"synthesize.composite.backgrounds: no images in {root / s}")
            return split
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        where = str(root)
    else:
        paths = bundled_backgrounds()
        where = "the bundled set (bpy world maps + package photos)"
    if not paths:
        raise BackgroundError(f"synthesize.composite.backgrounds: no background images in {where}")
    names = {p.stem for p in paths}
    unknown = sorted(set(cfg.test_backgrounds) - names)
    if unknown:
        raise BackgroundError(
            f"synthesize.composite.test_backgrounds: unknown name(s) {unknown}; backgrounds in {where}: {sorted(names)}"
        )
    split = {
        "train": [p for p in paths if p.stem not in cfg.test_backgrounds],
        "test": [p for p in paths if p.stem in cfg.test_backgrounds],
    }
    if not split["train"] or not split["test"]:
        raise BackgroundError(
            f"synthesize.composite.test_backgrounds: both splits need a background; test={list(cfg.test_backgrounds)}, "
            f"available: {sorted(names)}"
        )
    return split


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def tone_map(hdr: np.ndarray) -> np.ndarray:
    """Linear HDR RGB -> sRGB uint8: exposure set by the log-average luminance, extended Reinhard curve."""
    hdr = np.nan_to_num(np.maximum(hdr.astype(np.float32), 0.0))
    lum = 0.2126 * hdr[..., 0] + 0.7152 * hdr[..., 1] + 0.0722 * hdr[..., 2]
    key = float(np.exp(np.mean(np.log(lum + 1e-4))))
    scaled_lum = lum * (0.18 / key)
    white = max(float(np.percentile(scaled_lum, 99.5)), 1e-3)  # the sun saturates; the rest keeps detail
    mapped = scaled_lum * (1 + scaled_lum / white**2) / (1 + scaled_lum)
    ratio = np.where(lum > 0, mapped / np.maximum(lum, 1e-8), 0.0)
    return (linear_to_srgb(hdr * ratio[..., None]) * 255 + 0.5).astype(np.uint8)


@functools.lru_cache(maxsize=64)
def load_background(path: str) -> np.ndarray:
    """RGB uint8 of one background file (HDR/EXR tone-mapped); cached: every image of a run reuses them."""
    suffix = Path(path).suffix.lower()
    if suffix == ".exr":
        # OpenCV reads EXR only when this is set before its first EXR read (checked lazily, not at import).
        os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED if suffix in (".exr", ".hdr") else cv2.IMREAD_COLOR)
    if img is None:
        raise BackgroundError(f"cannot read background {path!r}")
    if suffix in (".exr", ".hdr"):
        return tone_map(cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB))
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def crop_background(
    bg: np.ndarray, size: tuple[int, int], rng: np.random.Generator, cfg: CompositeConfig
) -> np.ndarray:
    """A random crop with the output's aspect ratio (side drawn from ``crop_scale``), flipped half the time."""
    w, h = size
    bh, bw = bg.shape[:2]
    side = rng.uniform(*cfg.crop_scale) * min(bw, bh)
    cw, ch = (side, side * h / w) if w >= h else (side * w / h, side)
    cw, ch = max(1, min(bw, round(cw))), max(1, min(bh, round(ch)))
    x0 = int(rng.integers(0, bw - cw + 1))
    y0 = int(rng.integers(0, bh - ch + 1))
    crop = bg[y0 : y0 + ch, x0 : x0 + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    interp = cv2.INTER_AREA if cw > w else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=interp)


def _jitter_object(lin: np.ndarray, bg_light: np.ndarray, rng: np.random.Generator, cfg: CompositeConfig) -> np.ndarray:
    """Colour/lighting jitter on the object's linear RGB: hue, saturation, contrast, gain, tint to the scene light."""
    srgb = linear_to_srgb(lin).astype(np.float32)
    hsv = cv2.cvtColor(srgb, cv2.COLOR_RGB2HSV)  # float: H in [0, 360)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-cfg.hue_deg, cfg.hue_deg)) % 360.0
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(*cfg.saturation), 0.0, 1.0)
    lin = srgb_to_linear(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float64))
    mean = lin.mean()
    lin = (lin - mean) * rng.uniform(*cfg.contrast) + mean
    lin = np.maximum(lin, 0.0) * rng.uniform(*cfg.brightness)
    # A white object under a warm sunset looks warm: move its colour towards the background's mean light.
    cast = bg_light / max(float(bg_light.mean()), 1e-6)
    tint = rng.uniform(*cfg.tint)
    return lin * ((1.0 - tint) + tint * cast)


def composite_image(
    rgb: np.ndarray, alpha: np.ndarray, background: np.ndarray, rng: np.random.Generator, cfg: CompositeConfig
) -> np.ndarray:
    """Paste ``rgb`` (H x W x 3 uint8) by ``alpha`` (H x W float in [0, 1]) onto a jittered crop of ``background``."""
    h, w = rgb.shape[:2]
    bg = srgb_to_linear(crop_background(background, (w, h), rng, cfg).astype(np.float64) / 255.0)
    bg = bg * 2.0 ** rng.uniform(*cfg.exposure_ev)
    fg = _jitter_object(srgb_to_linear(rgb.astype(np.float64) / 255.0), bg.reshape(-1, 3).mean(0), rng, cfg)
    a = alpha.astype(np.float64)
    if cfg.blur_edge_px > 0:
        a = cv2.GaussianBlur(a, (0, 0), cfg.blur_edge_px)
    out = fg * a[..., None] + bg * (1.0 - a[..., None])  # alpha blending is linear in light, not in sRGB
    return (linear_to_srgb(out) * 255 + 0.5).astype(np.uint8)


def read_render(root: Path, record: ImageRecord) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8, alpha float) of a record's render: the PNG's alpha when it has one, else its mask."""
    path = root / record.rgb
    img = layout.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f"{path}: render image missing or unreadable (image {record.image_id})")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB), img[..., 3].astype(np.float32) / 255.0
    mask = layout.imread(root / record.mask, cv2.IMREAD_GRAYSCALE) if record.mask else None
    if mask is None:
        raise FileNotFoundError(f"{root / record.mask}: mask missing (render {path} has no alpha)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB), (mask > 127).astype(np.float32)


@dataclass(frozen=True)
class CompositeBackend:
    """Paste renders on split backgrounds; deterministic in each record's seed."""

    cfg: CompositeConfig
    backgrounds: dict[str, list[Path]]
    name: str = "composite"
    batch_size: int = 16

    @classmethod
    def open(cls, cfg: CompositeConfig) -> CompositeBackend:
        return cls(cfg=cfg, backgrounds=split_backgrounds(cfg))

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "backgrounds": {s: [str(p) for p in paths] for s, paths in self.backgrounds.items()},
        }

    def make(self, records: list[ImageRecord], root: Path) -> list[tuple[np.ndarray, dict[str, Any]]]:
        out = []
        for rec in records:
            rng = np.random.default_rng(rec.seed)
            rgb, alpha = read_render(root, rec)
            if rec.nuisance == "context":  # a background no other image has (see dst3d.synthesize.nuisance)
                bg, name = nuisance.procedural_background(rec.height, rec.width, rng), "procedural"
            else:
                pool = self.backgrounds["train" if rec.split == "train" else "test"]
                path = pool[int(rng.integers(len(pool)))]
                bg, name = load_background(str(path)), path.stem
            img = composite_image(rgb, alpha, bg, rng, self.cfg)
            info: dict[str, Any] = {"background": name}
            if rec.nuisance:
                img = nuisance.apply(rec.nuisance, img, alpha, rec.seed)
                info["nuisance"] = f"{rec.nuisance}/{nuisance.variant(rec.nuisance, rec.seed)}"
            out.append((img, info))
        return out


# --------------------------------------------------------------------------- the backend module's interface
def open(params: CompositeConfig, cfg: SynthesizeConfig) -> CompositeBackend:
    """The backend for ``synthesize.composite`` (the background set checked and split now)."""
    return CompositeBackend.open(params)


def pixel_settings(params: CompositeConfig) -> dict[str, Any]:
    """Every composite setting changes pixels."""
    return dataclasses.asdict(params)


def describe(params: CompositeConfig) -> dict[str, Any]:
    """Stage metadata: the background files of each split (checks the set; loads no image)."""
    return {"backgrounds": {s: [p.name for p in v] for s, v in split_backgrounds(params).items()}}
