"""What an operator sees: JSON logs, an access log, warnings for deliveries that fail for good,
and the gauges and counters on /metrics."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from cairncompat import start_server, wait_until


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "observability", args=["--log-format", "json", "--access-log"], s3=True)
    yield srv
    srv.stop()





def log_objects(server):
    lines = [l for l in server.log_path.read_text("utf-8").splitlines() if l.startswith("{")]
    return [json.loads(l) for l in lines]



def test_logs_are_json_lines_with_an_access_line_per_request(server):
    server.succeeds("GET", "/health")
    server.succeeds("GET", "/runs?limit=5")
    objects = wait_until(lambda: [o for o in log_objects(server) if o.get("label") == "cairn.access" and o.get("path") == "/runs"], timeout=20, desc="the access line")
    line = objects[-1]
    assert line["message"] == "request" and line["status"] == "200" and line["method"] == "GET"
    assert "limit" not in line["path"]  # the query is never logged
    assert {"time", "level", "label", "message"} <= set(log_objects(server)[0])


def test_the_s3_listener_logs_and_counts_its_requests_too(server):
    # Unsigned, so refused (403) before any bucket is looked at; the signature-like query must
    # stay out of the log.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server.s3_url}/observed-bucket/a/key?X-Amz-Signature=secret", timeout=30)
    assert refused.value.code == 403
    line = wait_until(lambda: [o for o in log_objects(server) if o.get("label") == "cairn.access" and o.get("path") == "/observed-bucket/a/key"], timeout=20, desc="the S3 access line")[-1]
    assert line["status"] == "403" and line["method"] == "GET" and line["route"] == "s3:unrouted"
    assert "secret" not in json.dumps(line)
    metrics = server.succeeds("GET", "/metrics").body.decode()
    assert 'cairn_http_requests_total{method="GET",route="s3:unrouted",status="403"}' in metrics


def test_a_delivery_that_fails_for_good_is_a_warning(server):
    # 192.0.2.1 (TEST-NET-1) is refused by the outbound guard: a final failure at once.
    channel = {"type": "webhook", "url": "http://192.0.2.1/hook", "events": ["run.cancelled"]}
    run_id = server.succeeds("POST", "/runs/observed", {"input": {}, "channels": [channel]}).json["run"]["id"]
    server.succeeds("POST", f"/runs/{run_id}/cancel", {})
    warning = wait_until(lambda: [o for o in log_objects(server) if o.get("message") == "a delivery failed for good"], timeout=20, desc="the warning")[-1]
    assert warning["level"] == "warning" and warning["url"] == "http://192.0.2.1/hook"


def test_metrics_show_gauges_and_counters(server):
    server.succeeds("POST", "/queues/observed-q/enqueue", {"workflowName": "w", "input": {}})
    server.succeeds("POST", "/checkpoints", {"workflow_id": "observed", "step": 1, "state": {"a": 1}})
    server.succeeds("POST", "/artifacts?name=m", raw=b"x" * 1000, headers={"content-type": "application/octet-stream"})

    def metrics():
        text = server.succeeds("GET", "/metrics").body
        values = {}
        for line in text.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    # The gauges are sampled every 5 s.
    values = wait_until(lambda: (lambda v: v if v.get("cairn_runs_queued", 0) >= 1 else None)(metrics()), timeout=20, desc="the gauges")
    assert values["cairn_checkpoint_saves_total"] >= 1
    assert values["cairn_artifact_uploaded_bytes_total"] >= 1000
    assert "cairn_deliveries_pending" in values and "cairn_runs_running" in values
