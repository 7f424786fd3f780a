"""Hostile numbers against a real `cairn serve`: each is a 400 naming the field, nothing is
written, and the server keeps answering (no request traps inside a write transaction)."""

from __future__ import annotations

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
