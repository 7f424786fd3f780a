"""Hostile numbers against a real `cairn serve`: each is a 400 naming the field, nothing is
written, and the server keeps answering (no request traps inside a write transaction)."""

from __future__ import annotations

import socket

import pytest

from cairncompat import http_call, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "hardening_wire_numbers")
    yield srv
    srv.stop()


def _issue_fields(resp) -> list:
    return [issue["path"][0] for issue in resp.json.get("issues", []) if issue.get("path")]


def _post_raw(server, path: str, text: str):
    return http_call(server.url, "POST", path, raw=text.encode())


@pytest.mark.parametrize(
    "body, field",
    [
        ('{"costUsd":1e20}', "costUsd"),
        ('{"quantity":-1e19}', "quantity"),
        ('{"inputTokens":9223372036854775807}', "inputTokens"),
    ],
)
def test_usage_numbers_out_of_range_are_refused(server, body, field):
    run = http_call(server.url, "POST", "/runs/wf", {"input": {}}).json["run"]
    resp = _post_raw(server, f"/runs/{run['id']}/usage", body)
    assert resp.status == 400, resp
    assert _issue_fields(resp) == [field], resp
    detail = http_call(server.url, "GET", f"/runs/{run['id']}").json
    assert detail["usage"] == []
    ok = _post_raw(server, f"/runs/{run['id']}/usage", '{"costUsd":0.5}')
    assert ok.status == 200, ok


@pytest.mark.parametrize(
    "body, field",
    [
        ('{"workflowName":"wf","delayMs":9223372036854775807}', "delayMs"),
        ('{"workflowName":"wf","deadlineMs":9223372036854775000}', "deadlineMs"),
        ('{"workflowName":"wf","runAt":"2026-06-12T10:31:00-99:99"}', "runAt"),
    ],
)
def test_enqueue_numbers_out_of_range_are_refused(server, body, field):
    resp = _post_raw(server, "/queues/hostile/enqueue", body)
    assert resp.status == 400, resp
    assert _issue_fields(resp) == [field], resp
    queues = http_call(server.url, "GET", "/queues").json["queues"]
    assert all(q["name"] != "hostile" for q in queues)
    assert http_call(server.url, "GET", "/health").status == 200


def _raw_request(server, request: bytes) -> bytes:
    host, port = server.url.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks):
                    break
        except (ConnectionResetError, socket.timeout):
            pass
        return b"".join(chunks)


@pytest.mark.parametrize("length", ["99999999999999999999", "9223372036854775808", "-1"])
def test_artifact_content_length_out_of_range_is_refused(server, length):
    reply = _raw_request(
        server,
        b"POST /artifacts?name=huge HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        + f"Content-Length: {length}\r\nConnection: close\r\n\r\nabc".encode(),
    )
    status_line = reply.split(b"\r\n", 1)[0]
    # Refused by the HTTP parser or the route (or the connection closed), never stored.
    assert status_line == b"" or status_line.split()[1] in (b"400", b"413"), reply[:300]
    listed = http_call(server.url, "GET", "/artifacts").json["artifacts"]
    assert all(a["name"] != "huge" for a in listed)
    assert http_call(server.url, "GET", "/health").status == 200
