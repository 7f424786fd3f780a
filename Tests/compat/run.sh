#!/usr/bin/env bash
# Run the black-box compatibility suites against a built `cairn` binary.
#
#   Tests/compat/run.sh                 # all suites
#   Tests/compat/run.sh -k gate -x      # extra arguments go to pytest
#   Tests/compat/run.sh Tests/compat/tidebase Tests/compat/cli -x
#                                       # leading paths (that exist) replace Tests/compat
#
# Environment:
#   CAIRN_BIN    the server binary (default <repo>/.build/debug/cairn; relative
#                paths resolve against the repo root)
#   CAIRN_COMPAT_DATABASE=postgres, CAIRN_COMPAT_BLOBS=s3
#                run the servers on Postgres and S3 (see cairncompat.py; they need
#                CAIRN_TEST_POSTGRES_ADMIN_URL and CAIRN_TEST_S3_ENDPOINT)
#   COMPAT_VENV  the Python venv to create/use (default <repo>/.venv-compat)
#   PYTHON       the interpreter that creates the venv (default python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${COMPAT_VENV:-$repo/.venv-compat}"
python="${PYTHON:-python3}"

# The official, unmodified SDKs under test, an OpenAPI validator, the API fuzzer (run over
# /openapi.json by Tests/compat/fuzz), and the runner.
# boto3 and the Tigris extensions drive the S3 listener (awscrt: botocore's CRC32C; zstandard
# reads zstd bundles).
# Selenium drives the system's Chromium through its chromedriver for Studio's browser tests
# (Tests/compat/studio; skipped without them). 4.51.0: 4.52.0 needs a certifi newer than the
# index has.
requirements=(tidebase==0.7.0 snapstate-sdk==1.0.2 openapi-spec-validator==0.9.0 schemathesis==4.32.5 pytest
    boto3==1.44.8 tigris-boto3-ext==0.8.0 awscrt zstandard selenium==4.51.0)

venv_ok() {
    [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import pip' >/dev/null 2>&1
}

bootstrap_pip() {
    # Debian/Ubuntu without python3-venv have no ensurepip: fetch pip's wheel
    # from PyPI and let it install itself into the bare venv.
    "$venv/bin/python" - <<'PY'
import json, os, subprocess, sys, tempfile, urllib.parse, urllib.request
index = "https://pypi.org/pypi/pip/json"
meta = json.load(urllib.request.urlopen(index, timeout=60))
wheel = next(f for f in meta["urls"] if f["filename"].endswith("-py3-none-any.whl"))
path = os.path.join(tempfile.mkdtemp(), wheel["filename"])
urllib.request.urlretrieve(urllib.parse.urljoin(index, wheel["url"]), path)
subprocess.check_call([sys.executable, os.path.join(path, "pip"), "install", "-q", path])
PY
}

if ! venv_ok; then
    echo "compat: creating venv at $venv" >&2
    rm -rf "$venv"
    if ! "$python" -m venv "$venv"; then
        rm -rf "$venv"
        "$python" -m venv --without-pip "$venv"
        bootstrap_pip
    fi
fi

# Idempotent and quick when already satisfied.
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${requirements[@]}"

cd "$repo"
# Leading arguments that name existing test paths select the suites; else all of them.
paths=()
while [ $# -gt 0 ] && [[ "$1" != -* ]] && [ -e "${1%%::*}" ]; do
    paths+=("$1")
    shift
done
[ ${#paths[@]} -gt 0 ] || paths=(Tests/compat)
set +e
"$venv/bin/python" -m pytest -q "${paths[@]}" "$@"
status=$?
set -e
exit "$status"
