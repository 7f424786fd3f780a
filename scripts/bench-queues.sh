#!/usr/bin/env bash
# Queue throughput and latency on the embedded store (release build). Prints figures; not a test.
#   scripts/bench-queues.sh [runs]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-20000}"
port="${BENCH_PORT:-7472}"
source scripts/lib/release-server.sh
"$bin" bench claims --port "$port" --runs "$runs" --workers 4 --limit 10
