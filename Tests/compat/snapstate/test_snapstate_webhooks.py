"""Webhooks: registration with the SDK (register_webhook) and raw HTTP (list, delete, validation),
and deliveries to a loopback receiver: body, headers, HMAC signature, event filtering,
checkpoint.saved / workflow.resumed, no event for an If-Match replay, retries with backoff."""

from __future__ import annotations

import json
import threading
import time

import pytest

from sscompat import (
    DELIVERY_KEYS,
    WEBHOOK_ID_RE,
    WEBHOOK_KEYS,
    WebhookReceiver,
    assert_error,
    assert_json,
    assert_keys,
    assert_ts,
    cp_id,
    deliveries,
    free_port,
    new_wf,
    parse_ts,
    settle,
    signature,
    wait_deliveries,
    wait_until,
)

ALL_EVENTS = ["checkpoint.saved", "workflow.resumed", "workflow.expired"]


@pytest.fixture
def tkey(server):
    """A brand-new tenant per test: its webhook registry starts empty."""
    return server.tenant("wh")


@pytest.fixture
def tclient(server, tkey):
    c = server.client(tkey)
    yield c
    c.close()


def _list(server, key):
    body = assert_json(server.http("GET", "/webhooks", token=key), 200)
    assert_keys(body, ["webhooks"], "GET /webhooks")
    return body["webhooks"]


def test_register_webhook_with_the_sdk(server, tkey, tclient, receiver):
    hook = tclient.register_webhook(receiver.url, ["checkpoint.saved", "workflow.resumed"],
                                    secret="s3cr3t")
    assert_keys(hook, WEBHOOK_KEYS, "webhook")
    assert WEBHOOK_ID_RE.match(hook["webhook_id"]), hook
    assert hook["url"] == receiver.url
    assert hook["events"] == ["checkpoint.saved", "workflow.resumed"]
    assert_ts(hook["created_at"])
    assert "s3cr3t" not in json.dumps(hook)
    listed = _list(server, tkey)
    assert listed == [hook]


def test_register_raw_201_then_list_and_delete(server, tkey, receiver):
    r = server.http("POST", "/webhooks", {"url": receiver.url, "events": ALL_EVENTS},
                    token=tkey)
    a = assert_json(r, 201)
    assert_keys(a, WEBHOOK_KEYS, "webhook")
    b = assert_json(server.http("POST", "/webhooks",
                                {"url": receiver.url_for("/b"), "events": ["workflow.expired"],
                                 "secret": "x" * 256}, token=tkey), 201)
    assert a["webhook_id"] != b["webhook_id"]
    assert sorted(_list(server, tkey), key=lambda h: h["webhook_id"]) == sorted(
        [a, b], key=lambda h: h["webhook_id"])
    for h in _list(server, tkey):
        assert_keys(h, WEBHOOK_KEYS, "listed webhook")
    r = server.http("DELETE", f"/webhooks/{a['webhook_id']}", token=tkey)
    assert r.status == 204, r
    assert r.body == b""
    assert _list(server, tkey) == [b]
    assert_error(server.http("DELETE", f"/webhooks/{a['webhook_id']}", token=tkey), 404,
                 "NOT_FOUND")
    assert_error(server.http("DELETE", "/webhooks/wh_000000000000000000000000", token=tkey),
                 404, "NOT_FOUND")


def test_delete_with_a_json_content_type_and_no_body(server, tkey, receiver):
    # what the JS SDK sends
    hook = server.http("POST", "/webhooks", {"url": receiver.url, "events": ALL_EVENTS},
                       token=tkey).json
    r = server.http("DELETE", f"/webhooks/{hook['webhook_id']}", token=tkey,
                    headers={"Content-Type": "application/json"})
    assert r.status == 204, r


def test_duplicate_events_and_https_urls_are_accepted(server, tkey):
    r = server.http("POST", "/webhooks", {"url": "https://example.com/hook?x=1",
                                          "events": ["checkpoint.saved", "checkpoint.saved"]},
                    token=tkey)
    assert r.status == 201, r
    assert r.json["url"] == "https://example.com/hook?x=1"


BAD_HOOKS = [
    ("missing url", {"events": ["checkpoint.saved"]}),
    ("missing events", {"url": "http://127.0.0.1:9/h"}),
    ("ftp url", {"url": "ftp://example.com/x", "events": ["checkpoint.saved"]}),
    ("not a url", {"url": "not a url", "events": ["checkpoint.saved"]}),
    ("url number", {"url": 5, "events": ["checkpoint.saved"]}),
    ("url too long", {"url": "http://example.com/" + "a" * 2030, "events": ["checkpoint.saved"]}),
    ("events empty", {"url": "http://example.com/h", "events": []}),
    ("events string", {"url": "http://example.com/h", "events": "checkpoint.saved"}),
    ("unknown event", {"url": "http://example.com/h", "events": ["workflow.archived"]}),
    ("one bad event", {"url": "http://example.com/h", "events": ["checkpoint.saved", "x"]}),
    ("secret too long", {"url": "http://example.com/h", "events": ["checkpoint.saved"],
                         "secret": "s" * 257}),
    ("secret number", {"url": "http://example.com/h", "events": ["checkpoint.saved"],
                       "secret": 5}),
    ("unknown key", {"url": "http://example.com/h", "events": ["checkpoint.saved"], "x": 1}),
]


@pytest.mark.parametrize("name,body", BAD_HOOKS, ids=[b[0] for b in BAD_HOOKS])
def test_invalid_webhook_is_400_and_not_registered(server, tkey, name, body):
    r = server.http("POST", "/webhooks", body, token=tkey)
    assert_error(r, 400, "VALIDATION_ERROR")
    assert _list(server, tkey) == []


def test_invalid_webhook_json_is_400(server, tkey):
    for raw in (b"", b"{", b"[]"):
        assert_error(server.http("POST", "/webhooks", raw=raw, token=tkey), 400,
                     "VALIDATION_ERROR")
    assert _list(server, tkey) == []


def test_url_of_exactly_2048_chars_is_accepted(server, tkey):
    url = "http://example.com/" + "a" * (2048 - len("http://example.com/"))
    r = server.http("POST", "/webhooks", {"url": url, "events": ["checkpoint.saved"]}, token=tkey)
    assert r.status == 201, r


# ---------------------------------------------------------------------------
# Deliveries
# ---------------------------------------------------------------------------


def test_checkpoint_saved_delivery_is_signed(server, tclient, receiver):
    secret = "whsec-ünïcode-42"
    hook = tclient.register_webhook(receiver.url, ["checkpoint.saved"], secret=secret)
    wf = new_wf()
    saved = tclient.save(wf, 4, {"a": 1})
    call = wait_deliveries(receiver, 1)[0]
    assert call["path"] == "/hook"
    body = call["json"]
    assert_keys(body, DELIVERY_KEYS, "delivery body")
    assert body["event"] == "checkpoint.saved"
    assert body["webhook_id"] == hook["webhook_id"]
    assert_ts(body["timestamp"])
    assert parse_ts(body["timestamp"]) >= parse_ts(saved.created_at) - 1
    assert body["data"] == {"workflow_id": wf, "checkpoint_id": saved.checkpoint_id, "step": 4}
    h = call["headers"]
    assert h["content-type"].startswith("application/json")
    assert h["user-agent"] == "CheckpointService/1.0"
    assert h["x-checkpoint-signature"] == signature(secret, call["body"])
    settle()
    assert len(receiver.received()) == 1


def test_delivery_without_a_secret_is_unsigned(server, tclient, receiver):
    tclient.register_webhook(receiver.url, ["checkpoint.saved"])
    tclient.save(new_wf(), 1, {"a": 1})
    call = wait_deliveries(receiver, 1)[0]
    assert "x-checkpoint-signature" not in call["headers"]
    assert call["headers"]["user-agent"] == "CheckpointService/1.0"


def test_workflow_resumed_delivery_and_event_filtering(server, tclient, receiver):
    saved_only = receiver.url_for("/saved")
    resumed_only = receiver.url_for("/resumed")
    h_saved = tclient.register_webhook(saved_only, ["checkpoint.saved"])
    h_resumed = tclient.register_webhook(resumed_only, ["workflow.resumed"], secret="k")
    wf = new_wf()
    tclient.save(wf, 1, {"a": 1})
    tclient.save(wf, 7, {"a": 2})
    tclient.save(wf, 3, {"a": 3})  # the most recently saved: resume reports step 3
    wait_until(lambda: len(receiver.received("/saved")) >= 3, desc="3 checkpoint.saved")
    assert tclient.resume(wf).latest_checkpoint.step == 3
    call = wait_until(lambda: receiver.received("/resumed"), desc="workflow.resumed")[0]
    body = call["json"]
    assert_keys(body, DELIVERY_KEYS, "delivery body")
    assert body["event"] == "workflow.resumed"
    assert body["webhook_id"] == h_resumed["webhook_id"]
    assert body["data"] == {"workflow_id": wf, "step": 3}
    assert call["headers"]["x-checkpoint-signature"] == signature("k", call["body"])
    settle()
    saved = receiver.received("/saved")
    assert len(saved) == 3 and len(receiver.received("/resumed")) == 1
    assert sorted(c["json"]["data"]["step"] for c in saved) == [1, 3, 7]
    assert all(c["json"]["event"] == "checkpoint.saved" and
               c["json"]["webhook_id"] == h_saved["webhook_id"] for c in saved)


def test_failed_resume_fires_nothing(server, tkey, tclient, receiver):
    tclient.register_webhook(receiver.url_for("/resumed"), ["workflow.resumed"])
    tclient.register_webhook(receiver.url_for("/saved"), ["checkpoint.saved"])
    assert server.resume_status(new_wf(), token=tkey) == 404
    # a positive signal that the server is delivering, then check nothing else came
    tclient.save(new_wf(), 1, {"a": 1})
    wait_until(lambda: receiver.received("/saved"), desc="checkpoint.saved")
    settle()
    assert receiver.received("/resumed") == []


def test_if_match_replay_and_rejected_saves_fire_nothing(server, tkey, tclient, receiver):
    tclient.register_webhook(receiver.url, ["checkpoint.saved"])
    wf = new_wf()
    one = tclient.save(wf, 1, {"v": 1})
    wait_deliveries(receiver, 1)
    tclient.save(wf, 1, {"v": 1}, if_match=one.etag)                     # replay: 201, no event
    assert server.save(wf, 1, {"v": 2}, token=tkey).status == 409       # conflict
    assert server.save(wf, 2, {"v": 2}, token=tkey, label=1).status == 400  # invalid
    tclient.save(wf, 2, {"v": 2})
    wait_deliveries(receiver, 2)
    settle()
    calls = deliveries(receiver)
    assert sorted(c["json"]["data"]["checkpoint_id"] for c in calls) == [cp_id(wf, 1), cp_id(wf, 2)]


def test_every_matching_webhook_gets_its_own_delivery(server, tclient, receiver):
    a = tclient.register_webhook(receiver.url_for("/a"), ["checkpoint.saved"], secret="sa")
    b = tclient.register_webhook(receiver.url_for("/b"), ALL_EVENTS, secret="sb")
    tclient.save(new_wf(), 1, {"a": 1})
    wait_until(lambda: receiver.received("/a") and receiver.received("/b"), desc="both hooks")
    ca, cb = receiver.received("/a")[0], receiver.received("/b")[0]
    assert ca["json"]["webhook_id"] == a["webhook_id"]
    assert cb["json"]["webhook_id"] == b["webhook_id"]
    assert ca["json"]["data"] == cb["json"]["data"]
    assert ca["headers"]["x-checkpoint-signature"] == signature("sa", ca["body"])
    assert cb["headers"]["x-checkpoint-signature"] == signature("sb", cb["body"])


def test_deleted_webhook_gets_nothing(server, tkey, tclient, receiver):
    gone = tclient.register_webhook(receiver.url_for("/gone"), ["checkpoint.saved"])
    tclient.register_webhook(receiver.url_for("/kept"), ["checkpoint.saved"])
    assert server.http("DELETE", f"/webhooks/{gone['webhook_id']}", token=tkey).status == 204
    tclient.save(new_wf(), 1, {"a": 1})
    wait_until(lambda: receiver.received("/kept"), desc="delivery to the kept hook")
    settle()
    assert receiver.received("/gone") == []


def test_failed_deliveries_are_retried_with_backoff(server, tclient):
    """Hook A always answers 500: 5 attempts, 1, 2, 4 and 8 s apart. Hook B fails twice then
    answers 200: 3 attempts, 1 and 2 s apart, then no more (checked while A is still retrying)."""
    lock = threading.Lock()
    seen = {"/b": 0}

    def respond(call):
        if call["path"] == "/a":
            return 500, b'{"error":"down"}'
        with lock:
            seen["/b"] += 1
            n = seen["/b"]
        return (503, b"{}") if n <= 2 else (200, b"{}")

    with WebhookReceiver(respond) as rx:
        tclient.register_webhook(rx.url_for("/a"), ["checkpoint.saved"], secret="retry")
        tclient.register_webhook(rx.url_for("/b"), ["checkpoint.saved"])
        wf = new_wf()
        tclient.save(wf, 1, {"a": 1})
        a_calls = wait_until(lambda: (lambda c: c if len(c) >= 5 else None)(rx.received("/a")),
                             timeout=25, desc="5 attempts to the failing hook")
        b_calls = rx.received("/b")
        assert len(b_calls) == 3, [c["at"] for c in b_calls]
        for calls, gaps in ((a_calls, [1, 2, 4, 8]), (b_calls, [1, 2])):
            at = [c["at"] for c in calls]
            got = [round(y - x, 2) for x, y in zip(at, at[1:])]
            for g, want in zip(got, gaps):
                assert want * 0.9 <= g <= want + 1.5, f"backoff gaps {got}, want {gaps}"
            for c in calls:
                assert c["json"]["data"] == {"workflow_id": wf, "checkpoint_id": cp_id(wf, 1),
                                            "step": 1}
                assert c["json"]["event"] == "checkpoint.saved"
        for c in a_calls:
            assert c["headers"]["x-checkpoint-signature"] == signature("retry", c["body"])
        # A's 6th attempt would come no earlier than 16 s after the 5th: not waited for here.
        assert len(rx.received("/a")) == 5


def test_unreachable_target_is_retried(server, tclient):
    """Nothing listens on the hook's port at first (connection refused): the delivery is
    retried and arrives once a receiver comes up there."""
    port = free_port()
    tclient.register_webhook(f"http://127.0.0.1:{port}/late", ["checkpoint.saved"], secret="z")
    wf = new_wf()
    t0 = time.monotonic()
    tclient.save(wf, 1, {"a": 1})
    time.sleep(0.4)  # the first attempt is refused (it is made right after the save)
    with WebhookReceiver(port=port) as rx:
        call = wait_until(lambda: rx.received("/late"), timeout=10, desc="a retried delivery")[0]
        assert call["at"] - t0 >= 0.9, "arrived before any backoff: not a retry"
        assert call["json"]["data"] == {"workflow_id": wf, "checkpoint_id": cp_id(wf, 1), "step": 1}
        assert call["headers"]["x-checkpoint-signature"] == signature("z", call["body"])
        settle()
        assert len(rx.received()) == 1
