"""Schemathesis over every operation that /openapi.json documents, against a freshly started
server: examples, coverage, fuzzing (valid and invalid inputs) and a stateful phase that
follows the document's links (create a run, then read, lease and change it; save a
checkpoint, then read and resume it; upload an artifact, then download and delete it...).
Any finding fails: a 5xx, a status the document does not list, a body that breaks its schema,
or a content type it does not declare. The budget and seed are fixed, so a run is repeatable:
CAIRN_FUZZ_MAX_EXAMPLES (default 50 per operation) and CAIRN_FUZZ_SEED override them.

Run alone: Tests/compat/run.sh -k test_fuzz_openapi"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from cairncompat import start_server

ROOT_KEY = "fuzz-root-key-0123456789abcdef"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# The event stream stays open until the client leaves, so no request to it ever completes;
# Tests/compat/openapi checks its status and content type.
UNFUZZABLE = ["runEvents"]


def schemathesis_command() -> str:
    beside = Path(sys.executable).parent / "schemathesis"
    return str(beside) if beside.exists() else (shutil.which("schemathesis") or "schemathesis")


def test_schemathesis_finds_nothing(tmp_path_factory, tmp_path):
    # No rate limit: the fuzzer's requests would otherwise mostly be answered 429.
    server = start_server(tmp_path_factory, "fuzz", api_key=ROOT_KEY, args=["--rate-limit", "0"])
    try:
        command = [
            schemathesis_command(), "--config-file", str(Path(__file__).with_name("schemathesis.toml")),
            "run", f"{server.url}/openapi.json",
            "--header", f"Authorization: Bearer {ROOT_KEY}",
            "--checks", CHECKS,
            "--phases", "examples,coverage,fuzzing,stateful",
            "--max-examples", os.environ.get("CAIRN_FUZZ_MAX_EXAMPLES", "50"),
            "--seed", os.environ.get("CAIRN_FUZZ_SEED", "20261201"),
            "--workers", "1",
            "--request-timeout", "20",
            "--generation-database", "none",
            "--no-color", "--output-truncate", "false",
            "--report", "junit", "--report-dir", str(tmp_path / "report"),
        ]
        for operation in UNFUZZABLE:
            command += ["--exclude-operation-id", operation]
        run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=1500)
        # Schemathesis's own summary (operations, test cases, phases), shown with `pytest -s`.
        print("\n".join(run.stdout.splitlines()[-40:]))
        assert run.returncode == 0, (
            f"schemathesis found problems (exit {run.returncode}):\n{run.stdout[-30000:]}\n{run.stderr[-5000:]}"
        )
        assert server.alive, "the server died during the fuzz run"
    finally:
        server.stop()
