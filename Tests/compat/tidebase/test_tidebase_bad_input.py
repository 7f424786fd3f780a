"""Bad input gets a clear 4xx and changes nothing (contract §1.1, plus Cairn's
deliberate differences: malformed/empty JSON is 400, an unknown run on writes
is 404 {"error":"run not found"})."""

from __future__ import annotations

import pytest

from tbcompat import stable_hash

UNKNOWN = "run_" + "0" * 32
BAD_BODIES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"{not json", id="malformed"),
    pytest.param(b'{"name": "s", "inputHash": ', id="truncated"),
]


def _snapshot(server, rid):
    d = server.detail(rid)
    return {k: d[k] for k in ("run", "steps", "state", "stateVersions", "gates", "usage",
                              "events", "runEdges")}


@pytest.fixture
def run_id(server):
    return server.ok("POST", "/runs/bad-input", {"input": {"a": 1}})["run"]["id"]


@pytest.mark.parametrize("raw", BAD_BODIES)
def test_steps_begin_with_bad_json_is_400_and_changes_nothing(server, run_id, raw):
    before = _snapshot(server, run_id)
    r = server.http("POST", f"/runs/{run_id}/steps/begin", raw=raw)
    assert r.status == 400, r
    assert isinstance(r.json.get("error"), str)
    assert _snapshot(server, run_id) == before


@pytest.mark.parametrize("raw", BAD_BODIES)
def test_steps_begin_on_unknown_run_with_bad_json_is_400(server, raw):
    r = server.http("POST", "/runs/x/steps/begin", raw=raw)
    assert r.status == 400, r


@pytest.mark.parametrize("body", [
    pytest.param({}, id="no-fields"),
    pytest.param({"name": "", "inputHash": "h"}, id="empty-name"),
    pytest.param({"name": "s", "inputHash": ""}, id="empty-hash"),
    pytest.param({"name": 5, "inputHash": "h"}, id="name-not-string"),
    pytest.param([1, 2], id="array"),
    pytest.param("text", id="string"),
])
def test_steps_begin_invalid_body_is_400_invalid_request_body(server, run_id, body):
    before = _snapshot(server, run_id)
    r = server.http("POST", f"/runs/{run_id}/steps/begin", body)
    assert r.status == 400, r
    assert r.json["error"] == "invalid request body"
    assert _snapshot(server, run_id) == before


@pytest.mark.parametrize("method,suffix", [
    ("POST", ""),  # create run: POST /runs/:workflowName
    ("POST", "/heartbeat"),
    ("POST", "/complete"),
    ("POST", "/fail"),
    ("PUT", "/state"),
    ("PATCH", "/state"),
    ("POST", "/state/save"),
    ("POST", "/usage"),
    ("POST", "/snapshots"),
    ("POST", "/gates/begin"),
    ("POST", "/children"),
])
def test_other_writes_with_malformed_json_are_400(server, run_id, method, suffix):
    before = _snapshot(server, run_id)
    runs_before = len(server.ok("GET", "/runs")["runs"])
    path = f"/runs/{run_id}{suffix}" if suffix else "/runs/bad-input"
    r = server.http(method, path, raw=b"{oops")
    assert r.status == 400, (method, path, r)
    assert _snapshot(server, run_id) == before
    assert len(server.ok("GET", "/runs")["runs"]) == runs_before


@pytest.mark.parametrize("suffix", ["/complete", "/fail", "/heartbeat"])
def test_run_lifecycle_with_empty_body_is_400_and_changes_nothing(server, run_id, suffix):
    # The reference answers 500 here (no fallback body); Cairn answers 400.
    server.ok("POST", f"/runs/{run_id}/begin")
    before = _snapshot(server, run_id)
    r = server.http("POST", f"/runs/{run_id}{suffix}", raw=b"")
    assert r.status == 400, r
    assert _snapshot(server, run_id) == before
    assert server.detail(run_id)["run"]["status"] == "running"


def test_create_run_with_empty_body_is_400(server):
    runs_before = len(server.ok("GET", "/runs")["runs"])
    r = server.http("POST", "/runs/empty-body-wf", raw=b"")
    assert r.status == 400, r
    assert len(server.ok("GET", "/runs")["runs"]) == runs_before


def test_get_unknown_run_is_404(server, tide):
    r = server.http("GET", f"/runs/{UNKNOWN}")
    assert r.status == 404, r
    assert r.json == {"error": "run not found"}
    r = server.http("GET", "/runs/not-even-an-id")
    assert r.status == 404, r
    assert r.json == {"error": "run not found"}


@pytest.mark.parametrize("method,suffix,body", [
    ("POST", "/steps/begin", {"name": "s", "inputHash": stable_hash(None)}),
    ("POST", "/gates/begin", {"name": "g", "prompt": "p"}),
    ("PUT", "/state", {"value": {"a": 1}}),
    ("PATCH", "/state", {"value": {"a": 1}}),
    ("POST", "/usage", {"inputTokens": 1}),
    ("POST", "/snapshots", {"label": "l", "state": {}}),
])
def test_writes_to_unknown_run_are_404_run_not_found(server, method, suffix, body):
    r = server.http(method, f"/runs/{UNKNOWN}{suffix}", body)
    assert r.status == 404, (method, suffix, r)
    assert r.json == {"error": "run not found"}
    assert server.http("GET", f"/runs/{UNKNOWN}").status == 404


def test_save_on_unknown_run_is_404(server):
    r = server.http("POST", f"/runs/{UNKNOWN}/state/save", {"label": "x"})
    assert r.status == 404, r
    assert r.json["error"] in ("run not found", "run state not found")


def test_unknown_run_lifecycle_calls_are_404(server):
    for suffix, body in [("/begin", None), ("/complete", {"result": 1}),
                         ("/fail", {"error": {}}), ("/cancel", {})]:
        kw = {} if body is None else {"body": body}
        r = server.http("POST", f"/runs/{UNKNOWN}{suffix}", **kw)
        assert r.status == 404, (suffix, r)
        assert r.json == {"error": "run not found"}


def test_unknown_run_reads(server):
    # Versions of an unknown run: an empty list (contract), not an error.
    r = server.http("GET", f"/runs/{UNKNOWN}/state/versions")
    assert r.status == 200, r
    assert r.json == {"stateVersions": []}


def test_tolerant_routes_accept_no_body(server, run_id):
    assert server.http("POST", f"/runs/{run_id}/begin").status == 200
    r = server.http("POST", f"/runs/{run_id}/cancel")
    assert r.status == 200, r
    assert r.json["run"]["status"] == "cancelled"


def test_unknown_route_is_404(server):
    r = server.http("GET", "/definitely/not/a/route")
    assert r.status == 404, r


@pytest.mark.parametrize("method,suffix,body", [
    ("POST", "", {"channels": [{"type": "email", "url": "http://127.0.0.1:9/x"}]}),
    ("POST", "", {"channels": [{"type": "webhook", "url": "not a url"}]}),
    ("POST", "", {"recoveryWebhook": "not a url"}),
    ("POST", "", {"metadata": "not an object"}),
    ("POST", "/gates/begin", {"name": "g", "prompt": ""}),
    ("POST", "/gates/begin", {"name": "", "prompt": "p"}),
    ("POST", "/gates/begin", {"name": "g", "prompt": "p", "timeoutMs": 0}),
    ("POST", "/children", {"workflowName": "w"}),
    ("POST", "/children", {"name": "c", "workflowName": ""}),
    ("PUT", "/state", {"value": {}, "importance": "urgent"}),
    ("PATCH", "/state", {"value": {}, "metadata": [1]}),
    ("POST", "/state/save", {"label": ""}),
    ("POST", "/snapshots", {"label": "", "state": {}}),
    ("POST", "/usage", {"inputTokens": 1.5}),
    ("POST", "/usage", {"quantity": "two"}),
    ("POST", "/usage", {"outputTokens": "3"}),
    ("POST", "/steps/begin", {"name": "s", "inputHash": "h", "options": [1]}),
], ids=lambda v: v if isinstance(v, str) else None)
def test_invalid_fields_are_400_invalid_request_body(server, run_id, method, suffix, body):
    server.ok("PUT", f"/runs/{run_id}/state", {"value": {"seed": 1}})
    before = _snapshot(server, run_id)
    runs_before = len(server.ok("GET", "/runs")["runs"])
    path = f"/runs/{run_id}{suffix}" if suffix else "/runs/bad-fields"
    r = server.http(method, path, body)
    assert r.status == 400, (method, path, body, r)
    assert r.json["error"] == "invalid request body"
    assert _snapshot(server, run_id) == before
    assert len(server.ok("GET", "/runs")["runs"]) == runs_before


def test_step_complete_and_fail_need_a_lease_owner(server, run_id):
    b = server.ok("POST", f"/runs/{run_id}/steps/begin",
                  {"name": "s", "inputHash": "h", "leaseOwner": "o"})
    sid = b["step"]["id"]
    for suffix, body in [("complete", {"output": 1}), ("fail", {"error": {}}),
                         ("fail", {"leaseOwner": "o", "resumeDecision": "whatever"})]:
        r = server.http("POST", f"/runs/{run_id}/steps/{sid}/{suffix}", body)
        assert r.status == 400, (suffix, body, r)
        assert r.json["error"] == "invalid request body"
    assert server.detail(run_id)["steps"][0]["status"] == "running"


def test_gate_of_another_run_is_404(server, run_id):
    other = server.ok("POST", "/runs/bad-input-other", {"input": {}})["run"]["id"]
    gate = server.ok("POST", f"/runs/{other}/gates/begin", {"name": "g", "prompt": "p"})["gate"]
    r = server.http("GET", f"/runs/{run_id}/gates/{gate['id']}")
    assert r.status == 404, r
    assert r.json == {"error": "gate not found"}
    r = server.http("POST", f"/runs/{run_id}/gates/{gate['id']}/resolve",
                    {"token": gate["resolveToken"], "decision": "approved"})
    assert r.status == 409, r
    assert server.ok("GET", f"/runs/{other}/gates/{gate['id']}")["gate"]["status"] == "pending"
