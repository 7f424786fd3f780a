"""What an operator sees: JSON logs, an access log, warnings for deliveries that fail for good,
and the gauges and counters on /metrics."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from cairncompat import start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "observability", args=["--log-format", "json", "--access-log"])
    yield srv
    srv.stop()


def call(server, method, path, body=None, data=None, headers=None):
    raw = data if data is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(server.url + path, data=raw, method=method, headers=headers or {})
    if body is not None:
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req) as r:
        return r.status, r.read()


def log_objects(server):
    lines = [l for l in server.log_path.read_text("utf-8").splitlines() if l.startswith("{")]
    return [json.loads(l) for l in lines]


def wait_for(predicate, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_logs_are_json_lines_with_an_access_line_per_request(server):
    call(server, "GET", "/health")
    call(server, "GET", "/runs?limit=5")
    objects = wait_for(
        lambda: [o for o in log_objects(server) if o.get("label") == "cairn.access" and o.get("path") == "/runs"],
        "the access line")
    line = objects[-1]
    assert line["message"] == "request" and line["status"] == "200" and line["method"] == "GET"
    assert "limit" not in line["path"]  # the query is never logged
    assert {"time", "level", "label", "message"} <= set(log_objects(server)[0])


def test_a_delivery_that_fails_for_good_is_a_warning(server):
    # 192.0.2.1 (TEST-NET-1) is refused by the outbound guard: a final failure at once.
    channel = {"type": "webhook", "url": "http://192.0.2.1/hook", "events": ["run.cancelled"]}
    _, body = call(server, "POST", "/runs/observed", {"input": {}, "channels": [channel]})
    run_id = json.loads(body)["run"]["id"]
    call(server, "POST", f"/runs/{run_id}/cancel", {})
    warning = wait_for(
        lambda: [o for o in log_objects(server) if o.get("message") == "a delivery failed for good"],
        "the warning")[-1]
    assert warning["level"] == "warning" and warning["url"] == "http://192.0.2.1/hook"


def test_metrics_show_gauges_and_counters(server):
    call(server, "POST", "/queues/observed-q/enqueue", {"workflowName": "w", "input": {}})
    call(server, "POST", "/checkpoints", {"workflow_id": "observed", "step": 1, "state": {"a": 1}})
    call(server, "POST", "/artifacts?name=m", data=b"x" * 1000, headers={"content-type": "application/octet-stream"})

    def metrics():
        _, text = call(server, "GET", "/metrics")
        values = {}
        for line in text.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    # The gauges are sampled every 5 s.
    values = wait_for(lambda: (lambda v: v if v.get("cairn_runs_queued", 0) >= 1 else None)(metrics()), "the gauges")
    assert values["cairn_checkpoint_saves_total"] >= 1
    assert values["cairn_artifact_uploaded_bytes_total"] >= 1000
    assert "cairn_deliveries_pending" in values and "cairn_runs_running" in values
