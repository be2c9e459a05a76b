"""Resumable keyed outputs: one file-name rule, one content key, one pruner (render and synthesize).

A resumable stage plans every output with a *key*, a hash of everything that decides its content, and
stores the key with the output. A re-run reuses an output only when its stored key equals the planned
one, and :func:`prune` deletes whatever the plan no longer names, so the folder always equals the plan.
:func:`content_key` always mixes in :data:`dst3d.schema.SCHEMA_VERSION`: a record format change
invalidates every stored output without each stage having to remember it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from dst3d import schema

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A path- and id-safe name: runs of characters other than letters, digits, '.', '_', '-' become one '_'.

    Leading and trailing '.' and '_' are stripped, so a name is never hidden, never '..' and never mistaken
    for one of :mod:`dst3d.atomic`'s ``.``-prefixed temp files; an empty result is '_'. Names that are
    already safe (every default id, e.g. ``car_car-b001_0000``) are returned unchanged.
    """
    return _UNSAFE.sub("_", text).strip("._") or "_"


def content_key(payload: dict[str, Any], *, version: int) -> str:
    """32 hex digits of SHA-256 over ``payload`` (JSON, sorted keys), the stage's ``version`` and SCHEMA_VERSION.

    ``version``: the stage's own output version, bumped when the same params would give different
    outputs. SCHEMA_VERSION is read at call time (not imported by value), so a bump reaches every key.
    """
    blob = json.dumps(
        {"payload": payload, "version": version, "schema_version": schema.SCHEMA_VERSION}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def prune(folder: Path, keep: set[Path]) -> int:
    """Delete every file under ``folder`` that is not in ``keep``, then the folders that became empty.

    ``folder`` itself stays. Paths are compared in absolute, normalised form, so ``keep`` may be built
    from a relative or an absolute root. Returns how many files were deleted.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    wanted = {os.path.abspath(p) for p in keep}
    root = os.path.abspath(folder)
    removed = 0
    for dirpath, _dirs, files in os.walk(root, topdown=False):  # deepest first: children empty before parents
        for name in files:
            path = os.path.join(dirpath, name)
            if path not in wanted:
                os.unlink(path)
                removed += 1
        if dirpath != root and not os.listdir(dirpath):
            os.rmdir(dirpath)
    return removed
