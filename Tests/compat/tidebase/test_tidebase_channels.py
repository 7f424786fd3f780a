"""Channels (contract §1.12): outbound webhook notifications for run, gate, step, state
and usage events. Cairn sends them from a delivery service right after the commit (not
before the API response, as the reference does) and retries failures with backoff, so
these tests poll the receiver and the run's channelDeliveries."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout

from tidebase import Tidebase, verify_webhook_signature

from tbcompat import (
    CHANNEL_KEYS, PUBLIC_GATE_KEYS, RUN_KEYS, USAGE_KEYS, WebhookReceiver, assert_id,
    assert_keys, assert_ts, free_port, wait_until,
)

BODY_KEYS = ["type", "runId", "gateId", "deliveryId", "payload"]
DELIVERY_KEYS = [
    "id", "runId", "channelId", "gateId", "eventType", "payload", "status", "httpStatus",
    "responseBody", "errorText", "createdAt", "completedAt",
]


def _deliveries(srv, run_id: str) -> list:
    return srv.detail(run_id)["channelDeliveries"]


def _settled(srv, run_id: str, count: int) -> list:
    """Wait until the run has `count` deliveries and none is pending; return them."""
    def check():
        rows = _deliveries(srv, run_id)
        return rows if len(rows) >= count and all(r["status"] != "pending" for r in rows) else None

    return wait_until(check, timeout=10, desc=f"{count} settled channel deliveries")


def _flaky_step(calls: Counter, name: str):
    def fn():
        calls[name] += 1
        if calls[name] == 1:
            raise RuntimeError("transient")
        return "ok"
    return fn


def test_filtered_signed_channel_gets_only_run_completed(server):
    tide = Tidebase(url=server.url)
    calls = Counter()
    ids: list = []

    def workflow(run, input):
        ids.append(run.run_id)
        run.state.set({"phase": "working"})
        run.usage.record(kind="llm", provider="openai", model="gpt-x", input_tokens=3, output_tokens=4)
        run.step("flaky", _flaky_step(calls, "flaky"), retries=1)  # emits step.failed once
        return {"done": input["n"]}

    with WebhookReceiver() as rx:
        channel = {"type": "webhook", "url": rx.url, "secret": "chan-secret", "events": ["run.completed"]}
        assert tide.run("chan-filtered", workflow, input={"n": 7}, channels=[channel]) == {"done": 7}
        [rid] = ids
        [row] = _settled(server, rid, 1)
        calls_seen = rx.received()

    detail = server.detail(rid)
    assert len(detail["channelDeliveries"]) == 1, detail["channelDeliveries"]
    assert len(calls_seen) == 1, [c["json"]["type"] for c in calls_seen]
    call = calls_seen[0]
    assert verify_webhook_signature(call["body"], call["headers"]["x-tidebase-signature"], "chan-secret")
    assert call["headers"]["x-tidebase-signature"].startswith("sha256=")
    assert not verify_webhook_signature(call["body"], call["headers"]["x-tidebase-signature"], "other")
    assert call["headers"]["user-agent"].startswith("cairn-channel/")
    assert call["headers"]["content-type"].startswith("application/json")
    body = call["json"]
    assert list(body) == BODY_KEYS
    assert body["type"] == "run.completed" and body["runId"] == rid and body["gateId"] is None
    assert_id(body["deliveryId"], "del_")
    assert list(body["payload"]) == ["run"]
    assert list(body["payload"]["run"]) == RUN_KEYS
    assert body["payload"]["run"]["status"] == "completed"
    assert body["payload"]["run"]["result"] == {"done": 7}

    [stored] = detail["channels"]
    assert list(stored) == CHANNEL_KEYS
    assert stored["type"] == "webhook" and stored["events"] == ["run.completed"]
    # Secrets are write-only in Cairn (the reference echoes them back here).
    assert stored["config"]["url"] == rx.url and stored["config"].get("secret") is None
    assert "chan-secret" not in json.dumps(detail)
    created = detail["events"][0]
    assert created["type"] == "run.created"
    assert created["payload"]["channels"] == [{"type": "webhook", "url": rx.url, "events": ["run.completed"]}]

    assert list(row) == DELIVERY_KEYS
    assert row["id"] == body["deliveryId"] and row["runId"] == rid
    assert row["channelId"] == stored["id"] and row["gateId"] is None
    assert row["eventType"] == "run.completed" and row["payload"] == body["payload"]
    assert (row["status"], row["httpStatus"], row["errorText"]) == ("delivered", 200, None)
    assert row["responseBody"] == '{"ok":true}'
    assert_ts(row["createdAt"])
    assert_ts(row["completedAt"])


def test_unfiltered_channel_gets_every_deliverable_event(server):
    tide = Tidebase(url=server.url)
    calls = Counter()
    ids: list = []

    def workflow(run, input):
        ids.append(run.run_id)
        run.state.set({"a": 1})
        run.state.patch({"b": 2})
        run.state.save("checkpoint-1")          # not deliverable
        run.usage.record(kind="llm", input_tokens=10, output_tokens=5, cost_usd=0.25)
        run.step("fetch", _flaky_step(calls, "fetch"), retries=1)
        return "finished"

    with WebhookReceiver() as rx:
        channel = {"type": "webhook", "url": rx.url, "events": []}
        assert tide.run("chan-all", workflow, channels=[channel]) == "finished"
        [rid] = ids
        rows = _settled(server, rid, 5)
        calls_seen = rx.received()

    expected = ["state.updated", "state.updated", "usage.recorded", "step.failed", "run.completed"]
    assert sorted(c["json"]["type"] for c in calls_seen) == sorted(expected)
    assert [r["eventType"] for r in rows] == expected[::-1], "channelDeliveries are newest first"
    assert all(r["status"] == "delivered" and r["httpStatus"] == 200 for r in rows)
    for call in calls_seen:
        assert "x-tidebase-signature" not in call["headers"], "a channel without a secret is unsigned"
        assert list(call["json"]) == BODY_KEYS and call["json"]["gateId"] is None
    by_type: dict = {}
    for call in calls_seen:
        by_type.setdefault(call["json"]["type"], []).append(call["json"]["payload"])
    for payload in by_type["state.updated"]:
        assert set(payload) == {"state", "stateVersion"}
        assert payload["state"]["runId"] == rid
    assert sorted((p["state"]["value"] for p in by_type["state.updated"]), key=len) == sorted(
        [{"a": 1}, {"a": 1, "b": 2}], key=len)
    [usage] = by_type["usage.recorded"]
    assert list(usage) == ["usage"]
    assert_keys(usage["usage"], USAGE_KEYS, "usage in channel payload")
    assert usage["usage"]["costUsd"] == 0.25 and usage["usage"]["inputTokens"] == 10
    [failed] = by_type["step.failed"]
    assert set(failed) == {"step", "retryable", "resumeDecision", "error"}
    assert failed["retryable"] is True and failed["resumeDecision"] == "auto_retry"
    assert failed["step"]["name"] == "fetch" and failed["error"]["message"] == "transient"
    [completed] = by_type["run.completed"]
    assert completed["run"]["result"] == "finished"
    # Each delivery has its own id, matching the row.
    assert sorted(c["json"]["deliveryId"] for c in calls_seen) == sorted(r["id"] for r in rows)


def test_gate_inline_channels_get_gate_created_and_resolved(server):
    tide = Tidebase(url=server.url)
    outcome: dict = {}

    def workflow(run, input):
        decision = run.gate("ship", "Ship the release?", data={"version": "1.2.3"}, poll_s=0.05,
                            channels=[{"type": "webhook", "url": rx.url_for("/inline"),
                                       "secret": "gate-secret"}])
        return {"approved": decision.approved, "by": decision.actor}

    def drive():
        try:
            outcome["result"] = tide.run(
                "gated", workflow,
                channels=[{"type": "webhook", "url": rx.url_for("/stored"), "events": ["gate.resolved"]}])
        except BaseException as exc:  # pragma: no cover - reported below
            outcome["error"] = exc

    with WebhookReceiver() as rx:
        worker = threading.Thread(target=drive, daemon=True)
        worker.start()
        created = wait_until(lambda: rx.received("/inline"), timeout=10,
                             desc="the gate.created notification")[0]
        # The human acts on the notification alone: it carries the resolve token.
        note = created["json"]
        assert verify_webhook_signature(created["body"], created["headers"]["x-tidebase-signature"],
                                        "gate-secret")
        assert list(note) == BODY_KEYS and note["type"] == "gate.created"
        gate = note["payload"]["gate"]
        assert list(note["payload"]) == ["gate"] and list(gate) == PUBLIC_GATE_KEYS
        assert note["gateId"] == gate["id"] and gate["status"] == "pending"
        assert gate["data"] == {"version": "1.2.3"} and gate["prompt"] == "Ship the release?"
        rid = note["runId"]
        assert gate["resolveUrl"].endswith(f"/runs/{rid}/gates/{gate['id']}/resolve")
        resolved = server.http("POST", f"/runs/{rid}/gates/{gate['id']}/resolve",
                               {"token": gate["resolveToken"], "decision": "approved", "actor": "carol"})
        assert resolved.status == 200, resolved
        worker.join(timeout=15)
        assert "error" not in outcome, outcome.get("error")
        assert outcome["result"] == {"approved": True, "by": "carol"}
        rows = _settled(server, rid, 3)
        inline = rx.received("/inline")
        stored = rx.received("/stored")

    assert [c["json"]["type"] for c in inline] == ["gate.created", "gate.resolved"]
    assert [c["json"]["type"] for c in stored] == ["gate.resolved"]
    for call in inline[1:] + stored:
        body = call["json"]
        assert list(body) == BODY_KEYS and body["gateId"] == gate["id"] and body["runId"] == rid
        assert body["payload"]["gate"]["status"] == "approved"
        assert body["payload"]["gate"]["actor"] == "carol"
    assert verify_webhook_signature(inline[1]["body"], inline[1]["headers"]["x-tidebase-signature"],
                                    "gate-secret")
    assert "x-tidebase-signature" not in stored[0]["headers"]

    detail = server.detail(rid)
    [channel] = detail["channels"]
    assert detail["gates"][0]["channels"][0]["url"] == rx.url_for("/inline")
    assert "gate-secret" not in json.dumps(detail), "inline channel secrets are write-only"
    summary = sorted(((r["eventType"], r["channelId"], r["gateId"], r["status"]) for r in rows), key=repr)
    assert summary == sorted([
        ("gate.created", None, gate["id"], "delivered"),
        ("gate.resolved", None, gate["id"], "delivered"),
        ("gate.resolved", channel["id"], gate["id"], "delivered"),
    ], key=repr)


def test_enqueued_run_channels_get_run_cancelled_and_final_run_failed(server):
    channels = lambda url: [{"type": "webhook", "url": url, "events": ["run.cancelled", "run.failed"]}]
    with WebhookReceiver() as rx:
        run = server.ok("POST", "/queues/chan-q/enqueue",
                        {"workflowName": "cancellable", "channels": channels(rx.url_for("/cancel"))})["run"]
        Tidebase(url=server.url).runs.cancel(run["id"], reason="no longer needed", actor="dave")
        [row] = _settled(server, run["id"], 1)
        [call] = rx.received("/cancel")

        # A failure that requeues notifies nobody; the final failure does.
        retried = server.ok("POST", "/queues/chan-q/enqueue",
                            {"workflowName": "retried", "maxAttempts": 2,
                             "channels": channels(rx.url_for("/fail"))})["run"]
        assert _claim(server, "chan-q")["runs"][0]["id"] == retried["id"]
        first = server.ok("POST", f"/runs/{retried['id']}/fail", {"error": {"message": "one"}})
        assert first["requeued"] is True
        server.ok("POST", f"/runs/{retried['id']}/begin")
        second = server.ok("POST", f"/runs/{retried['id']}/fail", {"error": {"message": "two"}})
        assert second["requeued"] is False
        [fail_row] = _settled(server, retried["id"], 1)
        [fail_call] = rx.received("/fail")

    assert row["eventType"] == "run.cancelled" and row["status"] == "delivered"
    body = call["json"]
    assert body["type"] == "run.cancelled" and list(body["payload"]) == ["run"]
    assert body["payload"]["run"]["status"] == "cancelled"
    assert body["payload"]["run"]["cancelReason"] == "no longer needed"

    assert fail_row["eventType"] == "run.failed" and fail_row["status"] == "delivered"
    payload = fail_call["json"]["payload"]
    assert set(payload) == {"run", "error"}
    assert payload["error"] == {"message": "two"}
    assert payload["run"]["status"] == "failed" and payload["run"]["failureClass"] == "max_retries"


def _claim(srv, queue: str) -> dict:
    return srv.ok("POST", "/queues/claim", {"queues": [queue]})


def test_a_stalled_receiver_does_not_slow_other_writers(server):
    """Deliveries are sent after the commit, outside any transaction: while a receiver holds
    a delivery unanswered, writes to the same run are still acknowledged. The receiver stays
    blocked until every write has been acknowledged, so the test checks that ordering rather
    than how long a write took on a busy machine."""
    tide = Tidebase(url=server.url)
    release = threading.Event()

    def stalled(call):
        release.wait(60)
        return 200, b'{"slow":true}'

    with WebhookReceiver(stalled) as rx:
        try:
            session = tide.runs.attach(
                "stalled-channel", heartbeat_s=None,
                channels=[{"type": "webhook", "url": rx.url, "secret": "s", "events": []}])
            rid = session.run_id
            session.state.set({"n": 1})
            wait_until(lambda: rx.received(), timeout=10, desc="the stalled delivery to start")

            def writes():
                session.usage.record(kind="tool", label="search", quantity=1)
                session.state.set({"n": 2})
                assert session.step("quick", lambda: "fast") == "fast"

            pool = ThreadPoolExecutor(max_workers=1)
            try:
                # Generous: only writes that wait for the receiver (blocked for a minute) miss it.
                pool.submit(writes).result(timeout=30)
            except FuturesTimeout:
                raise AssertionError("writes were not acknowledged while a channel was stalled")
            finally:
                pool.shutdown(wait=False)
            assert not rx.received()[0]["answered"], "the receiver answered before the writes ended"
        finally:
            release.set()
        session.complete("ok")
        rows = _settled(server, rid, 4)
    assert sorted(r["eventType"] for r in rows) == sorted(
        ["state.updated", "usage.recorded", "state.updated", "run.completed"])
    assert all((r["status"], r["httpStatus"], r["responseBody"]) == ("delivered", 200, '{"slow":true}')
               for r in rows)


def test_failed_delivery_is_retried_until_the_receiver_recovers(server):
    tide = Tidebase(url=server.url)
    answer = {"status": 500}

    def flaky(call):
        return (500, b"nope") if answer["status"] == 500 else (200, b'{"ok":true}')

    dead_url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    with WebhookReceiver(flaky) as rx:
        session = tide.runs.attach("retried-channel", heartbeat_s=None, channels=[
            {"type": "webhook", "url": rx.url, "secret": "retry-secret", "events": ["run.completed"]},
            {"type": "webhook", "url": dead_url, "events": ["run.completed"]},
        ])
        rid = session.run_id
        channel_ids = {c["config"]["url"]: c["id"] for c in server.detail(rid)["channels"]}
        completed = session.complete({"total": 3})
        assert completed["run"]["status"] == "completed"  # a failing channel never fails the call

        def first_attempts_done():
            rows = {r["channelId"]: r for r in _deliveries(server, rid)}
            live, dead = rows.get(channel_ids[rx.url]), rows.get(channel_ids[dead_url])
            if live and dead and live["httpStatus"] == 500 and (dead["errorText"] or dead["status"] != "pending"):
                return live, dead
            return None

        live, dead = wait_until(first_attempts_done, timeout=10, desc="the first delivery attempts")
        assert (live["status"], live["httpStatus"], live["responseBody"]) == ("pending", 500, "nope")
        assert live["completedAt"] is None
        assert (dead["status"], dead["httpStatus"]) == ("pending", None)
        assert dead["errorText"]

        answer["status"] = 200
        wait_until(lambda: {r["channelId"]: r for r in _deliveries(server, rid)}[channel_ids[rx.url]]
                   ["status"] == "delivered", timeout=10, desc="the retried delivery to succeed")
        attempts = rx.received()

    row = {r["channelId"]: r for r in _deliveries(server, rid)}[channel_ids[rx.url]]
    assert (row["httpStatus"], row["responseBody"], row["errorText"]) == (200, '{"ok":true}', None)
    assert row["completedAt"]
    assert len(attempts) >= 2
    assert len({c["body"] for c in attempts}) == 1, "a retry must resend the same delivery"
    assert json.loads(attempts[0]["body"])["deliveryId"] == row["id"]
    assert all(verify_webhook_signature(c["body"], c["headers"]["x-tidebase-signature"], "retry-secret")
               for c in attempts)
    gap = attempts[1]["at"] - attempts[0]["at"]
    assert gap >= 0.9, f"retried after {gap:.3f}s, expected a backoff of about 1s"
