#!/usr/bin/env bash
# Queue throughput and latency on the embedded store (release build). Prints figures; not a test.
#   scripts/bench-queues.sh [runs]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-20000}"
port="${BENCH_PORT:-7472}"
swift build -c release --scratch-path .build-release --product cairn >/dev/null
bin=.build-release/release/cairn
data="$(mktemp -d)"
"$bin" serve --port "$port" --data-dir "$data" --log-level warning &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
"$bin" bench claims --port "$port" --runs "$runs" --workers 4 --limit 10
