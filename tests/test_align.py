"""Importers and alignment: canonical frame, format refusal, bad meshes, the stage's atomicity."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import trimesh
import yaml
from conftest import TEST_MESHES, box_with_nose, write_obj

from dst3d.assets import align, meshio
from dst3d.assets.meshio import MeshError
from dst3d.assets.params import AlignConfig, SourceConfig
from dst3d.params import BaseConfig, from_dict
from dst3d.schema import ModelRecord, read_manifest


def _cfg(*sources: SourceConfig, n: int = 2) -> AlignConfig:
    return AlignConfig(sources=tuple(sources), instances_per_category=n, contact_sheet=False)


def _align(tmp_path: Path, base: BaseConfig, cfg: AlignConfig) -> list[ModelRecord]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    rows, _ = align.align_all(align.discover(base, cfg), cfg, out, stage="out")
    return rows


def _bounds(path: Path) -> tuple[np.ndarray, np.ndarray]:
    v, _, _ = meshio.load_mesh(path)
    return v.min(axis=0), v.max(axis=0)


def _front_tip(path: Path) -> np.ndarray:
    v, _, _ = meshio.load_mesh(path)
    return v[np.argmin(v[:, 1])]


def test_axes_rotation_is_proper_and_maps_axes():
    for up, front in [("y", "-z"), ("y", "z"), ("z", "-y"), ("x", "y"), ("-z", "x")]:
        R = align.axes_rotation(up, front)
        assert np.linalg.det(R) == pytest.approx(1.0)
        np.testing.assert_allclose(R @ meshio_axis(up), [0, 0, 1], atol=1e-12)
        np.testing.assert_allclose(R @ meshio_axis(front), [0, -1, 0], atol=1e-12)
    np.testing.assert_allclose(align.axes_rotation("z", "-y"), np.eye(3))
    with pytest.raises(align.AlignError, match="perpendicular"):
        align.axes_rotation("y", "-y")


def meshio_axis(name: str) -> np.ndarray:
    return np.array(align._AXES[name], dtype=float)


def test_shapenet_layout_is_aligned(tmp_path):
    v, f = box_with_nose(size=(0.4, 0.3, 1.2))  # ShapeNet: y up, nose toward -z
    write_obj(tmp_path / "sn" / "02958343" / "abc123" / "models" / "model_normalized.obj", v, f)
    base = BaseConfig(categories=("car",))
    rows = _align(tmp_path, base, _cfg(SourceConfig(kind="shapenet", path=str(tmp_path / "sn"))))
    (row,) = rows
    assert (row.model_id, row.category, row.source) == ("abc123", "car", "shapenet")
    assert len(row.source_sha256) == 64
    mesh_path = tmp_path / row.mesh
    lo, hi = _bounds(mesh_path)
    np.testing.assert_allclose((lo + hi) / 2, 0, atol=1e-6)  # centred at the bbox centre
    assert (hi - lo).max() == pytest.approx(1.0, abs=1e-6)  # largest side 1
    ext = hi - lo
    assert ext[1] == pytest.approx(1.0, abs=1e-6)  # the long (front-back) axis is now y
    assert ext[2] == pytest.approx(0.3 / 1.5, abs=1e-5)  # ShapeNet's y (height) is now z
    assert _front_tip(mesh_path)[1] == pytest.approx(-0.5, abs=1e-6)  # the nose is the front: -y


def test_gltf_folder_front_is_plus_z(tmp_path):
    v, f = box_with_nose()
    v[:, 2] *= -1  # glTF: front is +z
    f = f[:, ::-1]
    folder = tmp_path / "objs" / "car"
    folder.mkdir(parents=True)
    trimesh.Trimesh(v, f, process=False).export(folder / "red_sports_car.glb")
    rows = _align(
        tmp_path, BaseConfig(categories=("car",)), _cfg(SourceConfig(kind="folder", path=str(tmp_path / "objs")))
    )
    (row,) = rows
    assert row.model_id == "red_sports_car" and "sports" in row.keywords
    assert _front_tip(tmp_path / row.mesh)[1] == pytest.approx(-0.5, abs=1e-6)


def test_explicit_axes_override(tmp_path):
    v, f = box_with_nose()
    v = v[:, [0, 2, 1]] * [1, 1, 1]  # z up, nose toward -y already: canonical
    v[:, 1] *= 1
    write_obj(tmp_path / "m" / "thing.obj", v, f[:, ::-1])
    src = SourceConfig(kind="folder", path=str(tmp_path / "m"), category="car", up_axis="z", front_axis="-y")
    (row,) = _align(tmp_path, BaseConfig(categories=("car",)), _cfg(src))
    np.testing.assert_allclose(np.array(row.rotation), np.eye(3))
    assert _front_tip(tmp_path / row.mesh)[1] == pytest.approx(-0.5, abs=1e-6)


def test_upstream_csv_offsets_are_carried(tmp_path):
    v, f = box_with_nose()
    root = tmp_path / "sn"
    write_obj(root / "02958343" / "m1" / "models" / "model_normalized.obj", v, f)
    write_obj(root / "03001627" / "c1" / "models" / "model_normalized.obj", v, f)
    path = tmp_path / "3d-dst-models.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["synset", "model_id", "distance", "azimuth", "elevation", "strength", "sampling"])
        w.writerow(["02958343", "m1", "3.5", "90", "-5", "0.8", "3"])
        w.writerow(["3001627", "c1", "2.0", "0", "0", "1", "1"])  # synset without its leading zero
    rows = _align(
        tmp_path,
        BaseConfig(categories=("car", "chair")),
        _cfg(SourceConfig(kind="csv", path=str(path), root=str(root))),
    )
    by_id = {r.model_id: r for r in rows}
    car = by_id["m1"]
    assert (car.distance, car.azimuth_offset, car.elevation_offset, car.strength, car.strategy) == (3.5, 90, -5, 0.8, 3)
    assert by_id["c1"].category == "chair"


def test_csv_missing_mesh_names_file(tmp_path):
    path = tmp_path / "models.csv"
    path.write_text("synset,model_id,distance,azimuth,elevation,strength,sampling\n02958343,nope,3,0,0,1,1\n")
    with pytest.raises(MeshError, match=r"nope/models/model_normalized.obj.*models.csv:2"):
        align.discover(
            BaseConfig(categories=("car",)), _cfg(SourceConfig(kind="csv", path=str(path), root=str(tmp_path)))
        )


def test_csv_missing_column(tmp_path):
    path = tmp_path / "models.csv"
    path.write_text("synset,model_id\n02958343,a\n")
    with pytest.raises(align.AlignError, match="missing column"):
        align.discover(
            BaseConfig(categories=("car",)), _cfg(SourceConfig(kind="csv", path=str(path), root=str(tmp_path)))
        )


def test_blend_and_unknown_formats_are_refused(tmp_path):
    folder = tmp_path / "objs"
    folder.mkdir()
    (folder / "evil.blend").write_bytes(b"BLENDER-v300")
    src = SourceConfig(kind="folder", path=str(folder), category="car")
    with pytest.raises(MeshError, match=r"evil.blend: refusing format .blend.*run embedded Python"):
        align.discover(BaseConfig(categories=("car",)), _cfg(src))
    (folder / "evil.blend").unlink()
    (folder / "model.fbx").write_bytes(b"x")
    with pytest.raises(MeshError, match=r"model.fbx: refusing format .fbx"):
        align.discover(BaseConfig(categories=("car",)), _cfg(src))


@pytest.mark.parametrize(
    "content, why",
    [
        ("this is not a mesh\n\x00\x01garbage", "contains no triangle faces|cannot be read"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\n", "contains no triangle faces|mesh has no faces"),
        ("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n", "NaN or infinite"),
        ("v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n", "zero extent"),
    ],
)
def test_corrupt_and_degenerate_meshes_name_the_file(tmp_path, content, why):
    folder = tmp_path / "objs"
    folder.mkdir()
    (folder / "broken.obj").write_text(content)
    cfg = _cfg(SourceConfig(kind="folder", path=str(folder), category="car"))
    with pytest.raises(MeshError, match=rf"broken.obj: .*({why})"):
        _align(tmp_path, BaseConfig(categories=("car",)), cfg)


def test_empty_category_is_an_error(tmp_path):
    folder = tmp_path / "objs" / "car"
    v, f = box_with_nose()
    write_obj(folder / "a.obj", v, f)
    with pytest.raises(align.AlignError, match=r"no models for category \['bus'\]"):
        align.discover(
            BaseConfig(categories=("car", "bus")), _cfg(SourceConfig(kind="folder", path=str(folder.parent)))
        )


def test_max_per_category(tmp_path):
    folder = tmp_path / "objs"
    v, f = box_with_nose()
    for name in "cba":
        write_obj(folder / f"{name}.obj", v, f)
    src = SourceConfig(kind="folder", path=str(folder), category="car", max_per_category=2)
    found = align.discover(BaseConfig(categories=("car",)), _cfg(src))
    assert [c.model_id for c in found] == ["a", "b"]


def test_real_meshes(tmp_path):
    folder = tmp_path / "real"
    (folder / "chair").mkdir(parents=True)
    (folder / "bottle").mkdir()
    for name in ("chair_model.obj",):
        (folder / "chair" / name).write_bytes((TEST_MESHES / name).read_bytes())
    for name in ("fuze.obj", "fuze.obj.mtl", "fuze uv.jpg"):
        (folder / "bottle" / name).write_bytes((TEST_MESHES / name).read_bytes())
    (folder / "monkey").mkdir()  # not a category: ignored
    (folder / "monkey" / "monkey.glb").write_bytes((TEST_MESHES / "monkey.glb").read_bytes())
    src = SourceConfig(kind="folder", path=str(folder), up_axis="y", front_axis="z")
    rows = _align(tmp_path, BaseConfig(categories=("bottle", "chair")), _cfg(src))
    assert sorted(r.category for r in rows) == ["bottle", "chair"]
    for r in rows:
        lo, hi = _bounds(tmp_path / r.mesh)
        np.testing.assert_allclose((lo + hi) / 2, 0, atol=1e-5)
        assert (hi - lo).max() == pytest.approx(1.0, abs=1e-5)
    bottle = next(r for r in rows if r.category == "bottle")
    files = {p.suffix for p in (tmp_path / bottle.mesh).parent.iterdir()}
    assert {".obj", ".mtl"} <= files and (files & {".jpg", ".jpeg", ".png"})  # texture kept
    _, _, colors = meshio.load_mesh(tmp_path / bottle.mesh)
    assert colors.std() > 0.01  # the texture's colours came through, not flat grey
    # fuze is z-up in its file: with y-up assumed it lies down; the bottle's height must then be y-extent
    lo, hi = _bounds(tmp_path / bottle.mesh)
    assert (hi - lo)[1] == pytest.approx(1.0, abs=1e-5)


def _run_stage(tmp_path: Path, params: dict) -> int:
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("align_stage", REPO / "stages" / "align.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return mod.main(
        [
            "--params",
            str(tmp_path / "params.yaml"),
            "--out",
            str(tmp_path / "data" / "align"),
            "--plots",
            str(tmp_path / "plots"),
            "--metrics",
            str(tmp_path / "metrics.json"),
        ]
    )


def test_stage_is_atomic(tmp_path):
    v, f = box_with_nose()
    folder = tmp_path / "objs"
    write_obj(folder / "good.obj", v, f)
    (folder / "zbad.obj").write_text("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n")
    params = {
        "base": {"categories": ["car"]},
        "align": {"sources": [{"kind": "folder", "path": str(folder), "category": "car"}], "contact_sheet": False},
    }
    with pytest.raises(MeshError, match="zbad.obj"):
        _run_stage(tmp_path, params)
    assert not (tmp_path / "data" / "align").exists()
    assert not list((tmp_path / "data").glob("*staging*"))
    (folder / "zbad.obj").unlink()
    assert _run_stage(tmp_path, params) == 0
    rows = read_manifest(tmp_path / "data" / "align" / "manifest.jsonl", ModelRecord)
    assert [r.model_id for r in rows] == ["good"]


def test_unknown_param_fails_before_work(tmp_path):
    from dst3d.params import ConfigError

    with pytest.raises(ConfigError, match="instancez"):
        _run_stage(tmp_path, {"align": {"instancez": 1}})
    assert not (tmp_path / "data").exists()


def test_from_dict_builds_sources():
    cfg = from_dict(
        AlignConfig, {"sources": [{"kind": "builtin"}, {"kind": "folder", "path": "x", "category": "car"}]}, "align"
    )
    assert cfg.sources[1].kind == "folder" and isinstance(cfg.sources, tuple)


# --------------------------------------------------------------------------- per-model axes tables
def _canonical_box() -> tuple[np.ndarray, np.ndarray]:
    """box_with_nose in the canonical frame (z up, nose toward -y; (x, y, z) -> (-x, z, y), a rotation), plus
    a fin on its top at the back-left (+x), so no rotation other than the right one reproduces it."""
    v, f = box_with_nose()
    v = v[:, [0, 2, 1]] * [-1, 1, 1]
    back_top = [i for i, p in enumerate(v) if p[1] == v[:, 1].max() and p[2] == v[:, 2].max()]
    assert len(back_top) == 2
    v = np.vstack([v, [[0.15, v[:, 1].max(), v[:, 2].max() + 0.1]]])
    return v, np.vstack([f, [[*back_top, len(v) - 1]]])


def _orient(v: np.ndarray, up: str, front: str) -> np.ndarray:
    """Canonical vertices written in a source frame whose up/front are the named axes (a proper rotation)."""
    axis = {"x": [1, 0, 0], "y": [0, 1, 0], "z": [0, 0, 1]}
    u = np.array(axis[up[-1]]) * (-1 if up.startswith("-") else 1)
    fr = np.array(axis[front[-1]]) * (-1 if front.startswith("-") else 1)
    M = np.stack([np.cross(-fr, u), -fr, u], axis=1)  # columns: where canonical x, y (= -front), z (= up) go
    assert np.linalg.det(M) == pytest.approx(1.0)
    return v @ M.T


def _expected_canonical(v: np.ndarray) -> np.ndarray:
    lo, hi = v.min(axis=0), v.max(axis=0)
    return (v - (lo + hi) / 2) / (hi - lo).max()


def _same_points(a: np.ndarray, b: np.ndarray) -> None:
    key = lambda p: p[np.lexsort(np.round(p, 5).T[::-1])]  # noqa: E731 - order-free comparison
    np.testing.assert_allclose(key(a), key(b), atol=1e-5)


def test_axes_table_aligns_mixed_orientations(tmp_path):
    canon, f = _canonical_box()
    root = tmp_path / "objs"
    # (file, up, front, row?) -- the first one has no row: the source's glTF default (y up, +z front)
    copies = [
        ("car/default.obj", "y", "z", False),
        ("car/zup.obj", "z", "-y", True),
        ("car/xup.obj", "x", "y", True),
        ("car/more/deep.glb", "-y", "x", True),  # a table can add files at any depth
        ("loose.obj", "-z", "-x", True),  # a root-level file: its row gives the category
        ("car/is_bus.obj", "z", "x", True),  # moved to bus by its row
    ]
    for rel, up, front, _ in copies:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        trimesh.Trimesh(_orient(canon, up, front), f, process=False).export(path)
    (root / "chair").mkdir()
    write_obj(root / "chair" / "c.obj", canon, f)  # a category not asked for: its row is checked, then ignored
    rows_csv = [["file", "up", "front", "azimuth_offset", "category"]]
    for rel, up, front, has_row in copies:
        if has_row:
            cat = "bus" if "bus" in rel else ("car" if rel == "loose.obj" else "")
            rows_csv.append([rel, up, front, "90" if rel == "car/zup.obj" else "", cat])
    rows_csv.append(["chair/c.obj", "+Z", "-y", "-30", ""])  # '+z' and upper case are accepted
    with open(root / "axes.csv", "w", newline="") as fh:  # found by its default name
        csv.writer(fh).writerows(rows_csv)
    params = {
        "base": {"categories": ["car", "bus"]},
        "align": {"sources": [{"kind": "folder", "path": str(root)}], "contact_sheet": False},
    }
    assert _run_stage(tmp_path, params) == 0  # the stage, so the manifest render reads is checked
    rows = read_manifest(tmp_path / "data" / "align" / "manifest.jsonl", ModelRecord)
    by_id = {r.model_id: r for r in rows}
    assert sorted(by_id) == ["deep", "default", "is_bus", "loose", "xup", "zup"]
    assert by_id["is_bus"].category == "bus" and by_id["loose"].category == "car"
    assert by_id["zup"].azimuth_offset == 90.0 and by_id["xup"].azimuth_offset == 0.0
    np.testing.assert_allclose(np.array(by_id["zup"].rotation), np.eye(3), atol=1e-12)
    expected = _expected_canonical(canon)
    for r in rows:
        mesh = tmp_path / "data" / r.mesh
        v, _, _ = meshio.load_mesh(mesh)
        _same_points(v, expected)  # the same canonical box whatever the file's orientation
        assert _front_tip(mesh)[1] == pytest.approx(-0.5, abs=1e-6), r.model_id  # the nose points to -y
        fin = v[np.argmax(v[:, 2])]
        assert fin[0] > 0.05 and fin[1] > 0.3, r.model_id  # the fin is on top (+z), at the back (+y), left (+x)


def test_axes_json_named_by_param_with_real_meshes(tmp_path):
    folder = tmp_path / "bottles"
    folder.mkdir()
    for name in ("fuze.obj", "fuze.obj.mtl", "fuze uv.jpg"):
        (folder / name).write_bytes((TEST_MESHES / name).read_bytes())
    (folder / "fuze_y.obj").write_bytes((TEST_MESHES / "fuze.obj").read_bytes())  # no row: y up (the default)
    table = tmp_path / "tables" / "bottle_axes.json"
    table.parent.mkdir()
    table.write_text('[{"file": "fuze.obj", "up": "z", "front": "-y", "azimuth_offset": 45.5}]')
    src = SourceConfig(kind="folder", path=str(folder), category="bottle", axes=str(table))
    rows = {r.model_id: r for r in _align(tmp_path, BaseConfig(categories=("bottle",)), _cfg(src))}
    lo, hi = _bounds(tmp_path / rows["fuze"].mesh)
    assert (hi - lo)[2] == pytest.approx(1.0, abs=1e-5)  # fuze is z-up in its file: standing, height along z
    assert rows["fuze"].azimuth_offset == 45.5
    lo, hi = _bounds(tmp_path / rows["fuze_y"].mesh)
    assert (hi - lo)[1] == pytest.approx(1.0, abs=1e-5)  # read as y-up it lies down along y


_HEADER = "file,up,front,azimuth_offset,category\n"


@pytest.mark.parametrize(
    "name, content, match",
    [
        (
            "axes.csv",
            _HEADER + "car/a.obj,z,-y,,\ncar/nope.obj,z,-y,,\n",
            r"axes.csv: row 2 \(line 3\), column 'file': unknown model: no file .*nope.obj",
        ),
        ("axes.csv", _HEADER + "car/a.obj,w,-y,,\n", r"axes.csv: row 1 \(line 2\), column 'up': 'w' is not an axis"),
        (
            "axes.csv",
            _HEADER + "car/a.obj,z,-z,,\n",
            r"row 1 \(line 2\), column 'front': up 'z' and front '-z' are parallel",
        ),
        (
            "axes.csv",
            _HEADER + "car/a.obj,z,,,\n",
            r"column 'up': up 'z' and front 'z' are parallel",
        ),  # front: the default +z
        (
            "axes.csv",
            _HEADER + "car/a.obj,z,-y,,\n./car/a.obj,y,z,,\n",
            r"row 2 \(line 3\), column 'file': 'car/a.obj' listed twice \(also row 1",
        ),
        ("axes.csv", "file,up,front,azimuth\ncar/a.obj,z,-y,3\n", r"axes.csv: header, column 'azimuth': unknown"),
        ("axes.csv", "up,front\nz,-y\n", r"axes.csv: no 'file' column"),
        (
            "axes.csv",
            _HEADER + "car/a.obj,z,-y,ninety,\n",
            r"row 1 \(line 2\), column 'azimuth_offset': 'ninety' is not a number",
        ),
        ("axes.csv", _HEADER + "a.obj,z,-y,,\n", r"column 'file': unknown model"),  # not in the root
        ("axes.csv", _HEADER + "../objs/car/a.obj,z,-y,,\n", r"column 'file': .* no '\.\.'"),
        ("axes.csv", _HEADER + "car/a.mtl,z,-y,,\n", r"column 'file': 'car/a.mtl' is not a mesh file"),
        (
            "axes.json",
            '[{"file": "car/a.obj", "up": "z", "front": "-y"}, {"file": "car/b.obj", "front": "sideways"}]',
            r"axes.json: row 2, column 'front': 'sideways' is not an axis",
        ),
        ("axes.json", '[{"file": "car/a.obj", "up": 3}]', r"axes.json: row 1, column 'up': expected a string"),
        ("axes.json", '{"car/a.obj": {"up": "z"}}', r"axes.json: expected a JSON list"),
        ("axes.json", '[{"file": "car/a.obj", "upp": "z"}]', r"axes.json: row 1, column 'upp': unknown"),
    ],
)
def test_bad_axes_table_fails_before_any_work(tmp_path, name, content, match):
    v, f = box_with_nose()
    root = tmp_path / "objs"
    write_obj(root / "car" / "a.obj", v, f)
    write_obj(root / "car" / "b.obj", v, f)
    (root / "car" / "a.mtl").write_text("newmtl m\n")
    (root / name).write_text(content)
    with pytest.raises(align.AlignError, match=match) as err:
        align.discover(BaseConfig(categories=("car",)), _cfg(SourceConfig(kind="folder", path=str(root))))
    assert "\n" not in str(err.value)


def test_root_file_row_needs_a_category(tmp_path):
    v, f = box_with_nose()
    write_obj(tmp_path / "objs" / "car" / "a.obj", v, f)
    write_obj(tmp_path / "objs" / "loose.obj", v, f)
    (tmp_path / "objs" / "axes.csv").write_text("file,up,front\nloose.obj,z,-y\n")
    with pytest.raises(align.AlignError, match=r"row 1 \(line 2\), column 'category': empty, and 'loose.obj' is in no"):
        align.discover(BaseConfig(categories=("car",)), _cfg(SourceConfig(kind="folder", path=str(tmp_path / "objs"))))


def test_axes_table_location_errors(tmp_path):
    from dst3d.params import ConfigError

    v, f = box_with_nose()
    root = tmp_path / "objs"
    write_obj(root / "a.obj", v, f)
    base = BaseConfig(categories=("car",))
    with pytest.raises(align.AlignError, match=r"align.sources\[0\].axes: axes table .*missing.csv not found"):
        align.discover(base, _cfg(SourceConfig(kind="folder", path=str(root), category="car", axes="missing.csv")))
    (root / "axes.csv").write_text("file\n")
    (root / "axes.json").write_text("[]")
    with pytest.raises(align.AlignError, match=r"both .*axes.csv and .*axes.json found"):
        align.discover(base, _cfg(SourceConfig(kind="folder", path=str(root), category="car")))
    (root / "axes.json").unlink()
    found = align.discover(base, _cfg(SourceConfig(kind="folder", path=str(root), category="car")))
    assert [c.model_id for c in found] == ["a"]  # an empty table; the table itself is not a mesh
    with pytest.raises(ConfigError, match="axes: a per-model axes table is read by 'folder' sources only"):
        from_dict(AlignConfig, {"sources": [{"kind": "shapenet", "path": "x", "axes": "a.csv"}]}, "align")
    with pytest.raises(ConfigError, match=r"axes: 'a.txt' must be a .csv or .json file"):
        from_dict(AlignConfig, {"sources": [{"kind": "folder", "path": "x", "axes": "a.txt"}]}, "align")


def test_bad_table_leaves_no_output(tmp_path):
    v, f = box_with_nose()
    write_obj(tmp_path / "objs" / "car" / "a.obj", v, f)
    (tmp_path / "objs" / "axes.csv").write_text("file,up,front\ncar/a.obj,y,y\n")
    params = {
        "base": {"categories": ["car"]},
        "align": {"sources": [{"kind": "folder", "path": str(tmp_path / "objs")}], "contact_sheet": False},
    }
    with pytest.raises(align.AlignError, match="axes.csv: row 1"):
        _run_stage(tmp_path, params)
    assert not (tmp_path / "data").exists()


# --------------------------------------------------------------------------- on_error: fail | skip
_BROKEN = {
    "garbage.obj": "this is not a mesh\n\x00\x01garbage",
    "empty.obj": "",
    "nan.obj": "v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n",
    "flat.obj": "v 1 1 1\nv 1 1 1\nv 1 1 1\nf 1 2 3\n",
    "bad.glb": "glTF but not really",
    "evil.blend": "BLENDER-v300",
}


def _broken_folder(folder: Path, good: tuple[str, ...] = ("good.obj",)) -> None:
    v, f = box_with_nose()
    folder.mkdir(parents=True, exist_ok=True)
    for name in good:
        write_obj(folder / name, v, f)
    for name, content in _BROKEN.items():
        (folder / name).write_text(content)


def test_on_error_skip_lists_broken_files(tmp_path):
    import json

    _broken_folder(tmp_path / "objs" / "car", good=("good.obj", "zgood.obj"))
    params = {
        "base": {"categories": ["car"]},
        "align": {"sources": [{"kind": "folder", "path": str(tmp_path / "objs")}], "on_error": "skip"},
    }
    assert _run_stage(tmp_path, params) == 0
    rows = read_manifest(tmp_path / "data" / "align" / "manifest.jsonl", ModelRecord)
    assert [r.model_id for r in rows] == ["good", "zgood"]
    assert sorted(p.name for p in (tmp_path / "data" / "align" / "meshes" / "car").iterdir()) == ["good", "zgood"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["skipped_count"] == len(_BROKEN) and metrics["models"] == 2
    reasons = {Path(s["file"]).name: s["reason"] for s in metrics["skipped"]}
    assert sorted(reasons) == sorted(_BROKEN)
    assert all(s["category"] == "car" for s in metrics["skipped"])
    assert "no triangle faces" in reasons["empty.obj"] and "NaN" in reasons["nan.obj"]
    assert "zero extent" in reasons["flat.obj"] and "cannot be read" in reasons["bad.glb"]
    assert "refusing format .blend" in reasons["evil.blend"]
    assert "garbage.obj" not in reasons["garbage.obj"]  # the reason alone; the file is its own field


def test_on_error_skip_fills_max_per_category(tmp_path):
    folder = tmp_path / "objs"
    _broken_folder(folder, good=("h.obj", "i.obj", "z.obj"))  # five broken files sort first, nan.obj before z
    cfg = AlignConfig(
        sources=(SourceConfig(kind="folder", path=str(folder), category="car", max_per_category=2),),
        on_error="skip",
        contact_sheet=False,
    )
    out = tmp_path / "out"
    rows, metrics = align.align_all(align.discover(BaseConfig(categories=("car",)), cfg), cfg, out, stage="out")
    assert [r.model_id for r in rows] == ["h", "i"]  # broken ones skipped, the next good ones fill in
    assert metrics["skipped_count"] == 5  # the five before h; nan.obj and z.obj were not needed
    assert not (out / "meshes" / "car" / "z").exists()


def test_on_error_skip_missing_shapenet_mesh(tmp_path):
    v, f = box_with_nose()
    write_obj(tmp_path / "sn" / "02958343" / "ok" / "models" / "model_normalized.obj", v, f)
    (tmp_path / "sn" / "02958343" / "incomplete").mkdir()
    cfg = AlignConfig(
        sources=(SourceConfig(kind="shapenet", path=str(tmp_path / "sn")),), on_error="skip", contact_sheet=False
    )
    rows, metrics = align.align_all(align.discover(BaseConfig(categories=("car",)), cfg), cfg, tmp_path / "o")
    assert [r.model_id for r in rows] == ["ok"]
    (skip,) = metrics["skipped"]
    assert "incomplete/models/model_normalized.obj" in skip["file"] and skip["reason"].startswith("missing")


def test_on_error_skip_fails_on_a_category_left_empty(tmp_path):
    v, f = box_with_nose()
    write_obj(tmp_path / "objs" / "car" / "good.obj", v, f)
    _broken_folder(tmp_path / "objs" / "bus", good=())
    params = {
        "base": {"categories": ["car", "bus"]},
        "align": {
            "sources": [{"kind": "folder", "path": str(tmp_path / "objs")}],
            "on_error": "skip",
            "contact_sheet": False,
        },
    }
    with pytest.raises(align.AlignError, match=r"no model left for category bus after skipping 6 broken file\(s\)"):
        _run_stage(tmp_path, params)
    assert not (tmp_path / "data" / "align").exists()
    assert not list((tmp_path / "data").glob("*staging*"))
    assert not (tmp_path / "metrics.json").exists()


def test_on_error_fail_names_the_first_broken_file(tmp_path):
    folder = tmp_path / "objs" / "car"
    v, f = box_with_nose()
    write_obj(folder / "a_good.obj", v, f)
    (folder / "b_nan.obj").write_text(_BROKEN["nan.obj"])
    (folder / "c_garbage.obj").write_text(_BROKEN["garbage.obj"])
    params = {
        "base": {"categories": ["car"]},
        "align": {"sources": [{"kind": "folder", "path": str(tmp_path / "objs")}], "contact_sheet": False},
    }
    with pytest.raises(MeshError, match=r"b_nan.obj: mesh has NaN") as err:
        _run_stage(tmp_path, params)
    assert "c_garbage" not in str(err.value)
    assert not (tmp_path / "data" / "align").exists()
    with pytest.raises(Exception, match=r"on_error: 'ignore' is not one of \['fail', 'skip'\]"):
        _run_stage(tmp_path, {"align": {"on_error": "ignore"}})
