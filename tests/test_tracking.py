"""MLflow tracking: where runs land (DVC_ROOT, temp workspaces), what they hold (read back through MlflowClient
from a real sqlite store: one per module, MLflow's schema set-up takes seconds), and switching it off."""

from __future__ import annotations

import hashlib
import json
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
        "kcf": {"cmd": "x", "deps": ["stages/kcf.py", "data/synthesize", "data/extra"]},
        "train": {"cmd": "z", "deps": ["data/synthesize"]}}}))
    (root / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {
        "synthesize": {"cmd": "y", "outs": [{"path": "data/synthesize", "md5": "new.dir"}]},
        "kcf": {"cmd": "x", "deps": [{"path": "data/synthesize", "md5": "old.dir"},
                                     {"path": "data/extra", "md5": "extra.dir"},
                                     {"path": "stages/kcf.py", "md5": "code"}]}}}))
    return root


def test_dep_hashes_prefer_the_upstream_output(tmp_path):
    ws = _workspace(tmp_path)
    assert tracking.dep_hashes(ws, "kcf") == {"data/synthesize": "new.dir", "data/extra": "extra.dir"}
    assert tracking.dep_hashes(ws, "train") == {"data/synthesize": "new.dir"}
    assert tracking.dep_hashes(ws, "render") == {} and tracking.dep_hashes(tmp_path / "none", "kcf") == {}


def test_epoch_rows_and_final_metrics_share_names():
    row = {"epoch": 3, "loss": 1.0, "cls_loss": 0.2, "test_acc_pi_6": 0.5, "ood_top1": 0.1}
    assert tracking.epoch_metrics(row, "train", ["test", "ood"]) == {
        "train/loss": 1.0, "train/cls_loss": 0.2, "test/acc_pi_6": 0.5, "ood/top1": 0.1}
    assert tracking.epoch_metrics({"epoch": 1, "loss": 2.0}, "fold1") == {"fold1/loss": 2.0}
    assert tracking.flatten({"test": {"acc_pi_6": 0.5}}, sep="/") == {"test/acc_pi_6": 0.5}


def test_run_name_and_param_values(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_EXP_NAME", "lr-sweep-3")
    assert tracking.run_name("train", tmp_path) == "lr-sweep-3"
    monkeypatch.delenv("DVC_EXP_NAME")
    assert re.fullmatch(r"kcf-nogit-\d{8}-\d{6}", tracking.run_name("kcf", tmp_path))
    name = tracking.run_name("train", Path(__file__).parent)
    assert re.fullmatch(r"train-[0-9a-f]{7}-\d{8}-\d{6}", name), name
    assert tracking.param_value(("car", "chair")) == '["car", "chair"]' and tracking.param_value(None) == "None"
    assert len(tracking.param_value("x" * 7000)) == 6000


def _dvc_dir_md5(folder: Path) -> str:
    """DVC's folder hash, written out independently: md5 of the sorted JSON list of {md5, relpath}."""
    entries = [{"md5": hashlib.md5(f.read_bytes()).hexdigest(), "relpath": f.relative_to(folder).as_posix()}
               for f in sorted(folder.rglob("*")) if f.is_file()]
    entries.sort(key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def test_dataset_digest_is_the_dvc_hash(tmp_path, monkeypatch):
    ws = _workspace(tmp_path / "ws")
    data = ws / "data" / "synthesize"
    (data / "images").mkdir(parents=True)
    (data / "manifest.jsonl").write_text('{"image_id": "a"}\n')
    (data / "images" / "a.png").write_bytes(b"\x89PNG fake")
    computed = _dvc_dir_md5(data)
    assert tracking.dvc_md5(data) == computed
    assert tracking.dvc_md5(data / "manifest.jsonl") == hashlib.md5(b'{"image_id": "a"}\n').hexdigest()
    monkeypatch.delenv("DVC_STAGE", raising=False)  # by hand: dvc.lock may be stale, so hash the data
    assert tracking.dataset_digest(ws, data) == (computed, "computed")
    monkeypatch.setenv("DVC_STAGE", "kcf")  # under DVC: the upstream output's hash in dvc.lock
    assert tracking.dataset_digest(ws, data) == ("new.dir", "dvc.lock")
    assert tracking.dataset_digest(ws, "data/synthesize") == ("new.dir", "dvc.lock")
    outside = tmp_path / "bench"
    outside.mkdir()
    (outside / "x.txt").write_text("x")
    assert tracking.dataset_digest(ws, outside) == (_dvc_dir_md5(outside), "computed")


@pytest.fixture(scope="module")
def main_repo(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tracking") / "main"


@pytest.fixture(scope="module")
def train_like_run(main_repo):
    """A train-stage-like run from a `dvc exp run --temp` workspace: the stage's own calls, in its order.

    `dvc exp run --temp` runs the stage in a copy under .dvc/tmp/exps with DVC_ROOT = the main repo."""
    ws = _workspace(main_repo / ".dvc" / "tmp" / "exps" / "tmpab12")
    (ws / "data" / "synthesize").mkdir(parents=True)
    (ws / "data" / "synthesize" / "manifest.jsonl").write_text("{}\n")
    bench = main_repo.parent / "pascal3d"
    bench.mkdir()
    (bench / "ann.mat").write_bytes(b"annotations")
    plots = ws / "metrics" / "plots" / "train"
    plots.mkdir(parents=True)
    for name in ("curves.png", "confusion.png", "worst.png", "curves.csv"):
        (plots / name).write_bytes(b"png")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ws)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("DVC_ROOT", str(main_repo))
        mp.setenv("DVC_STAGE", "train")
        mp.setenv("DVC_EXP_NAME", "cute-exp")
        params = {"train": {"fit": {"lr": 0.1, "epochs": 2}, "data": "synthesize", "eval_sets": [{"name": "p3d"}]}}
        with tracking.start_run(TrackingConfig(experiment="t"), "train", params) as run:
            assert run.active
            run.log_dataset("synthesize", "data/synthesize", "training", rows=10, split="train")
            run.log_dataset("test", "data/synthesize", "evaluation", rows=4, split="test")
            run.log_dataset("p3d", bench, "evaluation", rows=2, split="val")
            for epoch in (1, 2):
                row = {"epoch": epoch, "loss": 1.0 / epoch, "test_acc_pi_6": 0.25 * epoch, "name": "x", "skip": None}
                run.log_metrics(tracking.epoch_metrics(row, "train", ["test", "p3d"]), step=epoch)
            run.log_metrics({"test": {"acc_pi_6": 0.5, "n": 4}, "p3d": {"acc_pi_6": 0.1}, "images_per_s": 9.0})
            run.log_artifact(plots, "plots")
            run.log_artifact(ws / "missing.json")
    return run, ws, bench


def _client(main_repo: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(f"sqlite:///{main_repo}/mlflow.db")


def test_a_run_from_a_temp_workspace_lands_in_the_main_repo(main_repo, train_like_run):
    run, ws, _ = train_like_run
    assert (main_repo / "mlflow.db").is_file() and not (ws / "mlflow.db").exists() and not (ws / "mlruns").exists()
    got = _client(main_repo).get_run(run.run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "cute-exp"  # DVC_EXP_NAME, not train-workspace
    assert got.info.artifact_uri.startswith((main_repo / "mlruns").as_uri())  # beside the db, not in the temp copy
    tags = got.data.tags
    assert tags["DVC_EXP_NAME"] == "cute-exp" and tags["dst3d.stage"] == "train"
    assert tags["mlflow.source.name"] == "stages/train.py" and "git_commit" not in tags  # no git in the fixture


def test_the_experiment_opens_on_training_runs(main_repo, train_like_run):
    client = _client(main_repo)
    assert client.get_experiment_by_name("t").tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"
    # an experiment made before this change (no kind) gets it; a kind chosen in the UI is kept
    old = client.create_experiment("old")
    chosen = client.create_experiment("chosen", tags={tracking.EXPERIMENT_KIND_TAG: "genai_development"})
    assert tracking.experiment_id(client, "old") == old and tracking.experiment_id(client, "chosen") == chosen
    assert client.get_experiment(old).tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"
    assert client.get_experiment(chosen).tags[tracking.EXPERIMENT_KIND_TAG] == "genai_development"


def test_inputs_are_datasets_whose_digest_is_the_dvc_hash(main_repo, train_like_run):
    run, ws, bench = train_like_run
    got = _client(main_repo).get_run(run.run_id)
    inputs = {i.dataset.name: i for i in got.inputs.dataset_inputs}
    assert sorted(inputs) == ["p3d", "synthesize", "test"]
    tags = {name: {t.key: t.value for t in i.tags} for name, i in inputs.items()}
    assert inputs["synthesize"].dataset.digest == "new.dir"  # the upstream output's hash in the temp copy's lock
    assert tags["synthesize"] == {"mlflow.data.context": "training", "dvc.path": "data/synthesize",
                                  "dst3d.digest_source": "dvc.lock", "rows": "10", "split": "train"}
    assert inputs["test"].dataset.digest == "new.dir" and tags["test"]["mlflow.data.context"] == "evaluation"
    assert inputs["p3d"].dataset.digest == _dvc_dir_md5(bench) and tags["p3d"]["dst3d.digest_source"] == "computed"
    assert json.loads(inputs["synthesize"].dataset.source) == {"uri": str(ws / "data" / "synthesize")}
    assert inputs["synthesize"].dataset.source_type == "local"
    assert got.data.tags["dvc.dataset.synthesize"] == got.data.tags["dvc.dep.data/synthesize"] == "new.dir"


def test_one_name_per_metric_with_its_epochs(main_repo, train_like_run):
    run, _, _ = train_like_run
    client = _client(main_repo)
    got = client.get_run(run.run_id)
    assert got.data.metrics == {"train/loss": 0.5, "test/acc_pi_6": 0.5, "test/n": 4.0, "p3d/acc_pi_6": 0.1,
                                "images_per_s": 9.0}
    history = {k: [(m.step, m.value) for m in client.get_metric_history(run.run_id, k)] for k in got.data.metrics}
    assert history["test/acc_pi_6"] == [(1, 0.25), (2, 0.5)]  # the final value is the last epoch's, once
    assert history["train/loss"] == [(1, 1.0), (2, 0.5)]
    assert history["p3d/acc_pi_6"] == [(2, 0.1)] and history["test/n"] == [(2, 4.0)]  # finals at the last step


def test_params_are_dotted_and_artifacts_are_there(main_repo, train_like_run):
    run, _, _ = train_like_run
    client = _client(main_repo)
    assert client.get_run(run.run_id).data.params == {
        "train.fit.lr": "0.1", "train.fit.epochs": "2", "train.data": "synthesize",
        "train.eval_sets": '[{"name": "p3d"}]'}
    assert sorted(a.path for a in client.list_artifacts(run.run_id, "plots")) == [
        "plots/confusion.png", "plots/curves.csv", "plots/curves.png", "plots/worst.png"]
    assert [a.path for a in client.list_artifacts(run.run_id)] == ["plots"]


def test_a_failing_stage_marks_its_run_failed(main_repo, monkeypatch):
    monkeypatch.chdir(main_repo)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(main_repo))
    with pytest.raises(RuntimeError, match="boom"):
        with tracking.start_run(TrackingConfig(experiment="t"), "train", {}) as run:
            raise RuntimeError("boom")
    got = _client(main_repo).get_run(run.run_id)
    assert got.info.status == "FAILED" and got.info.run_name.startswith("train-")


def test_tracking_off_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    with tracking.start_run(TrackingConfig(enabled=False), "train", {"a": 1}) as run:
        assert not run.active
        run.log_metrics({"a": 1.0}, step=1)
        run.log_params({"b": 2})
        run.log_dataset("x", tmp_path, "training")
        run.log_artifact(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_dvc_exp_run_temp_lands_in_the_main_repo(tmp_path):
    """The real thing: kcf + train under `dvc repro`, then `dvc exp run --temp`; every run in <repo>/mlflow.db."""
    import sys

    from pipeline_utils import REPO, dvc, git, make_repo, smoke_params

    fit = {"image_size": 32, "epochs": 1, "workers": 0, "threads": 1}
    params = smoke_params({"base": {"categories": ["car", "chair"]},
                           "kcf": {"folds": 2, "threshold": "keep_fraction", "model": {"width": 8}, "fit": fit},
                           "train": {"model": {"width": 8}, "fit": fit, "eval_every": 0,
                                     "eval_sets": [{"name": "renders", "path": "data/render", "split": "test"}]}})
    root = make_repo(tmp_path, params)
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    fixture = (f"{sys.executable} -c \"import sys; sys.path.insert(0, 'tests'); from pathlib import Path; "
               "from pose_fixture import make_dataset; make_dataset(Path('data'), views=6, px=32)\"")
    pipeline = {"stages": {"fixture": {"cmd": fixture, "deps": ["tests/pose_fixture.py"],
                                       "outs": ["data/render", "data/synthesize", "data/align"]},
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
    exp = client.get_experiment_by_name("dst3d")
    assert exp.tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"
    runs = client.search_runs([exp.experiment_id])
    names = sorted(r.info.run_name for r in runs)
    assert names[0] == "from-render" and re.fullmatch(r"kcf-[0-9a-f]{7}-\d{8}-\d{6}", names[1]), names
    assert re.fullmatch(r"train-[0-9a-f]{7}-\d{8}-\d{6}", names[2]), names
    exp_run = next(r for r in runs if r.info.run_name == "from-render")
    assert exp_run.data.params["train.data"] == "render" and exp_run.data.tags["DVC_EXP_NAME"] == "from-render"
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    outs = {o["path"]: o["md5"] for s in lock.values() for o in s.get("outs", [])}
    assert exp_run.data.tags["dvc.dep.data/kcf"] == outs["data/kcf"]
    inputs = {i.dataset.name: (i.dataset.digest, {t.key: t.value for t in i.tags})
              for i in exp_run.inputs.dataset_inputs}
    assert inputs["render"][0] == outs["data/render"] and inputs["render"][1]["mlflow.data.context"] == "training"
    assert inputs["test"][0] == outs["data/synthesize"] and inputs["test"][1]["mlflow.data.context"] == "evaluation"
    assert inputs["renders"][0] == outs["data/render"] and inputs["renders"][1]["split"] == "test"
    assert {d for d, _ in inputs.values()} <= set(outs.values())  # every digest is a DVC hash
    metrics = exp_run.data.metrics
    assert "test/acc_pi_6" in metrics and "train/loss" in metrics
    assert not [k for k in metrics if k.startswith("test_") or "." in k or k == "final_loss"]
    steps = [m.step for m in client.get_metric_history(exp_run.info.run_id, "test/acc_pi_6")]
    assert steps == [1]  # epochs: 1; the final value is that step, not a second one
    kcf_run = next(r for r in runs if r.info.run_name.startswith("kcf-"))
    assert {i.dataset.name for i in kcf_run.inputs.dataset_inputs} == {"synthesize"}
    assert "fold0/loss" in kcf_run.data.metrics and "fold1/heldout_acc_pi_6" in kcf_run.data.metrics
    assert client.list_artifacts(exp_run.info.run_id, "model")  # the safetensors file, beside the db
    plots = {a.path for a in client.list_artifacts(exp_run.info.run_id, "plots")}
    assert {"plots/curves.png", "plots/confusion.png", "plots/worst.png"} <= plots
    shown = json.loads(dvc(root, "exp", "show", "--json").stdout)
    assert any("from-render" in json.dumps(e) for e in shown)
