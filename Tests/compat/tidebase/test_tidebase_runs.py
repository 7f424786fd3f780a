"""Runs: creation shape, leases, sessions with heartbeats, cancel (contract §1.5)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from tidebase import RunCancelled, TidebaseError

from tbcompat import (
    CHANNEL_KEYS,
    DETAIL_KEYS,
    RUN_KEYS,
    assert_id,
    assert_keys,
    assert_ts,
    parse_ts,
    wait_until,
)


def test_create_run_shape(tide, server):
    run = tide.runs.create("shape-wf", input={"x": [1, 2]}, metadata={"team": "a"})
    assert_keys(run, RUN_KEYS, "Run")
    assert_id(run["id"], "run_")
    assert run["workflowName"] == "shape-wf"
    assert run["input"] == {"x": [1, 2]}
    assert run["metadata"] == {"team": "a"}
    assert run["status"] == "pending"
    assert run["attempt"] == 0
    assert run["priority"] == 0
    assert run["maxAttempts"] == 1
    for k in ("result", "error", "recoveryWebhook", "leaseOwner", "leaseExpiresAt", "queue",
              "dedupeKey", "runAt", "deadlineAt", "cancelRequestedAt", "cancelledAt",
              "cancelReason", "cancelActor", "failureClass", "completedAt"):
        assert run[k] is None, k
    assert_ts(run["createdAt"])
    assert_ts(run["updatedAt"])

    bare = tide.runs.create("shape-wf")
    assert bare["input"] == {} and bare["metadata"] == {}

    detail = tide.runs.get(run["id"])
    assert_keys(detail, DETAIL_KEYS, "RunDetail")
    assert detail["run"] == run
    assert detail["steps"] == [] and detail["state"] is None
    assert detail["gates"] == [] and detail["usage"] == []
    assert detail["runEdges"] == [] and detail["childRuns"] == []
    assert [e["type"] for e in detail["events"]] == ["run.created"]
    assert detail["events"][0]["payload"] == {
        "workflowName": "shape-wf", "input": {"x": [1, 2]}, "channels": [],
    }

    listed = tide.runs.list()
    ids = [r["id"] for r in listed]
    assert run["id"] in ids and bare["id"] in ids
    assert ids.index(bare["id"]) < ids.index(run["id"])  # created_at desc
    for r in listed:
        assert_keys(r, RUN_KEYS, "Run (list)")


@pytest.mark.parametrize("name", ["reports/daily summary", "caf\u00e9 \u2615 %41?#&=+"])
def test_workflow_name_is_url_encoded(tide, server, name):
    run = tide.runs.create(name, input={})
    assert run["workflowName"] == name
    assert tide.run(name, lambda run, input: "ok", run_id=run["id"]) == "ok"
    assert tide.runs.get(run["id"])["run"]["workflowName"] == name


def test_channel_secrets_are_not_exposed(tide, server):
    secret = "s3cr3t-do-not-leak"
    run = tide.runs.create("channels", input={}, channels=[
        {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": secret,
         "events": ["run.completed"]},
    ])
    detail = tide.runs.get(run["id"])
    assert secret not in json.dumps(detail)
    assert len(detail["channels"]) == 1
    ch = detail["channels"][0]
    assert_keys(ch, CHANNEL_KEYS, "Channel")
    assert ch["type"] == "webhook"
    assert ch["config"]["url"] == "http://127.0.0.1:9/hook"
    assert ch["events"] == ["run.completed"]
    assert detail["events"][0]["payload"]["channels"] == [
        {"type": "webhook", "url": "http://127.0.0.1:9/hook", "events": ["run.completed"]}
    ]


def test_begin_semantics_raw(server):
    rid = server.ok("POST", "/runs/begin-raw", {"input": {}})["run"]["id"]
    first = server.ok("POST", f"/runs/{rid}/begin")
    assert set(first) == {"run", "leaseOwner"}
    owner = first["leaseOwner"]
    assert isinstance(owner, str) and owner
    assert first["run"]["status"] == "running"
    assert first["run"]["attempt"] == 1
    assert first["run"]["leaseOwner"] == owner
    assert_ts(first["run"]["leaseExpiresAt"])

    # Another worker while the lease is live: 409 with the holder, no code.
    r = server.http("POST", f"/runs/{rid}/begin")
    assert r.status == 409, r
    assert r.json["error"] == "run is leased"
    assert r.json["leaseOwner"] == owner
    assert "code" not in r.json

    # The same owner via x-tidebase-worker re-begins (attempt+1).
    r = server.http("POST", f"/runs/{rid}/begin", headers={"x-tidebase-worker": owner})
    assert r.status == 200, r
    assert r.json["leaseOwner"] == owner
    assert r.json["run"]["attempt"] == 2

    server.ok("POST", f"/runs/{rid}/complete", {"result": {"done": 1}})
    # Begin on a completed run: 200, unchanged, no lease.
    again = server.ok("POST", f"/runs/{rid}/begin")
    assert again["run"]["status"] == "completed"
    assert again["run"]["leaseOwner"] is None
    assert again["run"]["result"] == {"done": 1}
    assert again["run"]["attempt"] == 2

    r = server.http("POST", f"/runs/run_{'0' * 32}/begin")
    assert r.status == 404, r
    assert r.json == {"error": "run not found"}


def test_session_heartbeat_then_complete_then_lease_lost(tide, server):
    lost: list = []
    session = tide.runs.attach("session-hb", input={"p": 1}, heartbeat_s=0.2,
                               on_lease_lost=lost.append)
    rid = session.run_id
    assert session.run["status"] == "running"
    assert session.run["leaseOwner"] is not None
    first_expiry = parse_ts(server.detail(rid)["run"]["leaseExpiresAt"])

    assert session.step("one", lambda: 1) == 1
    assert session.step("two", lambda: {"n": 2}) == {"n": 2}
    session.state.set({"progress": 1})
    events_before = len(server.detail(rid)["events"])

    # The background heartbeat extends the lease without bumping attempt or logging.
    wait_until(lambda: parse_ts(server.detail(rid)["run"]["leaseExpiresAt"]) > first_expiry,
               timeout=10, desc="a heartbeat to extend the lease")
    detail = server.detail(rid)
    assert detail["run"]["attempt"] == 1
    assert detail["run"]["status"] == "running"
    assert len(detail["events"]) == events_before

    hb = session.heartbeat()
    assert set(hb) == {"run"}
    assert hb["run"]["status"] == "running"

    done = session.complete({"answer": 42})
    assert done["run"]["status"] == "completed"
    assert done["run"]["result"] == {"answer": 42}
    assert done["run"]["leaseOwner"] is None

    with pytest.raises(TidebaseError) as info:
        session.heartbeat()
    assert info.value.status == 409
    body = json.loads(info.value.body)
    assert body["error"] == "lease lost"
    assert body["code"] == "lease_lost"
    assert body["run"]["status"] == "completed"

    # attach() refuses a completed run (client-side).
    with pytest.raises(RuntimeError):
        tide.runs.attach("session-hb", run_id=rid, heartbeat_s=None)


def test_second_attach_is_fenced_while_lease_live(tide, server):
    s1 = tide.runs.attach("fenced", input={}, heartbeat_s=None)
    with pytest.raises(TidebaseError) as info:
        tide.runs.attach("fenced", run_id=s1.run_id, heartbeat_s=None)
    assert info.value.status == 409
    body = json.loads(info.value.body)
    assert body["error"] == "run is leased"
    assert body["leaseOwner"] == s1.run["leaseOwner"]

    # Heartbeat by a stranger: 409 lease_lost; without leaseOwner: 400.
    r = server.http("POST", f"/runs/{s1.run_id}/heartbeat", {"leaseOwner": "stranger"})
    assert r.status == 409, r
    assert r.json["code"] == "lease_lost"
    r = server.http("POST", f"/runs/{s1.run_id}/heartbeat", {})
    assert r.status == 400, r
    assert r.json == {"error": "leaseOwner is required"}
    r = server.http("POST", f"/runs/run_{'0' * 32}/heartbeat", {"leaseOwner": "x"})
    assert r.status == 404, r

    assert s1.heartbeat()["run"]["leaseOwner"] == s1.run["leaseOwner"]
    assert s1.complete("fine")["run"]["status"] == "completed"


def test_session_fail_marks_run_failed(tide, server):
    s = tide.runs.attach("session-fail", input={}, heartbeat_s=None)
    s.step("ok", lambda: 1)
    out = s.fail(ValueError("bad input"))
    assert set(out) == {"run", "requeued"}
    failed_event = tide.runs.get(s.run_id)["events"][-1]
    assert failed_event["type"] == "run.failed"
    assert failed_event["payload"] == {"error": {"name": "ValueError", "message": "bad input"},
                                       "failureClass": None}
    assert out["requeued"] is False
    assert out["run"]["status"] == "failed"
    assert out["run"]["error"] == {"name": "ValueError", "message": "bad input"}
    # The failed run's lease is gone: its heartbeat is fenced.
    with pytest.raises(TidebaseError) as info:
        s.heartbeat()
    assert info.value.status == 409
    assert json.loads(info.value.body)["code"] == "lease_lost"
    # A failed run can be resumed by attaching again (begin re-opens it).
    s2 = tide.runs.attach("session-fail", run_id=s.run_id, heartbeat_s=None)
    assert s2.run["status"] == "running"
    assert s2.run["attempt"] == 2
    assert s2.step("ok", lambda: 999) == 1  # replayed
    assert s2.complete("recovered")["run"]["result"] == "recovered"


def test_cancel_then_step_raises_run_cancelled(tide, server):
    calls = Counter()
    run_ids: list = []

    def workflow(run, input):
        run_ids.append(run.run_id)
        run.step("first", lambda: calls.update(["first"]) or 1)
        cancelled = tide.runs.cancel(run.run_id, reason="user asked", actor="ops@x")
        assert cancelled["status"] == "cancelled"
        run.step("second", lambda: calls.update(["second"]) or 2)
        return "unreachable"

    with pytest.raises(RunCancelled) as info:
        tide.run("cancel-me", workflow, input={})
    rid = run_ids[0]
    assert info.value.run_id == rid
    assert calls == Counter(first=1)

    detail = server.detail(rid)
    run = detail["run"]
    assert run["status"] == "cancelled"
    assert run["cancelReason"] == "user asked"
    assert run["cancelActor"] == "ops@x"
    assert run["leaseOwner"] is None
    for k in ("cancelRequestedAt", "cancelledAt", "completedAt"):
        assert_ts(run[k])
    assert [s["name"] for s in detail["steps"]] == ["first"]
    # The SDK does not report a failure after a cancel.
    types = [e["type"] for e in detail["events"]]
    assert types[-1] == "run.cancelled"
    assert "run.failed" not in types
    assert detail["events"][-1]["payload"] == {"reason": "user asked", "actor": "ops@x"}

    # Raw: steps/begin answers {"action":"cancelled"}.
    r = server.ok("POST", f"/runs/{rid}/steps/begin", {"name": "third", "inputHash": "h"})
    assert r == {"action": "cancelled"}

    # Cancel is idempotent and keeps the original reason.
    again = tide.runs.cancel(rid, reason="second reason")
    assert again["status"] == "cancelled"
    assert again["cancelReason"] == "user asked"

    # Resuming a cancelled run: begin says run_cancelled -> RunCancelled.
    with pytest.raises(RunCancelled):
        tide.run("cancel-me", workflow, run_id=rid)
    with pytest.raises(RunCancelled):
        tide.runs.attach("cancel-me", run_id=rid, heartbeat_s=None)
    r = server.http("POST", f"/runs/{rid}/begin")
    assert r.status == 409, r
    assert r.json["code"] == "run_cancelled"
    assert r.json["error"] == "run is cancelled"

    # complete on a cancelled run is a silent 200 that changes nothing.
    r = server.ok("POST", f"/runs/{rid}/complete", {"result": "late"})
    assert r["run"]["status"] == "cancelled"
    assert r["run"]["result"] is None


def test_cancel_completed_run_is_409(tide, server):
    run = tide.runs.create("cancel-done", input={})
    assert tide.run("cancel-done", lambda run, input: "done", run_id=run["id"]) == "done"
    with pytest.raises(TidebaseError) as info:
        tide.runs.cancel(run["id"], reason="too late")
    assert info.value.status == 409
    body = json.loads(info.value.body)
    assert body["error"] == "run already completed"
    assert body["run"]["status"] == "completed"
    assert tide.runs.get(run["id"])["run"]["status"] == "completed"


def test_cancel_session_heartbeat_raises_run_cancelled(tide, server):
    s = tide.runs.attach("cancel-session", input={}, heartbeat_s=None)
    # Cancel without a body is accepted.
    r = server.http("POST", f"/runs/{s.run_id}/cancel")
    assert r.status == 200, r
    assert r.json["run"]["status"] == "cancelled"
    assert r.json["run"]["cancelReason"] is None
    with pytest.raises(RunCancelled):
        s.heartbeat()
    with pytest.raises(RunCancelled):
        s.step("after-cancel", lambda: 1)
    s.close()


def test_cancel_pending_failed_and_unknown(tide, server):
    run = tide.runs.create("cancel-pending", input={})
    c = tide.runs.cancel(run["id"])
    assert c["status"] == "cancelled"
    s = tide.runs.attach("cancel-failed", input={}, heartbeat_s=None)
    s.fail("gave up")
    assert tide.runs.cancel(s.run_id, reason="cleanup")["status"] == "cancelled"
    r = server.http("POST", f"/runs/run_{'0' * 32}/cancel", {})
    assert r.status == 404, r


def test_list_returns_latest_100(tide, server):
    created = [server.ok("POST", "/runs/many", {"input": {"i": i}})["run"]["id"]
               for i in range(105)]
    listed = [r["id"] for r in tide.runs.list()]
    assert len(listed) == 100
    assert listed[:100] == list(reversed(created))[:100]
