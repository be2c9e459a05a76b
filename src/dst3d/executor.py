"""Where render, synthesize and kcf fan out: local processes or a Ray cluster (``base.executor``).

``local`` (the default) is what the stages always did — render's worker processes, synthesize and kcf in
the stage's own process — and never imports Ray. ``ray`` runs the same work items elsewhere: render
shards and kcf folds as Ray tasks (:func:`map_tasks`), synthesize through Ray Data with one backend per
actor (:func:`map_batches`). Every item is a function of params and its own seeds, so both give the same
data. Workers write straight into the stage's output folder (on several nodes it must be a shared
filesystem at the same path); the stage's process — the driver, on the head node under ``dvc repro`` —
still writes the manifest. A task whose worker dies (killed, out of memory, node lost) is re-run up to
``max_retries`` times; one that still fails stops the stage with one line naming it.

Ray is imported only inside these functions, never when params are validated. docs/scaling.md has the
cluster recipe and the measurements.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dst3d.devices import cpu_count
from dst3d.errors import UserError
from dst3d.params import ExecutorConfig


class ExecutorError(UserError, RuntimeError):
    """The Ray cluster cannot be reached, or a task failed for good (the message names the item)."""


class TransientError(RuntimeError):
    """A failure worth another try, as a dead worker is (e.g. a render subprocess killed by a signal)."""


def is_ray(cfg: ExecutorConfig | None) -> bool:
    return cfg is not None and cfg.kind == "ray"


def check_reachable(address: str, timeout_s: float) -> None:
    """Fail in at most ``timeout_s`` with one line naming ``address`` when nothing listens there.

    ``ray.init`` on a dead address retries for a long time; a plain TCP connect to the GCS (or Ray
    Client) port answers at once. ``auto`` (the cluster started on this machine) is left to Ray.
    """
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as err:
        raise ExecutorError(
            f"base.executor.address: cannot reach the Ray cluster at {address!r} ({err}); "
            "is `ray start --head` running there and the port open?"
        ) from None


def preflight(cfg: ExecutorConfig | None) -> None:
    """Before a stage does any work: a ``ray`` executor's cluster address answers (else one line naming it)."""
    if is_ray(cfg):
        address = cfg.address or os.environ.get("RAY_ADDRESS", "")
        if address:
            check_reachable(address, cfg.connect_timeout_s)


@contextlib.contextmanager
def session(cfg: ExecutorConfig, log: Callable[[str], None] = print) -> Iterator[Any]:
    """The ``ray`` module, connected: to an already initialised Ray (a notebook, a test: left running), to
    ``cfg.address`` or ``$RAY_ADDRESS`` (joined, then left), or to a new local instance (stopped after)."""
    address = cfg.address or os.environ.get("RAY_ADDRESS", "")
    if address:
        check_reachable(address, cfg.connect_timeout_s)  # before importing Ray: that alone takes seconds
    import ray

    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline clusters: no usage report attempts
    t0 = time.perf_counter()
    tmp = None
    if address:
        _token_auth_if_available()
        try:
            ray.init(address=address, log_to_driver=True, logging_level=logging.WARNING)
        except Exception as err:  # noqa: BLE001 - any connection failure is the address's fault here
            raise ExecutorError(f"base.executor.address: cannot join the Ray cluster at {address!r}: {err}") from None
        where = f"joined {address}"
    else:
        # Own short temp dir: Ray's unix sockets live under it (paths must stay < 108 chars) and a
        # cluster someone else started in /tmp/ray is never joined by accident.
        tmp = tempfile.mkdtemp(prefix="dst3d-ray-", dir="/tmp")
        cpus = cfg.num_cpus or cpu_count()
        ray.init(address="local", num_cpus=cpus, _temp_dir=tmp, include_dashboard=False, log_to_driver=True,
                 logging_level=logging.WARNING)
        where = f"local instance, {cpus} CPU(s)"
    log(f"ray: {where} in {time.perf_counter() - t0:.1f} s")
    ok = False
    try:
        yield ray
        ok = True
    finally:
        ray.shutdown()
        if tmp is not None and ok:  # a failed run keeps Ray's logs
            shutil.rmtree(tmp, ignore_errors=True)


def _token_auth_if_available() -> None:
    """Present this machine's Ray token (``$RAY_AUTH_TOKEN`` or ``~/.ray/auth_token``) to the cluster, as
    ``ray start`` does for a head: new clusters require one by default, and a driver joining one does not
    look for it unless ``RAY_AUTH_MODE=token`` is set. An explicit ``RAY_AUTH_MODE`` is left alone."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # pragma: no cover - another Ray version: RAY_AUTH_MODE is the user's to set
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def cluster_gpus() -> float:
    """GPUs in the connected cluster (0 without any)."""
    import ray

    return float(ray.cluster_resources().get("GPU", 0.0))


def gpus_per_task(cfg: ExecutorConfig, wants_gpu: bool) -> float:
    """``num_gpus_per_task`` when the work runs torch on CUDA and the cluster has GPUs, else 0."""
    return cfg.num_gpus_per_task if wants_gpu and cluster_gpus() > 0 else 0.0


def describe_failure(name: str, err: BaseException, cfg: ExecutorConfig) -> str:
    """One line naming the item and why it failed; the task's traceback follows on the next lines."""
    import ray

    if isinstance(err, ray.exceptions.RayTaskError):
        cause = err.cause if err.cause is not None else err
        first, _, rest = (str(cause).strip() or type(cause).__name__).partition("\n")
        tries = f" after {cfg.max_retries + 1} tries" if isinstance(cause, TransientError) else ""
        return f"{name} failed{tries}: {first}\n{rest}\n{err}"
    return (f"{name}: its Ray worker died {cfg.max_retries + 1} time(s) ({type(err).__name__}; "
            f"base.executor.max_retries = {cfg.max_retries})\n{err}")


def map_tasks(
    cfg: ExecutorConfig,
    fn: Callable[..., Any],
    calls: Sequence[tuple[str, tuple[Any, ...]]],
    *,
    num_gpus: float = 0.0,
    on_result: Callable[[str, Any], None] | None = None,
) -> list[Any]:
    """Run ``fn(*args)`` for every ``(name, args)`` as a Ray task (a session must be open); results in
    call order. A dead worker or a :class:`TransientError` is retried ``cfg.max_retries`` times; the first
    task that fails for good cancels the rest and raises :class:`ExecutorError` naming it."""
    import ray

    remote = ray.remote(fn).options(num_cpus=cfg.num_cpus_per_task, num_gpus=num_gpus,
                                    max_retries=cfg.max_retries, retry_exceptions=[TransientError])
    refs = [remote.remote(*args) for _, args in calls]
    index = {ref: i for i, ref in enumerate(refs)}
    results: list[Any] = [None] * len(refs)
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for ref in done:
            name = calls[index[ref]][0]
            try:
                results[index[ref]] = ray.get(ref)
            except ray.exceptions.RayError as err:
                for other in pending:
                    ray.cancel(other)
                raise ExecutorError(describe_failure(name, err, cfg)) from None
            if on_result is not None:
                on_result(name, results[index[ref]])
    return results


def map_batches(
    cfg: ExecutorConfig,
    rows: Sequence[str],
    actor: type,
    actor_args: tuple[Any, ...],
    *,
    num_gpus: float = 0.0,
    progress: bool = True,
) -> Iterator[dict[str, Any]]:
    """Ray Data batch inference: ``rows`` (JSON strings) through ``actor(*actor_args)(batch)`` — one actor
    per worker slot, each loading its model once (diffusers' documented pattern) — yielding the output rows
    as they arrive. A session must be open. An actor that dies is restarted and its batch re-run (Ray
    Data's default, without a limit); a batch that raises fails the stage."""
    import ray

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    ctx.max_errored_blocks = 0
    if cfg.concurrency:
        concurrency = cfg.concurrency
    elif num_gpus:
        concurrency = max(1, int(cluster_gpus() // num_gpus))
    else:
        concurrency = max(1, int(ray.cluster_resources().get("CPU", 1) // cfg.num_cpus_per_task))
    concurrency = min(concurrency, max(1, -(-len(rows) // cfg.batch_size)))  # no actor without a batch
    ds = ray.data.from_items([{"row": r} for r in rows], override_num_blocks=max(1, -(-len(rows) // cfg.batch_size)))
    out = ds.map_batches(
        actor,
        fn_constructor_args=actor_args,
        batch_size=cfg.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=concurrency),  # a fixed pool: one model load per actor
        num_cpus=cfg.num_cpus_per_task,
        num_gpus=num_gpus,
    )  # dead actors: Ray Data's own policy (restart them, re-run their batches); ray_remote_args are deprecated
    try:
        yield from out.iter_rows()
    except Exception as err:  # noqa: BLE001 - Ray Data wraps the actor's error in several layers
        raise ExecutorError(f"{innermost(err)}\n{err}") from None


def innermost(err: BaseException) -> str:
    """The first line of the innermost cause of a (wrapped) Ray error: the actor's own message."""
    seen = set()
    while id(err) not in seen:
        seen.add(id(err))
        nxt = getattr(err, "cause", None) or err.__cause__
        if nxt is None:
            break
        err = nxt
    return (str(err).strip() or type(err).__name__).partition("\n")[0]
