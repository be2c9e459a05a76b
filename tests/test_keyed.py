"""dst3d.keyed: the one file-name rule, the content key and the pruner of resumable outputs."""

from __future__ import annotations

import pytest

import dst3d.schema
from dst3d.keyed import content_key, prune, safe_name
from dst3d.params import PASCAL3D_CATEGORIES


@pytest.mark.parametrize(
    "text", ["car_car-b001_0000", "car-b000", "1a2b3c.v2", *PASCAL3D_CATEGORIES, "car_car-b000_0003_s00"]
)
def test_safe_names_pass_unchanged(text):
    assert safe_name(text) == text


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("my model (v2)", "my_model_v2"),  # runs of unsafe characters become one '_', trailing ones go
        ("../../etc/passwd", "etc_passwd"),  # never a path, never hidden
        (".hidden", "hidden"),
        ("a/b\\c", "a_b_c"),
        ("Straße", "Stra_e"),
        ("", "_"),
        ("???", "_"),
    ],
)
def test_unsafe_names_are_made_safe(text, want):
    assert safe_name(text) == want


def test_content_key_depends_on_payload_version_and_schema(monkeypatch):
    key = content_key({"a": 1, "b": [1, 2]}, version=1)
    assert len(key) == 32 and int(key, 16) >= 0
    assert key == content_key({"b": [1, 2], "a": 1}, version=1)  # key order does not matter
    assert key != content_key({"a": 2, "b": [1, 2]}, version=1)
    assert key != content_key({"a": 1, "b": [1, 2]}, version=2)
    monkeypatch.setattr(dst3d.schema, "SCHEMA_VERSION", dst3d.schema.SCHEMA_VERSION + 1)
    assert key != content_key({"a": 1, "b": [1, 2]}, version=1)  # read at call time


def test_prune_deletes_unplanned_files_and_emptied_folders(tmp_path):
    root = tmp_path / "out" / "views"
    keep = [root / "car" / "m0" / "a.png", root / "car" / "m0" / "a.json"]
    drop = [root / "car" / "m0" / ".a.png.tmp", root / "car" / "m1" / "b.png", root / "stray.txt"]
    for p in keep + drop:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    # keep given through a different but equivalent spelling of the same paths
    relative = {tmp_path / "out" / ".." / "out" / p.relative_to(tmp_path / "out") for p in keep}
    assert prune(root, relative) == 3
    assert all(p.is_file() for p in keep) and not any(p.exists() for p in drop)
    assert not (root / "car" / "m1").exists() and root.is_dir()
    assert prune(root, set()) == 2 and root.is_dir() and not any(root.iterdir())
    assert prune(tmp_path / "missing", set()) == 0
