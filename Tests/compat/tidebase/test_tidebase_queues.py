"""Queues (contract §1.14) and the reconciler's queue sweeps (§1.16), driven through the
unmodified SDK where it can: enqueue, the pull-mode work() loop, retries, leases, cancel,
deadlines, concurrency caps and push mode (run.invoke)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
from tidebase import RunCancelled, RunSession, Tidebase, verify_webhook_signature

from tbcompat import (
    RUN_KEYS, WebhookReceiver, assert_keys, parse_ts, resolve_when_pending, start_server,
    wait_until,
)

SECRET = "queue-invoke-secret"


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    """A server whose reconciler runs every 100 ms, with a 1 s lease and a webhook secret."""
    srv = start_server(tmp_path_factory, "queues-fast",
                       env={"CAIRN_LEASE_MS": "1000", "CAIRN_RECONCILE_MS": "100",
                            "CAIRN_WEBHOOK_SECRET": SECRET})
    yield srv
    srv.stop()


class Worker:
    """tide.work() in a background thread until stop(); errors go to `errors`."""

    def __init__(self, tide: Tidebase, queues: list, **kw):
        self.errors: list = []
        self._stop = threading.Event()
        self.thread = threading.Thread(
            target=tide.work, args=(queues,),
            kwargs=dict(poll_s=0.05, stop=self._stop.is_set,
                        on_error=lambda error, run: self.errors.append((error, run)), **kw),
            daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the work() loop did not stop"


def _status(srv, run_id: str) -> str:
    return srv.detail(run_id)["run"]["status"]


def _events(srv, run_id: str, type_: str) -> list:
    return [e for e in srv.detail(run_id)["events"] if e["type"] == type_]


def _claim(srv, queue: str, limit: int = 1, owner: str = None) -> dict:
    body = {"queues": [queue], "limit": limit}
    if owner:
        body["leaseOwner"] = owner
    return srv.ok("POST", "/queues/claim", body)


def test_enqueued_runs_are_executed_by_the_work_loop(server):
    tide = Tidebase(url=server.url)
    calls = Counter()

    @tide.workflow("q-report")
    def report(run, input):
        outline = run.step("outline", lambda: calls.update([("outline", input["n"])])
                           or {"sections": input["n"]})
        run.state.set({"progress": 0.5, "n": input["n"]})
        body = run.step("write", lambda: calls.update([("write", input["n"])])
                        or "x" * outline["sections"], input=outline)
        return {"n": input["n"], "length": len(body)}

    @tide.workflow("q-echo")
    def echo(run, input):
        return run.step("echo", lambda: calls.update([("echo", input["v"])]) or input["v"])

    enqueued = [tide.enqueue("q-report", queue="work-q", input={"n": n}) for n in (1, 2, 3)]
    enqueued.append(tide.enqueue("q-echo", queue="work-q", input={"v": "hi"}))
    for e in enqueued:
        assert e["deduplicated"] is False
        assert_keys(e["run"], RUN_KEYS, "enqueued run")
        assert list(e["run"]) == RUN_KEYS
        assert e["run"]["status"] == "queued" and e["run"]["queue"] == "work-q"
        assert e["run"]["attempt"] == 0 and e["run"]["maxAttempts"] == 1
    ids = [e["run"]["id"] for e in enqueued]

    worker = Worker(tide, ["work-q"])
    try:
        wait_until(lambda: all(_status(server, i) == "completed" for i in ids), timeout=20,
                   desc="all enqueued runs to complete")
    finally:
        worker.stop()
    assert worker.errors == []

    results = [server.detail(i)["run"]["result"] for i in ids]
    assert results == [{"n": 1, "length": 1}, {"n": 2, "length": 2}, {"n": 3, "length": 3}, "hi"]
    # Every step ran exactly once.
    assert calls == Counter({("outline", 1): 1, ("outline", 2): 1, ("outline", 3): 1,
                             ("write", 1): 1, ("write", 2): 1, ("write", 3): 1, ("echo", "hi"): 1})

    for rid in ids:
        detail = server.detail(rid)
        run = detail["run"]
        assert run["attempt"] == 1 and run["leaseOwner"] is None and run["completedAt"]
        types = [e["type"] for e in detail["events"]]
        # A claimed run is executed with the claim's lease: no begin, so no run.started.
        assert types[0] == "run.enqueued" and types[1] == "run.claimed"
        assert "run.started" not in types and types[-1] == "run.completed"
        assert [e["seq"] for e in detail["events"]] == list(range(1, len(types) + 1))
        enq, claimed = detail["events"][0], detail["events"][1]
        assert enq["payload"]["queue"] == "work-q" and enq["payload"]["runAt"] == run["runAt"]
        assert claimed["payload"]["queue"] == "work-q"
        # Steps ran under the claim's lease owner.
        assert {s["leaseOwner"] for s in detail["steps"]} <= {claimed["payload"]["leaseOwner"], None}
        assert all(s["status"] == "completed" for s in detail["steps"])
    report_steps = server.detail(ids[1])["steps"]
    assert [(s["name"], s["output"]) for s in report_steps] == [("outline", {"sections": 2}), ("write", "xx")]
    assert server.detail(ids[1])["state"]["value"] == {"progress": 0.5, "n": 2}

    stats = {q["name"]: q for q in tide.queues.list()}
    assert stats["work-q"] == {"name": "work-q", "queued": 0, "running": 0, "failed": 0,
                               "completed": 4, "cancelled": 0, "config": None}


def test_concurrent_enqueues_with_one_dedupe_key_make_one_run(server):
    tide = Tidebase(url=server.url)
    barrier = threading.Barrier(6)
    replies: list = []
    errors: list = []

    def enqueue(i):
        try:
            barrier.wait(timeout=10)
            replies.append(tide.enqueue("dedupe", queue="dedupe-q", dedupe_key="order-42", input={"i": i}))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=enqueue, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(replies) == 6
    assert sorted(r["deduplicated"] for r in replies) == [False] + [True] * 5
    assert len({r["run"]["id"] for r in replies}) == 1
    first = next(r["run"] for r in replies if not r["deduplicated"])
    assert first["dedupeKey"] == "order-42" and first["status"] == "queued"
    assert [r["id"] for r in server.ok("GET", "/runs")["runs"]
            if r["dedupeKey"] == "order-42"] == [first["id"]]
    assert len(_events(server, first["id"], "run.enqueued")) == 1

    # While the run is active (running) the key stays taken ...
    claimed = _claim(server, "dedupe-q")["runs"]
    assert [r["id"] for r in claimed] == [first["id"]]
    again = tide.enqueue("dedupe", queue="dedupe-q", dedupe_key="order-42")
    assert again["deduplicated"] is True and again["run"]["id"] == first["id"]
    assert again["run"]["status"] == "running"
    # ... the same key on another queue is independent ...
    other = tide.enqueue("dedupe", queue="dedupe-other-q", dedupe_key="order-42")
    assert other["deduplicated"] is False and other["run"]["id"] != first["id"]

    # ... and a terminal run frees it.
    server.ok("POST", f"/runs/{first['id']}/complete", {"result": "done"})
    fresh = tide.enqueue("dedupe", queue="dedupe-q", dedupe_key="order-42")
    assert fresh["deduplicated"] is False and fresh["run"]["id"] != first["id"]
    assert fresh["run"]["status"] == "queued"


def test_delayed_run_is_not_claimed_before_its_time(server):
    tide = Tidebase(url=server.url)
    t0 = time.monotonic()
    run = tide.enqueue("later", queue="delay-q", delay_s=2)["run"]
    assert 1.9 <= parse_ts(run["runAt"]) - parse_ts(run["createdAt"]) <= 2.1
    assert _claim(server, "delay-q", limit=5)["runs"] == []

    def claim_once():
        got = _claim(server, "delay-q", limit=5)["runs"]
        return got or None

    claimed = wait_until(claim_once, timeout=6, interval=0.05, desc="the delayed run to be claimable")
    elapsed = time.monotonic() - t0
    assert [r["id"] for r in claimed] == [run["id"]]
    assert elapsed >= 1.9, f"claimed after {elapsed:.2f}s, before its runAt"
    assert claimed[0]["status"] == "running" and claimed[0]["attempt"] == 1


def test_two_concurrent_claimers_get_disjoint_runs(server):
    tide = Tidebase(url=server.url)
    ids = {tide.enqueue("race", queue="race-q", input={"i": i})["run"]["id"] for i in range(20)}
    barrier = threading.Barrier(2)
    got: dict = {"a": [], "b": []}
    errors: list = []

    def claimer(owner):
        try:
            barrier.wait(timeout=10)
            while True:
                reply = _claim(server, "race-q", limit=10, owner=owner)
                assert reply["leaseOwner"] == owner
                if not reply["runs"]:
                    return
                for r in reply["runs"]:
                    assert r["status"] == "running" and r["leaseOwner"] == owner
                got[owner].extend(r["id"] for r in reply["runs"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(o,)) for o in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    a, b = got["a"], got["b"]
    assert len(a) == len(set(a)) and len(b) == len(set(b)), "a claimer got a run twice"
    assert not set(a) & set(b), f"runs claimed by both workers: {sorted(set(a) & set(b))}"
    assert set(a) | set(b) == ids
    for rid in ids:
        claims = _events(server, rid, "run.claimed")
        assert len(claims) == 1, f"{rid} was claimed {len(claims)} times"


def test_concurrency_cap_limits_claims(server):
    tide = Tidebase(url=server.url)
    config = tide.queues.configure("cap-q", concurrency=2)
    assert config == {"config": {"name": "cap-q", "concurrency": 2, "ratePerMinute": None, "invokeUrl": None}}
    ids = [tide.enqueue("capped", queue="cap-q", input={"i": i})["run"]["id"] for i in range(5)]

    first = _claim(server, "cap-q", limit=10)["runs"]
    assert len(first) == 2
    assert _claim(server, "cap-q", limit=10)["runs"] == []
    stats = {q["name"]: q for q in tide.queues.list()}["cap-q"]
    assert (stats["queued"], stats["running"]) == (3, 2)
    assert stats["config"]["concurrency"] == 2

    server.ok("POST", f"/runs/{first[0]['id']}/complete", {"result": 1})
    second = _claim(server, "cap-q", limit=10)["runs"]
    assert len(second) == 1
    assert _claim(server, "cap-q", limit=10)["runs"] == []

    # Absent fields are kept; an explicit null clears a field (Cairn: unlike the reference).
    kept = server.ok("PUT", "/queues/cap-q/config", {"ratePerMinute": 100})["config"]
    assert kept == {"name": "cap-q", "concurrency": 2, "ratePerMinute": 100, "invokeUrl": None}
    assert _claim(server, "cap-q", limit=10)["runs"] == []
    cleared = server.ok("PUT", "/queues/cap-q/config", {"concurrency": None})["config"]
    assert cleared == {"name": "cap-q", "concurrency": None, "ratePerMinute": 100, "invokeUrl": None}
    rest = _claim(server, "cap-q", limit=10)["runs"]
    assert len(rest) == 2
    assert {r["id"] for r in first + second + rest} == set(ids)


def test_claim_order_rate_limit_and_queue_list(server):
    tide = Tidebase(url=server.url)
    low = tide.enqueue("ordered", queue="prio-q", input={"p": 0})["run"]["id"]
    high = tide.enqueue("ordered", queue="prio-q", input={"p": 5}, priority=5)["run"]["id"]
    low2 = tide.enqueue("ordered", queue="prio-q", input={"p": 0, "n": 2})["run"]["id"]
    other = tide.enqueue("ordered", queue="prio-other-q")["run"]["id"]
    # Higher priority first, then earlier runAt; queues in the order given until the limit.
    assert [r["id"] for r in _claim(server, "prio-q")["runs"]] == [high]
    both = server.ok("POST", "/queues/claim", {"queues": ["prio-q", "prio-other-q"], "limit": 3})
    assert [r["id"] for r in both["runs"]] == [low, low2, other]

    tide.queues.configure("rate-q", rate_per_minute=2)
    for i in range(4):
        tide.enqueue("rated", queue="rate-q", input={"i": i})
    assert len(_claim(server, "rate-q", limit=10)["runs"]) == 2
    assert _claim(server, "rate-q", limit=10)["runs"] == []

    tide.queues.configure("config-only-q", concurrency=3)
    stats = {q["name"]: q for q in tide.queues.list()}
    assert stats["config-only-q"] == {
        "name": "config-only-q", "queued": 0, "running": 0, "failed": 0, "completed": 0,
        "cancelled": 0,
        "config": {"name": "config-only-q", "concurrency": 3, "ratePerMinute": None, "invokeUrl": None}}
    assert (stats["rate-q"]["queued"], stats["rate-q"]["running"]) == (2, 2)
    assert stats["rate-q"]["config"]["ratePerMinute"] == 2


def test_max_attempts_requeues_with_backoff_then_fails_with_max_retries(server):
    tide = Tidebase(url=server.url)
    calls = Counter()

    def flaky(run, input):
        prepared = run.step("prepare", lambda: calls.update(["prepare"]) or {"ready": True})

        def call():
            calls["call"] += 1
            raise RuntimeError(f"upstream down #{calls['call']}")

        return run.step("call", call, input=prepared)

    tide.workflow("flaky", flaky)
    rid = tide.enqueue("flaky", queue="retry-q", max_attempts=2, input={"job": 1})["run"]["id"]

    worker = Worker(tide, ["retry-q"])
    try:
        wait_until(lambda: _events(server, rid, "run.requeued"), timeout=10,
                   desc="the first failure to requeue the run")
    finally:
        worker.stop()
    assert [type(e).__name__ for e, _ in worker.errors] == ["RuntimeError"]

    run = server.detail(rid)["run"]
    assert run["status"] == "queued" and run["attempt"] == 1
    assert run["leaseOwner"] is None and run["failureClass"] is None
    assert run["error"] == {"name": "RuntimeError", "message": "upstream down #1"}
    backoff = parse_ts(run["runAt"]) - parse_ts(run["updatedAt"])
    assert 4.5 <= backoff <= 5.5, f"retry backoff is {backoff:.3f}s, expected ~5s"
    requeued = _events(server, rid, "run.requeued")
    assert len(requeued) == 1
    assert requeued[0]["payload"] == {"error": run["error"], "attempt": 1, "maxAttempts": 2,
                                      "nextRunAt": run["runAt"]}
    assert _claim(server, "retry-q")["runs"] == [], "a requeued run was claimable before its backoff"

    # Begin it again (begin works on a queued run before its runAt): the completed step replays.
    with pytest.raises(RuntimeError, match="upstream down #2"):
        tide.run("flaky", flaky, run_id=rid)
    assert calls == Counter(prepare=1, call=2)
    detail = server.detail(rid)
    run = detail["run"]
    assert run["status"] == "failed" and run["attempt"] == 2
    assert run["failureClass"] == "max_retries"
    assert run["error"] == {"name": "RuntimeError", "message": "upstream down #2"}
    failed = [e for e in detail["events"] if e["type"] == "run.failed"]
    assert len(failed) == 1 and failed[0]["payload"]["failureClass"] == "max_retries"
    assert len([e for e in detail["events"] if e["type"] == "run.requeued"]) == 1
    stats = {q["name"]: q for q in tide.queues.list()}["retry-q"]
    assert (stats["queued"], stats["running"], stats["failed"]) == (0, 0, 1)


def test_expired_lease_is_requeued_then_failed_by_the_reconciler(fast):
    tide = Tidebase(url=fast.url)
    rid = tide.enqueue("abandoned", queue="lease-q", max_attempts=2)["run"]["id"]
    claim = _claim(fast, "lease-q")
    assert [r["id"] for r in claim["runs"]] == [rid]
    lease = claim["runs"][0]["leaseExpiresAt"]
    assert 0.9 <= parse_ts(lease) - parse_ts(claim["runs"][0]["updatedAt"]) <= 1.1

    # The worker never comes back: the reconciler requeues the run with backoff.
    t0 = time.monotonic()
    wait_until(lambda: _status(fast, rid) == "queued", timeout=5, interval=0.05,
               desc="the expired lease to be requeued")
    assert time.monotonic() - t0 <= 4
    run = fast.detail(rid)["run"]
    assert run["leaseOwner"] is None and run["leaseExpiresAt"] is None and run["attempt"] == 1
    assert parse_ts(run["updatedAt"]) >= parse_ts(lease)
    backoff = parse_ts(run["runAt"]) - parse_ts(run["updatedAt"])
    assert 4.5 <= backoff <= 5.5, f"retry backoff is {backoff:.3f}s, expected ~5s"
    requeued = _events(fast, rid, "run.requeued")
    assert len(requeued) == 1
    assert requeued[0]["payload"]["reason"] == "lease_expired"
    assert requeued[0]["payload"]["attempt"] == 1 and requeued[0]["payload"]["maxAttempts"] == 2

    # The zombie's heartbeat is fenced.
    r = fast.http("POST", f"/runs/{rid}/heartbeat", {"leaseOwner": claim["leaseOwner"]})
    assert r.status == 409 and r.json["code"] == "lease_lost", r

    # Second (last) attempt also abandoned: failed with max_retries, not requeued again.
    begun = fast.ok("POST", f"/runs/{rid}/begin")
    assert begun["run"]["attempt"] == 2
    wait_until(lambda: _status(fast, rid) == "failed", timeout=5, interval=0.05,
               desc="the last attempt's expired lease to fail the run")
    detail = fast.detail(rid)
    assert detail["run"]["failureClass"] == "max_retries" and detail["run"]["leaseOwner"] is None
    failed = [e for e in detail["events"] if e["type"] == "run.failed"]
    assert len(failed) == 1
    assert failed[0]["payload"]["failureClass"] == "max_retries"
    assert failed[0]["payload"]["reason"] == "lease_expired"
    assert len([e for e in detail["events"] if e["type"] == "run.requeued"]) == 1


def test_heartbeating_claimed_run_is_not_requeued(fast):
    tide = Tidebase(url=fast.url)
    rid = tide.enqueue("long-job", queue="hb-q", max_attempts=2)["run"]["id"]
    claim = _claim(fast, "hb-q")
    [run] = claim["runs"]
    lost: list = []
    # The SDK's session handle keeps the claim's lease alive (1 s lease, beat every 0.3 s).
    session = RunSession(tide, run, claim["leaseOwner"], heartbeat_s=0.3, on_lease_lost=lost.append)
    try:
        time.sleep(2.5)  # well past the first lease; the reconciler runs every 100 ms
        assert lost == []
        detail = fast.detail(rid)
        assert detail["run"]["status"] == "running" and detail["run"]["leaseOwner"] == claim["leaseOwner"]
        assert "run.requeued" not in [e["type"] for e in detail["events"]]
        assert session.step("work", lambda: "done") == "done"
    finally:
        session.close()
    session.complete({"ok": True})
    assert fast.detail(rid)["run"]["status"] == "completed"


def test_cancel_reaches_a_worker_blocked_on_a_gate(server):
    tide = Tidebase(url=server.url)
    after_gate = []

    @tide.workflow("needs-approval")
    def needs_approval(run, input):
        run.step("draft", lambda: "draft")
        decision = run.gate("publish", "Publish the draft?", poll_s=0.05)
        after_gate.append(decision)
        return "published"

    rid = tide.enqueue("needs-approval", queue="cancel-q")["run"]["id"]
    worker = Worker(tide, ["cancel-q"])
    try:
        wait_until(lambda: any(g["status"] == "pending" for g in server.detail(rid)["gates"]),
                   timeout=10, desc="the worker to block on the gate")
        cancelled = tide.runs.cancel(rid, reason="user changed their mind", actor="bob")
        assert cancelled["status"] == "cancelled"
        wait_until(lambda: worker.errors, timeout=10, desc="the worker to see the cancel")
    finally:
        worker.stop()

    assert len(worker.errors) == 1
    error, run = worker.errors[0]
    assert isinstance(error, RunCancelled) and error.run_id == rid and run["id"] == rid
    assert after_gate == []
    detail = server.detail(rid)
    assert detail["run"]["status"] == "cancelled"
    assert detail["run"]["cancelReason"] == "user changed their mind"
    assert detail["run"]["cancelActor"] == "bob"
    types = [e["type"] for e in detail["events"]]
    assert "run.failed" not in types and types[-1] == "run.cancelled"
    assert detail["events"][-1]["payload"] == {"reason": "user changed their mind", "actor": "bob"}
    # The gate itself is left pending (cancel does not cascade), and resolving it now
    # does not revive the run.
    assert resolve_when_pending(server, rid, "publish").status == 200
    assert server.detail(rid)["run"]["status"] == "cancelled"


def test_deadline_cancels_queued_and_running_runs(fast):
    tide = Tidebase(url=fast.url)
    queued = tide.enqueue("late", queue="deadline-q", deadline_s=0.5)["run"]
    assert 0.45 <= parse_ts(queued["deadlineAt"]) - parse_ts(queued["createdAt"]) <= 0.55
    running_id = tide.enqueue("late", queue="deadline-run-q", deadline_s=0.5)["run"]["id"]
    claim = _claim(fast, "deadline-run-q")
    assert [r["id"] for r in claim["runs"]] == [running_id]
    safe = tide.enqueue("late", queue="deadline-q", deadline_s=60)["run"]

    for rid in (queued["id"], running_id):
        wait_until(lambda: _status(fast, rid) == "cancelled", timeout=5, interval=0.05,
                   desc="the deadline to cancel the run")
        detail = fast.detail(rid)
        run = detail["run"]
        assert run["cancelReason"] == "deadline" and run["cancelActor"] is None
        assert run["cancelledAt"] and run["completedAt"] and run["leaseOwner"] is None
        assert parse_ts(run["cancelledAt"]) >= parse_ts(run["deadlineAt"])
        cancels = [e for e in detail["events"] if e["type"] == "run.cancelled"]
        assert len(cancels) == 1
        assert cancels[0]["payload"] == {"reason": "deadline", "actor": "reconciler"}

    # The worker holding the running one learns at its next boundary.
    r = fast.http("POST", f"/runs/{running_id}/heartbeat", {"leaseOwner": claim["leaseOwner"]})
    assert r.status == 409 and r.json["code"] == "run_cancelled", r
    assert _status(fast, safe["id"]) == "queued"


def test_push_queue_invokes_the_app_which_runs_the_workflow(fast):
    tide = Tidebase(url=fast.url)
    calls = Counter()
    seen_while_handling: list = []

    def workflow(run, input):
        fetched = run.step("fetch", lambda: calls.update(["fetch"]) or {"rows": input["rows"]})
        return run.step("summarize", lambda: calls.update(["summarize"]) or fetched["rows"] * 10,
                        input=fetched)

    def handle(call):
        if not verify_webhook_signature(call["body"], call["headers"].get("x-tidebase-signature"), SECRET):
            return 401, b'{"error":"bad signature"}'
        event = json.loads(call["body"])
        # While the app handles the call, the run is still queued, pushed a minute ahead,
        # so the reconciler (every 100 ms here) does not send it again.
        seen_while_handling.append(fast.detail(event["runId"])["run"])
        time.sleep(0.5)
        tide.run(event["workflowName"], workflow, run_id=event["runId"])
        return 200, json.dumps({"accepted": True, "runId": event["runId"]}).encode()

    with WebhookReceiver(handle) as app:
        config = tide.queues.configure("push-q", invoke_url=app.url)
        assert config["config"] == {"name": "push-q", "concurrency": None, "ratePerMinute": None,
                                    "invokeUrl": app.url}
        rid = tide.enqueue("summarize", queue="push-q", input={"rows": 4})["run"]["id"]
        wait_until(lambda: _status(fast, rid) == "completed", timeout=10,
                   desc="the pushed run to complete")
        wait_until(lambda: all(c["answered"] for c in app.received()), timeout=5,
                   desc="the invoke call to be answered")
        # Recorded once the reply is in.
        wait_until(lambda: [a for a in fast.detail(rid)["recoveryAttempts"] if a["status"] != "pending"],
                   timeout=5, desc="the invoke attempt to be recorded")
        invocations = app.received()

    assert len(invocations) == 1, f"{len(invocations)} invoke calls for one run"
    call = invocations[0]
    event = json.loads(call["body"])
    assert list(event) == ["type", "runId", "workflowName", "reason", "attempt"]
    assert event == {"type": "run.invoke", "runId": rid, "workflowName": "summarize",
                     "reason": "queue_dispatch", "attempt": 0}
    assert call["headers"]["x-tidebase-signature"].startswith("sha256=")
    assert call["headers"]["content-type"].startswith("application/json")

    [before] = seen_while_handling
    assert before["status"] == "queued"
    assert parse_ts(before["runAt"]) - parse_ts(before["createdAt"]) >= 55

    detail = fast.detail(rid)
    assert detail["run"]["result"] == 40 and detail["run"]["attempt"] == 1
    assert calls == Counter(fetch=1, summarize=1)
    types = [e["type"] for e in detail["events"]]
    assert "run.claimed" not in types, "nobody should have claimed a push-mode run"
    assert types[0] == "run.enqueued" and "run.started" in types and types[-1] in (
        "run.completed", "recovery.delivered")
    attempts = detail["recoveryAttempts"]
    assert [(a["reason"], a["status"], a["httpStatus"], a["webhookUrl"]) for a in attempts] == [
        ("queue_dispatch", "delivered", 200, app.url)]
    stats = {q["name"]: q for q in tide.queues.list()}["push-q"]
    assert (stats["queued"], stats["running"], stats["completed"]) == (0, 0, 1)
