"""Forking a workflow (Cairn's extension; SnapState has none): POST /workflows/:id/fork with
{"step", "workflow_id"?} answers 201 with the new workflow's resume shape plus forked_from,
etag and expires_at. The unmodified SDK then resumes, replays, gets and saves on the fork, which
reads its parent's saves up to the step where they are stored. Errors use the protocol's
envelope. A parent that expires (TTL 1 s, sweeper every 200 ms; the test waits for the
workflow.expired delivery, not for time) leaves its forks whole."""

from __future__ import annotations

import pytest
from snapstate_sdk import ConflictError, NotFoundError

from sscompat import (
    ITEM_KEYS,
    RESUME_KEYS,
    assert_error,
    assert_json,
    assert_keys,
    assert_ts,
    cp_id,
    deliveries,
    diff,
    etag_of,
    new_wf,
    size_of,
    wait_until,
)

FORK_KEYS = [*RESUME_KEYS, "forked_from", "etag", "expires_at"]


def fork(server, workflow_id, body, token=None, headers=None):
    kw = {"headers": headers}
    if token is not None:
        kw["token"] = token
    return server.http("POST", f"/workflows/{workflow_id}/fork", body, **kw)


def forked(server, workflow_id, body, **kw):
    return assert_json(fork(server, workflow_id, body, **kw), 201)


def test_a_fork_resumes_replays_and_saves_through_its_parent(server, client):
    parent = new_wf("fork-parent")
    states = [{"n": n} for n in range(1, 6)]
    for n, state in enumerate(states, start=1):
        client.save(parent, n, state, label=f"s{n}")
    child = new_wf("fork-child")
    resp = fork(server, parent, {"step": 3, "workflow_id": child})
    body = assert_json(resp, 201)
    assert_keys(body, FORK_KEYS, "fork response")
    assert body["workflow_id"] == child
    assert body["forked_from"] == {"workflow_id": parent, "step": 3}
    assert body["etag"] == etag_of(states[2]) == resp.headers.get("ETag")
    assert body["total_checkpoints"] == 3
    latest = body["latest_checkpoint"]
    assert_keys(latest, ITEM_KEYS, "latest checkpoint")
    assert (latest["checkpoint_id"], latest["workflow_id"], latest["step"]) == (cp_id(child, 3), child, 3)
    assert latest["state"] == states[2] and latest["label"] == "s3"
    assert_ts(body["expires_at"])

    # The SDK sees the inherited saves under the fork's id.
    resumed = client.resume(child)
    assert resumed.workflow_id == child and resumed.total_checkpoints == 3
    assert resumed.latest_checkpoint.step == 3 and resumed.latest_checkpoint.state == states[2]
    assert resumed.latest_checkpoint.etag == etag_of(states[2])
    page = client.replay(child, limit=2)
    assert [c.step for c in page.checkpoints] == [1, 2] and page.has_more
    assert [c.checkpoint_id for c in page.checkpoints] == [cp_id(child, 1), cp_id(child, 2)]
    rest = client.replay(child, from_step=2, to_step=10)
    assert [c.step for c in rest.checkpoints] == [2, 3] and not rest.has_more
    assert client.get(cp_id(child, 2)).state == states[1]
    with pytest.raises(NotFoundError):
        client.get(cp_id(child, 4))

    # Saving continues at step 4 with the usual etag rules; inherited steps are immutable.
    with pytest.raises(ConflictError):
        client.save(child, 3, {"n": "again"})
    replayed = client.save(child, 3, {"n": "again"}, if_match=etag_of(states[2]))
    assert replayed.checkpoint_id == cp_id(child, 3) and replayed.etag == etag_of(states[2])
    own = client.save(child, 4, {"n": 3, "branch": True})
    assert own.diff_from_previous == diff(added=["branch"])
    assert [c.step for c in client.replay(child).checkpoints] == [1, 2, 3, 4]
    assert client.resume(child).latest_checkpoint.state == {"n": 3, "branch": True}
    # The parent is untouched.
    assert [c.state for c in client.replay(parent).checkpoints] == states

    timeline = server.get_json(f"/analytics/workflows/{child}")
    assert [c["step"] for c in timeline["checkpoints"]] == [1, 2, 3, 4]
    assert timeline["total_size_bytes"] == sum(size_of(s) for s in states[:3]) + size_of(
        {"n": 3, "branch": True})

    # Forks of forks nest; an absent workflow_id is generated.
    grandchild = forked(server, child, {"step": 4})
    assert grandchild["workflow_id"] != child and grandchild["forked_from"] == {"workflow_id": child, "step": 4}
    assert [c.step for c in client.replay(grandchild["workflow_id"]).checkpoints] == [1, 2, 3, 4]


def test_bad_forks_are_refused_in_the_protocol_envelope_and_change_nothing(server, client):
    parent = new_wf("fork-bad")
    client.save(parent, 1, {"a": 1})
    taken = new_wf("fork-taken")
    client.save(taken, 1, {"b": 1})
    target = new_wf("fork-target")
    assert_error(fork(server, new_wf("absent"), {"step": 1, "workflow_id": target}), 404, "NOT_FOUND")
    assert_error(fork(server, parent, {"step": 2, "workflow_id": target}), 404, "NOT_FOUND")
    assert_error(fork(server, parent, {"step": 1, "workflow_id": taken}), 409, "CONFLICT")
    assert_error(fork(server, parent, {"step": 1, "workflow_id": parent}), 409, "CONFLICT")
    for bad in (
        {},
        {"step": -1},
        {"step": "1"},
        {"step": 1.5},
        {"step": 2**63},
        {"step": 9_007_199_254_740_992},
        {"step": 1, "workflow_id": ""},
        {"step": 1, "workflow_id": "x" * 129},
        {"step": 1, "workflow_id": 7},
        {"step": 1, "workflowId": target},
    ):
        assert_error(fork(server, parent, bad), 400, "VALIDATION_ERROR")
    assert_error(server.http("POST", f"/workflows/{parent}/fork", raw=b"{not json"), 400, "VALIDATION_ERROR")
    assert_error(fork(server, parent, {"step": 1, "workflow_id": target}, headers={"X-Checkpoint-TTL": "0"}),
                 400, "VALIDATION_ERROR")
    server.assert_nothing_stored(target, 1)
    assert client.resume(taken).latest_checkpoint.state == {"b": 1}
    # Another tenant sees no such workflow; a read-only key may not fork.
    other = server.tenant("fork-other")
    assert_error(fork(server, parent, {"step": 1}, token=other), 404, "NOT_FOUND")
    reader = server.key("fork-reader-" + new_wf(), "read")
    assert_error(fork(server, parent, {"step": 1}, token=reader), 403, "FORBIDDEN")


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    from sscompat import start_snap_server

    srv = start_snap_server(tmp_path_factory, "fork-ttl", args=("--checkpoint-sweep-ms", "200"))
    yield srv
    srv.stop()


def test_a_parent_that_expires_leaves_its_forks_whole(fast, receiver):
    key = fast.tenant("fork-ttl")
    c = fast.client(key)
    c.register_webhook(receiver.url, ["workflow.expired"])
    parent = new_wf("fork-brief")
    states = [{"n": n} for n in range(1, 4)]
    for n, state in enumerate(states, start=1):
        c.save(parent, n, state, ttl_seconds=1)
    child = forked(fast, parent, {"step": 2}, token=key)["workflow_id"]
    grandchild = forked(fast, child, {"step": 1}, token=key)["workflow_id"]
    wait_until(lambda: deliveries(receiver, "workflow.expired", lambda b: b["data"] == {"workflow_id": parent}),
               timeout=10, desc="the parent's workflow.expired")
    assert fast.resume_status(parent, token=key) == 404
    # The forks' TTLs are their own (the default), and their histories survive the parent.
    assert [x.state for x in c.replay(child).checkpoints] == states[:2]
    assert c.resume(child).latest_checkpoint.state == states[1]
    assert c.get(cp_id(child, 1)).state == states[0]
    assert [x.state for x in c.replay(grandchild).checkpoints] == states[:1]
    assert c.save(child, 3, {"child": 3}).checkpoint_id == cp_id(child, 3)
    assert [x.step for x in c.replay(child).checkpoints] == [1, 2, 3]
    c.close()
