#!/usr/bin/env bash
# Runs every test: the Swift suites (core, store, HTTP routes), then the black-box
# compatibility suites that drive a freshly started `cairn serve` with the official,
# unmodified SDKs from PyPI (Tests/compat). Installs what it needs (a Python venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== swift build (debug, with tests)"
swift build --build-tests

echo "== swift test"
swift test --skip-build

echo "== compatibility suites (Tests/compat) against .build/debug/cairn"
CAIRN_BIN="$(swift build --show-bin-path)/cairn" Tests/compat/run.sh
