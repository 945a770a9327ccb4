#!/usr/bin/env bash
# Set up .venv (when missing) with every dependency, then lint, type-check and run the whole
# test suite.
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check .
.venv/bin/mypy  # the files and settings are in pyproject.toml
# --dist loadfile keeps each module on one worker, so a module's Go cluster is started once.
.venv/bin/python -m pytest -n 2 --dist loadfile "$@"
