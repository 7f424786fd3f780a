#!/usr/bin/env bash
# Runs every test: the Swift suites (core, store, HTTP routes), then the black-box
# compatibility suites that drive a freshly started `cairn serve` with the official,
# unmodified SDKs from PyPI (Tests/compat), then fuzzes the whole API from its OpenAPI document
# (Tests/compat/fuzz). Installs what it needs (a Python venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== swift build (debug, with tests)"
swift build --build-tests

echo "== swift test"
swift test --skip-build

echo "== compatibility suites (Tests/compat) against .build/debug/cairn"
CAIRN_BIN="$(swift build --show-bin-path)/cairn" Tests/compat/run.sh --ignore=Tests/compat/fuzz

echo "== fuzz: Schemathesis over every operation of /openapi.json (fixed budget and seed)"
# The run takes a minute or more: no stack dump for a test that is merely long.
CAIRN_BIN="$(swift build --show-bin-path)/cairn" Tests/compat/run.sh -k test_fuzz_openapi -s -o faulthandler_timeout=1800
