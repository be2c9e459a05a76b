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
