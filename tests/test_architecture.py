"""Structure rules that keep the code easy to change (checked statically, no imports)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted((SRC / "dst3d").rglob("*.py")):
        parts = p.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


MODULES = _modules()


def _package(name: str) -> str:
    path = MODULES[name]
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imports(name: str) -> list[tuple[str, str | None]]:
    """(module, imported name or None) for every dst3d import in a module, function-level ones included."""
    out = []
    tree = ast.parse(MODULES[name].read_text())
    typing_only = {  # `if TYPE_CHECKING:` imports never run: they cannot form a cycle
        id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names if a.name.startswith("dst3d")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dst3d"):
            out += [(node.module, a.name) for a in node.names]
    return out


def test_no_module_imports_another_packages_private_name():
    bad = []
    for name in MODULES:
        for module, item in _imports(name):
            if item and item.startswith("_") and module in MODULES and _package(module) != _package(name):
                bad.append(f"{name} imports {module}.{item}")
    assert not bad, bad


def test_no_import_cycles():
    graph = {}
    for name in MODULES:
        deps = set()
        for module, item in _imports(name):
            target = f"{module}.{item}" if item and f"{module}.{item}" in MODULES else module
            if target in MODULES and target != name and MODULES[target].name != "__init__.py":
                deps.add(target)
        graph[name] = deps
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert not cycles, cycles


def test_no_monolithic_config_module():
    assert not (SRC / "dst3d" / "config.py").exists()
    needle = "dst3d" + ".config"  # spelled apart so this file does not match itself
    for p in [*SRC.rglob("*.py"), *(REPO / "stages").glob("*.py"), *(REPO / "tests").glob("*.py")]:
        assert needle not in p.read_text(), p


def test_library_code_never_reads_params_yaml():
    """Only the loader and the CLI load params; library code receives the typed sections."""
    allowed = {SRC / "dst3d" / "params.py", SRC / "dst3d" / "cli.py"}
    calls = ("load_all(", "load_stage(", "load_params(", "params.yaml\")")
    bad = [p for p in (SRC / "dst3d").rglob("*.py") if p not in allowed and any(c in p.read_text() for c in calls)]
    assert not bad, bad
