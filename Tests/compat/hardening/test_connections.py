"""Connections cannot exhaust the server: idle, slow-head and stalled-body clients are closed
after their timeouts, the connection cap makes room by closing idle connections (and refuses
with 503 when none is idle), and `Expect: 100-continue` is answered.

Raw sockets against a real `cairn serve` with small timeouts.
"""

from __future__ import annotations

import socket
import time


from cairncompat import http_call, wait_until




def connect(server, timeout: float = 15.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    return sock


def read_until_closed(sock: socket.socket, limit: float = 15.0) -> bytes:
    """Everything the server sends until it closes the connection (fails after `limit` s)."""
    sock.settimeout(limit)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def read_response_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def test_idle_connection_is_closed(serve):
    server = serve("--idle-timeout-ms", "500")
    sock = connect(server)
    started = time.monotonic()
    assert read_until_closed(sock) == b""
    assert time.monotonic() - started < 10
    # A keep-alive connection idle after its response is closed the same way.
    sock = connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    data = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 200"), data


def test_slow_head_is_answered_408_and_closed(serve):
    server = serve("--header-timeout-ms", "1000", "--idle-timeout-ms", "60000")
    sock = connect(server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    # A slowloris client: one header byte every 200 ms, never finishing the head.
    sock.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            sock.sendall(b"X")
        except (BrokenPipeError, ConnectionResetError):
            break
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    assert time.monotonic() < deadline, "the slow head was not ended"
    assert data.startswith(b"HTTP/1.1 408"), data


def test_stalled_body_is_answered_408_and_closed(serve):
    server = serve("--body-timeout-ms", "1000")
    sock = connect(server)
    # Declares 1,000 bytes, sends 19, then stalls.
    sock.sendall(
        b"POST /checkpoints HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n" + b'{"workflowId":"w1",'
    )
    data = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 408"), data
    assert b"connection: close" in data.lower()
    # Nothing was saved.
    assert server.http("GET", "/workflows/w1/resume").status == 404


def test_health_answers_while_twice_the_cap_of_idle_connections_are_open(serve):
    cap = 8
    server = serve("--max-connections", str(cap), "--idle-timeout-ms", "60000")
    idle = [connect(server) for _ in range(2 * cap)]
    try:
        for _ in range(5):
            r = http_call(server.url, "GET", "/health", timeout=10)
            assert r.status == 200 and r.json == {"ok": True}
    finally:
        for sock in idle:
            sock.close()


def test_over_the_cap_with_no_idle_connection_is_refused_with_503(serve):
    cap = 4
    server = serve("--max-connections", str(cap), "--body-timeout-ms", "60000")
    busy = []
    try:
        for i in range(cap):  # requests in flight: their bodies are still coming
            sock = connect(server)
            sock.sendall(
                b"POST /checkpoints HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n"
            )
            # 100 Continue: the server has read the head and is reading the body.
            assert read_response_head(sock).startswith(b"HTTP/1.1 100 Continue")
            sock.sendall(b'{"i":' + str(i).encode())
            busy.append(sock)
        sock = connect(server)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        data = read_until_closed(sock)
        assert data.startswith(b"HTTP/1.1 503"), data
        assert b"connection: close" in data.lower()
        assert b"too many open connections" in data
    finally:
        for sock in busy:
            sock.close()
    # Once the server has seen those connections close, new ones are served again.
    wait_until(lambda: http_call(server.url, "GET", "/health", timeout=10).status == 200,
               desc="/health served again")


def test_expect_100_continue_is_answered_before_the_body(serve):
    server = serve()
    body = b'{"input":{"a":1}}'
    sock = connect(server)
    sock.sendall(
        b"POST /runs/expect-continue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    head = read_response_head(sock)
    assert head.startswith(b"HTTP/1.1 100 Continue\r\n"), head
    sock.sendall(body)
    rest = head.split(b"\r\n\r\n", 1)[1]
    while b"\r\n\r\n" not in rest:
        rest += sock.recv(4096)
    assert rest.startswith(b"HTTP/1.1 200"), rest


def test_expect_100_continue_too_large_is_refused_without_the_body(serve):
    server = serve("--max-body-bytes", "1000", "--max-artifact-bytes", "2000")
    sock = connect(server)
    sock.sendall(
        b"POST /runs/too-large HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: 1000000\r\n\r\n"
    )
    data = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 413"), data
    assert b"100 Continue" not in data


def test_expect_100_continue_unauthorized_is_refused_without_the_body(serve):
    server = serve(api_key="k" * 32)
    sock = connect(server)
    sock.sendall(
        b"POST /runs/no-key HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: 10\r\n\r\n"
    )
    data = read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 401"), data
    assert b"100 Continue" not in data
    assert b"connection: close" in data.lower()
