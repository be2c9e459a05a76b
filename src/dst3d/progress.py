"""Progress of the long loops, on stderr: a tqdm bar on a terminal, periodic one-line reports elsewhere.

A stage's loops call :func:`bar` (a counter updated as items finish) or :func:`track` (wraps an iterable).
Where the output goes decides the look (``DST3D_PROGRESS``, read when a bar opens):

* ``auto`` (default): a tqdm bar when stderr is a terminal; otherwise (DVC's log, CI, a pipe) one plain
  line every ``DST3D_PROGRESS_INTERVAL`` seconds (default 15), e.g.
  ``render: 1234/5760 views (21%), 45.1/s, eta 1m40s``, and a last line when such a bar closes. No
  carriage returns, and a loop shorter than the interval prints nothing.
* ``1`` / ``bar``: always a tqdm bar; ``lines``: always the periodic lines; ``0`` / ``off``: nothing.
* With ``DST3D_PROGRESS`` unset, tqdm's own ``TQDM_DISABLE`` (any value) turns it off too.

Bars only observe: they never change what a loop computes. Work done in worker processes is counted in
the parent as its results arrive; workers never open bars. A bar opened while another is open is nested:
on a terminal it sits below its parent and disappears when done; its lines name the parent's count.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TextIO, TypeVar

T = TypeVar("T")

ENV = "DST3D_PROGRESS"
ENV_INTERVAL = "DST3D_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 15.0  # seconds between report lines: a 15-min stage logs ~60 lines, not thousands
MODES = {"auto": "auto", "": "auto", "1": "bar", "on": "bar", "bar": "bar", "true": "bar",
         "lines": "lines", "0": "off", "off": "off", "false": "off"}

_open: list[Progress] = []  # bars open now, outermost first (for nesting)
_warned: set[str] = set()


class Progress(Protocol):
    """What :func:`bar` returns: tqdm's interface, the part the loops use."""

    n: float
    total: float | None
    desc: str

    def update(self, n: float = 1) -> Any: ...
    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Progress: ...
    def __exit__(self, *exc: object) -> None: ...


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        print(f"dst3d: {message}", file=sys.stderr, flush=True)


def mode(stream: TextIO | None = None) -> str:
    """``bar``, ``lines`` or ``off`` for bars written to ``stream`` (default: stderr), from the environment."""
    stream = sys.stderr if stream is None else stream
    raw = os.environ.get(ENV)
    chosen = MODES.get((raw or "").strip().lower())
    if chosen is None:
        _warn_once(f"{ENV}={raw!r} is not one of auto, 1, lines, 0; using auto")
        chosen = "auto"
    if raw is None and os.environ.get("TQDM_DISABLE"):
        return "off"
    if chosen != "auto":
        return chosen
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        tty = False
    return "bar" if tty else "lines"


def interval() -> float:
    """Seconds between report lines (``DST3D_PROGRESS_INTERVAL``; a bad value warns and keeps the default)."""
    raw = os.environ.get(ENV_INTERVAL)
    if not raw:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
        if value < 0 or value != value:
            raise ValueError
        return value
    except ValueError:
        _warn_once(f"{ENV_INTERVAL}={raw!r} is not a number of seconds >= 0; using {DEFAULT_INTERVAL:g}")
        return DEFAULT_INTERVAL


def duration(seconds: float) -> str:
    """``45s``, ``1m40s``, ``2h03m``."""
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def plural(unit: str) -> str:
    return unit + ("es" if unit.endswith(("s", "x", "ch", "sh")) else "s")


class _Off:
    """No output at all; counts anyway (callers may read ``n``)."""

    def __init__(self, total: float | None, desc: str) -> None:
        self.n: float = 0
        self.total, self.desc = total, desc

    def update(self, n: float = 1) -> None:
        self.n += n

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Off:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LineReporter:
    """tqdm's interface as plain lines: at most one line per ``every`` seconds, then one when closed (only
    if it reported before: short loops stay silent). ``clock`` is injectable for tests."""

    def __init__(self, total: float | None, desc: str, unit: str = "it", stream: TextIO | None = None,
                 every: float | None = None, clock: Callable[[], float] = time.monotonic,
                 parents: Iterable[Progress] = ()) -> None:
        self.n: float = 0
        self.total, self.desc, self.unit = total, desc, unit
        self.stream = sys.stderr if stream is None else stream
        self.every = interval() if every is None else every
        self.clock = clock
        self.parents = list(parents)
        self.postfix = ""
        self.lines = 0
        self.closed = False
        self.start = self.last = clock()

    def _count(self) -> str:
        n = int(self.n) if float(self.n).is_integer() else self.n
        if self.total:
            return f"{n}/{int(self.total)} {plural(self.unit)} ({100 * self.n / self.total:.0f}%)"
        return f"{n} {plural(self.unit)}"

    def text(self, final: bool = False) -> str:
        """The report line for the current count."""
        elapsed = self.clock() - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.desc}: {self._count()}" if self.desc else self._count()]
        if final:
            parts[0] += f" in {duration(elapsed)}"
        if rate > 0:
            parts.append(f"{rate:.3g}/s" if rate >= 1 else f"{1 / rate:.3g} s/{self.unit}")
        if not final and self.total and rate > 0 and self.n < self.total:
            parts.append(f"eta {duration((self.total - self.n) / rate)}")
        if self.postfix:
            parts.append(self.postfix)
        outer = [f"{p.desc} {int(p.n)}{f'/{int(p.total)}' if p.total else ''} {plural(getattr(p, 'unit', 'it'))}"
                 for p in self.parents]
        return " | ".join([*outer, ", ".join(parts)])

    def _emit(self, final: bool = False) -> None:
        self.stream.write(self.text(final) + "\n")
        self.stream.flush()
        self.lines += 1
        self.last = self.clock()

    def update(self, n: float = 1) -> None:
        self.n += n
        if self.clock() - self.last >= self.every and not (self.total and self.n >= self.total):
            self._emit()  # (the last count is reported by close)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.lines or (self.every <= 0 and self.n):
            self._emit(final=True)
        _forget(self)

    def __enter__(self) -> LineReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _forget(b: Progress) -> None:
    for i, other in enumerate(_open):
        if other is b:
            del _open[i]
            return


def bar(total: float | None, desc: str, unit: str = "it", enabled: bool = True) -> Progress:
    """A progress counter of ``total`` items (None: unknown) named ``desc``: ``update(n)``, ``close()``, and
    a context manager. ``enabled=False`` (e.g. a ``--no-progress`` flag) gives one that prints nothing."""
    stream = sys.stderr
    how = mode(stream) if enabled else "off"
    if how == "off":
        return _Off(total, desc)
    depth = len(_open)
    made: Progress
    if how == "bar":
        # A terminal that reports no size (a bare pseudo-terminal) would hide the bar: 100 x 20 then.
        width: dict[str, Any] = {"dynamic_ncols": True} if _columns(stream) else {"ncols": 100, "nrows": 20}
        made = _tqdm_class()(total=total, desc=desc, unit=unit, file=stream, position=depth, leave=depth == 0,
                             mininterval=0.5, disable=False,  # explicit: tqdm would obey TQDM_DISABLE on its own
                             **width)
    else:
        made = LineReporter(total, desc, unit, stream, parents=list(_open))
    _open.append(made)
    return made


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):  # not a file, or not a terminal
        return 0


@functools.cache
def _tqdm_class() -> type:
    from tqdm import tqdm  # imported here: only a terminal needs it

    class Bar(tqdm):  # type: ignore[misc]
        """tqdm that leaves the nesting stack when closed."""

        def close(self) -> None:
            super().close()
            _forget(self)

    return Bar


def track(iterable: Iterable[T], desc: str, unit: str = "it", total: float | None = None,
          enabled: bool = True) -> Iterator[T]:
    """Yield ``iterable``'s items, counting each as it arrives (``total`` defaults to ``len(iterable)``).
    Wrap results as they come back from workers (``pool.imap``), not the tasks handed to them."""
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with bar(total, desc, unit, enabled) as b:
        for item in iterable:
            yield item
            b.update(1)
