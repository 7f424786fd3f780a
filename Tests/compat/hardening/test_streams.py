"""Event streams (`GET /runs/:id/events`) cannot grow the server's memory or outlive their key:
a reader that stops reading is disconnected once it is too far behind (and resumes from
`Last-Event-ID`), and a stream opened with a key ends soon after the key is revoked."""

from __future__ import annotations

import json
import socket
import time


from cairncompat import http_call

ROOT_KEY = "root-key-for-stream-tests-0123456789"




def rss_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def open_stream(server, path: str, headers: dict | None = None, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", server.port))
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{extra}\r\n".encode())
    return sock


def read_until_closed(sock: socket.socket, limit: float) -> bytes:
    """Everything until the server closes the connection; fails if it is still open after `limit` s
    (keepalive comments do not extend it)."""
    deadline = time.monotonic() + limit
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"the server kept the stream open for {limit}s"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return data
        except socket.timeout:
            continue
        if not chunk:
            return data
        data += chunk


def event_ids(stream: bytes) -> list:
    return [int(line[4:]) for line in stream.split(b"\n") if line.startswith(b"id: ")]


def test_a_reader_that_stops_reading_is_disconnected_and_memory_stays_bounded(serve):
    server = serve()  # the default per-reader limit (4 MiB)
    run_id = server.ok("POST", "/runs/slow-reader", {"input": {}})["run"]["id"]
    pid = server.proc.pid
    blob = "x" * (256 * 1024)
    # Writing large states costs the server memory of its own (store, allocator): let that
    # settle before the reader arrives, so what is measured is what the reader costs.
    for i in range(96):
        server.ok("PATCH", f"/runs/{run_id}/state", {"value": {"k": i, "blob": blob}})
    sock = open_stream(server, f"/runs/{run_id}/events?after=97", rcvbuf=4096)
    baseline = rss_kib(pid, "VmHWM")
    # About 48 MiB of events, far more than the socket buffers and the per-reader limit hold.
    for i in range(96, 288):
        server.ok("PATCH", f"/runs/{run_id}/state", {"value": {"k": i, "blob": blob}})
    grown_mib = (rss_kib(pid, "VmHWM") - baseline) / 1024
    assert grown_mib < 24, f"server memory grew by {grown_mib:.0f} MiB with one stalled reader"
    # The server ended the stream: reading now reaches the end of the connection.
    received = read_until_closed(sock, limit=20)
    ids = event_ids(received)
    assert ids and ids[-1] < 290, "the stalled reader was never disconnected"
    # It resumes where it stopped, and gets everything after.
    resumed = open_stream(server, f"/runs/{run_id}/events", headers={"Last-Event-ID": str(ids[-1])})
    data = b""
    resumed.settimeout(30)
    while len(event_ids(data)) < 3:
        chunk = resumed.recv(1 << 20)
        assert chunk, "resumed stream ended"
        data += chunk
    resumed.close()
    assert event_ids(data)[:3] == [ids[-1] + 1, ids[-1] + 2, ids[-1] + 3]
    assert http_call(server.url, "GET", "/health").status == 200


def test_a_stream_ends_soon_after_its_key_is_revoked(serve):
    server = serve(api_key=ROOT_KEY)
    r = server.http("POST", "/admin/keys", {"tenant": "acme", "scopes": ["read", "write"]})
    assert r.status == 201, r.text
    created = r.json
    key_id, secret = created["key"]["id"], created["secret"]
    run_id = server.ok("POST", "/runs/revoked", {"input": {}}, token=secret)["run"]["id"]
    sock = open_stream(server, f"/runs/{run_id}/events", headers={"Authorization": f"Bearer {secret}"})
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert server.http("DELETE", f"/admin/keys/{key_id}").status in (200, 204)
    revoked_at = time.monotonic()
    read_until_closed(sock, limit=20)
    elapsed = time.monotonic() - revoked_at
    assert elapsed < 8, f"the stream stayed open {elapsed:.1f}s after its key was revoked"
    assert http_call(server.url, "GET", f"/runs/{run_id}/events", token=secret, timeout=10).status == 401
