"""OOD nuisance splits (the OOD-CV setting): weather, occlusion, context and texture.

The synthesize stage can emit, next to its ``train``/``test`` images, small evaluation splits
``ood_<kind>``: seeded draws of ``nuisances.source_split`` renders (unseen instances) under one nuisance
each. How a nuisance is made depends on the backend:

* ``composite``: image operations, with albumentations 2 (seeded per image):
  ``weather`` = ``RandomRain`` | ``RandomSnow`` | ``RandomFog`` over the composite; ``occlusion`` =
  ``ConstrainedCoarseDropout`` holes centred on object pixels (the render's mask), filled with one random
  colour each — the row's ``visib_fract``, ``bbox`` and keypoint visibility are recomputed for the holes;
  ``context`` = a procedural background no stage uses (a smooth random colour field, stripes and noise) under
  a light shift (``RandomGamma``, ``RGBShift``, ``Illumination``); ``texture`` = object pixels only (alpha
  blended) recoloured (``HueSaturationValue``, a 60-120 degree hue shift) or turned to embossed bronze
  (``ToSepia`` + ``Emboss``).
* ``controlnet``: a prompt modifier (e.g. ``in heavy rain``) appended to the row's prompt, whichever backend
  wrote the prompts; the annotation is the render's (the model decides what hides what).

The variant (rain, snow, fog, ...) is drawn from the row's seed, so the prompt modifier always names what the
composite backend draws.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from dst3d.schema import ImageRecord
from dst3d.seeding import derive_seed
from dst3d.synthesize.params import NUISANCE_KINDS

NUISANCE_VERSION = 1  # bump when the same seed would give different nuisance pixels or annotations
KINDS: tuple[str, ...] = NUISANCE_KINDS
"""The nuisance kinds, as in OOD-CV (its pose and shape nuisances are what the test split varies)."""

VARIANTS: dict[str, dict[str, str]] = {
    "weather": {"rain": "in heavy rain", "snow": "in a snowstorm, dusted with snow", "fog": "in thick fog"},
    "occlusion": {"blocks": "partially hidden behind boxes and crates"},
    "context": {"mural": "in front of a garish abstract striped mural, strange coloured light"},
    "texture": {"recolour": "painted in an unusual bright colour", "bronze": "made of embossed, aged bronze"},
}
"""Per kind: variant -> the prompt modifier that describes it (controlnet: the whole nuisance)."""


def split_name(kind: str) -> str:
    """The split of a nuisance's rows: ``ood_<kind>``."""
    return f"ood_{kind}"


def variant(kind: str, seed: int) -> str:
    """The variant of ``kind`` an image of ``seed`` shows (seeded, so prompt and pixels agree)."""
    if kind not in VARIANTS:
        raise ValueError(f"unknown nuisance kind {kind!r}; known: {', '.join(KINDS)}")
    names = list(VARIANTS[kind])
    return names[derive_seed(seed, "nuisance-variant") % len(names)]


def modifier(kind: str, seed: int) -> str:
    """The prompt modifier of the image's variant."""
    return VARIANTS[kind][variant(kind, seed)]


def op_seed(seed: int) -> int:
    """The seed of the nuisance's image operation (independent of the composite's own draws)."""
    return derive_seed(seed, "nuisance-op") % 2**32


# --------------------------------------------------------------------------- image operations (albumentations)
def _compose(transforms: list[Any], seed: int) -> Any:
    import albumentations as A

    return A.Compose(transforms, seed=seed)


def weather(image: np.ndarray, name: str, seed: int) -> np.ndarray:
    """Rain, snow or fog over the whole image (uint8 RGB)."""
    import albumentations as A

    side = max(image.shape[:2])
    op = {
        "rain": A.RandomRain(rain_type="heavy", drop_length=max(4, side // 12), blur_value=3,
                             brightness_coefficient=0.75, p=1.0),
        "snow": A.RandomSnow(snow_point_range=(0.2, 0.4), brightness_coeff=2.0, method="texture", p=1.0),
        "fog": A.RandomFog(fog_coef_range=(0.5, 0.8), alpha_coef=0.15, p=1.0),
    }[name]
    return _compose([op], seed)(image=image)["image"]


def occluder(image: np.ndarray, mask: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(image with 1-3 uniformly coloured boxes centred on object pixels, visible object mask (bool)).

    The holes depend on the mask and the seed only, so the annotation can be computed from the mask alone
    (:func:`occlude_record` passes a blank image) and matches the pixels the backend writes.
    """
    import albumentations as A

    op = A.ConstrainedCoarseDropout(num_holes_range=(1, 3), hole_height_range=(0.35, 0.6),
                                    hole_width_range=(0.35, 0.6), fill="random_uniform", fill_mask=0,
                                    mask_indices=[1], p=1.0)
    out = _compose([op], seed)(image=image, mask=mask.astype(np.uint8))
    return out["image"], out["mask"] > 0


def procedural_background(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A background no stage uses (not a photograph): a smooth random colour field, stripes and noise.

    Hand-written: albumentations transforms images, it does not make backgrounds (5 lines of numpy)."""
    import cv2

    grid = rng.uniform(0, 255, size=(int(rng.integers(2, 6)), int(rng.integers(2, 6)), 3)).astype(np.float32)
    bg = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phi, period = rng.uniform(0, np.pi), rng.uniform(0.05, 0.3) * max(h, w)
    stripes = np.sin((xx * np.cos(phi) + yy * np.sin(phi)) * 2 * np.pi / period)[..., None]
    bg = bg + rng.uniform(10, 50) * stripes + rng.normal(0, rng.uniform(2, 12), size=bg.shape)
    return np.clip(bg, 0, 255).round().astype(np.uint8)


def light_shift(image: np.ndarray, seed: int) -> np.ndarray:
    """A light no training image has: gamma, a per-channel colour cast and a shading ramp across the image."""
    import albumentations as A

    return _compose([
        A.RandomGamma(gamma_limit=(60, 160), p=1.0),
        A.RGBShift(r_shift_limit=(-40, 40), g_shift_limit=(-40, 40), b_shift_limit=(-40, 40), p=1.0),
        A.Illumination(mode="linear", intensity_range=(0.1, 0.2), effect_type="both", p=1.0),
    ], seed)(image=image)["image"]


def texture(image: np.ndarray, alpha: np.ndarray, name: str, seed: int) -> np.ndarray:
    """Object pixels (blended by ``alpha``, H x W in [0, 1]) recoloured or made bronze; the background unchanged."""
    import albumentations as A

    op = {
        "recolour": A.HueSaturationValue(hue_shift_limit=(60, 120), sat_shift_limit=(20, 60),
                                         val_shift_limit=(-10, 10), p=1.0),
        "bronze": A.Compose([A.ToSepia(p=1.0), A.Emboss(alpha=(0.4, 0.7), strength=(0.6, 1.0), p=1.0)]),
    }[name]
    changed = _compose([op], seed)(image=image)["image"].astype(np.float32)
    changed = np.clip(changed, 0.0, 255.0)
    a = alpha.astype(np.float32)[..., None]
    return (changed * a + image.astype(np.float32) * (1.0 - a)).round().astype(np.uint8)


def apply(kind: str, image: np.ndarray, alpha: np.ndarray, seed: int) -> np.ndarray:
    """The nuisance ``kind`` on a composite ``image`` of a render with ``alpha`` (context: see the backend)."""
    name, s = variant(kind, seed), op_seed(seed)
    if kind == "weather":
        return weather(image, name, s)
    if kind == "occlusion":
        return occluder(image, alpha > 0.5, s)[0]
    if kind == "texture":
        return texture(image, alpha, name, s)
    if kind == "context":
        return light_shift(image, s)
    raise AssertionError(kind)  # variant() refused unknown kinds


# --------------------------------------------------------------------------- annotation of occluded rows
def occlude_record(record: ImageRecord, alpha: np.ndarray) -> ImageRecord:
    """The row with ``visib_fract``, ``bbox`` and keypoint visibility of the object behind its occluders.

    ``alpha``: the render's alpha (H x W). ``visib_fract`` scales by the share of visible object pixels the
    occluders leave; the bbox becomes the box of the pixels still visible; a keypoint whose pixel an occluder
    covers becomes invisible (0).
    """
    mask = alpha > 0.5
    blank = np.zeros((*mask.shape, 3), np.uint8)
    _, visible = occluder(blank, mask, op_seed(record.seed))
    before = int(mask.sum())
    kept = int(visible.sum())
    h, w = visible.shape
    keypoints = {}
    for name, (u, v, vis) in record.keypoints_2d.items():
        i, j = int(np.floor(v)), int(np.floor(u))
        hidden = 0 <= i < h and 0 <= j < w and mask[i, j] and not visible[i, j]
        keypoints[name] = (u, v, 0 if hidden else vis)
    if kept:
        ys, xs = np.nonzero(visible)
        bbox = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    else:
        bbox = (0.0, 0.0, 0.0, 0.0)
    frac = record.visib_fract * (kept / before if before else 0.0)
    return dataclasses.replace(record, bbox=bbox, keypoints_2d=keypoints, visib_fract=round(frac, 6))
