"""`cairn sandbox run` streams a program's output as it is written, uploads --file's into /work,
exits with the program's status, and leaves no sandbox behind."""

from __future__ import annotations

import hashlib
import os
import selectors
import subprocess
import time

import pytest

from cairncompat import cairn_bin, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "cli_sandbox")
    yield srv
    for sandbox in srv.ok("GET", "/sandboxes")["sandboxes"]:
        srv.http("DELETE", f"/sandboxes/{sandbox['id']}")
    srv.stop()


def sandbox_cli(server, *args) -> list:
    return [str(cairn_bin()), "sandbox", *args[:1], "--url", server.url, *args[1:]]


def run(server, *args, cwd=None, timeout=120):
    return subprocess.run(sandbox_cli(server, *args), capture_output=True, timeout=timeout, cwd=cwd)


def read_line(proc: subprocess.Popen, timeout: float) -> bytes:
    """One line of the process's standard output, failing (not hanging) if none comes in time."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0 and selector.select(left), f"no line within {timeout}s (so far {line!r})"
        chunk = os.read(proc.stdout.fileno(), 1)
        assert chunk, f"standard output ended (so far {line!r})"
        line += chunk
    return line


def test_run_streams_output_while_the_program_runs_and_returns_its_status(server):
    # The program prints, then waits for a file that the test writes only after it has read
    # that line from the CLI: the line cannot have come with the exit.
    program = (
        "import os, sys, time\n"
        "print('ready', flush=True)\n"
        "while not os.path.exists('go'):\n"
        "    time.sleep(0.005)\n"
        "print('done', flush=True)\n"
        "print('to stderr', file=sys.stderr)\n"
        "sys.exit(7)\n"
    )
    proc = subprocess.Popen(
        sandbox_cli(server, "run", "--", "python3", "-c", program),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert read_line(proc, 60) == b"ready\n"
        assert proc.poll() is None
        [sandbox] = server.ok("GET", "/sandboxes")["sandboxes"]
        server.succeeds("PUT", f"/sandboxes/{sandbox['id']}/files?path=go", raw=b"")
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 7, err.decode()
    assert out == b"done\n"
    lines = err.decode().splitlines()
    assert lines[0] == "to stderr"
    assert lines[-1].startswith("cairn sandbox: exited with status 7"), lines
    assert server.ok("GET", "/sandboxes")["sandboxes"] == []


def test_file_uploads_land_in_work(server, tmp_path):
    (tmp_path / "script.py").write_text(
        "import hashlib\n"
        "data = open('inputs/data.bin', 'rb').read()\n"
        "print(len(data), hashlib.sha256(data).hexdigest())\n"
        "print(open('notes.txt').read())\n")
    data = bytes(range(256)) * 64
    (tmp_path / "data.bin").write_bytes(data)
    (tmp_path / "notes.txt").write_text("uploaded as is")
    done = run(server, "run", "--file", "script.py", "--file", "data.bin:inputs/data.bin",
               "--file", str(tmp_path / "notes.txt"), "--", "python3", "script.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == f"{len(data)} {hashlib.sha256(data).hexdigest()}\nuploaded as is\n"
    assert server.ok("GET", "/sandboxes")["sandboxes"] == []


def test_a_missing_local_file_is_refused_before_any_sandbox_exists(server, tmp_path):
    done = run(server, "run", "--file", str(tmp_path / "absent.py"), "--", "python3", "absent.py")
    assert done.returncode != 0
    assert "absent.py" in done.stderr.decode()
    assert server.ok("GET", "/sandboxes")["sandboxes"] == []


def test_a_timeout_exits_124(server):
    backends = server.ok("GET", "/sandboxes/capabilities")["backends"]
    timed = [b["name"] for b in backends if b["available"] and "timeout" in b["capabilities"]]
    if not timed:
        pytest.skip("no sandbox backend enforces a timeout on this machine")
    done = run(server, "run", "--backend", timed[0], "--timeout-ms", "300", "--", "sleep", "30")
    assert done.returncode == 124, done.stderr.decode()
    assert "timed out" in done.stderr.decode().splitlines()[-1]
    assert server.ok("GET", "/sandboxes")["sandboxes"] == []


def test_a_limit_the_backend_cannot_enforce_is_refused_by_name(server):
    backends = {b["name"]: b for b in server.ok("GET", "/sandboxes/capabilities")["backends"]}
    assert "memory_limit" not in backends["process"]["capabilities"]
    done = run(server, "run", "--backend", "process", "--memory", "64M", "--", "true")
    assert done.returncode not in (0, 124, 137)
    assert "memory_limit" in done.stderr.decode()
    assert server.ok("GET", "/sandboxes")["sandboxes"] == []


def test_exec_keeps_the_session_and_rm_deletes(server):
    created = run(server, "create", "--backend", "process")
    assert created.returncode == 0, created.stderr.decode()
    sandbox = created.stdout.decode().strip()
    assert sandbox.startswith("sbx_")
    assert run(server, "exec", sandbox, "--code", "total = 40").returncode == 0
    answer = run(server, "exec", sandbox, "--code", "print('side')\ntotal + 2")
    assert answer.returncode == 0 and answer.stdout == b"side\n42\n", answer.stderr.decode()
    failed = run(server, "exec", sandbox, "--code", "1 / 0")
    assert failed.returncode == 1 and b"ZeroDivisionError" in failed.stderr
    piped = run(server, "exec", sandbox, "--stdin", "through stdin", "--", "cat")
    assert piped.returncode == 0 and piped.stdout == b"through stdin"
    listed = run(server, "ls")
    assert sandbox in listed.stdout.decode()
    assert run(server, "rm", sandbox).returncode == 0
    gone = run(server, "exec", sandbox, "--code", "1")
    assert gone.returncode != 0 and "not found" in gone.stderr.decode()
