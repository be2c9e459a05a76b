"""dst3d evaluate: manifests and the PASCAL3D+ / ObjectNet3D / ImageNet3D release layouts, the angle mapping,
bad inputs (one-line errors before any prediction, nothing written), and train.eval_sets.

The fixture folders are written in the datasets' own structures: MATLAB ``record`` structs through
``scipy.io.savemat`` (struct arrays as numpy record arrays, so ``loadmat(squeeze_me=True,
struct_as_record=False)`` gives ``record.objects[i].viewpoint.azimuth`` as for the real files, including the
one-object file that squeeze_me turns into a bare struct) and ImageNet3D's per-image ``.npz`` holding an
object array of per-object dicts. Their images are the fixture's rendered boxes (tests/pose_fixture.py).
"""

from __future__ import annotations

import json
import math
import pathlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
import torch
from pose_fixture import make_dataset
from safetensors.torch import save_file

from dst3d import cli
from dst3d import train as tr
from dst3d.evaluate import formats, run
from dst3d.evaluate.formats import AnnotationError, Filters, load_set
from dst3d.models.io import save_model
from dst3d.models.pose import PoseNet
from dst3d.params import ConfigError, from_dict
from dst3d.schema import ImageRecord, read_manifest
from dst3d.training.params import EvalSetConfig, FitConfig, TrainConfig

CATS = ["car", "chair"]
FIT = FitConfig(image_size=32, batch_size=16, workers=0)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("eval") / "data", models_per_category=2, views=4, px=48, seed=3)


@pytest.fixture(scope="module")
def rows(root) -> list[ImageRecord]:
    return [r for r in read_manifest(root / "synthesize" / "manifest.jsonl", ImageRecord) if r.split == "test"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    save_model(path, PoseNet("resnet18", 8, len(CATS)), {"categories": CATS, "data": "fixture"})
    return path


def _struct_array(objects: list[dict]) -> np.ndarray:
    """A MATLAB 1 x N struct array (all elements share the field names, as MATLAB requires)."""
    names = list(dict.fromkeys(k for o in objects for k in o))
    arr = np.empty((1, len(objects)), dtype=[(k, object) for k in names])
    for i, o in enumerate(objects):
        for k in names:
            arr[0, i][k] = o.get(k, np.zeros((0, 0)))
    return arr


def _viewpoint(r: ImageRecord, kind: str = "fine") -> dict | np.ndarray:
    deg = {k: math.degrees(getattr(r, k)) for k in ("azimuth", "elevation", "theta")}
    if kind == "empty":
        return np.zeros((0, 0))  # MATLAB []: an object without any viewpoint
    if kind == "coarse":  # only the coarse annotation
        return {"azimuth_coarse": round(deg["azimuth"] / 15) * 15.0, "elevation_coarse": 10.0}
    return {"azimuth_coarse": round(deg["azimuth"] / 15) * 15.0, "elevation_coarse": 10.0, **deg,
            "distance": 5.2, "focal": 1.0, "px": 24.0, "py": 24.0, "viewport": 3000.0}


def _mat_object(r: ImageRecord, cls: str = "", vp: str = "fine", **flags) -> dict:
    x0, y0, x1, y1 = r.bbox  # pixel edges -> 1-based inclusive MATLAB pixels
    return {"class": cls or r.category, "bbox": np.array([x0 + 1, y0 + 1, x1, y1], float),
            "truncated": flags.get("truncated", 0), "occluded": flags.get("occluded", 0),
            "difficult": flags.get("difficult", 0), "cad_index": 1, "viewpoint": _viewpoint(r, vp)}


def _write_record(path: Path, filename: str, objects: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.savemat(str(path), {"record": {"filename": filename, "imgsize": np.array([48, 48, 3]),
                                       "database": "fixture", "objects": _struct_array(objects)}})


def _copy_image(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _extras(r: ImageRecord) -> list[dict]:
    """Objects of a several-object file that the default protocol skips, one per reason."""
    return [_mat_object(r, truncated=1), _mat_object(r, occluded=1), _mat_object(r, difficult=1),
            _mat_object(r, vp="empty"), _mat_object(r, vp="coarse")]


def write_pascal3d(dst: Path, rows: list[ImageRecord], data_root: Path) -> Path:
    """PASCAL3D+ release 1.1: Annotations/<cls>_<subset>/<id>.mat, Images/..., Image_sets/ and VOC lists."""
    lists: dict[Path, list[str]] = {}
    for i, r in enumerate(rows):
        subset = ("imagenet", "pascal")[i % 2]
        stem = f"n0{i:04d}" if subset == "imagenet" else f"2008_{i:06d}"
        _copy_image(data_root / r.image, dst / "Images" / f"{r.category}_{subset}" / f"{stem}.png")
        objects = [_mat_object(r)]  # one object: squeeze_me makes record.objects a bare struct
        if i < 2:  # several objects: skipped ones, and objects of other classes
            objects += [*_extras(r), _mat_object(r, cls="person", vp="empty"), _mat_object(r, cls="bus")]
        _write_record(dst / "Annotations" / f"{r.category}_{subset}" / f"{stem}.mat", f"{stem}.png", objects)
        listing = (dst / "Image_sets" / f"{r.category}_imagenet_val.txt" if subset == "imagenet"
                   else dst / "PASCAL/VOCdevkit/VOC2012/ImageSets/Main" / f"{r.category}_val.txt")
        lists.setdefault(listing, []).append(f"{stem}  1" if subset == "pascal" else stem)
    for listing, ids in lists.items():
        listing.parent.mkdir(parents=True, exist_ok=True)
        extra = ["2008_999999 -1"] if "VOC2012" in str(listing) else []  # VOC lists name every image
        listing.write_text("\n".join(ids + extra) + "\n")
    _write_record(dst / "Annotations" / "bus_imagenet" / "n09999.mat", "n09999.png", [_mat_object(rows[0], "bus")])
    (dst / "Image_sets" / "car_imagenet_train.txt").write_text("")
    return dst


def write_objectnet3d(dst: Path, rows: list[ImageRecord], data_root: Path) -> Path:
    """ObjectNet3D: Annotations/<id>.mat (all classes of the image), Images/<filename>, Image_sets/<set>.txt."""
    ids = []
    for i, r in enumerate(rows):
        stem = f"n0{i:07d}"
        _copy_image(data_root / r.image, dst / "Images" / f"{stem}.png")
        objects = [_mat_object(r)]
        if i == 0:
            objects += [*_extras(r), _mat_object(r, cls="laptop"), _mat_object(r, cls="laptop"),
                        _mat_object(r, cls="bus")]
        _write_record(dst / "Annotations" / f"{stem}.mat", f"{stem}.png", objects)
        ids.append(stem)
    (dst / "Image_sets").mkdir(parents=True, exist_ok=True)
    (dst / "Image_sets" / "val.txt").write_text("\n".join(ids[::2]) + "\n")
    (dst / "Image_sets" / "train.txt").write_text("\n".join(ids[1::2]) + "\n")
    return dst


def _npz_object(r: ImageRecord, **changes) -> dict:
    obj = {"azimuth": r.azimuth, "elevation": r.elevation, "theta": r.theta, "distance": 4.0,
           "bbox": np.array(r.bbox, float), "class": r.category, "cad_index": 1, "px": 24.0, "py": 24.0,
           "viewport": 3000, "height": np.uint16(48), "width": np.uint16(48), "object_status": "status_good",
           "dense": "dense_no", "ignore": 0}
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not None}


def write_imagenet3d(dst: Path, rows: list[ImageRecord], data_root: Path) -> Path:
    """ImageNet3D: annotations/<cls>/<id>.npz ('annotations': object array of dicts), images/, lists/."""
    lists: dict[str, list[str]] = {}
    for i, r in enumerate(rows):
        stem = f"n0{i:04d}_{i}"
        _copy_image(data_root / r.image, dst / "images" / r.category / f"{stem}.png")
        objects = [_npz_object(r)]
        if i == 0:
            objects += [_npz_object(r, ignore=1), _npz_object(r, object_status="status_bad", ignore=None),
                        _npz_object(r, distance=0.0), _npz_object(r, azimuth=None, elevation=None, theta=None)]
        (dst / "annotations" / r.category).mkdir(parents=True, exist_ok=True)
        np.savez(dst / "annotations" / r.category / f"{stem}.npz", annotations=np.array(objects, dtype=object))
        lists.setdefault(r.category, []).append(stem)
    (dst / "lists").mkdir(parents=True, exist_ok=True)
    for cat, ids in lists.items():
        (dst / "lists" / f"{cat}_imagenet_val.txt").write_text("\n".join(ids) + "\n")
    (dst / "annotations" / "bed").mkdir()
    return dst


@pytest.fixture(scope="module")
def folders(tmp_path_factory, rows, root) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sets")
    return {"pascal3d": write_pascal3d(base / "PASCAL3D+_release1.1", rows, root),
            "objectnet3d": write_objectnet3d(base / "ObjectNet3D", rows, root),
            "imagenet3d": write_imagenet3d(base / "imagenet3d", rows, root)}


def _evaluate(model_file, data, out, **kw):
    return run.evaluate(model_file, data, out=out, fit=FIT, **kw)


# --------------------------------------------------------------------------- reading the formats
def test_formats_are_detected(folders, root):
    assert {formats.detect_format(p) for p in folders.values()} == set(folders) and all(
        formats.detect_format(p) == f for f, p in folders.items())
    assert formats.detect_format(root / "synthesize") == "manifest"
    assert formats.detect_format(root / "synthesize" / "manifest.jsonl") == "manifest"


def test_the_one_object_trap_and_several_objects(folders, rows):
    rec = sio.loadmat(str(next((folders["pascal3d"] / "Annotations" / "chair_imagenet").glob("*.mat"))),
                      squeeze_me=True, struct_as_record=False)["record"]
    assert not isinstance(rec.objects, np.ndarray) and rec.objects.viewpoint.azimuth == pytest.approx(
        math.degrees(next(r for r in rows if r.category == "chair").azimuth))  # one object: a bare struct
    s = load_set(folders["pascal3d"], "pascal3d", CATS)
    n = s.notes
    assert len(s.samples) == len(rows) and n["evaluated"] == len(rows)
    assert n["skipped"] == {"no_viewpoint": 2, "difficult": 2, "truncated": 2, "occluded": 2, "coarse_only": 2}
    assert n["classes_not_in_model"] == ["bus"] and n["per_category"] == {"car": 4, "chair": 4}
    with_coarse = load_set(folders["pascal3d"], "auto", CATS, filters=Filters.including(["coarse", "truncated"]))
    assert len(with_coarse.samples) == len(rows) + 4 and with_coarse.notes["coarse_viewpoints"] == 2


def test_splits_follow_the_image_set_lists(folders, rows):
    p3d = folders["pascal3d"]
    assert len(load_set(p3d, "pascal3d", CATS, "val").samples) == len(rows)
    pascal_val = load_set(p3d, "pascal3d", CATS, "pascal_val")
    assert {s.key.split("/")[0].rpartition("_")[2] for s in pascal_val.samples} == {"pascal"}
    assert len(pascal_val.samples) == len(rows) // 2
    on3d = load_set(folders["objectnet3d"], "objectnet3d", CATS, "val")
    assert len(on3d.samples) == len(rows) // 2
    assert load_set(folders["objectnet3d"], "objectnet3d", CATS).notes["other_categories"] == {"bus": 1, "laptop": 2}
    in3d = load_set(folders["imagenet3d"], "imagenet3d", CATS, "val")
    assert len(in3d.samples) == len(rows)
    assert in3d.notes["skipped"] == {"no_viewpoint": 2, "ignored": 2} and in3d.notes["classes_not_in_model"] == ["bed"]
    with pytest.raises(AnnotationError, match="chair_imagenet_train.txt: image set list not found"):
        load_set(p3d, "pascal3d", CATS, "imagenet_train")


def test_angles_and_boxes_map_to_the_manifest_rows(folders, root, rows):
    """Degrees (PASCAL3D+, ObjectNet3D) and radians (ImageNet3D) -> the manifest's radians; MATLAB's
    1-based boxes -> pixel edges: every format yields the manifest's samples, up to the key."""
    manifest = root / "synthesize" / "manifest.jsonl"
    want = {Path(s.path).read_bytes(): s for s in load_set(manifest, "manifest", CATS, "test").samples}
    for fmt, folder in folders.items():
        got = load_set(folder, fmt, CATS).samples
        assert len(got) == len(want), fmt
        for s in got:
            m = want[Path(s.path).read_bytes()]
            assert (s.category, s.label, s.bbox) == (m.category, m.label, m.bbox), fmt
            assert s.angles == pytest.approx(m.angles, abs=1e-12), fmt


# --------------------------------------------------------------------------- evaluating
def test_evaluate_a_manifest_from_the_command_line(model_file, root, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["evaluate", str(model_file), str(root / "synthesize"), "--split", "test", "--out", str(out),
            "--params", "", "--image-size", "32", "--workers", "0", "--worst", "4"]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert text.startswith("synthesize_test: 8 objects of 2 categories") and "Acc@pi/6" in text and "\n" == text[-1]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"synthesize_test", "notes"}
    assert set(metrics["synthesize_test"]) == {"per_category", "mean", "all"}
    mean = metrics["synthesize_test"]["mean"]
    assert {"n", "acc_pi_6", "acc_pi_18", "median_deg", "top1"} <= set(mean) and mean["n"] == 8
    assert metrics["notes"]["input"]["image_size"] == 32 and metrics["notes"]["model_data"] == "fixture"
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 8 and {"set", "key", "category", "predicted_category", "angles", "predicted_angles",
                                "error_deg", "image", "bbox"} <= set(preds[0])
    assert (out / "worst.png").stat().st_size > 0
    assert not list(tmp_path.glob("*.staging"))


def test_the_same_pose_gives_the_same_error_in_every_format(model_file, folders, root, tmp_path):
    manifest = _evaluate(model_file, root / "synthesize" / "manifest.jsonl", tmp_path / "m", split="test")
    by_image = {Path(s.path).read_bytes(): e for s, e in zip(manifest.eval_set.samples, manifest.predictions.errors,
                                                             strict=True)}
    for fmt, folder in folders.items():
        res = _evaluate(model_file, folder, tmp_path / fmt, fmt=fmt)
        errors = [by_image[Path(s.path).read_bytes()] for s in res.eval_set.samples]
        assert res.predictions.errors == pytest.approx(errors, abs=1e-6), fmt
        assert res.summary["mean"]["acc_pi_6"] == pytest.approx(manifest.summary["mean"]["acc_pi_6"]), fmt
        metrics = json.loads((tmp_path / fmt / "metrics.json").read_text())
        assert metrics["notes"]["format"] == fmt and metrics[res.name]["mean"]["n"] == len(errors)


# --------------------------------------------------------------------------- bad input
def _copy(folder: Path, tmp_path: Path) -> Path:
    dst = tmp_path / folder.name
    shutil.copytree(folder, dst)
    return dst


def _first(folder: Path, pattern: str) -> Path:
    return sorted(folder.glob(pattern))[0]


def _break_mat(folder: Path, tmp_path: Path, drop: str) -> tuple[Path, Path]:
    data = _copy(folder, tmp_path)
    mat = sorted((data / "Annotations" / "car_imagenet").glob("*.mat"))[-1]  # a one-object file
    rec = sio.loadmat(str(mat), squeeze_me=True, struct_as_record=False)["record"]
    vp = {k: getattr(rec.objects.viewpoint, k) for k in rec.objects.viewpoint._fieldnames if k != drop}
    obj = {k: getattr(rec.objects, k) for k in rec.objects._fieldnames if k != drop}
    record = {k: getattr(rec, k) for k in rec._fieldnames if k != drop}
    sio.savemat(str(mat), {"record": {**record, "objects": _struct_array([{**obj, "viewpoint": vp}])}})
    return data, mat


def _bad_npz(folder: Path, tmp_path: Path, obj: object) -> tuple[Path, Path]:
    data = _copy(folder, tmp_path)
    npz = _first(data / "annotations" / "car", "*.npz")
    np.savez(npz, annotations=np.array([obj], dtype=object))
    return data, npz


def _bad_image(folder: Path, tmp_path: Path, content: bytes | None) -> tuple[Path, Path]:
    data = _copy(folder, tmp_path)
    image = _first(data / "Images", "car_*/*.png")
    if content is None:
        image.unlink()
    else:
        image.write_bytes(content)
    return data, image


def _bad_model(model_file: Path, tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.safetensors"
    state = {k: v.contiguous() for k, v in PoseNet("resnet18", 8, 2).state_dict().items()}
    meta = {"arch": "resnet18", "width": 8, "num_categories": 2, "num_bins": 41, "pose_head": "shared",
            "categories": CATS}
    if kind == "arch":
        meta["arch"] = "resnet34"
    elif kind == "shape":
        state["cls.weight"] = torch.zeros(3, state["cls.weight"].shape[1])
    elif kind == "nometa":
        meta = None
    elif kind == "garbage":
        path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
        return path
    save_file(state, str(path), metadata=None if meta is None else {"dst3d": json.dumps(meta)})
    return path


BAD_INPUTS = {
    # case: (how to make (model, data) from (model_file, folders, tmp_path), the message's parts)
    "mat without viewpoint.theta": (lambda m, f, t: (m, *_break_mat(f["pascal3d"], t, "theta")),
                                    ["record.objects(1).viewpoint has no field 'theta'"]),
    "mat without record.filename": (lambda m, f, t: (m, *_break_mat(f["pascal3d"], t, "filename")),
                                    ["record has no field 'filename'"]),
    "mat without objects.bbox": (lambda m, f, t: (m, *_break_mat(f["pascal3d"], t, "bbox")),
                                 ["record.objects(1) has no field 'bbox'"]),
    "npz without theta": (lambda m, f, t: (m, *_bad_npz(f["imagenet3d"], t, {"azimuth": 1.0, "elevation": 0.1,
                                                                             "bbox": np.ones(4)})),
                          ["annotations[0] has no field 'theta'"]),
    "npz with a non-numpy object": (lambda m, f, t: (m, *_bad_npz(f["imagenet3d"], t, pathlib.PurePosixPath("x"))),
                                    ["not a readable .npz file", "refusing to unpickle pathlib"]),
    "missing image": (lambda m, f, t: (m, *_bad_image(f["pascal3d"], t, None)), [".mat: image", "not found"]),
    "unreadable image": (lambda m, f, t: (m, *_bad_image(f["pascal3d"], t, b"not an image")),
                         [".mat: image", "is not a readable image"]),
    "model of another architecture": (lambda m, f, t: (_bad_model(m, t, "arch"), f["pascal3d"], None),
                                      ["resnet34", "wrong architecture"]),
    "model tensor of another shape": (lambda m, f, t: (_bad_model(m, t, "shape"), f["pascal3d"], None),
                                      ["tensor 'cls.weight' has shape [3, 64]", "expects [2, 64]"]),
    "weights without dst3d metadata": (lambda m, f, t: (_bad_model(m, t, "nometa"), f["pascal3d"], None),
                                       ["no 'dst3d' metadata"]),
    "weights that fail to load": (lambda m, f, t: (_bad_model(m, t, "garbage"), f["pascal3d"], None),
                                  ["not a safetensors weights file"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_before_any_prediction(case, model_file, folders, tmp_path, capsys, monkeypatch):
    make, parts = BAD_INPUTS[case]
    model, data, named = make(model_file, folders, tmp_path)

    def no_prediction(*a, **k):
        raise AssertionError("prediction started before the input was checked")

    monkeypatch.setattr(run, "predict", no_prediction)
    out = tmp_path / "out"
    rc = cli.main(["evaluate", str(model), str(data), "--out", str(out), "--params", "", "--workers", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("dst3d evaluate: ") and err.count("\n") == 1, err
    for part in parts:
        assert part in err, err
    assert str(named or model) in err  # names the file
    assert not out.exists() and not list(tmp_path.glob("out*"))


def test_an_unreadable_image_found_while_predicting_leaves_nothing(model_file, folders, tmp_path, capsys):
    data = _copy(folders["pascal3d"], tmp_path)
    image = _first(data / "Images", "car_*/*.png")
    image.write_bytes(image.read_bytes()[:60])  # a PNG header and no pixels: passes the format check
    out = tmp_path / "out"
    rc = cli.main(["evaluate", str(model_file), str(data), "--out", str(out), "--params", "", "--workers", "0"])
    assert rc == 2 and "cannot read image" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("out*"))


def test_models_without_categories_need_them_given(tmp_path, folders):
    path = tmp_path / "m.safetensors"
    save_model(path, PoseNet("resnet18", 8, 2))
    with pytest.raises(run.ModelError, match="no field 'categories'"):
        run.open_model(path)
    assert run.open_model(path, ["chair", "car"]).categories == ["chair", "car"]
    with pytest.raises(run.ModelError, match="3 categories"):
        run.open_model(path, ["a", "b", "c"])


# --------------------------------------------------------------------------- train.eval_sets
def test_train_evaluates_the_listed_sets(folders, root):
    cfg = TrainConfig(eval_sets=(EvalSetConfig("p3d_val", str(folders["pascal3d"]), "pascal3d", "pascal_val"),
                                 EvalSetConfig("in3d", str(folders["imagenet3d"]))))
    sets, notes = tr.evaluation_sets(cfg, root / "synthesize" / "manifest.jsonl", CATS, seed=0)
    assert list(sets) == ["test", "p3d_val", "in3d"]  # no split ood upstream
    assert len(sets["p3d_val"]) == 4 and len(sets["in3d"]) == 8
    assert notes["eval_sets"]["in3d"]["format"] == "imagenet3d"
    assert notes["eval_sets"]["p3d_val"]["skipped"]["truncated"] == 1


def test_eval_sets_params_errors_name_the_key():
    def load(train: dict):
        return from_dict(TrainConfig, train, "params.yaml:train")

    assert load({"eval_sets": [{"name": "p3d", "path": "x", "format": "pascal3d"}]}).eval_sets[0].split == ""
    for train, message in [
        ({"pascal3d": "folder"}, "'pascal3d' moved to train.eval_sets"),
        ({"eval_sets": [{"name": "a", "path": "x", "format": "coco"}]}, r"train.eval_sets\[0\].format: 'coco'"),
        ({"eval_sets": [{"path": "x"}]}, r"train.eval_sets\[0\]: missing required key 'name'"),
        ({"eval_sets": [{"name": "test", "path": "x"}]}, r"train.eval_sets\[0\]: name: 'test' is taken"),
        ({"eval_sets": [{"name": "a", "path": "x"}, {"name": "a", "path": "y"}]}, "two sets are named 'a'"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load(train)
