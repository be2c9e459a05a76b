"""Stable per-item seeds: every random choice derives from params.yaml's seed and the item's identity.

Python's ``hash()`` is salted per process, so seeds are derived with SHA-256 instead; the result is
recorded in the manifests so any single item can be regenerated alone.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(base_seed: int, *keys: object) -> int:
    """A 63-bit seed from the base seed and any identifying keys (stage name, model id, view index…)."""
    text = "\x1f".join([str(int(base_seed)), *(str(k) for k in keys)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little") >> 1


def rng_for(base_seed: int, *keys: object) -> tuple[int, np.random.Generator]:
    """``(seed, Generator)`` for one item."""
    seed = derive_seed(base_seed, *keys)
    return seed, np.random.default_rng(seed)
