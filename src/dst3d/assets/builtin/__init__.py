"""The bundled offline asset library: seeded parametric meshes for the 12 PASCAL3D+ categories.

``generate(category, rng)`` builds one instance from primitives with shape parameters (body type,
proportions, part counts, colours) drawn from ``rng`` only, so the same generator state always gives
the same asset and different draws give visibly different instances.

Canonical frame (project-wide): right-handed, metres, **up = +z**, the object stands on z = 0 and its
**front faces -y** (car headlights, aeroplane nose, boat bow, bicycle front wheel, the side of a chair
or sofa you sit down from, a monitor's screen, a bottle's label). Long objects (car, bus, train,
aeroplane, bicycle, motorbike, boat) lie along y; wide furniture (sofa, dining table) along x.

Left/right in keypoint names are the **object's own**, as a person inside it facing its front (-y)
sees them: object-left is **+x**, object-right is **-x** (so from the azimuth-0 camera, which looks at
the front, ``*_left`` keypoints appear on the image's right).

Each asset's keypoint names are fixed per category (see :data:`KEYPOINT_NAMES`); every asset carries
all of them, placed on or near the surface.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dst3d.assets.builtin import aircraft, furniture, household, twowheel, vehicles, watercraft
from dst3d.assets.builtin._common import Asset, Part
from dst3d.params import PASCAL3D_CATEGORIES

__all__ = ["CATEGORIES", "KEYPOINT_NAMES", "Asset", "Part", "generate"]

CATEGORIES: tuple[str, ...] = PASCAL3D_CATEGORIES  # one list for the whole project (config.py)

_GENERATORS: dict[str, Callable[[np.random.Generator], Asset]] = {
    "aeroplane": aircraft.aeroplane,
    "bicycle": twowheel.bicycle,
    "boat": watercraft.boat,
    "bottle": household.bottle,
    "bus": vehicles.bus,
    "car": vehicles.car,
    "chair": furniture.chair,
    "diningtable": furniture.diningtable,
    "motorbike": twowheel.motorbike,
    "sofa": furniture.sofa,
    "train": vehicles.train,
    "tvmonitor": household.tvmonitor,
}

KEYPOINT_NAMES: dict[str, tuple[str, ...]] = {
    "aeroplane": aircraft.AEROPLANE_KEYPOINTS,
    "bicycle": twowheel.BICYCLE_KEYPOINTS,
    "boat": watercraft.BOAT_KEYPOINTS,
    "bottle": household.BOTTLE_KEYPOINTS,
    "bus": vehicles.BUS_KEYPOINTS,
    "car": vehicles.CAR_KEYPOINTS,
    "chair": furniture.CHAIR_KEYPOINTS,
    "diningtable": furniture.TABLE_KEYPOINTS,
    "motorbike": twowheel.MOTORBIKE_KEYPOINTS,
    "sofa": furniture.SOFA_KEYPOINTS,
    "train": vehicles.TRAIN_KEYPOINTS,
    "tvmonitor": household.TV_KEYPOINTS,
}


def generate(category: str, rng: np.random.Generator) -> Asset:
    """One random instance of ``category``; all randomness comes from ``rng``."""
    try:
        gen = _GENERATORS[category]
    except KeyError:
        raise ValueError(f"unknown builtin category {category!r}; allowed: {', '.join(CATEGORIES)}") from None
    return gen(rng)
