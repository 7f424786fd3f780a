"""The per-run event log and the SSE stream (contract §1.11)."""

from __future__ import annotations

import pytest

from tbcompat import EVENT_KEYS, PUBLIC_VERSION_KEYS, assert_keys, assert_ts

LIFECYCLE = ["run.created", "run.started", "state.updated", "step.started",
             "step.completed", "run.completed"]


def _simple_run(tide, name="lifecycle"):
    run_ids: list = []

    def workflow(run, input):
        run_ids.append(run.run_id)
        run.state.set({"phase": "start"})
        return run.step("only", lambda: 42)

    assert tide.run(name, workflow, input={"in": 1}) == 42
    return run_ids[0]


def test_simple_lifecycle_events_are_gap_free(tide, server):
    rid = _simple_run(tide)
    events = server.detail(rid)["events"]
    assert [e["type"] for e in events] == LIFECYCLE
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6]
    ids = [e["id"] for e in events]
    assert all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == 6
    for e in events:
        assert_keys(e, EVENT_KEYS, "Event")
        assert e["runId"] == rid
        assert_ts(e["createdAt"])

    created, started, state, step_started, step_completed, completed = events
    assert created["payload"] == {"workflowName": "lifecycle", "input": {"in": 1},
                                  "channels": []}
    detail = server.detail(rid)
    assert set(started["payload"]) == {"leaseOwner"}
    assert isinstance(started["payload"]["leaseOwner"], str)
    assert state["payload"]["value"] == {"phase": "start"}
    assert_keys(state["payload"]["stateVersion"], PUBLIC_VERSION_KEYS, "PublicStateVersion")
    assert state["payload"]["stateVersion"]["version"] == 1
    step = detail["steps"][0]
    assert step_started["payload"]["stepId"] == step["id"]
    assert step_started["payload"]["attempt"] == 1
    assert step_completed["payload"]["stepId"] == step["id"]
    assert completed["payload"] == {"result": 42}


def test_sse_replays_stored_then_pushes_live(tide, server):
    rid = _simple_run(tide, "sse-live")
    with server.sse(f"/runs/{rid}/events?after=0") as stream:
        assert stream.status == 200, stream.body
        assert stream.headers.get("Content-Type", "").startswith("text/event-stream")
        assert stream.headers.get("Cache-Control") == "no-cache"
        stored = [stream.next(timeout=10) for _ in range(6)]
        assert [m["data"]["type"] for m in stored] == LIFECYCLE
        assert [m["data"]["seq"] for m in stored] == [1, 2, 3, 4, 5, 6]
        assert [m["id"] for m in stored] == ["1", "2", "3", "4", "5", "6"]
        for m in stored:
            assert_keys(m["data"], EVENT_KEYS, "Event (SSE)")
            assert m["fields"] == {}  # no event:/retry: lines
        assert stored[0]["data"] == server.detail(rid)["events"][0]

        # A live event written after subscribing arrives next.
        server.ok("PATCH", f"/runs/{rid}/state", {"value": {"live": True}})
        live = stream.next(timeout=10)
        assert live["data"]["type"] == "state.updated"
        assert live["data"]["seq"] == 7
        assert live["id"] == "7"
        assert live["data"]["payload"]["patch"] == {"live": True}

        server.ok("POST", f"/runs/{rid}/usage", {"inputTokens": 1})
        live2 = stream.next(timeout=10)
        assert (live2["data"]["type"], live2["data"]["seq"]) == ("usage.recorded", 8)


def test_sse_after_skips_earlier_events(tide, server):
    rid = _simple_run(tide, "sse-after")
    with server.sse(f"/runs/{rid}/events?after=4") as stream:
        assert stream.status == 200, stream.body
        first = stream.next(timeout=10)
        second = stream.next(timeout=10)
        assert [first["data"]["seq"], second["data"]["seq"]] == [5, 6]
        assert first["data"]["type"] == "step.completed"
        server.ok("POST", f"/runs/{rid}/usage", {"outputTokens": 2})
        assert stream.next(timeout=10)["data"]["seq"] == 7

    # after beyond the end: nothing stored, then live ones only.
    with server.sse(f"/runs/{rid}/events?after=7") as stream:
        server.ok("POST", f"/runs/{rid}/usage", {"outputTokens": 3})
        m = stream.next(timeout=10)
        assert m["data"]["seq"] == 8


def test_sse_with_sdk_subscribe(tide, server):
    rid = _simple_run(tide, "sse-sdk")
    gen = tide.runs.subscribe(rid, after=3)
    try:
        got = [next(gen) for _ in range(3)]
    finally:
        gen.close()
    assert [e["seq"] for e in got] == [4, 5, 6]
    assert [e["type"] for e in got] == LIFECYCLE[3:]


def test_sse_unknown_run_is_an_open_empty_stream(server):
    with server.sse(f"/runs/run_{'0' * 32}/events?after=0") as stream:
        assert stream.status == 200, stream.body
        with pytest.raises(AssertionError, match="no SSE message"):
            stream.next(timeout=0.5)


def test_sse_two_subscribers_both_get_live_events(tide, server):
    rid = _simple_run(tide, "sse-fanout")
    with server.sse(f"/runs/{rid}/events?after=6") as a, \
            server.sse(f"/runs/{rid}/events?after=6") as b:
        assert a.status == b.status == 200
        server.ok("PUT", f"/runs/{rid}/state", {"value": {"x": 1}})
        assert a.next(timeout=10)["data"]["seq"] == 7
        assert b.next(timeout=10)["data"]["seq"] == 7
