"""Progress reporting: periodic lines off a terminal, tqdm bars on one, the env switch, a real stage."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
from tqdm import tqdm

from dst3d import progress

REPO = Path(__file__).resolve().parents[1]


class Clock:
    """A fake clock the test advances by hand."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (progress.ENV, progress.ENV_INTERVAL, "TQDM_DISABLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(progress, "_open", [])


def test_lines_are_periodic_bounded_and_end_with_a_summary():
    clock, out = Clock(), io.StringIO()
    r = progress.LineReporter(5760, "render", "view", out, every=15, clock=clock)
    for _ in range(5760):  # 64 views/s: 90 s in all
        clock.t += 1 / 64
        r.update(1)
    r.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 90 // 15  # one line per 15 s (the 6th is the closing one), not thousands
    assert lines[0] == "render: 960/5760 views (17%), 64/s, eta 1m15s"
    assert lines[-1] == "render: 5760/5760 views (100%) in 1m30s, 64/s"
    r.close()  # a second close prints nothing more
    assert len(out.getvalue().splitlines()) == len(lines)


def test_a_loop_shorter_than_the_interval_prints_nothing():
    clock, out = Clock(), io.StringIO()
    with progress.LineReporter(10, "edges", "image", out, every=15, clock=clock) as r:
        for _ in range(10):
            clock.t += 1
            r.update()
    assert out.getvalue() == ""


def test_line_text_slow_items_postfix_and_unknown_total():
    clock, out = Clock(), io.StringIO()
    r = progress.LineReporter(None, "fit", "batch", out, every=0, clock=clock)
    clock.t += 30
    r.set_postfix_str("epoch 1/4 done, loss 2.100")
    r.update(3)
    assert out.getvalue() == "fit: 3 batches, 10 s/batch, epoch 1/4 done, loss 2.100\n"
    assert progress.duration(7325) == "2h02m" and progress.duration(59.6) == "1m00s"


def test_mode_follows_the_environment(monkeypatch):
    tty, pipe = Terminal(), io.StringIO()
    assert progress.mode(tty) == "bar" and progress.mode(pipe) == "lines"  # auto (unset)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress.mode(tty) == "off"  # tqdm's switch, when ours is unset
    monkeypatch.setenv(progress.ENV, "auto")
    assert progress.mode(tty) == "bar"  # ours, set, wins
    for value, expected in (("0", "off"), ("off", "off"), ("1", "bar"), ("lines", "lines"), ("LINES", "lines")):
        monkeypatch.setenv(progress.ENV, value)
        assert progress.mode(pipe) == expected, value


def test_a_bad_env_value_warns_once_and_means_auto(monkeypatch, capsys):
    monkeypatch.setattr(progress, "_warned", set())
    monkeypatch.setenv(progress.ENV, "sometimes")
    monkeypatch.setenv(progress.ENV_INTERVAL, "soon")
    assert progress.mode(io.StringIO()) == "lines" and progress.mode(Terminal()) == "bar"
    assert progress.interval() == progress.DEFAULT_INTERVAL
    err = capsys.readouterr().err.splitlines()
    assert err == ["dst3d: DST3D_PROGRESS='sometimes' is not one of auto, 1, lines, 0; using auto",
                   "dst3d: DST3D_PROGRESS_INTERVAL='soon' is not a number of seconds >= 0; using 15"]


def test_on_a_terminal_bars_are_tqdm_and_nest(monkeypatch):
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv(progress.ENV, "1")  # forced: tqdm's own switch must not silence it
    with progress.bar(3, "kcf", unit="fold") as folds:
        assert isinstance(folds, tqdm) and folds.pos == 0 and folds.leave
        for _ in range(3):
            with progress.bar(50, "fit", unit="batch") as inner:
                assert isinstance(inner, tqdm) and abs(inner.pos) == 1 and not inner.leave
                inner.update(50)
            folds.update(1)
    assert progress._open == []
    text = term.getvalue()
    assert "kcf: 100%" in text and "3/3" in text and "fit:" in text


def test_nested_lines_name_the_outer_count(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    monkeypatch.setenv(progress.ENV_INTERVAL, "0")
    for _ in progress.track(range(2), "kcf", unit="fold"):
        for _ in progress.track(range(2), "fit", unit="batch"):
            pass
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("kcf 0/2 folds | fit: 1/2 batches (50%)")
    assert lines[-1].startswith("kcf: 2/2 folds (100%) in ")
    assert progress._open == []


def test_off_and_disabled_bars_print_nothing_but_count(monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV_INTERVAL, "0")
    b = progress.bar(4, "x", enabled=False)
    b.update(4)
    b.close()
    monkeypatch.setenv(progress.ENV, "0")
    assert list(progress.track(iter("abc"), "y")) == ["a", "b", "c"]
    assert b.n == 4 and capsys.readouterr().err == ""


def test_track_closes_its_bar_when_the_loop_breaks(monkeypatch):
    monkeypatch.setenv(progress.ENV, "lines")
    gen = progress.track(range(10), "z")
    next(gen)
    assert len(progress._open) == 1
    gen.close()
    assert progress._open == []


# ------------------------------------------------------------------------------------------ a real stage
def _edges_cmd(tmp: Path) -> list[str]:
    from test_edges import fake_render

    fake_render(tmp / "data" / "render", n=6)
    (tmp / "params.yaml").write_text("edges:\n  workers: 2\n")  # the process pool: counted in the parent
    return [sys.executable, str(REPO / "stages" / "edges.py"), "--params", str(tmp / "params.yaml"),
            "--render", str(tmp / "data" / "render"), "--out", str(tmp / "data" / "edges"),
            "--plots", str(tmp / "plots"), "--metrics", str(tmp / "edges.json")]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (progress.ENV, progress.ENV_INTERVAL, "TQDM_DISABLE")}
    return dict(env, PYTHONPATH=str(REPO / "src"), **extra)


def test_edges_stage_reports_progress_on_stderr_and_its_summary_on_stdout(tmp_path):
    proc = subprocess.run(_edges_cmd(tmp_path), capture_output=True, text=True, timeout=120,
                          env=_env(DST3D_PROGRESS_INTERVAL="0"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("edges: 1/6 images (17%)") and lines[-1].startswith("edges: 6/6 images (100%) in ")
    assert "\r" not in proc.stderr and "images" not in proc.stdout
    assert proc.stdout.startswith("edges: 6 edge maps ->")


def test_edges_stage_draws_a_bar_on_a_terminal(tmp_path):
    """stderr on a pseudo-terminal (as in a shell): a tqdm bar, redrawn in place."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(_edges_cmd(tmp_path), stdout=subprocess.PIPE, stderr=slave, env=_env(), text=True)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, seen.decode(errors="replace")
    text = seen.decode(errors="replace")
    assert "\r" in text and "edges: 100%" in text and "6/6" in text
    assert stdout.startswith("edges: 6 edge maps ->")


@pytest.mark.parametrize(("preset", "expected"), [({}, "lines"), ({"TQDM_DISABLE": "1"}, "off")])
def test_prompts_stage_silences_model_loaders_but_not_its_own_progress(preset, expected):
    """stages/prompts.py sets TQDM_DISABLE for the model loaders' bars; a user's own TQDM_DISABLE still wins."""
    code = ("import sys; sys.path.insert(0, 'stages'); import prompts; "
            "from dst3d import progress; print(progress.mode())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                          env=_env(**preset))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected
