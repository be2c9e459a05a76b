"""Evaluation sets from disk: a dst3d manifest or a benchmark folder -> :class:`PoseSample` lists, plus notes
on what was read and what was skipped and why. docs/evaluate.md shows each folder tree.

* ``manifest``: a JSON Lines manifest of :class:`~dst3d.schema.ImageRecord` rows (or a stage folder holding
  ``manifest.jsonl``); angles are already ours (radians).
* ``pascal3d``: PASCAL3D+ release 1.1. ``Annotations/<class>_{imagenet,pascal}/<id>.mat`` each hold a MATLAB
  struct ``record`` (``filename``, ``objects(i)`` with ``class``, ``bbox`` [x1 y1 x2 y2] in 1-based MATLAB
  pixels, ``truncated``, ``occluded``, ``difficult`` and ``viewpoint`` with ``azimuth``, ``elevation``,
  ``theta`` in degrees, or only ``azimuth_coarse``/``elevation_coarse``); images are
  ``Images/<class>_<subset>/<record.filename>``. Only objects of the folder's class are read from its files
  (a PASCAL image with a car and a bus is in both folders; each object counts once). Splits:
  ``Image_sets/<class>_imagenet_<set>.txt`` and VOC's ``PASCAL/VOCdevkit/VOC2012/ImageSets/Main/<class>_<set>.txt``.
* ``objectnet3d``: the same ``record`` struct, one file per image: ``Annotations/<id>.mat``,
  ``Images/<record.filename>``, splits ``Image_sets/<set>.txt``; all classes in one file.
* ``imagenet3d``: the ImageNet3D release: ``annotations/<class>/<id>.npz`` whose ``annotations`` entry is an
  object array of one dict per object (``azimuth``, ``elevation``, ``theta`` in **radians**, ``bbox``
  (x1, y1, x2, y2) in pixels, ``class``, ``distance``, ``object_status``/``ignore`` ...), images
  ``images/<class>/<id>.JPEG``, splits ``lists/<class>_imagenet_<set>.txt``. The keys are those the
  dataset's own README ("Annotation Example") and loaders read: github.com/wufeim/imagenet3d
  (README.md, preprocess_data.py, visualize_sample_data.py). A per-object npz with those keys at top level
  (the preprocessed variant) is read as one object.

PASCAL3D+, ObjectNet3D and ImageNet3D all use the PASCAL3D+ viewpoint parameterisation, which is dst3d's
(docs/conventions.md), so angles only change unit. ``.mat`` files are read with
``scipy.io.loadmat(squeeze_me=True, struct_as_record=False)``; ``.npz`` object arrays are unpickled by an
unpickler that rebuilds numpy arrays and plain containers only (an annotation file never runs code).
Every file and image is checked here, before any prediction: errors name the file and the field.
"""

from __future__ import annotations

import math
import pickle
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from dst3d import layout
from dst3d.schema import ImageRecord, read_manifest
from dst3d.training.data import DataError, PoseSample, samples_from_records

FORMATS = ("manifest", "pascal3d", "objectnet3d", "imagenet3d")
PASCAL3D_SUBSETS = ("imagenet", "pascal")
VOC_IMAGE_SETS = Path("PASCAL/VOCdevkit/VOC2012/ImageSets/Main")
IMAGE_SUFFIXES = (".JPEG", ".jpg", ".jpeg", ".JPG", ".png", ".PNG")
SKIP_REASONS = ("no_viewpoint", "difficult", "truncated", "occluded", "coarse_only", "ignored")


class AnnotationError(DataError):
    """An annotation file, list or image that cannot be read: the message names the file and the field."""


@dataclass(frozen=True)
class Filters:
    """Objects kept beside the default protocol (PASCAL3D+/ObjectNet3D: neither truncated, occluded nor
    difficult, fine viewpoint only). ``coarse``: fall back to ``azimuth_coarse``/``elevation_coarse``
    (theta 0 when absent) for objects without a fine viewpoint, as Tulsiani & Malik's loader does."""

    INCLUDABLE: ClassVar[tuple[str, ...]] = ("truncated", "occluded", "difficult", "coarse")

    truncated: bool = False
    occluded: bool = False
    difficult: bool = False
    coarse: bool = False

    @classmethod
    def including(cls, names: Sequence[str]) -> Filters:
        bad = sorted(set(names) - set(cls.INCLUDABLE))
        if bad:
            raise DataError(f"--include: {bad} unknown; choose from {list(cls.INCLUDABLE)}")
        return cls(**dict.fromkeys(names, True))


@dataclass
class EvalSet:
    """The samples to evaluate and the notes on how they were read (written to metrics.json / report.json)."""

    samples: list[PoseSample]
    notes: dict[str, Any]


@dataclass
class _Tally:
    fmt: str
    root: Path
    split: str
    files: int = 0
    skipped: Counter = field(default_factory=Counter)
    other_categories: Counter = field(default_factory=Counter)
    not_in_model: list[str] = field(default_factory=list)
    coarse: int = 0
    sources: dict[str, str] = field(default_factory=dict)  # image path -> the annotation naming it

    def notes(self, samples: Sequence[PoseSample]) -> dict[str, Any]:
        return {"format": self.fmt, "path": str(self.root), "split": self.split, "annotation_files": self.files,
                "objects": len(samples) + sum(self.skipped.values()), "evaluated": len(samples),
                "per_category": dict(Counter(s.category for s in samples)),
                "skipped": {k: self.skipped[k] for k in SKIP_REASONS if self.skipped[k]},
                "other_categories": dict(sorted(self.other_categories.items())),
                "classes_not_in_model": self.not_in_model, "coarse_viewpoints": self.coarse}


# --------------------------------------------------------------------------- entry points
def detect_format(path: str | Path) -> str:
    """The format of ``path`` by its layout (``auto``)."""
    p = Path(path)
    if p.is_file():
        if p.suffix == ".jsonl":
            return "manifest"
        raise AnnotationError(f"{p}: a file but not a .jsonl manifest (see docs/evaluate.md for the folder formats)")
    if not p.is_dir():
        raise AnnotationError(f"{p}: not found")
    if (p / "manifest.jsonl").is_file():
        return "manifest"
    ann = p / "Annotations"
    if ann.is_dir():
        entries = list(ann.iterdir())
        if any(d.is_dir() and d.name.rpartition("_")[2] in PASCAL3D_SUBSETS for d in entries):
            return "pascal3d"
        if any(f.suffix == ".mat" for f in entries):
            return "objectnet3d"
    if (p / "annotations").is_dir():
        return "imagenet3d"
    raise AnnotationError(
        f"{p}: format not recognised: expected a .jsonl manifest (or a folder with manifest.jsonl), PASCAL3D+ "
        "(Annotations/<class>_imagenet|_pascal/*.mat), ObjectNet3D (Annotations/*.mat) or ImageNet3D "
        "(annotations/<class>/*.npz); or pass --format")


def load_set(path: str | Path, fmt: str, categories: Sequence[str], split: str = "",
             filters: Filters = Filters()) -> EvalSet:
    """Read and check the whole set (every annotation field used, every image's existence and format).

    ``fmt``: one of :data:`FORMATS` or ``auto``; ``categories``: the model's, in label order (objects of
    other classes are skipped and counted); ``split``: a split name of the format ('' = everything).
    """
    path = Path(path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    readers = {"manifest": _manifest, "pascal3d": _pascal3d, "objectnet3d": _objectnet3d, "imagenet3d": _imagenet3d}
    if fmt not in readers:
        raise DataError(f"format {fmt!r}: choose from {['auto', *FORMATS]}")
    tally = _Tally(fmt, path, split)
    samples = readers[fmt](path, list(categories), split, filters, tally)
    check_images(samples, tally.sources)
    return EvalSet(samples, tally.notes(samples))


def check_images(samples: Sequence[PoseSample], sources: dict[str, str] | None = None) -> None:
    """Every sample's image exists and has a format OpenCV decodes (its header; nothing is decoded)."""
    sources = sources or {}
    for path in dict.fromkeys(s.path for s in samples):
        where = sources.get(path, "")
        prefix = f"{where}: " if where else ""
        if layout.is_member(path):  # base.layout: shards; the bytes are checked when read
            shard, member = layout.split(path)
            if member not in layout.shard_index(shard):
                raise AnnotationError(f"{prefix}image {path}: no such member in {shard}")
            continue
        if not Path(path).is_file():
            raise AnnotationError(f"{prefix}image {path} not found")
        if not cv2.haveImageReader(path):
            raise AnnotationError(f"{prefix}image {path} is not a readable image")


# --------------------------------------------------------------------------- manifest
def _manifest(path: Path, categories: list[str], split: str, filters: Filters, tally: _Tally) -> list[PoseSample]:
    manifest = path / "manifest.jsonl" if path.is_dir() else path
    tally.root = manifest
    rows = read_manifest(manifest, ImageRecord)
    tally.files = 1
    if split:
        splits = sorted({r.split for r in rows})
        rows = [r for r in rows if r.split == split]
        if not rows:
            raise AnnotationError(f"{manifest}: no row has split {split!r} (splits there: {splits})")
    keep = [r for r in rows if r.category in categories]
    tally.other_categories.update(r.category for r in rows if r.category not in categories)
    field_name = "image" if all(r.image for r in keep) else "rgb"
    samples = samples_from_records(keep, manifest, categories, field_name)
    tally.sources.update({s.path: f"{manifest}: row {s.key!r}" for s in samples})
    return samples


# --------------------------------------------------------------------------- MATLAB records
def _fields(value: Any) -> list[str] | None:
    return getattr(value, "_fieldnames", None)


def _get(struct: Any, name: str, file: Path, where: str) -> Any:
    names = _fields(struct)
    if names is None:
        raise AnnotationError(f"{file}: {where} is not a struct")
    if name not in names:
        raise AnnotationError(f"{file}: {where} has no field {name!r}")
    return getattr(struct, name)


def _is_empty(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.size == 0


def _number(value: Any, file: Path, where: str) -> float:
    try:
        arr = np.asarray(value, dtype=np.float64)
        if arr.size != 1:
            raise ValueError
        x = float(arr.reshape(()))
    except (TypeError, ValueError):
        raise AnnotationError(f"{file}: {where} is not a number ({value!r})") from None
    if not math.isfinite(x):
        raise AnnotationError(f"{file}: {where} is not finite ({x})")
    return x


def _text(value: Any, file: Path, where: str) -> str:
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if not isinstance(value, str) or not value:
        raise AnnotationError(f"{file}: {where} is not a non-empty string ({value!r})")
    return value


def _box(value: Any, file: Path, where: str, one_based: bool) -> tuple[float, float, float, float] | None:
    """[x1 y1 x2 y2] -> pixel edges (x0, y0, x1, y1); MATLAB's 1-based inclusive pixel x covers [x-1, x)."""
    try:
        v = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        v = np.zeros(0)
    if v.size != 4 or not np.isfinite(v).all():
        raise AnnotationError(f"{file}: {where} is not 4 numbers [x1 y1 x2 y2] ({value!r})")
    x0, y0, x1, y1 = (float(v[0]) - 1, float(v[1]) - 1, float(v[2]), float(v[3])) if one_based else map(float, v)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _load_record(file: Path) -> Any:
    from scipy.io import loadmat

    try:
        mat = loadmat(str(file), squeeze_me=True, struct_as_record=False)
    except Exception as err:  # noqa: BLE001 - scipy raises many types for a broken file
        raise AnnotationError(f"{file}: not a readable .mat file ({type(err).__name__}: {err})") from None
    if "record" not in mat:
        raise AnnotationError(f"{file}: has no 'record' variable (PASCAL3D+/ObjectNet3D annotation)")
    if _fields(mat["record"]) is None:
        raise AnnotationError(f"{file}: record is not a struct")
    return mat["record"]


def _objects(record: Any, file: Path) -> list[Any]:
    """record.objects as a list: squeeze_me makes a one-object struct array a bare struct."""
    objs = _get(record, "objects", file, "record")
    return list(objs.reshape(-1)) if isinstance(objs, np.ndarray) else [objs]


def _viewpoint(vp: Any, file: Path, where: str) -> tuple[tuple[float, float, float] | None, bool]:
    """(azimuth, elevation, theta) in radians and whether they are the coarse ones; None = no viewpoint."""
    names = _fields(vp)
    if names is None:
        raise AnnotationError(f"{file}: {where} is not a struct")
    def has(name: str) -> bool:  # present and not [] (unfilled fields of MATLAB structs are empty)
        return name in names and not _is_empty(getattr(vp, name))

    no_fine = "distance" in names and (not has("distance") or _number(vp.distance, file, f"{where}.distance") == 0)
    if has("azimuth") and not no_fine:  # distance 0 / []: the fine alignment was never done
        angles = tuple(_number(_get(vp, k, file, where), file, f"{where}.{k}") for k in ("azimuth", "elevation",
                                                                                          "theta"))
        return tuple(math.radians(a) for a in angles), False  # type: ignore[return-value]
    if has("azimuth_coarse"):
        a = _number(vp.azimuth_coarse, file, f"{where}.azimuth_coarse")
        e = _number(_get(vp, "elevation_coarse", file, where), file, f"{where}.elevation_coarse")
        t = _number(vp.theta, file, f"{where}.theta") if has("theta") else 0.0
        return (math.radians(a), math.radians(e), math.radians(t)), True
    if no_fine:
        return None, False
    raise AnnotationError(f"{file}: {where} has no field 'azimuth' (nor 'azimuth_coarse')")


def _mat_object(obj: Any, file: Path, where: str, filters: Filters,
                tally: _Tally) -> tuple[tuple[float, float, float], tuple[float, float, float, float] | None] | None:
    """(angles, bbox) of one ``record.objects(i)``, or None when a filter skips it (tallied)."""
    flags = {k: bool(_number(_get(obj, k, file, where), file, f"{where}.{k}")) for k in
             ("difficult", "truncated", "occluded")}
    bbox = _box(_get(obj, "bbox", file, where), file, f"{where}.bbox", one_based=True)
    vp = _get(obj, "viewpoint", file, where)
    angles, coarse = (None, False) if _is_empty(vp) else _viewpoint(vp, file, f"{where}.viewpoint")
    reason = "no_viewpoint" if angles is None else next(
        (k for k in ("difficult", "truncated", "occluded") if flags[k] and not getattr(filters, k)), None)
    if reason is None and coarse and not filters.coarse:
        reason = "coarse_only"
    if reason is not None:
        tally.skipped[reason] += 1
        return None
    tally.coarse += coarse
    return angles, bbox  # type: ignore[return-value]


def _id_list(file: Path, split: str) -> list[str]:
    if not file.is_file():
        raise AnnotationError(f"{file}: image set list not found (split {split!r})")
    return [line.split()[0] for line in file.read_text().splitlines() if line.strip()]


def _listed_files(folder: Path, suffix: str, ids: Sequence[str], listing: Path) -> list[Path]:
    files = [folder / f"{i}{suffix}" for i in ids]
    missing = next((f for f in files if not f.is_file()), None)
    if missing is not None:
        raise AnnotationError(f"{listing}: lists {missing.stem!r} but {missing} is missing")
    return files


def _add(samples: list[PoseSample], tally: _Tally, source: str, key: str, image: Path, category: str,
         categories: list[str], angles: tuple[float, float, float], bbox: Any) -> None:
    samples.append(PoseSample(key=key, path=str(image), label=categories.index(category), category=category,
                              angles=angles, bbox=bbox))
    tally.sources.setdefault(str(image), source)


def _pascal3d(root: Path, categories: list[str], split: str, filters: Filters, tally: _Tally) -> list[PoseSample]:
    ann_root = root / "Annotations"
    if not ann_root.is_dir():
        raise AnnotationError(f"{root}: no Annotations/ folder (PASCAL3D+ release layout)")
    subset, _, set_name = split.partition("_")
    subsets, set_name = ((subset,), set_name) if subset in PASCAL3D_SUBSETS and set_name else (PASCAL3D_SUBSETS, split)
    classes = {d.name.rpartition("_")[0] for d in ann_root.iterdir()
               if d.is_dir() and d.name.rpartition("_")[2] in PASCAL3D_SUBSETS}
    tally.not_in_model = sorted(classes - set(categories))
    if not classes & set(categories):
        raise AnnotationError(f"{ann_root}: no <class>_imagenet or <class>_pascal folder for the model's categories "
                              f"{categories}")
    samples: list[PoseSample] = []
    for cls in categories:
        for sub in subsets:
            folder = ann_root / f"{cls}_{sub}"
            if not folder.is_dir():
                continue
            files = sorted(folder.glob("*.mat"))
            if set_name:
                listing = (root / "Image_sets" / f"{cls}_imagenet_{set_name}.txt" if sub == "imagenet"
                           else root / VOC_IMAGE_SETS / f"{cls}_{set_name}.txt")
                ids = _id_list(listing, split)
                if sub == "imagenet":
                    files = _listed_files(folder, ".mat", ids, listing)
                else:  # VOC's lists name every image of the split, most without this class
                    wanted = set(ids)
                    files = [f for f in files if f.stem in wanted]
            for file in files:
                tally.files += 1
                record = _load_record(file)
                image = root / "Images" / f"{cls}_{sub}" / _text(_get(record, "filename", file, "record"), file,
                                                                 "record.filename")
                for i, obj in enumerate(_objects(record, file), start=1):
                    where = f"record.objects({i})"
                    if _text(_get(obj, "class", file, where), file, f"{where}.class") != cls:
                        continue  # read from its own class's folder
                    got = _mat_object(obj, file, where, filters, tally)
                    if got is not None:
                        _add(samples, tally, str(file), f"{cls}_{sub}/{file.stem}/{i}", image, cls, categories, *got)
    return samples


def _objectnet3d(root: Path, categories: list[str], split: str, filters: Filters, tally: _Tally) -> list[PoseSample]:
    ann_root = root / "Annotations"
    if not ann_root.is_dir():
        raise AnnotationError(f"{root}: no Annotations/ folder (ObjectNet3D layout)")
    if split:
        listing = root / "Image_sets" / f"{split}.txt"
        files = _listed_files(ann_root, ".mat", _id_list(listing, split), listing)
    else:
        files = sorted(ann_root.glob("*.mat"))
    samples: list[PoseSample] = []
    for file in files:
        tally.files += 1
        record = _load_record(file)
        image = root / "Images" / _text(_get(record, "filename", file, "record"), file, "record.filename")
        for i, obj in enumerate(_objects(record, file), start=1):
            where = f"record.objects({i})"
            cls = _text(_get(obj, "class", file, where), file, f"{where}.class")
            if cls not in categories:
                tally.other_categories[cls] += 1
                continue
            got = _mat_object(obj, file, where, filters, tally)
            if got is not None:
                _add(samples, tally, str(file), f"{file.stem}/{i}", image, cls, categories, *got)
    return samples


# --------------------------------------------------------------------------- ImageNet3D (.npz)
_NUMPY_GLOBALS = {
    (module, name)
    for prefix in ("numpy.core", "numpy._core")
    for module, name in ((f"{prefix}.multiarray", "_reconstruct"), (f"{prefix}.multiarray", "scalar"),
                         (f"{prefix}.numeric", "_frombuffer"))
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays, scalars and dtypes and plain containers; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            try:
                return super().find_class(module, name)
            except ImportError:  # written by numpy 2 (numpy._core), read by numpy 1 (numpy.core)
                return super().find_class(module.replace("numpy._core", "numpy.core"), name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name} (only numpy data is read)")


def _object_array(file: Path, key: str) -> Any:
    with zipfile.ZipFile(file) as z, z.open(f"{key}.npy") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        return _NumpyOnlyUnpickler(f).load()


def load_npz(file: str | Path) -> dict[str, Any]:
    """Every array of an ``.npz``; object arrays (ImageNet3D's list of dicts) through the numpy-only unpickler."""
    file = Path(file)
    out: dict[str, Any] = {}
    try:
        npz = np.load(file, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with npz:
            for key in npz.files:
                try:
                    out[key] = npz[key]
                except ValueError:  # an object array: needs unpickling
                    out[key] = _object_array(file, key)
    except Exception as err:  # noqa: BLE001 - numpy, zipfile and pickle raise many types for a broken file
        raise AnnotationError(f"{file}: not a readable .npz file ({type(err).__name__}: {err})") from None
    return out


def _npz_objects(data: dict[str, Any], file: Path) -> list[Any]:
    if "annotations" in data:
        ann = data["annotations"]
        if isinstance(ann, np.ndarray) and ann.dtype == object:
            items = ann.reshape(-1).tolist() if ann.ndim else ann.item()
            return list(items) if isinstance(items, (list, tuple)) else [items]
        raise AnnotationError(f"{file}: annotations is not an array of per-object dicts")
    if any(k in data for k in ("azimuth", "elevation", "theta")):  # one object per file (preprocessed layout)
        return [{k: (v.item() if isinstance(v, np.ndarray) and v.ndim == 0 else v) for k, v in data.items()}]
    raise AnnotationError(f"{file}: has no field 'annotations' (ImageNet3D: one dict per object)")


def _image_for(folder: Path, stem: str) -> Path:
    return next((p for p in (folder / f"{stem}{s}" for s in IMAGE_SUFFIXES) if p.is_file()), folder / f"{stem}.JPEG")


def _imagenet3d(root: Path, categories: list[str], split: str, filters: Filters, tally: _Tally) -> list[PoseSample]:
    ann_root = root / "annotations"
    if not ann_root.is_dir():
        raise AnnotationError(f"{root}: no annotations/ folder (ImageNet3D layout)")
    classes = {d.name for d in ann_root.iterdir() if d.is_dir()}
    tally.not_in_model = sorted(classes - set(categories))
    if not classes & set(categories):
        raise AnnotationError(f"{ann_root}: no <class> folder for the model's categories {categories}")
    samples: list[PoseSample] = []
    for cls in categories:
        folder = ann_root / cls
        if not folder.is_dir():
            continue
        if split:
            listing = root / "lists" / f"{cls}_imagenet_{split}.txt"
            files = _listed_files(folder, ".npz", _id_list(listing, split), listing)
        else:
            files = sorted(folder.glob("*.npz"))
        for file in files:
            tally.files += 1
            image = _image_for(root / "images" / cls, file.stem)
            for i, obj in enumerate(_npz_objects(load_npz(file), file)):
                where = f"annotations[{i}]"
                if not isinstance(obj, dict):
                    raise AnnotationError(f"{file}: {where} is not a dict ({type(obj).__name__})")
                obj_cls = _text(obj["class"], file, f"{where}['class']") if "class" in obj else cls
                if obj_cls not in categories:
                    tally.other_categories[obj_cls] += 1
                    continue
                got = _npz_object(obj, file, where, tally)
                if got is not None:
                    _add(samples, tally, str(file), f"{cls}/{file.stem}/{i}", image, obj_cls, categories, *got)
    return samples


def _npz_object(obj: dict[str, Any], file: Path, where: str,
                tally: _Tally) -> tuple[tuple[float, float, float], tuple[float, float, float, float] | None] | None:
    """(angles, bbox) of one ImageNet3D object, or None when skipped as the dataset's own loaders do."""
    present = [k for k in ("azimuth", "elevation", "theta") if k in obj]
    if not present:  # an object without a pose annotation
        tally.skipped["no_viewpoint"] += 1
        return None
    missing = next((k for k in ("azimuth", "elevation", "theta", "bbox") if k not in obj), None)
    if missing is not None:
        raise AnnotationError(f"{file}: {where} has no field {missing!r}")
    angles = tuple(_number(obj[k], file, f"{where}[{k!r}]") for k in ("azimuth", "elevation", "theta"))
    bbox = _box(obj["bbox"], file, f"{where}['bbox']", one_based=False)
    status = obj.get("object_status")
    ignored = ("ignore" in obj and _number(obj["ignore"], file, f"{where}['ignore']") > 0) or (
        status is not None and str(np.asarray(status).reshape(-1)[0]) == "status_bad")
    if ignored:
        tally.skipped["ignored"] += 1
        return None
    if "distance" in obj and _number(obj["distance"], file, f"{where}['distance']") <= 0:
        tally.skipped["no_viewpoint"] += 1
        return None
    return angles, bbox  # type: ignore[return-value]
