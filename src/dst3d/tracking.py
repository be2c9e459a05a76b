"""MLflow tracking for the kcf and train stages: the only module that imports mlflow.

One run per stage execution, holding the stage's params, per-epoch and final metrics, artifacts (plots,
grids, the model) and tags: the git commit, ``DVC_EXP_NAME`` and the hashes of the stage's data dependencies
from ``dvc.lock``.

Where runs go: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<root>/mlflow.db`` with artifacts under
``<root>/mlruns``. ``<root>`` is ``DVC_ROOT`` (DVC sets it for stage commands and, for ``dvc exp run --temp``
and ``--queue``, points it at the *main* repo, so runs from temporary workspaces are not lost with them),
else the enclosing DVC/git repo of the current directory.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

DB_NAME = "mlflow.db"
ARTIFACT_DIR = "mlruns"


@dataclasses.dataclass(frozen=True)
class TrackingConfig:
    """MLflow tracking for the kcf and train stages (``dst3d.tracking``).

    The URI is ``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///<repo root>/mlflow.db`` (the root from
    ``DVC_ROOT``, so ``dvc exp run --temp/--queue`` runs land in the main repo). Not a dvc.yaml param of
    any stage: switching tracking never re-runs a stage.
    """

    enabled: bool = True
    experiment: str = "dst3d"
    log_model: bool = True



def workspace_root(start: str | Path | None = None) -> Path:
    """The DVC project folder the stage runs in (the nearest parent with dvc.yaml or .git), else cwd."""
    here = Path(start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        if (p / "dvc.yaml").is_file() or (p / ".git").exists():
            return p
    return here


def tracking_root() -> Path:
    """Where the sqlite file lives: ``DVC_ROOT`` when DVC set it, else the workspace root."""
    env = os.environ.get("DVC_ROOT")
    return Path(env).resolve() if env else workspace_root()


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    # Four slashes = sqlite + an absolute path; MLflow 3 refuses the plain file store.
    return f"sqlite:///{tracking_root() / DB_NAME}"


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def dep_hashes(root: Path, stage: str) -> dict[str, str]:
    """``{dep path: md5}`` of the stage's data dependencies, as dvc.lock records them.

    A dep produced by an upstream stage takes that stage's *output* hash (written when it ran, so it is the
    data this run reads); otherwise the hash this stage's own lock entry recorded last time.
    """
    lock_path, yaml_path = root / "dvc.lock", root / "dvc.yaml"
    if not lock_path.is_file() or not yaml_path.is_file():
        return {}
    lock = (yaml.safe_load(lock_path.read_text()) or {}).get("stages", {})
    deps = ((yaml.safe_load(yaml_path.read_text()) or {}).get("stages", {}).get(stage, {}) or {}).get("deps", [])
    outs = {o["path"]: o.get("md5", "") for entry in lock.values() for o in entry.get("outs", [])}
    own = {d["path"]: d.get("md5", "") for d in lock.get(stage, {}).get("deps", [])}
    data_deps = [d for d in deps if isinstance(d, str) and d.startswith("data/")]
    return {d: outs.get(d) or own.get(d, "") for d in data_deps if outs.get(d) or own.get(d)}


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> dotted keys (``fit.lr``); lists/tuples stay values."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


class Run:
    """A tracking run; every method is a no-op when tracking is off, so stages need no ``if``."""

    def __init__(self, client: Any = None, run_id: str = "") -> None:
        self._client, self.run_id = client, run_id

    @property
    def active(self) -> bool:
        return self._client is not None

    def log_params(self, params: Mapping[str, Any]) -> None:
        if not self.active:
            return
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in flatten(params).items()]
        for i in range(0, len(items), 100):  # MLflow caps a batch at 100 params
            self._client.log_batch(self.run_id, params=items[i:i + 100])

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None, prefix: str = "") -> None:
        """Numeric leaves of (nested) ``metrics``; None and non-numbers are skipped."""
        if not self.active:
            return
        import time

        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        items = [Metric(prefix + k, float(v), ts, step or 0) for k, v in flatten(metrics).items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)]
        for i in range(0, len(items), 1000):
            self._client.log_batch(self.run_id, metrics=items[i:i + 1000])

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        if self.active and Path(path).exists():
            if Path(path).is_dir():
                self._client.log_artifacts(self.run_id, str(path), folder)
            else:
                self._client.log_artifact(self.run_id, str(path), folder)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if self.active:
            for k, v in tags.items():
                self._client.set_tag(self.run_id, k, str(v))


@contextmanager
def start_run(cfg: TrackingConfig, stage: str, params: Mapping[str, Any]) -> Iterator[Run]:
    """A run for one execution of ``stage`` (named after it), tagged and with ``params`` logged.

    The run ends FINISHED, or FAILED if the block raises (the error still propagates).
    """
    if not cfg.enabled:
        yield Run()
        return
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = tracking_uri()
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(cfg.experiment)
    if exp is None:
        # The default artifact root of a sqlite store is ./mlruns relative to the *current* folder, which for
        # a temp workspace is deleted after the run: pin it beside the database.
        location = None if os.environ.get("MLFLOW_TRACKING_URI") else (tracking_root() / ARTIFACT_DIR).as_uri()
        exp_id = client.create_experiment(cfg.experiment, artifact_location=location)
    else:
        exp_id = exp.experiment_id
    ws = workspace_root()
    name = f"{stage}-{os.environ.get('DVC_EXP_NAME') or 'workspace'}"
    tags = {"dst3d.stage": stage, "git_commit": git_commit(ws), "DVC_EXP_NAME": os.environ.get("DVC_EXP_NAME", ""),
            "DVC_EXP_BASELINE_REV": os.environ.get("DVC_EXP_BASELINE_REV", ""), "workspace": str(ws),
            "mlflow_version": mlflow.__version__}
    tags.update({f"dvc.dep.{path}": md5 for path, md5 in dep_hashes(ws, stage).items()})
    run = client.create_run(exp_id, tags=tags, run_name=name)
    handle = Run(client, run.info.run_id)
    status = "FAILED"
    try:
        handle.log_params(params)
        yield handle
        status = "FINISHED"
    finally:
        client.set_terminated(run.info.run_id, status=status)
