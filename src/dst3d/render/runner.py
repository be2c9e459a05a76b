"""Run a view plan: resume from what is on disk, render the rest in worker processes, collect the records.

Resume contract: a view is finished when ``<image_id>.json`` exists with the planned key (it is written
after the images, atomically). Files under ``views/`` that belong to no planned view, or to a view whose
key changed (params or mesh changed), are deleted before rendering, so the folder always matches the plan.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dst3d
from dst3d import executor as executors
from dst3d import params, progress
from dst3d.devices import cpu_count
from dst3d.errors import UserError
from dst3d.keyed import prune
from dst3d.params import ExecutorConfig
from dst3d.render import backends
from dst3d.render.params import RenderConfig
from dst3d.render.plan import ViewSpec
from dst3d.schema import ImageRecord, record_from_dict

KINDS = ("rgb", "mask", "depth", "record")


class RenderError(UserError, RuntimeError):
    """A worker failed; finished views stay on disk and a re-run renders only the rest."""


@dataclass
class RenderResult:
    records: list[ImageRecord]
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    skipped_ids: list[tuple[str, str]] = field(default_factory=list)
    rendered: int = 0
    reused: int = 0
    removed_files: int = 0
    shards: int = 0
    seconds_rendering: float = 0.0


def read_finished(out: Path, view: ViewSpec) -> dict[str, Any] | None:
    """The stored per-view record if it is complete and matches the plan, else None."""
    path = out / view.path("record")
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if body.get("key") != view.key:
        return None
    if body.get("status") == "ok" and not all(
        (out / view.path(k)).is_file() for k in ("rgb", "mask", "depth")
    ):
        return None
    if body.get("status") not in ("ok", "skipped"):
        return None
    return body


def make_job(cfg: RenderConfig, out: Path, views: list[ViewSpec], threads: int) -> dict[str, Any]:
    """A shard's job file content (JSON): params, the backend's module path, the views.

    The module path is resolved here, in the stage's process: a worker process sees only the registry as
    written in the source, not entries a caller added at run time (:func:`dst3d.render.worker.read_job_cfg`).
    """
    return {
        "cfg": params.to_dict(cfg),
        "backend_module": backends.module_of(cfg.backend),
        "out": str(Path(out).resolve()),
        "threads": threads,
        "views": [v.to_json() for v in views],
    }


def make_shards(views: list[ViewSpec], size: int) -> list[list[ViewSpec]]:
    """Consecutive chunks of at most ``size`` views (the plan is ordered by category, then model)."""
    return [views[i : i + size] for i in range(0, len(views), size)]


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(dst3d.__file__).resolve().parents[1])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


# Runs the worker in a child that dies with its parent (PR_SET_PDEATHSIG, Linux): a Ray worker that is
# killed or cancelled leaves no orphan renderer behind to race its retry. Set in the child, not with
# Popen(preexec_fn=...), which is unsafe in a multi-threaded parent such as a Ray worker.
_ORPHAN_GUARD = (
    "import ctypes, os, runpy, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)\n"
    "if os.getppid() != int(sys.argv[1]): os._exit(1)\n"
    "sys.argv = sys.argv[:1] + sys.argv[2:]\n"
    "runpy.run_module('dst3d.render.worker', run_name='__main__', alter_sys=True)\n"
)


def render_shard(job: dict[str, Any], name: str) -> dict[str, int]:
    """One shard as a Ray task: render the job's views not finished yet in a worker subprocess (bpy hangs at
    exit, so the worker ends with ``os._exit``; a subprocess also gives Blender's leaks a short life).

    A retried task (its worker died) re-renders only the views its killed try did not finish (the per-view
    keys, :func:`read_finished`). A worker killed by a signal raises :class:`~dst3d.executor.TransientError`
    (retried); one that fails with an error raises :class:`RenderError` (not retried: it would again)."""
    out = Path(job["out"])
    views = [ViewSpec.from_json(v) for v in job["views"]]
    todo = [v for v in views if read_finished(out, v) is None]
    if todo:
        with tempfile.TemporaryDirectory(prefix="dst3d-render-") as tmp:
            job_path, log_path = Path(tmp) / "job.json", Path(tmp) / "worker.log"
            job_path.write_text(json.dumps({**job, "views": [v.to_json() for v in todo]}))
            with open(log_path, "wb") as fh:
                proc = subprocess.Popen(
                    [sys.executable, "-c", _ORPHAN_GUARD, str(os.getpid()), str(job_path)],
                    stdout=fh, stderr=subprocess.STDOUT, env=_worker_env(),
                )
            try:
                code = proc.wait()
            finally:  # cancelled (KeyboardInterrupt in the task): stop our child
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if code != 0:
                tail = log_path.read_text(errors="replace")[-3000:]
                kind = executors.TransientError if code < 0 else RenderError
                raise kind(f"{name}: render worker exited {code}\n{tail}")
    return {"rendered": len(todo), "reused": len(views) - len(todo)}


def run_shards_ray(
    shards: list[list[ViewSpec]], cfg: RenderConfig, out: Path, executor: ExecutorConfig, log: Callable[[str], None]
) -> None:
    """Render each shard as a Ray task (``num_cpus_per_task`` cores each) into ``out`` (shared by the nodes)."""
    threads = max(1, int(executor.num_cpus_per_task))
    calls = [
        (name := f"render shard {i} ({s[0].image_id} .. {s[-1].image_id})", (make_job(cfg, out, s, threads), name))
        for i, s in enumerate(shards)
    ]
    total, done = sum(len(s) for s in shards), [0, 0]

    def on_result(name: str, counts: dict[str, int]) -> None:
        done[0] += 1
        done[1] += counts["rendered"] + counts["reused"]
        log(f"render: {name} done: {counts['rendered']} rendered, {counts['reused']} already finished "
            f"({done[0]}/{len(shards)} shards, {done[1]}/{total} views)")

    with executors.session(executor, log):
        try:
            executors.map_tasks(executor, render_shard, calls, on_result=on_result)
        except executors.ExecutorError as err:
            first, _, rest = str(err).partition("\n")
            raise RenderError(f"{first}; finished views are kept, re-run to resume\n{rest}") from None


def run_shards(
    shards: list[list[ViewSpec]],
    cfg: RenderConfig,
    out: Path,
    log: Callable[[str], None] = print,
    executor: ExecutorConfig | None = None,
) -> None:
    """Render each shard in its own worker process, at most ``cfg.workers`` at a time (or as Ray tasks)."""
    if not shards:
        return
    if executors.is_ray(executor):
        return run_shards_ray(shards, cfg, out, executor, log)
    # cores per running worker; a backend's own setting (render.blenderproc.threads) may override it
    threads = max(1, cpu_count() // min(cfg.workers, len(shards)))
    tmp = Path(tempfile.mkdtemp(prefix="dst3d-render-jobs-"))
    env = _worker_env()
    pending = list(enumerate(shards))
    running: dict[int, tuple[subprocess.Popen, Path]] = {}
    failures: list[str] = []
    done_views = 0
    total = sum(len(s) for s in shards)
    bar, polled = progress.bar(total, "render", unit="view"), 0.0
    try:
        while pending or running:
            while pending and len(running) < cfg.workers and not failures:
                i, shard = pending.pop(0)
                job = make_job(cfg, out, shard, threads)
                job_path = tmp / f"shard-{i:05d}.json"
                job_path.write_text(json.dumps(job))
                log_path = tmp / f"shard-{i:05d}.log"
                with open(log_path, "wb") as fh:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", "dst3d.render.worker", str(job_path)],
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                running[i] = (proc, log_path)
            if failures:
                pending.clear()  # stop launching; let the running shards finish their views
            time.sleep(0.05)
            for i, (proc, log_path) in list(running.items()):
                if proc.poll() is None:
                    continue
                del running[i]
                if proc.returncode != 0:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    failures.append(f"shard {i} (exit {proc.returncode}):\n{tail}")
                else:
                    done_views += len(shards[i])
            if not running or time.monotonic() - polled >= 0.5:  # running shards' views count as records appear
                polled = time.monotonic()
                bar.update(max(0, done_views + sum(_finished(shards[i], out) for i in running) - bar.n))
    finally:
        bar.close()
        for proc, _ in running.values():  # interrupted: stop our own workers, by their handles
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if not failures:
            shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        raise RenderError(
            f"{len(failures)} render worker(s) failed (logs in {tmp}); finished views are kept, "
            f"re-run to resume.\n" + "\n".join(failures)
        )


def _finished(shard: list[ViewSpec], out: Path) -> int:
    """Views of a running shard whose record is written (stale records were pruned before the run)."""
    return sum((out / v.path("record")).is_file() for v in shard)


def render_views(
    views: list[ViewSpec],
    cfg: RenderConfig,
    out: Path,
    log: Callable[[str], None] = print,
    executor: ExecutorConfig | None = None,
) -> RenderResult:
    """Resume-aware rendering of the whole plan into ``out``; returns the records in plan order."""
    executors.preflight(executor)  # an unreachable cluster fails before anything is pruned or rendered
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = [v.image_id for v in views]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate image ids in the view plan")
    previous = {v.image_id for v in views if read_finished(out, v) is not None}
    # everything under views/ that is not an output of a finished planned view: changed keys, temp files
    removed = prune(out / "views", {out / v.path(k) for v in views if v.image_id in previous for k in KINDS})
    todo = [v for v in views if v.image_id not in previous]
    shards = make_shards(todo, cfg.views_per_shard)
    log(
        f"render: {len(views)} views planned, {len(previous)} reused, {len(todo)} to render in {len(shards)} "
        f"shard(s), {removed} stale file(s) removed"
    )
    t0 = time.perf_counter()
    with _terminate_as_interrupt():
        run_shards(shards, cfg, out, log, executor)
    seconds = time.perf_counter() - t0

    result = RenderResult(
        records=[],
        rendered=len(todo),
        reused=len(previous),
        removed_files=removed,
        shards=len(shards),
        seconds_rendering=seconds,
    )
    missing = []
    for v in views:
        body = read_finished(out, v)
        if body is None:
            missing.append(v.image_id)
        elif body["status"] == "ok":
            result.records.append(record_from_dict(ImageRecord, body["record"], str(out / v.path("record"))))
        else:
            result.skipped[body["reason"]] = result.skipped.get(body["reason"], 0) + 1
            result.skipped_ids.append((v.image_id, body["reason"]))
    if missing:
        raise RenderError(
            f"{len(missing)} view(s) have no finished record after rendering, e.g. {missing[:3]}"
        )
    return result


class _terminate_as_interrupt:
    """SIGTERM (e.g. from a CI runner) unwinds like Ctrl-C, so the workers we started are stopped."""

    def __enter__(self) -> None:
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._raise)

    @staticmethod
    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
