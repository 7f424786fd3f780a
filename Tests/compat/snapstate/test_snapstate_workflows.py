"""GET /workflows/{id}/resume and /replay with the SDK and raw HTTP: the latest checkpoint is the
most recently saved one, counts and timestamps, 404 for unknown workflows, and replay's inclusive
step filter applied before the limit, insertion order, total and has_more."""

from __future__ import annotations

import json

import pytest
from snapstate_sdk import NotFoundError, WorkflowReplay, WorkflowResume

from sscompat import (
    ITEM_KEYS,
    REPLAY_KEYS,
    RESUME_KEYS,
    assert_error,
    assert_json,
    assert_keys,
    cp_id,
    etag_of,
    new_wf,
    size_of,
)


def _save_steps(server, wf, steps, **kw):
    return {s: server.saved(wf, s, {"step": s, "data": "d" * s}, **kw) for s in steps}


# ---------------------------------------------------------------------------
# resume
# ---------------------------------------------------------------------------


def test_resume_shape_and_values(server):
    wf = new_wf()
    saved = _save_steps(server, wf, [1, 2])
    third_state = {"result": ["a", "b"], "n": 3}
    third = server.saved(wf, 3, third_state, label="done", metadata={"model": "m"},
                         agent_id="bot-r")
    body = assert_json(server.http("GET", f"/workflows/{wf}/resume"), 200)
    assert_keys(body, RESUME_KEYS, "resume body")
    assert body["workflow_id"] == wf
    latest = body["latest_checkpoint"]
    assert_keys(latest, ITEM_KEYS, "latest_checkpoint")
    assert latest == {
        "checkpoint_id": cp_id(wf, 3), "workflow_id": wf, "step": 3, "label": "done",
        "state": third_state, "metadata": {"model": "m", "agent_id": "bot-r"},
        "etag": etag_of(third_state), "size_bytes": size_of(third_state),
        "created_at": third["created_at"],
    }
    assert body["total_checkpoints"] == 3
    assert body["workflow_started_at"] == saved[1]["created_at"]
    assert body["last_activity_at"] == third["created_at"]


def test_resume_without_metadata_or_label(server):
    wf = new_wf()
    server.saved(wf, 1, {"a": 1})
    latest = server.get_json(f"/workflows/{wf}/resume")["latest_checkpoint"]
    assert latest["metadata"] == {}
    assert latest["label"] is None


def test_resume_empty_label_is_null(server):
    wf = new_wf()
    server.saved(wf, 1, {"a": 1}, label="")
    assert server.get_json(f"/workflows/{wf}/resume")["latest_checkpoint"]["label"] is None


def test_resume_latest_is_the_most_recently_saved_not_the_highest_step(server, client):
    wf = new_wf()
    client.save(wf, 5, {"at": 5})
    client.save(wf, 10, {"at": 10})
    last = client.save(wf, 2, {"at": 2})
    res = client.resume(wf)
    assert res.latest_checkpoint.step == 2
    assert res.latest_checkpoint.state == {"at": 2}
    assert res.latest_checkpoint.checkpoint_id == last.checkpoint_id
    assert res.total_checkpoints == 3
    assert res.last_activity_at == last.created_at


def test_resume_with_the_sdk(client):
    wf = new_wf()
    first = client.save(wf, 1, {"a": 1})
    second = client.save(wf, 2, {"a": 2, "b": [1]}, label="two", metadata={"x": 1},
                         agent_id="agent-7")
    res = client.resume(wf)
    assert isinstance(res, WorkflowResume)
    assert res.workflow_id == wf
    assert res.total_checkpoints == 2
    assert res.workflow_started_at == first.created_at
    assert res.last_activity_at == second.created_at
    cp = res.latest_checkpoint
    assert (cp.checkpoint_id, cp.workflow_id, cp.step, cp.label) == (second.checkpoint_id, wf, 2, "two")
    assert cp.state == {"a": 2, "b": [1]}
    assert cp.metadata == {"x": 1, "agent_id": "agent-7"}
    assert cp.agent_id == "agent-7"
    assert cp.etag == second.etag and cp.size_bytes == second.size_bytes
    assert cp.created_at == second.created_at


def test_resume_unknown_workflow_is_404_not_found(server, client):
    wf = new_wf("never-saved")
    body = assert_error(server.http("GET", f"/workflows/{wf}/resume"), 404, "NOT_FOUND")
    assert "not found" in body["error"]["message"].lower()
    with pytest.raises(NotFoundError) as exc:
        client.resume(wf)
    assert exc.value.status_code == 404 and exc.value.code == "NOT_FOUND"
    assert "not found" in str(exc.value).lower()


def test_total_checkpoints_counts_new_saves_only(server, client):
    wf = new_wf()
    one = client.save(wf, 1, {"v": 1})
    client.save(wf, 2, {"v": 2})
    assert server.save(wf, 2, {"v": 3}).status == 409
    client.save(wf, 1, {"v": 9}, if_match=one.etag)
    assert server.save(wf, 3, {"v": 1}, label=5).status == 400
    assert client.resume(wf).total_checkpoints == 2


# ---------------------------------------------------------------------------
# replay
# ---------------------------------------------------------------------------


def test_replay_shape_and_items(server):
    wf = new_wf()
    saved = _save_steps(server, wf, [1, 2, 3])
    page = assert_json(server.http("GET", f"/workflows/{wf}/replay"), 200)
    assert_keys(page, REPLAY_KEYS, "replay body")
    assert page["workflow_id"] == wf
    assert page["total"] == 3 and page["has_more"] is False
    for item, step in zip(page["checkpoints"], [1, 2, 3]):
        assert_keys(item, ITEM_KEYS, "replay item")
        state = {"step": step, "data": "d" * step}
        assert item == {
            "checkpoint_id": cp_id(wf, step), "workflow_id": wf, "step": step, "label": None,
            "state": state, "metadata": {}, "etag": etag_of(state), "size_bytes": size_of(state),
            "created_at": saved[step]["created_at"],
        }


def test_replay_unknown_workflow_is_an_empty_page(server, client):
    wf = new_wf("never-saved")
    page = server.get_json(f"/workflows/{wf}/replay")
    assert page == {"workflow_id": wf, "checkpoints": [], "total": 0, "has_more": False}
    res = client.replay(wf, from_step=1, to_step=5, limit=10)
    assert (res.workflow_id, res.checkpoints, res.total, res.has_more) == (wf, [], 0, False)


@pytest.fixture(scope="module")
def ten(server):
    """A workflow with steps 1..10 saved in order."""
    wf = new_wf("ten")
    _save_steps(server, wf, range(1, 11))
    return wf


@pytest.mark.parametrize("params,steps,has_more", [
    ({}, list(range(1, 11)), False),
    ({"from_step": 3, "to_step": 7}, [3, 4, 5, 6, 7], False),
    ({"from_step": 3}, [3, 4, 5, 6, 7, 8, 9, 10], False),
    ({"to_step": 4}, [1, 2, 3, 4], False),
    ({"limit": 2}, [1, 2], True),
    ({"limit": 10}, list(range(1, 11)), False),
    ({"limit": 9}, list(range(1, 10)), True),
    ({"from_step": 3, "to_step": 7, "limit": 5}, [3, 4, 5, 6, 7], False),
    ({"from_step": 3, "to_step": 7, "limit": 4}, [3, 4, 5, 6], True),
    # the filter comes before the limit: later steps stay reachable
    ({"from_step": 8, "limit": 2}, [8, 9], True),
    ({"from_step": 9, "limit": 2}, [9, 10], False),
    ({"from_step": 10, "to_step": 10}, [10], False),
    ({"from_step": 7, "to_step": 3}, [], False),
    ({"from_step": 11}, [], False),
    ({"from_step": 0, "to_step": 0}, [], False),
])
def test_replay_filters_then_limits(client, ten, params, steps, has_more):
    res = client.replay(ten, **params)
    assert isinstance(res, WorkflowReplay)
    assert res.workflow_id == ten
    assert [c.step for c in res.checkpoints] == steps
    assert res.total == len(steps)
    assert res.has_more is has_more
    for c in res.checkpoints:
        assert c.workflow_id == ten and c.checkpoint_id == cp_id(ten, c.step)
        assert c.state == {"step": c.step, "data": "d" * c.step}
        assert c.etag == etag_of(c.state) and c.size_bytes == size_of(c.state)


def test_replay_is_in_insertion_order_not_step_order(client):
    wf = new_wf()
    for s in (5, 1, 3, 20, 2):
        client.save(wf, s, {"s": s})
    assert [c.step for c in client.replay(wf).checkpoints] == [5, 1, 3, 20, 2]
    assert [c.step for c in client.replay(wf, from_step=2).checkpoints] == [5, 3, 20, 2]
    assert [c.step for c in client.replay(wf, to_step=3, limit=2).checkpoints] == [1, 3]
    res = client.replay(wf, from_step=2, to_step=5, limit=2)
    assert [c.step for c in res.checkpoints] == [5, 3] and res.has_more is True


def test_replay_default_limit_is_100(server):
    wf = new_wf("many")
    for s in range(101):
        r = server.http("POST", "/checkpoints",
                        raw=json.dumps({"workflow_id": wf, "step": s, "state": {"s": s}}).encode())
        assert r.status == 201, r
    page = server.get_json(f"/workflows/{wf}/replay")
    assert page["total"] == 100 and page["has_more"] is True
    assert [c["step"] for c in page["checkpoints"]] == list(range(100))
    page = server.get_json(f"/workflows/{wf}/replay?from_step=1")
    assert page["total"] == 100 and page["has_more"] is False
    assert page["checkpoints"][-1]["step"] == 100
    page = server.get_json(f"/workflows/{wf}/replay?limit=1000")
    assert page["total"] == 101 and page["has_more"] is False


def test_replay_after_an_if_match_replay_has_no_duplicate(client):
    wf = new_wf()
    one = client.save(wf, 1, {"v": 1})
    client.save(wf, 1, {"v": 1}, if_match=one.etag)
    res = client.replay(wf)
    assert [c.step for c in res.checkpoints] == [1] and res.total == 1
