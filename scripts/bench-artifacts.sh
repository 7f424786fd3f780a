#!/usr/bin/env bash
# Artifacts over loopback (release build): a 1 GiB upload and download beside a plain
# read+write+fsync copy of the same file on the same disk, the server's peak RSS during the
# transfers, and 4 KB uploads per second. Prints figures; not a test.
#   scripts/bench-artifacts.sh [size-mib]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
size="${1:-1024}"
port="${BENCH_PORT:-7472}"

source scripts/lib/release-server.sh

# The source file and the copies go next to the server's data directory (same disk).
"$bin" bench artifacts --url "http://127.0.0.1:$port" --size-mib "$size" --dir "$data" --server-pid "$server" \
    --small 2000 --small-bytes 4096 --concurrency 16
