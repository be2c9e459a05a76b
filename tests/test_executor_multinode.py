"""Two Ray nodes on one machine (a head and a second raylet that joins it, `ray start` as on a real cluster):
render -> synthesize -> kcf through `base.executor: {kind: ray, address: <head>}` give the same data as
`local`. Both nodes are always stopped, by the PIDs of the processes under this test's own temp dir."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from test_kcf import FAST_FIT, FAST_MODEL
from test_render_support import marker_model, write_align

from dst3d import kcf
from dst3d.params import BaseConfig, ExecutorConfig
from dst3d.render.params import RenderConfig
from dst3d.render.plan import plan_views
from dst3d.render.runner import render_views
from dst3d.schema import ImageRecord, write_manifest
from dst3d.synthesize import backends as synth_backends
from dst3d.synthesize import runner as synth
from dst3d.synthesize.params import SynthesizeConfig
from dst3d.training.params import KcfConfig

pytestmark = pytest.mark.slow  # two raylets starting on a loaded 2-core machine: about a minute or more

SRC = Path(__file__).resolve().parents[1] / "src"
RAY_BIN = str(Path(sys.executable).with_name("ray"))


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def processes_under(tmp: str) -> list[int]:
    """PIDs of the processes whose command line names ``tmp`` (every Ray process of this test's nodes)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if tmp.encode() in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def stop_nodes(tmp: str) -> None:
    """`ray stop` would stop every Ray on the machine: signal only our own processes, by PID."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in processes_under(tmp):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 10
        while processes_under(tmp) and time.time() < deadline:
            time.sleep(0.2)


@pytest.fixture()
def two_nodes():
    """A head (1 CPU) and a second node (1 CPU) on this machine, every port chosen free; yields the address."""
    pytest.importorskip("ray")
    tmp = tempfile.mkdtemp(prefix="r", dir="/tmp")  # unix socket paths under it must stay < 108 chars
    # Token authentication (Ray's default for new clusters): every node and the driver share the default
    # token file, ~/.ray/auth_token, as ray.init's local instances do (created there if missing).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]),
               RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token")
    env.pop("RAY_AUTH_TOKEN", None)
    env.pop("RAY_AUTH_TOKEN_PATH", None)
    subprocess.run([RAY_BIN, "get-auth-token", "--generate"], env=env, check=True, capture_output=True, timeout=60)
    ports = iter(free_ports(40))

    def node_ports() -> list[str]:
        lo = next(ports)
        return [f"--node-manager-port={next(ports)}", f"--object-manager-port={next(ports)}",
                f"--dashboard-agent-grpc-port={next(ports)}", f"--dashboard-agent-listen-port={next(ports)}",
                f"--runtime-env-agent-port={next(ports)}", f"--metrics-export-port={next(ports)}",
                f"--min-worker-port={lo}", f"--max-worker-port={lo + 40}",
                "--num-cpus=1", "--object-store-memory=100000000", "--disable-usage-stats"]

    gcs = next(ports)
    address = f"127.0.0.1:{gcs}"

    def start(args: list[str], tries: int = 1) -> None:
        for attempt in range(1, tries + 1):
            try:
                subprocess.run([RAY_BIN, "start", *args, *node_ports()], env=env, check=True, capture_output=True,
                               timeout=240)
                return
            except subprocess.CalledProcessError as err:
                if attempt == tries or b"timed out during startup" not in err.stderr:
                    raise
                stop_nodes(tmp)  # the half-started head, before a fresh try

    try:
        start(["--head", f"--port={gcs}", f"--temp-dir={tmp}", "--include-dashboard=false",
               "--node-ip-address=127.0.0.1"], tries=2)  # Ray gives a raylet 30 s: a starved machine may miss it
        start([f"--address={address}", "--node-ip-address=127.0.0.1"])
        yield address
    except subprocess.CalledProcessError as err:
        pytest.fail(f"ray start failed: {err.stderr.decode(errors='replace')[-2000:]}")
    finally:
        stop_nodes(tmp)
        assert not processes_under(tmp), "a Ray process of this test survived"
        shutil.rmtree(tmp, ignore_errors=True)


def test_render_synthesize_kcf_on_two_nodes_equal_local(two_nodes, tmp_path):
    from dst3d import executor as executors

    cluster = ExecutorConfig(kind="ray", address=two_nodes, num_cpus_per_task=1.0, batch_size=4)
    with executors.session(cluster) as ray:
        assert sum(n["Alive"] for n in ray.nodes()) == 2 and ray.cluster_resources()["CPU"] == 2
    align = tmp_path / "align"
    models = [marker_model(align, f"m{i}", "car") for i in range(3)]
    write_align(align, models)
    base = BaseConfig(categories=("car",))
    rcfg = RenderConfig(backend="opengl", views_per_model=4, width=48, height=48, views_per_shard=4, test_fraction=0.0)
    scfg = SynthesizeConfig(backend="composite", images_per_render=1)
    kcfg = KcfConfig(folds=3, model=FAST_MODEL, fit=dataclasses.replace(FAST_FIT, epochs=1))
    prompts = [{"model_id": m.model_id, "prompt": f"a photo of a car {m.model_id}"} for m in models]
    results = {}
    for name, executor in (("local", ExecutorConfig()), ("ray", cluster)):
        root = tmp_path / name
        views = plan_views(models, base, rcfg, align)
        rendered = render_views(views, rcfg, root / "render", log=lambda s: None, executor=executor)
        items = synth.plan(rendered.records, prompts, base, scfg, root / "synthesize")
        synth.run(items, root / "synthesize", lambda: synth_backends.open_backend(scfg), progress=False,
                  executor=executor, cfg=scfg)
        manifest = root / "synthesize" / "manifest.jsonl"
        write_manifest(manifest, [it.record for it in items])
        filtered = kcf.run_kcf([it.record for it in items], manifest, dataclasses.replace(base, executor=executor),
                               kcfg, meshes={m.model_id: tmp_path / m.mesh for m in models})
        files = {r.image_id: [(root / getattr(r, k)).read_bytes() for k in ("rgb", "mask", "depth", "image")]
                 for r in filtered.rows}
        results[name] = (rendered.records, filtered.rows, files)
    assert len(results["ray"][1]) == 12
    assert results["local"] == results["ray"]  # render rows, kcf rows (scores included) and every file's bytes
    assert all(isinstance(r, ImageRecord) and r.kcf_score is not None for r in results["ray"][1])
