"""Gates: durable human approval, exactly-once resolve, replay (contract §1.7)."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from tidebase import GateDecision, RunCancelled

from tbcompat import (
    GATE_KEYS,
    PUBLIC_GATE_KEYS,
    assert_id,
    assert_keys,
    assert_ts,
    resolve_when_pending,
)


@pytest.fixture
def pool():
    with ThreadPoolExecutor(max_workers=4) as ex:
        yield ex


def test_gate_approved_over_http_then_replayed_on_resume(tide, server, pool):
    calls = Counter()
    crash = {"on": True}
    run_ids: list = []
    resolver: dict = {}

    def workflow(run, input):
        run_ids.append(run.run_id)
        draft = run.step("draft", lambda: calls.update(["draft"]) or {"text": "hello"})
        if "future" not in resolver:
            resolver["future"] = pool.submit(
                resolve_when_pending, server, run.run_id, "approve-send",
                decision="approved", actor="alice", payload={"note": "ship it"},
            )
        decision = run.gate(
            "approve-send", "Send the draft?", data={"draft": draft},
            poll_s=0.05, timeout_s=20,
        )
        calls["after-gate"] += 1
        if crash["on"]:
            raise RuntimeError("crash after the gate")
        return {"approved": decision.approved, "actor": decision.actor,
                "payload": decision.payload, "gateId": decision.gate_id}

    with pytest.raises(RuntimeError, match="crash after the gate"):
        tide.run("gated", workflow, input={})
    resolve = resolver["future"].result(timeout=20)
    assert resolve.status == 200, resolve
    gate = resolve.json["gate"]
    assert_keys(gate, GATE_KEYS, "Gate (resolve response)")
    assert gate["status"] == "approved"
    assert gate["decision"] == "approved"
    assert gate["actor"] == "alice"
    assert gate["decisionPayload"] == {"note": "ship it"}
    assert_ts(gate["resolvedAt"])
    run_id = run_ids[0]

    # A second resolve of the same gate: 409, the first decision stands.
    r = server.http("POST", f"/runs/{run_id}/gates/{gate['id']}/resolve",
                    {"token": gate["resolveToken"], "decision": "rejected", "actor": "mallory"})
    assert r.status == 409, r
    assert r.json["error"] == "gate not found, already resolved, or invalid token"
    polled = server.ok("GET", f"/runs/{run_id}/gates/{gate['id']}")
    assert polled["gate"]["decision"] == "approved"
    assert polled["gate"]["actor"] == "alice"
    assert polled["runStatus"] == "failed"

    # Resume: the gate returns its decision at once; nobody resolves it again.
    crash["on"] = False
    t0 = time.monotonic()
    result = tide.run("gated", workflow, run_id=run_id)
    assert time.monotonic() - t0 < 10
    assert result == {"approved": True, "actor": "alice",
                      "payload": {"note": "ship it"}, "gateId": gate["id"]}
    assert calls == Counter({"draft": 1, "after-gate": 2})

    detail = server.detail(run_id)
    assert len(detail["gates"]) == 1
    types = [e["type"] for e in detail["events"]]
    assert types.count("gate.created") == 1
    assert types.count("gate.resolved") == 1
    created = next(e for e in detail["events"] if e["type"] == "gate.created")
    public = created["payload"]["gate"]
    assert_keys(public, PUBLIC_GATE_KEYS, "PublicGate (gate.created)")
    assert public["status"] == "pending"
    assert public["resolveToken"] == gate["resolveToken"]
    assert public["resolveUrl"].endswith(f"/runs/{run_id}/gates/{gate['id']}/resolve")
    resolved = next(e for e in detail["events"] if e["type"] == "gate.resolved")
    assert resolved["payload"]["gate"]["status"] == "approved"
    assert_keys(resolved["payload"]["gate"], PUBLIC_GATE_KEYS, "PublicGate (gate.resolved)")


def test_gate_shape_and_raw_begin_replay(tide, server):
    session = tide.runs.attach("gate-shape", input={}, heartbeat_s=None)
    rid = session.run_id
    begun = server.ok("POST", f"/runs/{rid}/gates/begin", {
        "name": "g1", "prompt": "Proceed?", "data": {"amount": 10},
        "capability": {"name": "deploy", "scopes": ["prod"], "reason": "release"},
        "timeoutMs": 60000,
    })
    assert begun["action"] == "wait"
    gate = begun["gate"]
    assert_keys(gate, GATE_KEYS, "Gate")
    assert_id(gate["id"], "gate_")
    assert gate["runId"] == rid
    assert gate["name"] == "g1"
    assert gate["prompt"] == "Proceed?"
    assert gate["data"] == {"amount": 10}
    assert gate["status"] == "pending"
    assert gate["decision"] is None
    assert gate["actor"] is None
    assert gate["decisionPayload"] is None
    assert gate["capability"] == {"name": "deploy", "scopes": ["prod"], "reason": "release"}
    assert gate["channels"] == []
    assert isinstance(gate["resolveToken"], str) and len(gate["resolveToken"]) == 32
    int(gate["resolveToken"], 16)
    assert gate["resolvedAt"] is None
    assert_ts(gate["createdAt"])

    # Same name again (even with another prompt): the existing gate, still waiting.
    again = server.ok("POST", f"/runs/{rid}/gates/begin",
                      {"name": "g1", "prompt": "Different prompt"})
    assert again["action"] == "wait"
    assert again["gate"]["id"] == gate["id"]
    assert again["gate"]["prompt"] == "Proceed?"

    # Wrong token: 409 and still pending.
    r = server.http("POST", f"/runs/{rid}/gates/{gate['id']}/resolve",
                    {"token": "0" * 32, "decision": "approved"})
    assert r.status == 409, r
    assert server.ok("GET", f"/runs/{rid}/gates/{gate['id']}")["gate"]["status"] == "pending"

    # Invalid decision: 400.
    r = server.http("POST", f"/runs/{rid}/gates/{gate['id']}/resolve",
                    {"token": gate["resolveToken"], "decision": "maybe"})
    assert r.status == 400, r
    assert r.json["error"] == "invalid request body"

    ok = server.ok("POST", f"/runs/{rid}/gates/{gate['id']}/resolve",
                   {"token": gate["resolveToken"], "decision": "rejected", "actor": "bob"})
    assert ok["gate"]["status"] == "rejected"
    assert ok["gate"]["decisionPayload"] == {}  # payload defaults to {}

    replay = server.ok("POST", f"/runs/{rid}/gates/begin", {"name": "g1", "prompt": "Proceed?"})
    assert replay["action"] == "return"
    assert replay["gate"]["decision"] == "rejected"

    polled = server.ok("GET", f"/runs/{rid}/gates/{gate['id']}")
    assert set(polled) == {"gate", "runStatus"}
    assert polled["runStatus"] == "running"

    r = server.http("GET", f"/runs/{rid}/gates/gate_{'0' * 32}")
    assert r.status == 404, r
    assert r.json == {"error": "gate not found"}
    session.complete(None)


def test_gate_rejected_decision(tide, server, pool):
    def workflow(run, input):
        fut = pool.submit(resolve_when_pending, server, run.run_id, "risky",
                          decision="rejected", actor="carol")
        d = run.gate("risky", "Do the risky thing?", poll_s=0.05, timeout_s=20)
        assert fut.result(timeout=20).status == 200
        return {"approved": d.approved, "status": d.status, "decision": d.decision}

    assert tide.run("gate-rejected", workflow) == {
        "approved": False, "status": "rejected", "decision": "rejected",
    }


def test_non_blocking_gates_with_a_session(tide, server):
    session = tide.runs.attach("nb-gates", input={"doc": 1}, heartbeat_s=None)
    rid = session.run_id

    g = session.gates.begin("review", "Review the doc?", data={"doc": 1},
                            capability={"name": "publish"})
    assert g == {"gateId": g["gateId"], "name": "review", "status": "pending",
                 "decision": None, "actor": None, "payload": None}
    assert session.gates.get(g["gateId"])["status"] == "pending"

    # Another gate that will be cancelled (single-l spelling).
    g2 = session.gates.begin("second-look", "Second look?")

    r = resolve_when_pending(server, rid, "review", decision="approved", actor="dana",
                             payload={"edits": 0})
    assert r.status == 200, r
    got = session.gates.get(g["gateId"])
    assert got == {"gateId": g["gateId"], "name": "review", "status": "approved",
                   "decision": "approved", "actor": "dana", "payload": {"edits": 0}}
    # Re-beginning a resolved gate converges on its decision.
    assert session.gates.begin("review", "Review the doc?")["status"] == "approved"

    r = resolve_when_pending(server, rid, "second-look", decision="canceled", actor="dana")
    assert r.status == 200, r
    got2 = session.gates.get(g2["gateId"])
    assert got2["status"] == "canceled"
    assert got2["decision"] == "canceled"

    out = session.complete({"published": True})
    assert out["run"]["status"] == "completed"


def test_gate_on_cancelled_run_raises_run_cancelled(tide, server):
    session = tide.runs.attach("gate-cancel", input={}, heartbeat_s=None)
    g = session.gates.begin("wait-here", "Wait?")
    tide.runs.cancel(session.run_id, reason="stop", actor="ops")
    with pytest.raises(RunCancelled):
        session.gates.get(g["gateId"])
    with pytest.raises(RunCancelled):
        session.gate("another", "Another?", poll_s=0.05, timeout_s=5)
    r = server.http("POST", f"/runs/{session.run_id}/gates/begin",
                    {"name": "x", "prompt": "y"})
    assert r.status == 409, r
    assert r.json["code"] == "run_cancelled"
    session.close()


def test_blocking_gate_observes_cancel_while_waiting(tide, server, pool):
    run_ids: list = []

    def canceller(run_id):
        from tbcompat import pending_gate, wait_until

        wait_until(lambda: pending_gate(server, run_id, "forever"), desc="pending gate")
        return tide.runs.cancel(run_id, reason="nobody answered")

    def workflow(run, input):
        run_ids.append(run.run_id)
        fut = pool.submit(canceller, run.run_id)
        try:
            run.gate("forever", "Anyone?", poll_s=0.05, timeout_s=20)
        finally:
            fut.result(timeout=20)
        return "unreachable"

    with pytest.raises(RunCancelled):
        tide.run("gate-cancel-wait", workflow)
    run = server.detail(run_ids[0])["run"]
    assert run["status"] == "cancelled"
    assert run["cancelReason"] == "nobody answered"


def test_gate_decision_object():
    d = GateDecision({"id": "gate_x", "name": "n", "status": "approved",
                      "decision": "approved", "actor": "a", "decisionPayload": {"k": 1}})
    assert d.approved and d.payload == {"k": 1}
