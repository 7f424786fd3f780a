#!/usr/bin/env bash
# Checkpoint protocol figures: Cairn over HTTP (release build; every save fsynced before the
# reply) and, right after on the same machine, LangGraph's SqliteSaver in-process
# (../shared/peers/langgraph_checkpoints.py) at the same history lengths. Prints figures; not a test.
#   scripts/bench-checkpoints.sh [saves-per-configuration]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
saves="${1:-4000}"
peers="$(cd .. && pwd)/shared/peers"
port="${BENCH_PORT:-7472}"
# The default limit of 100 requests a minute per key would measure the limiter.
server_flags=(--rate-limit 0)

source scripts/lib/release-server.sh

echo "== cairn (HTTP, durable)"
"$bin" bench checkpoints --port "$port" --saves "$saves" --histories 1,1000,100000

echo "== LangGraph SqliteSaver (in-process library, ~1 KB state)"
if ! .venv-peers/bin/python -c 'import langgraph.checkpoint.sqlite' 2>/dev/null; then
    python3 -m venv .venv-peers
    .venv-peers/bin/pip install -q langgraph langgraph-checkpoint-sqlite
fi
for n in 1 1000 100000; do
    .venv-peers/bin/python "$peers/langgraph_checkpoints.py" sqlite "$n" 2>&1 | grep -E '^langgraph'
done
