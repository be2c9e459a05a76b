"""Storage layouts of the per-image files: loose files, or WebDataset tar shards — behind one accessor.

``base.layout: files`` keeps one PNG per image and pass (render rgb/mask/depth, edge, image), as always.
``base.layout: shards`` packs a stage's per-image files into tar shards in the WebDataset convention —
``<stage>/shards/<stage>-%06d.tar``, members ``<key>.<ext>`` (``key`` = the row's ``image_id``), all files
of one sample adjacent — because DVC handles hundreds of thousands of small files slowly (docs/layout.md
has the measurement). A record's file field then names a member: ``render/shards/render-000003.tar#
car_car-b000_0007.rgb.png``, still relative to the data root (:func:`dst3d.schema.resolve` works unchanged).

Beside each shard, ``<stage>-%06d.idx.json`` lists every member's data offset, size, SHA-256 and the path
it was packed from, so a reader seeks straight to one member (no scan of the tar) and checks it, and a
resumed stage can restore its working files (:func:`unpack`).

**Readers** call :func:`imread` / :func:`read_bytes` with the resolved path of a field, whatever the
layout. **Writers** keep writing per-image files (their per-image resume is unchanged); the stage then calls
:func:`finish`, which packs them into shards (each shard written by one process, as ``*.tar.partial``
renamed into place, its index written after it; a shard whose index already matches the files is reused)
and removes the loose files — or, for ``files``, removes shards left by an earlier ``shards`` run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from dst3d import atomic
from dst3d.errors import UserError

Layout = Literal["files", "shards"]
LAYOUTS: tuple[str, ...] = ("files", "shards")
SHARDS_DIR = "shards"
MEMBER_SEP = "#"
INDEX_SUFFIX = ".idx.json"
PARTIAL_SUFFIX = ".partial"
FILE_FIELDS: tuple[str, ...] = ("rgb", "mask", "depth", "edge", "image")
"""The file fields of :class:`dst3d.schema.ImageRecord`."""

T = TypeVar("T")


class LayoutError(UserError, ValueError):
    """A shard or member is missing, truncated or corrupt, or a manifest mixes layouts."""


# --------------------------------------------------------------------------- references
def split(path: str | Path) -> tuple[Path, str | None]:
    """``…/x.tar#member`` -> (shard path, member); a plain file path -> (path, None)."""
    s = str(path)
    i = s.rfind(".tar" + MEMBER_SEP)
    if i < 0:
        return Path(s), None
    return Path(s[: i + 4]), s[i + 5 :]


def is_member(path: str | Path) -> bool:
    """Whether a record field (or a resolved path) names a shard member rather than a file."""
    return split(path)[1] is not None


def check_rows(rows: Sequence[Any], where: str | Path) -> None:
    """Refuse a manifest whose rows mix layouts in one file field (some loose files, some shard members)."""
    for name in FILE_FIELDS:
        first: dict[bool, int] = {}
        for i, row in enumerate(rows):
            value = getattr(row, name, "")
            if value:
                first.setdefault(is_member(value), i)
        if len(first) == 2:
            f, m = first[False], first[True]
            raise LayoutError(
                f"{where}: field {name!r} mixes layouts: row {f + 1} ({rows[f].image_id}) is a file, row {m + 1} "
                f"({rows[m].image_id}) a shard member; re-run the stage that wrote it with one base.layout"
            )


# --------------------------------------------------------------------------- reading
@dataclasses.dataclass(frozen=True)
class Entry:
    """One member of a shard: where its bytes are, their checksum, and the file it was packed from."""

    offset: int
    size: int
    sha256: str
    path: str  # relative to the stage folder


def index_path(shard: Path) -> Path:
    """``…/render-000003.tar`` -> ``…/render-000003.idx.json``."""
    return shard.with_name(shard.name[: -len(".tar")] + INDEX_SUFFIX)


@lru_cache(maxsize=512)
def _index(shard: str, _mtime_ns: int, _size: int) -> dict[str, Entry]:
    # keyed by the tar's mtime and size too: a rewritten shard is re-indexed
    ipath = index_path(Path(shard))
    try:
        raw = json.loads(ipath.read_text())
        return {m: Entry(*e) for m, e in raw["members"].items()}
    except FileNotFoundError:
        raise LayoutError(f"{shard}: shard index {ipath.name} missing (re-run the stage that wrote it)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise LayoutError(f"{ipath}: unreadable shard index ({exc})") from None


def shard_index(shard: str | Path) -> dict[str, Entry]:
    """The member index of one shard (cached per process while the shard is unchanged)."""
    shard = Path(shard)
    try:
        st = shard.stat()
    except FileNotFoundError:
        raise LayoutError(f"{shard}: shard missing (re-run the stage that wrote it)") from None
    return _index(str(shard), st.st_mtime_ns, st.st_size)


def read_bytes(path: str | Path) -> bytes:
    """The bytes of a record's file, given its resolved path: a loose file or ``<shard>.tar#<member>``.

    A member is read by one seek + read at the offset its shard's index gives, then checked against the
    index's SHA-256: a truncated or corrupt shard fails naming the shard and the member.
    """
    shard, member = split(path)
    if member is None:
        return Path(path).read_bytes()
    index = shard_index(shard)
    entry = index.get(member)
    if entry is None:
        raise LayoutError(f"{shard}: no member {member!r} in the shard index")
    with open(shard, "rb") as fh:
        fh.seek(entry.offset)
        data = fh.read(entry.size)
    if len(data) != entry.size:
        raise LayoutError(
            f"{shard}#{member}: shard truncated ({entry.offset + len(data)} of {entry.offset + entry.size} bytes)"
        )
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise LayoutError(f"{shard}#{member}: shard corrupt (member checksum mismatch)")
    return data


def imread(path: str | Path, flags: int | None = None) -> Any:
    """``cv2.imread`` for either layout: a loose file is read by cv2 itself (None when missing or
    unreadable, as before); a member is decoded with ``cv2.imdecode`` (the same codec, the same pixels)."""
    import cv2
    import numpy as np

    flags = cv2.IMREAD_COLOR if flags is None else flags
    if not is_member(path):
        return cv2.imread(str(path), flags)
    img = cv2.imdecode(np.frombuffer(read_bytes(path), np.uint8), flags)
    if img is None:
        shard, member = split(path)
        raise LayoutError(f"{shard}#{member}: shard corrupt (member is not a decodable image)")
    return img


# --------------------------------------------------------------------------- writing
Sample = tuple[str, Mapping[str, Path]]
"""(key, {ext: loose file}) — one sample's files, packed as members ``<key>.<ext>``."""


def shard_path(stage_dir: Path, prefix: str, k: int) -> Path:
    return stage_dir / SHARDS_DIR / f"{prefix}-{k:06d}.tar"


def _expected(stage_dir: Path, chunk: Sequence[Sample]) -> list[tuple[str, Path]]:
    # webdataset's TarWriter writes a sample's members in sorted extension order
    return [(f"{key}.{ext}", files[ext]) for key, files in chunk for ext in sorted(files)]


def _reusable(shard: Path, stage_dir: Path, want: list[tuple[str, Path]]) -> bool:
    """A finished shard whose index lists exactly these members, packed from these files, with equal bytes."""
    ipath = index_path(shard)
    if not (shard.is_file() and ipath.is_file()):
        return False
    try:
        index = _index(str(shard), shard.stat().st_mtime_ns, shard.stat().st_size)
    except LayoutError:
        return False
    if list(index) != [m for m, _ in want]:
        return False
    with open(shard, "rb") as fh:
        for member, file in want:
            entry = index[member]
            if entry.path != file.relative_to(stage_dir).as_posix():
                return False
            if file.is_file() and hashlib.sha256(file.read_bytes()).hexdigest() != entry.sha256:
                return False
            fh.seek(entry.offset)  # and the shard itself still holds those bytes (not truncated, not corrupt)
            if hashlib.sha256(fh.read(entry.size)).hexdigest() != entry.sha256:
                return False
    return True


def write_shard(task: tuple[Path, Path, list[tuple[str, Path]]]) -> str:
    """Write one shard from loose files (``.tar.partial`` renamed into place, then its index); 'written'|'reused'.

    Written with webdataset's ``TarWriter`` (the WebDataset convention, reproducible: mtime 0, no owner);
    the member offsets are then read from the finished tar's headers with ``tarfile``.
    """
    import webdataset as wds

    shard, stage_dir, want = task
    if _reusable(shard, stage_dir, want):
        return "reused"
    index_path(shard).unlink(missing_ok=True)
    partial = shard.with_name(shard.name + PARTIAL_SUFFIX)
    shard.parent.mkdir(parents=True, exist_ok=True)
    members: dict[str, list[Any]] = {}
    with open(partial, "wb") as fh:
        # PAX: member names over 100 characters (long model ids) get an extended header instead of failing
        writer = wds.TarWriter(fh, user="", group="", mode=0o444, mtime=0, encoder=False, format="PAX_FORMAT")
        sample: dict[str, Any] = {}
        for member, file in want:
            key, _, ext = member.partition(".")
            if sample and sample["__key__"] != key:
                writer.write(sample)
                sample = {}
            data = file.read_bytes()
            sample["__key__"] = key
            sample[ext] = data
            members[member] = [0, len(data), hashlib.sha256(data).hexdigest(), file.relative_to(stage_dir).as_posix()]
        if sample:
            writer.write(sample)
        writer.close()
    with tarfile.open(partial) as tar:  # headers only: the data offsets the writer does not record
        infos = tar.getmembers()
    for info in infos:
        members[info.name][0] = info.offset_data
    if sorted(members) != sorted(i.name for i in infos):
        partial.unlink()
        raise LayoutError(f"{shard}: member names collide (a key contains '.'?)")
    os.replace(partial, shard)
    atomic.write_text(index_path(shard), json.dumps({"shard": shard.name, "members": members}, indent=0) + "\n")
    return "written"


def pack(
    stage_dir: Path,
    samples: Sequence[Sample],
    prefix: str,
    shard_size: int,
    name: str | None = None,
    workers: int = 1,
) -> dict[Path, str]:
    """Pack the samples' loose files into shards of ``shard_size`` samples under ``stage_dir/shards``.

    Returns ``{loose file: record reference}`` (``<name>/shards/<prefix>-%06d.tar#<member>``; ``name`` is the
    stage folder's final name when ``stage_dir`` is its staging twin). Afterwards the loose files, and
    shards of an earlier run that are not part of this one, are deleted. Each shard is written by one
    process (``workers`` processes at a time).
    """
    name = name or stage_dir.name
    chunks = [samples[i : i + shard_size] for i in range(0, len(samples), shard_size)]
    tasks = [(shard_path(stage_dir, prefix, k), stage_dir, _expected(stage_dir, c)) for k, c in enumerate(chunks)]
    if workers > 1 and len(tasks) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(workers, len(tasks))) as pool:
            list(pool.map(write_shard, tasks))
    else:
        for t in tasks:
            write_shard(t)
    refs = {}
    for shard, _, want in tasks:
        rel = f"{name}/{shard.relative_to(stage_dir).as_posix()}"
        for member, file in want:
            refs[file] = f"{rel}{MEMBER_SEP}{member}"
    keep = {p for s, _, _ in tasks for p in (s, index_path(s))}
    for p in (stage_dir / SHARDS_DIR).glob("*") if (stage_dir / SHARDS_DIR).is_dir() else ():
        if p not in keep:
            p.unlink()
    _remove_files(stage_dir, refs)
    return refs


def _remove_files(stage_dir: Path, files: Iterable[Path]) -> None:
    """Delete packed loose files, then the folders they leave empty (never ``stage_dir`` itself)."""
    parents = set()
    for f in files:
        f.unlink(missing_ok=True)
        parents.add(f.parent)
    for d in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        while d != stage_dir and stage_dir in d.parents:
            try:
                d.rmdir()
            except OSError:
                break
            d = d.parent


def unpack(stage_dir: Path) -> int:
    """Restore the loose files of every shard under ``stage_dir/shards`` (missing ones only), so a stage's
    per-image resume sees its finished work; the shards stay (a later :func:`pack` reuses unchanged ones).
    Returns how many files were restored."""
    restored = 0
    folder = stage_dir / SHARDS_DIR
    for shard in sorted(folder.glob("*.tar")) if folder.is_dir() else ():
        try:
            index = shard_index(shard)
        except LayoutError:
            continue  # no index: never finished; pack rewrites it
        for member, entry in index.items():
            file = stage_dir / entry.path
            if not file.is_file():
                try:
                    atomic.write_bytes(file, read_bytes(f"{shard}{MEMBER_SEP}{member}"))
                except LayoutError:
                    break  # a damaged shard: its files are made again and the shard rewritten
                restored += 1
    for p in folder.glob("*" + PARTIAL_SUFFIX) if folder.is_dir() else ():
        p.unlink()  # a killed pack's unfinished shard
    return restored


def finish(
    stage_dir: Path,
    layout: str,
    samples: Sequence[Sample],
    prefix: str,
    shard_size: int,
    name: str | None = None,
    workers: int = 1,
) -> dict[Path, str]:
    """End of a writing stage: ``shards`` packs (see :func:`pack`); ``files`` keeps the loose files and removes
    any shards an earlier ``shards`` run left. Returns ``{loose file: reference}`` (empty for ``files``)."""
    if layout == "shards":
        return pack(stage_dir, samples, prefix, shard_size, name, workers)
    shutil.rmtree(stage_dir / SHARDS_DIR, ignore_errors=True)
    return {}


def rows_samples(rows: Sequence[Any], fields: Sequence[str], stage_dir: Path) -> list[Sample]:
    """Samples of manifest rows: key = ``image_id``, ext = ``<field><suffix>`` (``rgb.png``), the file =
    the field's path under ``stage_dir`` (the field's first part, the stage folder's name, dropped)."""
    return [
        (r.image_id, {f"{f}{Path(getattr(r, f)).suffix}": loose(stage_dir, getattr(r, f)) for f in fields})
        for r in rows
    ]


def loose(stage_dir: Path, rel: str) -> Path:
    """The loose file of a record field written by the stage in ``stage_dir``."""
    return stage_dir.joinpath(*Path(rel).parts[1:])


def with_refs(rows: Sequence[T], fields: Sequence[str], stage_dir: Path, refs: Mapping[Path, str]) -> list[T]:
    """Rows whose ``fields`` point at the members :func:`pack` returned (unchanged when ``refs`` is empty)."""
    if not refs:
        return list(rows)
    return [dataclasses.replace(r, **{f: refs[loose(stage_dir, getattr(r, f))] for f in fields}) for r in rows]


def copy_to(src: str | Path, dst: Path, fallback: Callable[[Path, Path], None]) -> None:
    """Put a record's file at ``dst``: a member's bytes are written out; a loose file goes to ``fallback``."""
    if is_member(src):
        dst.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(dst, read_bytes(src))
    else:
        fallback(Path(src), dst)
