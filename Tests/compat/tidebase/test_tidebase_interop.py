"""Swift and Python workers share runs: a run started by the Python SDK is finished by the
Swift SDK (Examples/Interop) and the other way round. Completed steps replay across languages
because both SDKs hash step inputs the same way."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from tidebase import Tidebase

from tbcompat import cairn_bin


def interop_bin() -> Path:
    path = Path(os.environ.get("CAIRN_INTEROP_BIN") or cairn_bin().parent / "example-interop")
    if not path.exists():
        pytest.fail(f"Swift interop worker not found at {path} (swift build builds it; or set CAIRN_INTEROP_BIN)")
    return path


def swift_worker(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(interop_bin()), "--url", url, *args], capture_output=True, text=True, timeout=60,
    )


def python_workflow(calls: Counter, crash_before_render: bool):
    def workflow(run, input):
        fetched = run.step("fetch", lambda: calls.update(["fetch"]) or {"pages": len(input["pages"]) + 1}, input=input)
        if crash_before_render:
            raise RuntimeError("python worker crashed")
        return run.step(
            "render", lambda: calls.update(["render"]) or {"rendered": fetched["pages"] * 10}, input=fetched["pages"]
        )

    return workflow


def test_python_started_run_is_finished_by_a_swift_worker(server):
    tide = Tidebase(url=server.url)
    calls = Counter()
    with pytest.raises(RuntimeError):
        tide.run("interop", python_workflow(calls, crash_before_render=True), input={"doc": "d1", "pages": [1, 2]})
    run_id = server.ok("GET", "/runs")["runs"][0]["id"]
    assert calls == Counter(fetch=1)

    done = swift_worker(server.url, "--resume", run_id)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert "executed fetch" not in lines, "the Swift worker re-ran a step the Python worker completed"
    assert "executed render" in lines
    assert lines[-1] == 'result {"rendered":30}'

    detail = server.detail(run_id)
    assert detail["run"]["status"] == "completed"
    assert detail["run"]["result"] == {"rendered": 30}
    steps = {s["name"]: s for s in detail["steps"]}
    assert steps["fetch"]["attempt"] == 1 and steps["render"]["attempt"] == 1


def test_swift_started_run_is_finished_by_a_python_worker(server_factory):
    server = server_factory(env={"CAIRN_LEASE_MS": "1000"})
    crashed = swift_worker(server.url, "--crash-after", "fetch")
    assert crashed.returncode == 1
    assert "executed fetch" in crashed.stdout.splitlines()
    run_id = next(l.split()[1] for l in crashed.stdout.splitlines() if l.startswith("run "))
    detail = server.detail(run_id)
    assert {s["name"]: s["status"] for s in detail["steps"]} == {"fetch": "completed"}

    calls = Counter()
    tide = Tidebase(url=server.url)
    # The Swift process died holding the run lease; the Python worker takes over once it lapses.
    deadline = time.monotonic() + 30
    while True:
        try:
            result = tide.run("interop", python_workflow(calls, crash_before_render=False), run_id=run_id)
            break
        except Exception as error:  # the run is leased by the dead Swift worker until the lease expires
            if "run is leased" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert result == {"rendered": 30}
    assert calls == Counter(render=1), "the Python worker re-ran a step the Swift worker completed"
    assert server.detail(run_id)["run"]["status"] == "completed"
