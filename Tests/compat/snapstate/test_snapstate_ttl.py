"""TTL: a workflow expires TTL seconds after its latest save (X-Checkpoint-TTL per save, default
7 days). Once expired: resume 404, replay empty, GET checkpoint 404; the sweeper deletes it and
fires workflow.expired. Server: --checkpoint-sweep-ms 200, saves with TTL 1 s."""

from __future__ import annotations

import time

import pytest
from snapstate_sdk import NotFoundError

from sscompat import (
    DELIVERY_KEYS,
    assert_error,
    assert_keys,
    assert_ts,
    cp_id,
    deliveries,
    new_wf,
    parse_ts,
    settle,
    wait_deliveries,
    wait_until,
)


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    from sscompat import start_snap_server

    srv = start_snap_server(tmp_path_factory, "ttl-fast", args=("--checkpoint-sweep-ms", "200"))
    yield srv
    srv.stop()


@pytest.fixture
def hooked(fast, receiver):
    """A fresh tenant with a webhook for workflow.expired (and checkpoint.saved) -> receiver."""
    key = fast.tenant("ttl")
    c = fast.client(key)
    hook = c.register_webhook(receiver.url, ["workflow.expired", "checkpoint.saved"])
    yield key, c, hook
    c.close()


def _expired(receiver, wf):
    return deliveries(receiver, "workflow.expired", lambda b: b["data"].get("workflow_id") == wf)


def test_workflow_expires_after_its_ttl(fast, hooked, receiver):
    key, c, hook = hooked
    wf = new_wf("ttl")
    c.save(wf, 1, {"a": 1}, ttl_seconds=1)
    t_saved = time.monotonic()
    last = c.save(wf, 2, {"a": 2}, ttl_seconds=1)
    # alive right after the save
    rec = fast.get_json(f"/checkpoints/{cp_id(wf, 2)}", token=key)
    assert round(parse_ts(rec["expires_at"]) - parse_ts(rec["created_at"]), 3) == 1
    assert rec["created_at"] == last.created_at
    assert c.resume(wf).total_checkpoints == 2
    # expired: resume 404 (message says "not found"), replay empty, get 404
    wait_until(lambda: fast.resume_status(wf, token=key) == 404, timeout=6,
               desc="resume to be 404 after the TTL")
    assert time.monotonic() - t_saved >= 0.9, "expired before its TTL"
    body = assert_error(fast.http("GET", f"/workflows/{wf}/resume", token=key), 404, "NOT_FOUND")
    assert "not found" in body["error"]["message"].lower()
    with pytest.raises(NotFoundError):
        c.resume(wf)
    res = c.replay(wf)
    assert (res.checkpoints, res.total, res.has_more) == ([], 0, False)
    for step in (1, 2):
        assert_error(fast.http("GET", f"/checkpoints/{cp_id(wf, step)}", token=key), 404,
                     "NOT_FOUND")
        with pytest.raises(NotFoundError):
            c.get(cp_id(wf, step))
    # the sweeper fires workflow.expired once
    call = wait_until(lambda: _expired(receiver, wf), timeout=6, desc="workflow.expired")[0]
    body = call["json"]
    assert_keys(body, DELIVERY_KEYS, "delivery body")
    assert body["event"] == "workflow.expired"
    assert body["webhook_id"] == hook["webhook_id"]
    assert body["data"] == {"workflow_id": wf}
    assert_ts(body["timestamp"])
    assert call["headers"]["user-agent"] == "CheckpointService/1.0"
    settle(0.8)  # four sweeps
    assert len(_expired(receiver, wf)) == 1


def test_expired_workflow_starts_over_on_the_next_save(fast, hooked, receiver):
    key, c, _ = hooked
    wf = new_wf("ttl")
    c.save(wf, 1, {"old": 1}, ttl_seconds=1)
    c.save(wf, 2, {"old": 2}, ttl_seconds=1)
    wait_until(lambda: _expired(receiver, wf), timeout=6, desc="workflow.expired")
    res = c.save(wf, 1, {"new": 1})  # no 409: the old step 1 is gone
    assert res.checkpoint_id == cp_id(wf, 1)
    assert res.diff_from_previous == {"added": ["new"], "removed": [], "changed": []}
    resumed = c.resume(wf)
    assert resumed.total_checkpoints == 1
    assert resumed.workflow_started_at == res.created_at
    assert [x.step for x in c.replay(wf).checkpoints] == [1]


def test_the_latest_save_ttl_governs_the_workflow(fast, hooked, receiver):
    key, c, _ = hooked
    long_lived = new_wf("ttl-long")      # short TTL first, then the default
    short_lived = new_wf("ttl-short")    # default first, then a short TTL
    c.save(long_lived, 1, {"a": 1}, ttl_seconds=1)
    c.save(long_lived, 2, {"a": 2})
    c.save(short_lived, 1, {"a": 1})
    c.save(short_lived, 2, {"a": 2}, ttl_seconds=1)
    wait_until(lambda: _expired(receiver, short_lived), timeout=6, desc="short_lived expired")
    assert fast.resume_status(short_lived, token=key) == 404
    assert fast.http("GET", f"/checkpoints/{cp_id(short_lived, 1)}", token=key).status == 404
    # long_lived's first save had TTL 1 s but its latest save has the default: still alive
    resumed = c.resume(long_lived)
    assert resumed.latest_checkpoint.step == 2 and resumed.total_checkpoints == 2
    assert [x.step for x in c.replay(long_lived).checkpoints] == [1, 2]
    assert _expired(receiver, long_lived) == []


def test_raw_ttl_header_and_expiry_in_another_tenant_is_invisible(fast, receiver):
    key = fast.tenant("ttl-raw")
    watcher = fast.tenant("ttl-watch")
    # the watcher tenant's webhook must not hear about key's workflow expiring
    wc = fast.client(watcher)
    wc.register_webhook(receiver.url_for("/watcher"), ["workflow.expired"])
    wc.close()
    c = fast.client(key)
    c.register_webhook(receiver.url_for("/owner"), ["workflow.expired"])
    wf = new_wf("ttl")
    r = fast.save(wf, 1, {"a": 1}, token=key, headers={"X-Checkpoint-TTL": "1"})
    assert r.status == 201, r
    wait_until(lambda: receiver.received("/owner"), timeout=6, desc="workflow.expired to owner")
    assert receiver.received("/owner")[0]["json"]["data"] == {"workflow_id": wf}
    settle()
    assert receiver.received("/watcher") == []
    c.close()


def test_default_ttl_is_seven_days(fast):
    wf = new_wf("ttl")
    body = fast.saved(wf, 1, {"a": 1})
    rec = fast.get_json(f"/checkpoints/{cp_id(wf, 1)}")
    assert rec["created_at"] == body["created_at"]
    assert round(parse_ts(rec["expires_at"]) - parse_ts(rec["created_at"]), 3) == 604800


def test_expired_webhook_count_is_not_duplicated_by_saves(fast, hooked, receiver):
    """workflow.expired only for workflows that actually expired (not for each checkpoint)."""
    key, c, _ = hooked
    wf = new_wf("ttl")
    for s in range(1, 4):
        c.save(wf, s, {"s": s}, ttl_seconds=1)
    wait_deliveries(receiver, 3, "checkpoint.saved",
                    lambda b: b["data"]["workflow_id"] == wf)
    wait_until(lambda: _expired(receiver, wf), timeout=6, desc="workflow.expired")
    settle(0.8)
    assert len(_expired(receiver, wf)) == 1
