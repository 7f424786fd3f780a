"""`cairn serve` says why it cannot start, before it touches the data directory."""

from __future__ import annotations

import socket
import subprocess

from cairncompat import cairn_bin


def serve(*args):
    return subprocess.run([str(cairn_bin()), "serve", *args], capture_output=True, text=True, timeout=60)


def test_a_busy_port_is_named_and_no_store_is_created(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data = tmp_path / "never-created"
        done = serve("--port", str(port), "--data-dir", str(data))
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in done.stderr
    assert not data.exists()
    assert "Swift" not in done.stderr and "NSCocoaErrorDomain" not in done.stderr


def test_a_data_dir_that_is_a_file(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    done = serve("--port", "0", "--data-dir", str(not_a_dir))
    assert done.returncode != 0
    assert f"not a directory: {not_a_dir}" in done.stderr
    assert not_a_dir.read_text() == "x"
