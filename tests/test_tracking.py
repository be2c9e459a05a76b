"""MLflow tracking: where runs land (DVC_ROOT, temp workspaces), what they hold, and switching it off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from dst3d import tracking
from dst3d.tracking import TrackingConfig

SRC = Path(__file__).resolve().parents[1] / "src" / "dst3d"


def test_only_tracking_imports_mlflow():
    offenders = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
                 if p.name != "tracking.py" and re.search(r"^\s*(import|from) mlflow", p.read_text(), re.M)]
    assert offenders == []


def test_uri_precedence(tmp_path, monkeypatch):
    (tmp_path / "repo" / "sub").mkdir(parents=True)
    (tmp_path / "repo" / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.chdir(tmp_path / "repo" / "sub")
    assert tracking.tracking_uri() == f"sqlite:///{(tmp_path / 'repo').resolve()}/mlflow.db"
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "main"))
    assert tracking.tracking_uri() == f"sqlite:///{(tmp_path / 'main').resolve()}/mlflow.db"
    assert tracking.tracking_uri().startswith("sqlite:////")  # an absolute path
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert tracking.tracking_uri() == "http://mlflow.example:5000"


def _workspace(root: Path) -> Path:
    """A DVC workspace whose dvc.lock knows synthesize's output and a stale hash of kcf's own deps."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "kcf": {"cmd": "x", "deps": ["stages/kcf.py", "data/synthesize", "data/extra"]}}}))
    (root / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {
        "synthesize": {"cmd": "y", "outs": [{"path": "data/synthesize", "md5": "new.dir"}]},
        "kcf": {"cmd": "x", "deps": [{"path": "data/synthesize", "md5": "old.dir"},
                                     {"path": "data/extra", "md5": "extra.dir"},
                                     {"path": "stages/kcf.py", "md5": "code"}]}}}))
    return root


def test_dep_hashes_prefer_the_upstream_output(tmp_path):
    ws = _workspace(tmp_path)
    assert tracking.dep_hashes(ws, "kcf") == {"data/synthesize": "new.dir", "data/extra": "extra.dir"}
    assert tracking.dep_hashes(ws, "train") == {} and tracking.dep_hashes(tmp_path / "none", "kcf") == {}


@pytest.fixture(scope="module")
def main_repo(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tracking") / "main"


def test_run_from_a_temp_workspace_lands_in_the_main_repo(main_repo, monkeypatch):
    from mlflow.tracking import MlflowClient

    # `dvc exp run --temp` runs the stage in a copy under .dvc/tmp/exps with DVC_ROOT = the main repo.
    ws = _workspace(main_repo / ".dvc" / "tmp" / "exps" / "tmpab12")
    monkeypatch.chdir(ws)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(main_repo))
    monkeypatch.setenv("DVC_EXP_NAME", "cute-exp")
    (ws / "hist.csv").write_text("a,b\n1,2\n")
    with tracking.start_run(TrackingConfig(experiment="t"), "kcf", {"kcf": {"fit": {"lr": 0.1}, "folds": 5}}) as run:
        assert run.active
        for epoch in (1, 2):
            run.log_metrics({"loss": 1.0 / epoch, "skip": None, "name": "x"}, step=epoch, prefix="fold0/")
        run.log_metrics({"keep_rate": 0.8, "corruption": {"auroc_error": 0.9}})
        run.log_artifact(ws / "hist.csv", "plots")
    assert (main_repo / "mlflow.db").is_file() and not (ws / "mlflow.db").exists() and not (ws / "mlruns").exists()
    client = MlflowClient(f"sqlite:///{main_repo}/mlflow.db")
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "kcf-cute-exp"
    assert got.data.params == {"kcf.fit.lr": "0.1", "kcf.folds": "5"}
    assert got.data.metrics == {"fold0/loss": 0.5, "keep_rate": 0.8, "corruption.auroc_error": 0.9}
    assert [m.step for m in client.get_metric_history(run.run_id, "fold0/loss")] == [1, 2]
    tags = got.data.tags
    assert tags["DVC_EXP_NAME"] == "cute-exp" and tags["dst3d.stage"] == "kcf"
    assert tags["dvc.dep.data/synthesize"] == "new.dir" and "git_commit" in tags
    assert [a.path for a in client.list_artifacts(run.run_id, "plots")] == ["plots/hist.csv"]
    assert (main_repo / "mlruns").is_dir()  # artifacts beside the database, not in the temp workspace


def test_a_failing_stage_marks_its_run_failed(main_repo, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(main_repo)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(main_repo))
    with pytest.raises(RuntimeError, match="boom"):
        with tracking.start_run(TrackingConfig(experiment="t"), "train", {}) as run:
            raise RuntimeError("boom")
    assert MlflowClient(f"sqlite:///{main_repo}/mlflow.db").get_run(run.run_id).info.status == "FAILED"


def test_tracking_off_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    with tracking.start_run(TrackingConfig(enabled=False), "train", {"a": 1}) as run:
        assert not run.active
        run.log_metrics({"a": 1.0}, step=1)
        run.log_params({"b": 2})
        run.log_artifact(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_dvc_exp_run_temp_lands_in_the_main_repo(tmp_path):
    """The real thing: kcf + train under `dvc repro`, then `dvc exp run --temp`; every run in <repo>/mlflow.db."""
    import json
    import sys

    from pipeline_utils import REPO, dvc, git, make_repo, smoke_params

    fit = {"image_size": 32, "epochs": 1, "workers": 0, "threads": 1}
    params = smoke_params({"base": {"categories": ["car", "chair"]},
                           "kcf": {"folds": 2, "threshold": "keep_fraction", "model": {"width": 8}, "fit": fit},
                           "train": {"model": {"width": 8}, "fit": fit, "eval_every": 0}})
    root = make_repo(tmp_path, params)
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    fixture = (f"{sys.executable} -c \"import sys; sys.path.insert(0, 'tests'); from pathlib import Path; "
               "from pose_fixture import make_dataset; make_dataset(Path('data'), views=6, px=32)\"")
    pipeline = {"stages": {"fixture": {"cmd": fixture, "deps": ["tests/pose_fixture.py"],
                                       "outs": ["data/render", "data/synthesize"]},
                           "kcf": stages["kcf"], "train": stages["train"]}}
    (root / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "fixture pipeline")
    dvc(root, "repro")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "ran")
    dvc(root, "exp", "run", "--temp", "-n", "from-render", "-S", "train.data=render")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("dst3d").experiment_id])
    names = sorted(r.info.run_name for r in runs)
    assert names == ["kcf-workspace", "train-from-render", "train-workspace"]
    exp_run = next(r for r in runs if r.info.run_name == "train-from-render")
    assert exp_run.data.params["train.data"] == "render" and exp_run.data.tags["DVC_EXP_NAME"] == "from-render"
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert exp_run.data.tags["dvc.dep.data/kcf"] == next(o["md5"] for o in lock["kcf"]["outs"]
                                                          if o["path"] == "data/kcf")
    assert client.list_artifacts(exp_run.info.run_id, "model")  # the safetensors file, beside the db
    shown = json.loads(dvc(root, "exp", "show", "--json").stdout)
    assert any("from-render" in json.dumps(e) for e in shown)
