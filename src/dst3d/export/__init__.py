"""Exports of a manifest for other tools: COCO (pycocotools), Hugging Face imagefolder (datasets,
diffusers' ControlNet training script) and BOP (models in mm, scene_gt / scene_camera / scene_gt_info)."""

from __future__ import annotations

from dst3d.export.bop import export_bop
from dst3d.export.coco import export_coco
from dst3d.export.common import MODES, ExportError
from dst3d.export.hf import export_hf

FORMATS = {"coco": export_coco, "hf": export_hf, "bop": export_bop}

__all__ = ["FORMATS", "MODES", "ExportError", "export_bop", "export_coco", "export_hf"]
