"""Errors a user can fix (params, input data) and how stages report them: one line, no traceback.

Every domain error (``ConfigError``, ``ManifestError``, ``PlanError``, ...) derives from
:class:`UserError`. :func:`run_stage` wraps a stage's ``main``: such an error prints
``dst3d <stage>: <message>`` on stderr and exits 2; ``--debug`` or ``DST3D_DEBUG=1`` re-raises it with
its traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence


class UserError(Exception):
    """A problem in params or input data that the user can fix; reported without a traceback."""


REPORTED: tuple[type[BaseException], ...] = (UserError, FileNotFoundError, NotADirectoryError, PermissionError)
"""Errors reported as one line (a missing input file is a data error, not a bug)."""


def debug_requested(argv: Sequence[str] = ()) -> bool:
    return "--debug" in argv or os.environ.get("DST3D_DEBUG", "") not in ("", "0")


def one_line(err: BaseException) -> str:
    """The error's message on one line (the first line; the rest is for ``--debug``)."""
    text = str(err).strip() or type(err).__name__
    first, _, rest = text.partition("\n")
    return first + (" (more with DST3D_DEBUG=1)" if rest.strip() else "")


def run_stage(stage: str, main: Callable[[list[str]], int], argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)``; a :data:`REPORTED` error becomes ``dst3d <stage>: <message>`` and exit code 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(args)
    args = [a for a in args if a != "--debug"]
    try:
        return main(args)
    except REPORTED as err:
        if debug:
            raise
        print(f"dst3d {stage}: {one_line(err)}", file=sys.stderr)
        return 2
