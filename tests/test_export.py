"""Exports read back by the libraries their users use: pycocotools (COCO), datasets (imagefolder), and BOP's
own conventions (re-projecting the 3D keypoints with cam_R_m2c / cam_t_m2c / cam_K)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from synth_fixtures import KEYPOINTS, make_fixture, write_params

from dst3d.cli import main as cli
from dst3d.export import ExportError, export_bop, export_coco, export_hf
from dst3d.schema import ImageRecord, read_manifest

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
    return tmp / "data/synthesize/manifest.jsonl"


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
                assert ann["keypoints"][3 * i : 3 * i + 3] == [u, v, 2 if vis else 1]
            assert ann["R"] == [list(r) for r in row.R] and ann["azimuth"] == row.azimuth and img["K"][0][0] > 0
            # the polygon segmentation decodes to the render's mask
            seg = coco.annToMask(ann) > 0
            mask = cv2.imread(str(manifest.parents[1] / row.mask), cv2.IMREAD_GRAYSCALE) > 127
            assert (seg & mask).sum() / (seg | mask).sum() > 0.85
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
        assert (scene / "mask_visib" / f"{where['im_id']:06d}_000000.png").is_file()
        info = json.loads((scene / "scene_gt_info.json").read_text())[str(where["im_id"])][0]
        assert info["px_count_visib"] > 0 and info["visib_fract"] == row.visib_fract


def test_export_refuses_a_non_empty_folder(manifest, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "old.txt").write_text("keep")
    for fn in (export_coco, export_hf, export_bop):
        with pytest.raises(ExportError, match="not empty"):
            fn(manifest, tmp_path / "x")
