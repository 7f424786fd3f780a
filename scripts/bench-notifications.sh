#!/usr/bin/env bash
# Object notification latency (release build): a bucket's notifications point at a local
# receiver, objects are PUT one at a time, and the time from each PUT's response to its event's
# arrival is reported as p50/p99 (scripts/bench_notifications.py). Prints figures; not a test.
#   scripts/bench-notifications.sh        (BENCH_COUNT sets the number of events, default 500)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
port="${BENCH_PORT:-7492}"
s3port="${BENCH_S3_PORT:-7493}"
venv="${S3_VENV:-$PWD/.venv-s3}"

server_flags=(--s3-port "$s3port" --allow-loopback-outbound)
source scripts/lib/release-server.sh
keys="$("$bin" keys create --tenant bench --s3 --data-dir "$data" 2>/dev/null)"
access_key="$(printf '%s\n' "$keys" | tail -n 2 | head -n 1)"
secret_key="$(printf '%s\n' "$keys" | tail -n 1)"
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$s3port/" && break; sleep 0.1; done

if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
if ! "$venv/bin/python" -c 'import boto3, tigris_boto3_ext' 2>/dev/null; then
    "$venv/bin/pip" install --quiet boto3==1.44.8 tigris-boto3-ext==0.8.0
fi
"$venv/bin/python" scripts/bench_notifications.py --endpoint "http://127.0.0.1:$s3port" \
    --access-key "$access_key" --secret-key "$secret_key" --count "${BENCH_COUNT:-500}"
