"""Exports read back by the libraries their users use: pycocotools (COCO), datasets (imagefolder), and BOP's
own conventions (re-projecting the 3D keypoints with cam_R_m2c / cam_t_m2c / cam_K); bad input (a non-empty
target, a missing file) and the keypoint skeletons. Real renders: test_export_rendered.py."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from synth_fixtures import BOX, FACES, KEYPOINTS, make_fixture, write_params

from dst3d.assets import meshio
from dst3d.assets.builtin import KEYPOINT_NAMES
from dst3d.cli import main as cli
from dst3d.export import ExportError, export_bop, export_coco, export_hf
from dst3d.export.skeleton import SKELETONS, coco_skeleton, keypoint_order
from dst3d.schema import ImageRecord, ModelRecord, read_manifest, write_manifest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "stages"))
import synthesize as stage  # noqa: E402


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("export")
    edges, prompts = make_fixture(tmp / "data")
    params = write_params(tmp / "params.yaml", {"backend": "composite", "grid_images": 0})
    rc = stage.main([
        "--params", str(params), "--edges", str(edges), "--prompts", str(prompts),
        "--out", str(tmp / "data/synthesize"), "--plots", str(tmp / "plots"), "--metrics", str(tmp / "m.json"),
        "--no-progress",
    ])  # fmt: skip
    assert rc == 0
    write_align(tmp / "data", read_manifest(edges, ImageRecord))
    return tmp / "data/synthesize/manifest.jsonl"


def write_align(data: Path, rows: list[ImageRecord]) -> None:
    """``data/align``: the fixture's box (the shape its views were drawn from) as every model's aligned mesh."""
    tris = np.array([t for a, b, c, d in FACES for t in ((a, b, c), (a, c, d))])
    models = []
    for model_id in sorted({r.model_id for r in rows}):
        meshio.write_parts_obj(data / "align/meshes" / f"{model_id}.obj", [("body", BOX, tris, (0.5, 0.5, 0.5))])
        category = next(r.category for r in rows if r.model_id == model_id)
        models.append(ModelRecord(model_id, category, "fixture", f"align/meshes/{model_id}.obj"))
    write_manifest(data / "align/manifest.jsonl", models)


def rows_by_id(manifest: Path) -> dict[str, ImageRecord]:
    return {r.image_id: r for r in read_manifest(manifest, ImageRecord)}


def test_coco_reads_back_with_pycocotools(manifest, tmp_path):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    assert cli(["export", "coco", str(manifest), str(tmp_path / "coco")]) == 0
    rows = rows_by_id(manifest)
    seen = 0
    for split in ("train", "test"):
        coco = COCO(str(tmp_path / "coco/annotations" / f"instances_{split}.json"))
        cats = {c["name"]: c for c in coco.loadCats(coco.getCatIds())}
        assert set(cats) == {"car", "chair"} and cats["car"]["keypoints"] == sorted(KEYPOINTS)
        for img in coco.loadImgs(coco.getImgIds()):
            row = rows[img["image_key"]]
            assert row.split == split
            pixels = cv2.imread(str(tmp_path / "coco/images" / img["file_name"]))
            assert pixels.shape == (img["height"], img["width"], 3)
            (ann,) = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
            assert coco.loadCats(ann["category_id"])[0]["name"] == row.category
            x0, y0, x1, y1 = row.bbox
            assert ann["bbox"] == [x0, y0, x1 - x0, y1 - y0]
            for i, name in enumerate(cats[row.category]["keypoints"]):
                u, v, vis = row.keypoints_2d[name]
                inside = 0 <= u < row.width and 0 <= v < row.height
                assert ann["keypoints"][3 * i : 3 * i + 3] == ([u, v, 2 if vis else 1] if inside else [0, 0, 0])
            assert ann["num_keypoints"] == sum(f > 0 for f in ann["keypoints"][2::3])
            assert ann["R"] == [list(r) for r in row.R] and ann["azimuth"] == row.azimuth and img["K"][0][0] > 0
            # the RLE segmentation decodes to the render's mask, pixel for pixel
            assert isinstance(ann["segmentation"]["counts"], str) and ann["iscrowd"] == 0
            mask = cv2.imread(str(manifest.parents[1] / row.mask), cv2.IMREAD_GRAYSCALE) > 127
            assert np.array_equal(coco.annToMask(ann) > 0, mask)
            assert mask_utils.area(mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))) == ann["area"]
            seen += 1
    assert seen == len(rows)


def test_hf_imagefolder_loads_with_datasets(manifest, tmp_path):
    import datasets

    assert cli(["export", "hf", str(manifest), str(tmp_path / "hf"), "--mode", "hardlink"]) == 0
    ds = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "hf"), cache_dir=str(tmp_path / "cache"))
    rows = rows_by_id(manifest)
    assert set(ds) == {"train", "test"}
    assert sum(len(ds[s]) for s in ds) == len(rows)
    # the columns diffusers' train_controlnet.py reads by default
    assert {"image", "conditioning_image", "text"} <= set(ds["train"].column_names)
    for ex in ds["test"]:
        row = rows[ex["image_id"]]
        assert ex["text"] == row.prompt and row.split == "test"
        assert ex["image"].size == (row.width, row.height)
        cond = np.asarray(ex["conditioning_image"].convert("L"))
        assert np.array_equal(cond > 127, cv2.imread(str(manifest.parents[1] / row.edge), cv2.IMREAD_GRAYSCALE) > 127)
        assert np.allclose(ex["R"], row.R) and ex["azimuth"] == pytest.approx(row.azimuth)
        assert {k["name"] for k in ex["keypoints"]} == set(row.keypoints_2d)


def test_bop_scene_files_reproject_the_keypoints(manifest, tmp_path):
    summary = export_bop(manifest, tmp_path / "bop", unit_scale=1000.0)
    rows = rows_by_id(manifest)
    assert sum(summary["images"].values()) == len(rows)
    index = json.loads((tmp_path / "bop/image_index.json").read_text())
    obj_ids = json.loads((tmp_path / "bop/obj_ids.json").read_text())
    pts = np.array(list(KEYPOINTS.values())) * 1000.0  # object points in mm, as BOP models are
    for image_id, where in index.items():
        row = rows[image_id]
        scene = tmp_path / "bop" / where["split"] / f"{where['scene_id']:06d}"
        gt = json.loads((scene / "scene_gt.json").read_text())[str(where["im_id"])][0]
        cam = json.loads((scene / "scene_camera.json").read_text())[str(where["im_id"])]
        R = np.array(gt["cam_R_m2c"]).reshape(3, 3)
        t = np.array(gt["cam_t_m2c"])
        K = np.array(cam["cam_K"]).reshape(3, 3)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-9) and gt["obj_id"] == obj_ids[row.model_id]
        proj = (pts @ R.T + t) @ K.T
        uv = proj[:, :2] / proj[:, 2:]
        want = np.array([row.keypoints_2d[n][:2] for n in KEYPOINTS])
        assert np.allclose(uv, want, atol=1e-6)
        assert cam["depth_scale"] == pytest.approx(row.depth_scale * 1000.0)
        assert (scene / "rgb" / f"{where['im_id']:06d}.png").is_file()
        for kind in ("mask", "mask_visib"):
            assert (scene / kind / f"{where['im_id']:06d}_000000.png").is_file()
        info = json.loads((scene / "scene_gt_info.json").read_text())[str(where["im_id"])][0]
        assert info["px_count_visib"] > 0 and info["visib_fract"] == row.visib_fract
        x0, y0, x1, y1 = row.bbox  # BOP's boxes span pixel indices: one less than our pixel-edge width
        assert info["bbox_visib"] == [x0, y0, x1 - x0 - 1, y1 - y0 - 1] == info["bbox_obj"]
    bop = tmp_path / "bop"
    for folder in ("models", "models_eval"):
        info = json.loads((bop / folder / "models_info.json").read_text())
        assert sorted(info, key=int) == [str(i) for i in sorted(obj_ids.values())]
        assert all((bop / folder / f"obj_{int(i):06d}.ply").is_file() for i in info)
        extent = (BOX.max(0) - BOX.min(0)) * 1000.0
        for entry in info.values():
            assert [entry["size_x"], entry["size_y"], entry["size_z"]] == pytest.approx(extent.tolist())
            assert entry["diameter"] == pytest.approx(float(np.linalg.norm(extent)))  # the box's diagonal
    assert set(json.loads((bop / "camera.json").read_text())) == {"cx", "cy", "fx", "fy", "width", "height",
                                                                    "depth_scale"}  # fmt: skip
    targets = json.loads((bop / "test_targets_bop19.json").read_text())
    assert len(targets) == summary["images"]["test"]


def test_export_refuses_a_non_empty_folder_unless_overwrite(manifest, tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "old.txt").write_text("keep")
    for fn in (export_coco, export_hf, export_bop):
        with pytest.raises(ExportError, match="not empty; pass --overwrite"):
            fn(manifest, tmp_path / "x")
    assert (tmp_path / "x" / "old.txt").read_text() == "keep"
    assert cli(["export", "coco", str(manifest), str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dst3d export: ") and "not empty" in err and "\n" not in err
    # --overwrite replaces the folder whole: the old file is gone, the new export complete
    assert cli(["export", "coco", str(manifest), str(tmp_path / "x"), "--overwrite"]) == 0
    assert not (tmp_path / "x" / "old.txt").exists() and (tmp_path / "x/annotations/instances_train.json").is_file()
    export_bop(manifest, tmp_path / "x", overwrite=True)
    assert (tmp_path / "x/camera.json").is_file() and not (tmp_path / "x/annotations").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]  # no staging or old copy left beside it


def test_overwrite_never_replaces_the_input(manifest, tmp_path):
    """A folder holding the manifest or its files is not a target, --overwrite or not."""
    for target in (manifest.parent, manifest.parents[1], manifest.parents[1] / "render"):
        with pytest.raises(ExportError, match="holds this export's input"):
            export_coco(manifest, target, overwrite=True)
    assert manifest.is_file()


def test_a_missing_file_is_named_and_nothing_is_written(manifest, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(manifest.parents[1], data, symlinks=True)
    rows = read_manifest(data / "synthesize/manifest.jsonl", ImageRecord)
    victim = rows[len(rows) // 2]
    (data / victim.mask).unlink()
    out = tmp_path / "out"
    for fn in (export_coco, export_bop):
        with pytest.raises(ExportError) as err:
            fn(data / "synthesize/manifest.jsonl", out)
        assert str(err.value) == f"image {victim.image_id}: mask file {data / victim.mask} missing"
    (data / victim.edge).unlink()
    with pytest.raises(ExportError, match=f"image {victim.image_id}: edge file"):
        export_hf(data / "synthesize/manifest.jsonl", out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no output, no staging folder
    # a failure after work started (an unreadable mask) leaves nothing either, and an old export intact
    (out / "keep.txt").parent.mkdir()
    (out / "keep.txt").write_text("old")
    (data / victim.mask).write_bytes(b"not a png")
    with pytest.raises(ExportError, match="cannot be read"):
        export_bop(data / "synthesize/manifest.jsonl", out, overwrite=True)
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and sorted(p.name for p in tmp_path.iterdir()) == [
        "data", "out"]  # fmt: skip


def test_skeletons_connect_every_keypoint_of_each_category():
    for category, names in KEYPOINT_NAMES.items():
        edges = SKELETONS[category]
        assert {n for e in edges for n in e} == set(names), category  # every keypoint, no unknown name
        assert len(set(map(frozenset, edges))) == len(edges) and all(a != b for a, b in edges)
        reached, todo = set(), [names[0]]
        while todo:  # one connected graph
            n = todo.pop()
            if n not in reached:
                reached.add(n)
                todo += [b if a == n else a for a, b in edges if n in (a, b)]
        assert reached == set(names), category
    # COCO form: 1-based pairs into the category's list, kept only where both ends are exported
    order = keypoint_order("car", {"wheel_front_left", "headlight_left"})
    assert order == list(KEYPOINT_NAMES["car"])
    assert [order[i - 1] for i in coco_skeleton("car", order)[0]] == ["wheel_front_left", "wheel_front_right"]
    assert keypoint_order("car", {"z", "a"}) == ["a", "z"] and coco_skeleton("car", ["a", "z"]) == []
