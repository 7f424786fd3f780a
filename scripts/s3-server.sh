#!/usr/bin/env bash
# An S3 server for the S3 blob store's tests: moto's server (PyPI moto[server] 5.x) on a free
# loopback port, in the background. It creates no bucket (each test makes its own).
#
#   eval "$(scripts/s3-server.sh start DIR)"     start; prints the variables the tests read
#   scripts/s3-server.sh start DIR --verify-signatures
#                                                 moto checking SigV4 signatures (see below)
#   scripts/s3-server.sh stop DIR                 stop the server started with DIR
#
# DIR keeps moto.pid and moto.log. Moto is installed into a virtualenv at ${S3_VENV:-<repo>/.venv-s3}
# the first time. By default moto accepts any credentials without checking signatures; with
# --verify-signatures it checks every request's signature (botocore's SigV4), which needs an IAM
# user: the first three requests moto serves unauthenticated (INITIAL_NO_AUTH_ACTION_COUNT) create
# one with full S3 access, and its keys are printed instead of test/test.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${S3_VENV:-$repo/.venv-s3}"

usage() {
    echo "usage: $0 start DIR [--verify-signatures] | stop DIR" >&2
    exit 2
}

[ $# -ge 2 ] || usage
command="$1"
dir="$2"
verify=0
if [ $# -ge 3 ]; then
    [ "$3" = "--verify-signatures" ] || usage
    verify=1
fi

ensure_moto() {
    if [ -x "$venv/bin/moto_server" ]; then return; fi
    echo "installing moto[server] into $venv" >&2
    if ! python3 -m venv "$venv" >&2; then
        # Debian ships venv (ensurepip) separately.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            rm -rf "$venv"
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
            python3 -m venv "$venv" >&2
        else
            echo "python3 -m venv failed: install python3-venv" >&2
            exit 1
        fi
    fi
    "$venv/bin/pip" install --quiet 'moto[server]>=5,<6' >&2
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Succeeds once anything answers HTTP on the port (moto's own dashboard API, which does not
# count as an S3 action).
answers() {
    python3 - "$1" <<'EOF'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/moto-api/data.json", timeout=1)
except urllib.error.HTTPError:
    pass
except Exception:
    sys.exit(1)
EOF
}

case "$command" in
start)
    mkdir -p "$dir"
    if [ -f "$dir/moto.pid" ] && kill -0 "$(cat "$dir/moto.pid")" 2>/dev/null; then
        echo "moto is already running for $dir (pid $(cat "$dir/moto.pid"))" >&2
        exit 1
    fi
    ensure_moto
    port="$(free_port)"
    if [ "$verify" = 1 ]; then
        INITIAL_NO_AUTH_ACTION_COUNT=3 nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
    else
        nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
    fi
    pid=$!
    echo "$pid" >"$dir/moto.pid"
    for _ in $(seq 1 200); do
        if answers "$port"; then break; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "moto exited; its log:" >&2
            cat "$dir/moto.log" >&2
            rm -f "$dir/moto.pid"
            exit 1
        fi
        sleep 0.1
    done
    if ! answers "$port"; then
        echo "moto did not answer on port $port within 20 s; see $dir/moto.log" >&2
        kill "$pid" 2>/dev/null || true
        rm -f "$dir/moto.pid"
        exit 1
    fi
    endpoint="http://127.0.0.1:$port"
    echo "export CAIRN_TEST_S3_ENDPOINT=$endpoint"
    if [ "$verify" = 1 ]; then
        # The three unauthenticated requests: a user, its access key, a policy allowing all of S3.
        "$venv/bin/python" - "$endpoint" <<'EOF'
import json, sys, boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="test", aws_secret_access_key="test")
iam.create_user(UserName="cairn-test")
key = iam.create_access_key(UserName="cairn-test")["AccessKey"]
iam.put_user_policy(UserName="cairn-test", PolicyName="s3", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
print(f"export AWS_ACCESS_KEY_ID={key['AccessKeyId']}")
print(f"export AWS_SECRET_ACCESS_KEY={key['SecretAccessKey']}")
print("export CAIRN_TEST_S3_VERIFIES_SIGNATURES=1")
EOF
    else
        echo "export AWS_ACCESS_KEY_ID=test"
        echo "export AWS_SECRET_ACCESS_KEY=test"
    fi
    ;;
stop)
    if [ ! -f "$dir/moto.pid" ]; then
        echo "no moto.pid in $dir" >&2
        exit 1
    fi
    pid="$(cat "$dir/moto.pid")"
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$dir/moto.pid"
    ;;
*)
    usage
    ;;
esac
