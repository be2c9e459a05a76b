"""MLflow tracking for the kcf and train stages: the only module that imports mlflow.

One run per stage execution, named after the DVC experiment, holding the stage's params (dotted keys), its
input folders as MLflow datasets whose digest is their DVC hash, one metric name per quantity (per-epoch
values are the steps of the name the final value ends), artifacts (plots, grids, the model) and tags: the
git commit, ``DVC_EXP_NAME`` and the hashes of the stage's data dependencies from ``dvc.lock``. The
experiment is tagged as a model-training one. docs/tracking.md says what goes where and why.

Where runs go: ``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<root>/mlflow.db`` with artifacts under
``<root>/mlruns``. ``<root>`` is ``DVC_ROOT`` (DVC sets it for stage commands and, for ``dvc exp run --temp``
and ``--queue``, points it at the *main* repo, so runs from temporary workspaces are not lost with them),
else the enclosing DVC/git repo of the current directory.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

DB_NAME = "mlflow.db"
ARTIFACT_DIR = "mlruns"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
"""MLflow 3's experiment type (the UI's "Machine learning" / "GenAI apps & agents" kind)."""
EXPERIMENT_KIND = "custom_model_development"
"""The kind of a model-training experiment: its UI opens on the runs table, not GenAI traces."""
UI_QUERY = "?workflowType=machine_learning"
"""Appended to an experiment's URL: the MLflow 3.17 UI picks an experiment's tabs from this switch (else from
the browser's last choice, GenAI by default), not from the experiment tag (read in its JS bundle)."""


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
    """``HEAD`` of the repo at ``root`` ('' outside git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def lock_outputs(root: Path) -> dict[str, str]:
    """``{path: md5}`` of every stage output ``dvc.lock`` records ({} without one)."""
    lock_path = root / "dvc.lock"
    if not lock_path.is_file():
        return {}
    lock = (yaml.safe_load(lock_path.read_text()) or {}).get("stages", {})
    return {o["path"]: o.get("md5", "") for entry in lock.values() for o in entry.get("outs", []) if o.get("md5")}


def dvc_md5(path: str | Path) -> str:
    """The md5 DVC records for ``path`` (a file's md5, or a folder's ``<md5>.dir``), computed with DVC's own
    library (dvc-data): equal to the dvc.lock hash while the data is unchanged. Reads every file once
    (1.5 s for the quickstart's 499 MB data/synthesize); writes nothing (dry run)."""
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db import HashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    fs = LocalFileSystem()
    with tempfile.TemporaryDirectory() as odb:
        _, _, obj = build(HashFileDB(fs, odb), str(Path(path).resolve()), fs, "md5", dry_run=True)
    return str(obj.hash_info.value)


def dataset_digest(root: Path, path: str | Path) -> tuple[str, str]:
    """(digest, where it came from) of an input folder or file: its ``dvc.lock`` output hash when DVC runs
    the stage (``DVC_STAGE`` set: DVC wrote the upstream outputs' hashes before starting this stage), else
    :func:`dvc_md5` (a stage run by hand may read data that no longer matches dvc.lock)."""
    p = Path(path)
    try:
        rel = (p if p.is_absolute() else root / p).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:  # outside the workspace: never a DVC output of this repo
        rel = ""
    if rel and os.environ.get("DVC_STAGE"):
        md5 = lock_outputs(root).get(rel)
        if md5:
            return md5, "dvc.lock"
    return dvc_md5(p if p.is_absolute() else root / p), "computed"


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
    outs = lock_outputs(root)
    own = {d["path"]: d.get("md5", "") for d in lock.get(stage, {}).get("deps", [])}
    data_deps = [d for d in deps if isinstance(d, str) and d.startswith("data/")]
    return {d: outs.get(d) or own.get(d, "") for d in data_deps if outs.get(d) or own.get(d)}


def flatten(d: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested mappings -> ``sep``-joined keys (``fit.lr``); lists/tuples stay values."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, key + sep, sep))
        else:
            out[key] = v
    return out


def epoch_metrics(row: Mapping[str, Any], group: str = "train", sets: Sequence[str] = ()) -> dict[str, Any]:
    """A training loop's epoch row under MLflow names: ``<set>_<m>`` (an evaluation of ``set`` in
    ``sets``) -> ``<set>/<m>``, the same name as the final value of metrics/<stage>.json; anything else ->
    ``<group>/<key>``. ``epoch`` is dropped: it is the step."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k == "epoch":
            continue
        s = next((s for s in sets if k.startswith(s + "_")), None)
        out[f"{s}/{k[len(s) + 1:]}" if s else f"{group}/{k}"] = v
    return out


def run_name(stage: str, root: Path) -> str:
    """``DVC_EXP_NAME`` (``dvc exp run`` sets it), else ``<stage>-<short commit>-<UTC time>``."""
    exp = os.environ.get("DVC_EXP_NAME")
    if exp:
        return exp
    commit = git_commit(root)[:7] or "nogit"
    return f"{stage}-{commit}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def param_value(v: Any) -> str:
    """A param as MLflow stores it (<= 6000 chars): lists/tuples as JSON, the rest as ``str``."""
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    text = json.dumps(v, default=str) if isinstance(v, (list, tuple)) else str(v)
    return text if len(text) <= MAX_PARAM_VAL_LENGTH else text[: MAX_PARAM_VAL_LENGTH - 3] + "..."


class Run:
    """A tracking run; every method is a no-op when tracking is off, so stages need no ``if``."""

    def __init__(self, client: Any = None, run_id: str = "", root: Path | None = None) -> None:
        self._client, self.run_id, self._root = client, run_id, root or Path.cwd()
        self.last_step = 0
        self._logged: dict[tuple[str, int], float] = {}

    @property
    def active(self) -> bool:
        return self._client is not None

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Nested ``params`` as dotted keys (``train.fit.lr``)."""
        if not self.active:
            return
        from mlflow.entities import Param
        from mlflow.utils.validation import MAX_PARAMS_TAGS_PER_BATCH

        items = [Param(k, param_value(v)) for k, v in flatten(params).items()]
        for i in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
            self._client.log_batch(self.run_id, params=items[i:i + MAX_PARAMS_TAGS_PER_BATCH])

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Numeric leaves of (nested) ``metrics``, names joined with ``/`` (MLflow's chart groups), at
        ``step`` (None: the last step logged so far, so final values end their per-epoch curve). None and
        non-numbers are skipped, and so is a value already logged under the same name and step."""
        if not self.active:
            return
        from mlflow.entities import Metric
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH

        step = self.last_step if step is None else int(step)
        self.last_step = max(self.last_step, step)
        ts = int(time.time() * 1000)
        items = []
        for k, v in flatten(metrics, sep="/").items():
            if not isinstance(v, (int, float)) or isinstance(v, bool) or self._logged.get((k, step)) == float(v):
                continue
            self._logged[(k, step)] = float(v)
            items.append(Metric(k, float(v), ts, step))
        for i in range(0, len(items), MAX_METRICS_PER_BATCH):
            self._client.log_batch(self.run_id, metrics=items[i:i + MAX_METRICS_PER_BATCH])

    def log_dataset(self, name: str, path: str | Path, context: str, **tags: Any) -> None:
        """``path`` (a folder or file) as an MLflow dataset input named ``name`` whose digest is its DVC
        hash (:func:`dataset_digest`), with ``context`` (``training``/``evaluation``) and ``tags``; also
        the run tag ``dvc.dataset.<name>`` = the digest."""
        if not self.active:
            return
        from mlflow.data.dataset_source_registry import get_dataset_source_from_json
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        p = Path(path).resolve()  # relative to the current folder, as the stage read it
        digest, origin = dataset_digest(self._root, p)
        source = get_dataset_source_from_json(json.dumps({"uri": str(p)}), "local")
        entity = MetaDataset(source, name=name, digest=digest)._to_mlflow_entity()
        input_tags = [InputTag(MLFLOW_DATASET_CONTEXT, context), InputTag("dvc.path", str(path)),
                      InputTag("dst3d.digest_source", origin),
                      *(InputTag(k, str(v)) for k, v in tags.items())]
        self._client.log_inputs(self.run_id, datasets=[DatasetInput(entity, input_tags)])
        self._client.set_tag(self.run_id, f"dvc.dataset.{name}", digest)

    def log_artifact(self, path: str | Path, folder: str | None = None) -> None:
        """A file or folder (its contents) under ``folder`` of the run's artifacts; missing ones are skipped."""
        if self.active and Path(path).exists():
            if Path(path).is_dir():
                self._client.log_artifacts(self.run_id, str(path), folder)
            else:
                self._client.log_artifact(self.run_id, str(path), folder)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if self.active:
            for k, v in tags.items():
                self._client.set_tag(self.run_id, k, str(v))


def experiment_id(client: Any, name: str) -> str:
    """The id of experiment ``name``, created if missing (artifacts beside the sqlite store unless
    ``MLFLOW_TRACKING_URI`` names another server) and tagged as model training if it has no kind yet."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        # The default artifact root of a sqlite store is ./mlruns relative to the *current* folder, which for
        # a temp workspace is deleted after the run: pin it beside the database.
        location = None if os.environ.get("MLFLOW_TRACKING_URI") else (tracking_root() / ARTIFACT_DIR).as_uri()
        return str(client.create_experiment(name, artifact_location=location,
                                            tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}))
    if EXPERIMENT_KIND_TAG not in exp.tags:  # a user's own choice (set in the UI) is kept
        client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return str(exp.experiment_id)


@contextmanager
def start_run(cfg: TrackingConfig, stage: str, params: Mapping[str, Any]) -> Iterator[Run]:
    """A run for one execution of ``stage`` (named by :func:`run_name`), tagged and with ``params`` logged.

    The run ends FINISHED, or FAILED if the block raises (the error still propagates).
    """
    if not cfg.enabled:
        yield Run()
        return
    import mlflow
    from mlflow.tracking import MlflowClient
    from mlflow.utils import mlflow_tags

    client = MlflowClient(tracking_uri=tracking_uri())
    exp_id = experiment_id(client, cfg.experiment)
    ws = workspace_root()
    commit = git_commit(ws)
    tags = {"dst3d.stage": stage, "git_commit": commit, "DVC_EXP_NAME": os.environ.get("DVC_EXP_NAME", ""),
            "DVC_EXP_BASELINE_REV": os.environ.get("DVC_EXP_BASELINE_REV", ""), "workspace": str(ws),
            "mlflow_version": mlflow.__version__,
            # what the runs table's Source / Version / User columns show
            mlflow_tags.MLFLOW_SOURCE_NAME: f"stages/{stage}.py", mlflow_tags.MLFLOW_SOURCE_TYPE: "LOCAL",
            mlflow_tags.MLFLOW_GIT_COMMIT: commit, mlflow_tags.MLFLOW_USER: _user()}
    tags.update({f"dvc.dep.{path}": md5 for path, md5 in dep_hashes(ws, stage).items()})
    run = client.create_run(exp_id, tags={k: v for k, v in tags.items() if v}, run_name=run_name(stage, ws))
    handle = Run(client, run.info.run_id, ws)
    status = "FAILED"
    try:
        handle.log_params(params)
        yield handle
        status = "FINISHED"
    finally:
        client.set_terminated(run.info.run_id, status=status)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return ""
