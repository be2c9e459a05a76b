"""The docs stay true: README short, links resolve, every param documented, worked examples run in tests."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from dst3d.params import section_classes

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / "docs").rglob("*.md"))
SECTION_DOCS = {
    "base": "docs/pipeline.md",
    "align": "docs/stages/align.md",
    "render": "docs/stages/render.md",
    "edges": "docs/stages/edges.md",
    "prompts": "docs/stages/prompts.md",
    "synthesize": "docs/stages/synthesize.md",
    "training": "docs/stages/train.md",
    "kcf": "docs/stages/kcf.md",
    "train": "docs/stages/train.md",
    "tracking": "docs/tracking.md",
}


def test_readme_is_short():
    assert len((REPO / "README.md").read_text().splitlines()) <= 250


@pytest.mark.parametrize("doc", [REPO / "README.md", *DOCS], ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(doc):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (doc.parent / target).exists(), f"{doc.relative_to(REPO)}: broken link {target}"


def _keys(cls: type, prefix: str = "") -> list[str]:
    """Every params key of a section, nested ones as dotted paths (plugin sub-sections included)."""
    out = []
    plugin_field = getattr(cls, "PLUGIN_FIELD", "")
    subs = dict(cls.plugins()) if plugin_field else {}
    for f in dataclasses.fields(cls):
        if f.name == plugin_field:
            continue
        out.append(prefix + f.name)
        tp = f.type if isinstance(f.type, type) else type(f.default)
        if dataclasses.is_dataclass(tp):
            out += _keys(tp, f"{prefix}{f.name}.")
    for name, sub in subs.items():
        out.append(prefix + name)
        out += _keys(sub, f"{prefix}{name}.")
    return out


@pytest.mark.parametrize("section", sorted(SECTION_DOCS))
def test_every_param_is_documented(section):
    text = (REPO / SECTION_DOCS[section]).read_text()
    cls = section_classes()[section]
    keys = _keys(cls)
    if getattr(cls, "INHERITS", ""):  # model/fit are the shared section's keys, documented with it
        assert cls.INHERITS in text
        keys = [k for k in keys if k in ("model", "fit") or not k.startswith(("model.", "fit."))]
    missing = [k for k in keys if not re.search(rf"\b{re.escape(k.rsplit('.', 1)[-1])}\b", text)]
    assert not missing, f"{SECTION_DOCS[section]} does not mention {section} params {missing}"


def test_extending_examples_are_the_tested_code():
    """Every python block of docs/extending.md appears verbatim in the test file the page names for it."""
    text = (REPO / "docs" / "extending.md").read_text()
    tests = "\n".join(p.read_text() for p in (REPO / "tests").glob("test_*backends.py")) + (
        REPO / "tests" / "test_training_tasks.py"
    ).read_text()
    registries = (REPO / "src/dst3d/render/backends/__init__.py").read_text() + (
        REPO / "src/dst3d/synthesize/backends.py"
    ).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 6
    for block in blocks:
        lines = [ln for ln in block.splitlines() if "# the new line" not in ln]
        body = "\n".join(lines).strip()
        if body.startswith("BACKENDS"):  # registry excerpts: the existing lines are the real registry
            assert body.rstrip("}").rstrip() in registries, body
        else:
            indented = "\n".join("    " + ln if ln else ln for ln in body.splitlines())
            assert body in tests or indented in tests, body[:200]


def _lookup(tree: object, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


@pytest.mark.parametrize("doc", [REPO / "README.md", *DOCS], ids=lambda p: p.relative_to(REPO).as_posix())
def test_documented_set_params_exist(doc):
    """`dvc exp run -S key=value` fails ('not in struct') unless key is in params.yaml; `+key` appends."""
    import yaml

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for plus, key in re.findall(r"-S\s+'?(\+?)([A-Za-z_][\w.]*)=", doc.read_text()):
        where = doc.relative_to(REPO)
        assert plus or _lookup(params, key), f"{where}: -S {key}=... is not a params.yaml key (use +{key})"
