#!/usr/bin/env bash
# Durable step overhead: Cairn over HTTP (release build) and, right after on the same machine,
# the DBOS peer on SQLite (../shared/peers/dbos_steps.py). Prints figures; not a test.
#   scripts/bench-steps.sh [steps]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
steps="${1:-2000}"
peers="$(cd .. && pwd)/shared/peers"
port="${BENCH_PORT:-7471}"

source scripts/lib/release-server.sh

echo "== cairn (HTTP, durable: every begin and complete fsynced before the reply)"
"$bin" bench steps --port "$port" --sequential "$steps" --workers 32 --steps-per-worker 300
echo "== cairn store: $(curl -s "http://127.0.0.1:$port/metrics" | grep -E '^cairn_store_(commit_duration_seconds|group_commit_batch_size)_(sum|count)' | tr '\n' ' ')"

echo "== DBOS on SQLite (in-process library, $steps sequential steps)"
if [ ! -x .venv-peers/bin/python ]; then
    python3 -m venv .venv-peers
    .venv-peers/bin/pip install -q dbos
fi
.venv-peers/bin/python "$peers/dbos_steps.py" "$steps" 2>&1 | grep -E '^dbos'
