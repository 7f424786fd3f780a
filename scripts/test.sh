#!/usr/bin/env bash
# Runs every test: the Swift suites (core, store, HTTP routes; the Postgres store's against a
# throwaway cluster), then the black-box compatibility suites that drive a freshly started
# `cairn serve` with the official, unmodified SDKs from PyPI (Tests/compat), then fuzzes the
# whole API from its OpenAPI document (Tests/compat/fuzz), then runs the compatibility suites
# that matter for the scale-out store again on Postgres (and S3), then the scale-out suite (two
# replicas on one database and bucket, Tests/compat/scaleout).
# Installs what it needs (Postgres from apt when it is missing, Chromium and chromedriver for
# Studio's browser tests, a Python venv) and starts the services the tests use
# (scripts/postgres.sh, scripts/s3-server.sh); they are stopped on exit, whether the tests pass
# or not.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

have_postgres() {
    local bin
    for bin in /usr/lib/postgresql/*/bin; do
        [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && return 0
    done
    command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1
}

if ! have_postgres; then
    echo "== installing Postgres (apt-get install postgresql)"
    if [ "$(id -u)" -ne 0 ]; then
        echo "Postgres is not installed and this is not root: apt-get install -y postgresql" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q postgresql
fi

# The S3 listener's suite drives the AWS CLI too (`aws s3 cp/sync`).
if ! command -v aws >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "== installing the AWS CLI (apt-get install awscli)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q awscli || { apt-get update -q && apt-get install -y -q awscli; }
    else
        echo "the AWS CLI is missing and this is not root: its tests are skipped" >&2
    fi
fi

# Sandboxes' linux backend confines code with bubblewrap; without it only the process backend
# runs, and the tests that prove the linux backend's limits are skipped.
if ! command -v bwrap >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "== installing bubblewrap (apt-get install bubblewrap)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q bubblewrap || { apt-get update -q && apt-get install -y -q bubblewrap; }
    else
        echo "bubblewrap is missing and this is not root: the linux sandbox backend's tests are skipped" >&2
    fi
fi

# Studio's browser tests (Tests/compat/studio) drive Debian's Chromium through its chromedriver
# (Selenium is given both by path and downloads nothing); without them they are skipped.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "== installing Chromium and its driver (apt-get install chromium chromium-driver)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q chromium chromium-driver \
            || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }
    else
        echo "chromium or chromedriver is missing and this is not root: Studio's browser tests are skipped" >&2
    fi
fi

echo "== swift build (debug, with tests)"
swift build --build-tests
bin="$(swift build --show-bin-path)/cairn"

# The services live in one short directory (the Postgres socket path has a length limit); the
# postgres user must be able to reach into it.
services="$(mktemp -d /tmp/cairn-test.XXXXXX)"
chmod 755 "$services"
s3_script=scripts/s3-server.sh
stop_services() {
    local status=$?
    trap - EXIT INT TERM
    if [ -f "$s3_script" ] && [ -d "$services/s3" ]; then
        bash "$s3_script" stop "$services/s3" || echo "warning: could not stop the S3 server" >&2
    fi
    scripts/postgres.sh stop "$services/pg" || echo "warning: could not stop Postgres" >&2
    rm -rf "$services"
    exit "$status"
}
trap stop_services EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Everything the tests write to a temporary directory (the Swift suites' data directories,
# pytest's, the servers' sandboxes) goes beneath the services' directory, so the run leaves
# nothing behind however it ends. 0755 up the path: sandboxed code runs as another user.
export TMPDIR="$services/tmp"
mkdir -m 755 "$TMPDIR"

echo "== services: Postgres (scripts/postgres.sh), S3 (scripts/s3-server.sh)"
pg_env="$(scripts/postgres.sh start "$services/pg")"
eval "$pg_env"
export CAIRN_TEST_POSTGRES_URL CAIRN_TEST_POSTGRES_ADMIN_URL
echo "Postgres: $CAIRN_TEST_POSTGRES_URL"
if [ -f "$s3_script" ]; then
    s3_env="$(bash "$s3_script" start "$services/s3")"
    eval "$s3_env"
    export CAIRN_TEST_S3_ENDPOINT
    echo "S3: $CAIRN_TEST_S3_ENDPOINT"
    blobs=s3
else
    echo "S3: no $s3_script yet; the tests that need S3 are skipped"
    blobs=local
fi

echo "== swift test"
swift test --skip-build

echo "== compatibility suites (Tests/compat) against .build/debug/cairn"
CAIRN_BIN="$bin" Tests/compat/run.sh --ignore=Tests/compat/fuzz --ignore=Tests/compat/scaleout

echo "== fuzz: Schemathesis over every operation of /openapi.json (fixed budget and seed)"
# The run takes a minute or more: no stack dump for a test that is merely long.
CAIRN_BIN="$bin" Tests/compat/run.sh -k test_fuzz_openapi -s -o faulthandler_timeout=1800

echo "== compatibility suites on Postgres (a database per server; blobs: $blobs)"
# What the store changes: the three protocols, artifacts and the CLI, keys and auth, event streams,
# py-code-mode's skills and artifacts (kept as the tenant's artifacts).
# Not again: the fuzz stage, the crash-point, memory and slow-reader tests (long, and about
# the process, not the store), and the tests of the embedded store's own files (skipped by
# Tests/compat/conftest.py).
CAIRN_BIN="$bin" CAIRN_COMPAT_DATABASE=postgres CAIRN_COMPAT_BLOBS="$blobs" Tests/compat/run.sh \
    Tests/compat/tidebase Tests/compat/snapstate Tests/compat/cli Tests/compat/s3 \
    Tests/compat/sandbox/test_codemode_protocol.py \
    Tests/compat/hardening/test_auth_hardening.py \
    Tests/compat/hardening/test_streams.py::test_a_stream_ends_soon_after_its_key_is_revoked

echo "== scale-out: replicas on one Postgres database and one S3 bucket (Tests/compat/scaleout)"
CAIRN_BIN="$bin" Tests/compat/run.sh Tests/compat/scaleout
