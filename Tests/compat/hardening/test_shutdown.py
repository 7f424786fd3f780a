"""Graceful shutdown is bounded: an idle server exits promptly after SIGTERM, and clients
stalled mid-body (an artifact upload, a checkpoint POST) cannot keep it running past the
grace period."""

from __future__ import annotations

import signal
import socket
import time

import pytest

from cairncompat import start_server


@pytest.fixture
def serve(request, tmp_path_factory):
    started = []

    def make(*args: str):
        srv = start_server(tmp_path_factory, request.node.name[:40], args=list(args))
        started.append(srv)
        return srv

    yield make
    for srv in started:
        if srv.alive:
            srv.proc.kill()
            srv.proc.wait(timeout=10)


def terminate(server) -> float:
    """Sends SIGTERM; returns the seconds until the process exited (fails after 60 s)."""
    started = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=60)
    return time.monotonic() - started


def test_idle_server_exits_promptly(serve):
    server = serve()
    assert terminate(server) < 5
    assert server.proc.returncode == 0


def test_stalled_uploads_do_not_hold_shutdown_past_the_grace_period(serve):
    grace_ms = 1000
    # The body timeout is long: only the grace period can end these requests.
    server = serve("--shutdown-grace-ms", str(grace_ms), "--body-timeout-ms", "600000")
    stalled = []
    for head, first_bytes in [
        (b"POST /artifacts?name=big.bin HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
         b"Content-Length: 10000000\r\n\r\n", b"x" * 65536),
        (b"POST /checkpoints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         b"Content-Length: 1000\r\n\r\n", b'{"workflowId":"w1",'),
    ]:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(head + first_bytes)
        stalled.append(sock)
    try:
        # The requests are in flight: the server is otherwise healthy.
        assert server.http("GET", "/health").status == 200
        elapsed = terminate(server)
        assert elapsed < grace_ms / 1000 + 10, f"exited after {elapsed:.1f}s"
    finally:
        for sock in stalled:
            sock.close()
    # Nothing partial was stored.
    server.restart()
    assert server.http("GET", "/workflows/w1/resume").status == 404
    assert server.ok("GET", "/artifacts")["artifacts"] == []
