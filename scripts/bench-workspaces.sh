#!/usr/bin/env bash
# Workspaces over the S3 listener (release build): snapshot and fork latency by bucket size,
# GET through a fork chain, 4 KiB PutObject/GetObject throughput and a 1,000-key
# ListObjectsV2 (`cairn bench workspaces`); the plain-S3 parts again against moto's S3 server as
# a reference point; then a 1 GiB boto3 upload_file/download_file beside a plain cp on the same
# disk, with the server's peak RSS, and the same transfers against scripts/s3_memory_server.py
# (objects in memory, nothing hashed or written: what boto3 and the machine allow any server).
# Prints figures; not a test.
#   scripts/bench-workspaces.sh [extra `cairn bench workspaces` options, e.g. --sizes 10,1000]
# BENCH_BULK_MIB sets the large file's size (default 1024; 0 skips it); BENCH_SKIP_MOTO=1 skips moto.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
port="${BENCH_PORT:-7482}"
s3port="${BENCH_S3_PORT:-7483}"
bulk_mib="${BENCH_BULK_MIB:-1024}"
venv="${S3_VENV:-$PWD/.venv-s3}"

server_flags=(--s3-port "$s3port")
source scripts/lib/release-server.sh
moto_dir="$(mktemp -d)"
cleanup() {
    if [ -f "$moto_dir/moto.pid" ]; then scripts/s3-server.sh stop "$moto_dir" || true; fi
    rm -rf "$moto_dir"
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT

# An S3 key for a fresh tenant: the access key id and the secret are the last two lines.
keys="$("$bin" keys create --tenant bench --s3 --data-dir "$data" 2>/dev/null)"
access_key="$(printf '%s\n' "$keys" | tail -n 2 | head -n 1)"
secret_key="$(printf '%s\n' "$keys" | tail -n 1)"
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$s3port/" && break; sleep 0.1; done

echo "== cairn (release build), S3 listener on 127.0.0.1:$s3port =="
"$bin" bench workspaces --s3-url "http://127.0.0.1:$s3port" --access-key "$access_key" --secret-key "$secret_key" \
    --clients 16 "$@"

if [ "${BENCH_SKIP_MOTO:-0}" != 1 ]; then
    echo
    echo "== reference: moto's S3 server (plain S3, --no-tigris) =="
    eval "$(scripts/s3-server.sh start "$moto_dir")"
    "$bin" bench workspaces --s3-url "$CAIRN_TEST_S3_ENDPOINT" --access-key "$AWS_ACCESS_KEY_ID" \
        --secret-key "$AWS_SECRET_ACCESS_KEY" --clients 16 --no-tigris "$@"
    scripts/s3-server.sh stop "$moto_dir"
fi

if [ "$bulk_mib" != 0 ]; then
    echo
    echo "== $bulk_mib MiB through cairn's S3 listener with boto3 =="
    if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
    if ! "$venv/bin/python" -c 'import boto3' 2>/dev/null; then "$venv/bin/pip" install --quiet boto3; fi
    # The file and its copies go next to the server's data directory (same disk).
    "$venv/bin/python" scripts/bench_workspaces_bulk.py --endpoint "http://127.0.0.1:$s3port" --dir "$data" \
        --server-pid "$server" --access-key "$access_key" --secret-key "$secret_key" --size-mib "$bulk_mib" \
        --label cairn
    echo
    echo "== reference: $bulk_mib MiB through scripts/s3_memory_server.py (no hashing, no disk) =="
    "$venv/bin/python" scripts/s3_memory_server.py --port 0 > "$moto_dir/memory.out" &
    memory=$!
    for _ in $(seq 50); do grep -q listening "$moto_dir/memory.out" && break; sleep 0.1; done
    memory_port="$(awk '/listening/ {print $2}' "$moto_dir/memory.out")"
    "$venv/bin/python" scripts/bench_workspaces_bulk.py --endpoint "http://127.0.0.1:$memory_port" --dir "$data" \
        --server-pid "$memory" --access-key memory --secret-key memory --size-mib "$bulk_mib" --label memory
    kill "$memory"
    wait "$memory" 2>/dev/null || true
fi
