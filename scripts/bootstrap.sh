#!/usr/bin/env bash
# Create .venv/ in the repo root and install the locked environment into it (idempotent: a stamp of
# the lock files' hash skips work when nothing changed). Needs Python 3.11 and a package index.
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
  for c in "${PYTHON:-}" python3.11 python3; do
    [ -n "$c" ] || continue
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$c"; return 0
    fi
  done
  echo "bootstrap: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  py=$(pick_python)
  echo "bootstrap: creating .venv with $py"
  "$py" -m venv .venv
fi

stamp=.venv/.dst3d-installed
want=$(cat requirements.lock.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing the locked environment (a few minutes the first time)"
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  # Some machines' pip config names local index folders that may be absent: drop that noise only.
  quiet() { "$@" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true; return "${PIPESTATUS[0]}"; }
  quiet .venv/bin/python -m pip install -q -r requirements.lock.txt
  quiet .venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt
  quiet .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp"
else
  echo "bootstrap: .venv is up to date"
fi
