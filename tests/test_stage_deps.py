"""dvc.yaml: each stage depends on the code it really imports, and on no other stage's code.

The import graph is read statically (every ``import dst3d...`` in the stage script and, transitively, in
the modules it reaches, function-level imports included), so a new import that dvc.yaml does not list
fails here instead of leaving a stage silently stale.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def _imports(path: Path) -> set[str]:
    """dst3d modules imported by one file (absolute imports; 'from pkg import mod' counts mod).

    Module names in string constants count too (``python -m dst3d.render.worker``, backend registries
    of ``module:Class`` entries), except in the params loader, whose registry names every section.
    """
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and path != SRC / "dst3d/params.py":
            name = node.value.split(":")[0]
            if name.startswith("dst3d.") and " " not in name and _module_file(name):
                out.add(name)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "dst3d")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "dst3d":
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names if _module_file(f"{node.module}.{a.name}"))
    return out


def code_files(script: Path) -> set[Path]:
    """Every dst3d source file a stage script can import (package __init__ files included)."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        for name in _imports(path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
                f = _module_file(".".join(parts[:i]))
                if f and f not in seen:
                    seen.add(f)
                    todo.append(f)
    return seen


def _code(path: Path) -> bool:
    """False for a package ``__init__`` that only holds a docstring or a version string (nothing to re-run for)."""
    if path.name != "__init__.py":
        return True
    body = ast.parse(path.read_text()).body
    return any(not isinstance(n, (ast.Expr, ast.Assign, ast.ImportFrom)) or (
        isinstance(n, ast.ImportFrom) and n.module != "__future__") for n in body)


def _covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(REPO).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", sorted(DVC))
def test_stage_lists_the_code_it_imports(stage):
    deps = DVC[stage]["deps"]
    script = REPO / f"stages/{stage}.py"
    assert f"stages/{stage}.py" in deps
    missing = sorted(p.relative_to(REPO).as_posix() for p in code_files(script) if not _covered(p, deps) and _code(p))
    assert not missing, f"dvc.yaml stage {stage!r} imports {missing} but does not list them as deps"


@pytest.mark.parametrize("stage", sorted(DVC))
def test_stage_lists_no_code_it_does_not_import(stage):
    used = {p.relative_to(REPO).as_posix() for p in code_files(REPO / f"stages/{stage}.py")}
    for dep in DVC[stage]["deps"]:
        if not dep.startswith("src/"):
            continue
        assert any(u == dep or u.startswith(dep.rstrip("/") + "/") for u in used), (
            f"dvc.yaml stage {stage!r} lists {dep} but never imports it: edits there would re-run it for nothing"
        )


def test_stages_in_data_flow_order():
    order = list(DVC)
    outs = {s: {o if isinstance(o, str) else next(iter(o)) for o in DVC[s].get("outs", [])} for s in order}
    for i, stage in enumerate(order):
        for dep in DVC[stage]["deps"]:
            producers = [s for s in order if dep in outs[s]]
            assert all(order.index(p) < i for p in producers), f"{stage} is listed before {producers}"
