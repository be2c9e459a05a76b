#!/usr/bin/env bash
# Set up (if needed) and run the test suite: ruff, then pytest. Extra arguments go to pytest
# (e.g. `bash scripts/test.sh -m slow` for the slow, real-model tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
. .venv/bin/activate
ruff check .
python -m pytest -q "$@"
