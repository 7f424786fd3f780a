"""Analytics computed from stored checkpoints, in one fresh tenant with six workflows:

  wf_a  bot-1  steps 1,2,3   step 3 metadata.status "completed"          -> completed
  wf_b  bot-2  steps 1,2     step 2 metadata.error {type, message}        -> failed, 1 error
  wf_c  bot-1  steps 1,2     step 1 metadata.error "boom" (string)        -> active, 1 error
  wf_d  -      step 1        metadata.status "failed"                     -> failed
  wf_e  -      step 1        resumed once                                 -> active, resumed
  wf_f  -      steps 1,2,3   step 1 metadata.status "completed" only      -> active (latest decides)
"""

from __future__ import annotations

import datetime as dt

import pytest
from snapstate_sdk import NotFoundError

from sscompat import (
    AGENT_ANALYTICS_KEYS,
    FAILURES_KEYS,
    OVERVIEW_KEYS,
    RECENT_FAILURE_KEYS,
    TOP_AGENT_KEYS,
    WF_ANALYTICS_CP_KEYS,
    WF_ANALYTICS_KEYS,
    assert_error,
    assert_json,
    assert_keys,
    assert_ts,
    new_wf,
    parse_ts,
)


class Scenario:
    pass


@pytest.fixture(scope="module")
def sc(server):
    s = Scenario()
    s.key = server.tenant("an")
    c = server.client(s.key)
    c.register_agent("bot-1", "Bot One")
    c.register_agent("bot-2", "Bot Two")
    s.wf = {k: new_wf(f"an-{k}") for k in "abcdef"}
    s.saved = {}

    def save(k, step, state, **kw):
        s.saved[(k, step)] = c.save(s.wf[k], step, state, **kw)

    save("a", 1, {"n": 1}, label="l1", agent_id="bot-1")
    save("a", 2, {"n": 2, "more": "xx"}, label="l2", agent_id="bot-1")
    save("a", 3, {"n": 3}, label="l3", agent_id="bot-1", metadata={"status": "completed"})
    save("b", 1, {"n": 1}, agent_id="bot-2")
    save("b", 2, {"n": 2}, agent_id="bot-2",
         metadata={"error": {"type": "Timeout", "message": "took too long"}})
    save("c", 1, {"n": 1}, agent_id="bot-1", metadata={"error": "boom"})
    save("c", 2, {"n": 2}, agent_id="bot-1")
    save("d", 1, {"n": 1}, metadata={"status": "failed"})
    save("e", 1, {"n": 1})
    save("f", 1, {"n": 1}, metadata={"status": "completed"})
    save("f", 2, {"n": 2})
    save("f", 3, {"n": 3})
    c.resume(s.wf["e"])
    c.close()
    return s


def _get(server, sc, path, status=200):
    r = server.http("GET", path, token=sc.key)
    return assert_json(r, status)


def test_overview(server, sc):
    body = _get(server, sc, "/analytics/overview")
    assert_keys(body, OVERVIEW_KEYS, "overview")
    assert_keys(body["period"], ["start", "end"], "overview period")
    assert isinstance(body["period"]["start"], str) and isinstance(body["period"]["end"], str)
    assert body["total_workflows"] == 6
    assert body["completed_workflows"] == 1
    assert body["failed_workflows"] == 2
    assert body["active_workflows"] == 3
    assert body["total_checkpoints"] == 12
    assert body["avg_steps_per_workflow"] == pytest.approx(2.0, abs=0.01)
    assert isinstance(body["avg_workflow_duration_seconds"], (int, float))
    assert 0 <= body["avg_workflow_duration_seconds"] < 60
    for entry in body["top_agents"]:
        assert_keys(entry, TOP_AGENT_KEYS, "top_agents entry")
    top = sorted((e["agent_id"], e["workflows"], e["avg_steps"]) for e in body["top_agents"])
    assert [t[:2] for t in top] == [("bot-1", 2), ("bot-2", 1)]
    assert top[0][2] == pytest.approx(2.5, abs=0.01)
    assert top[1][2] == pytest.approx(2.0, abs=0.01)


def test_overview_date_filters(server, sc):
    today = dt.datetime.now(dt.timezone.utc).date()
    tomorrow = (today + dt.timedelta(days=2)).isoformat()
    yesterday = (today - dt.timedelta(days=2)).isoformat()
    body = _get(server, sc, f"/analytics/overview?start_date={(today - dt.timedelta(days=1)).isoformat()}")
    assert body["total_workflows"] == 6 and body["total_checkpoints"] == 12
    for query in (f"start_date={tomorrow}", f"end_date={yesterday}"):
        body = _get(server, sc, f"/analytics/overview?{query}")
        assert_keys(body, OVERVIEW_KEYS, "overview")
        assert (body["total_workflows"], body["completed_workflows"], body["failed_workflows"],
                body["active_workflows"], body["total_checkpoints"], body["top_agents"]) == (
            0, 0, 0, 0, 0, []), query


def test_overview_of_an_empty_tenant(server):
    key = server.tenant("an-empty")
    body = assert_json(server.http("GET", "/analytics/overview", token=key), 200)
    assert_keys(body, OVERVIEW_KEYS, "overview")
    assert (body["total_workflows"], body["completed_workflows"], body["failed_workflows"],
            body["active_workflows"], body["total_checkpoints"], body["top_agents"]) == (
        0, 0, 0, 0, 0, [])


def test_workflow_timeline_of_a_completed_workflow(server, sc):
    wf = sc.wf["a"]
    body = _get(server, sc, f"/analytics/workflows/{wf}")
    assert_keys(body, WF_ANALYTICS_KEYS, "workflow analytics")
    saved = [sc.saved[("a", s)] for s in (1, 2, 3)]
    assert body["workflow_id"] == wf
    assert body["total_steps"] == 3
    assert body["total_size_bytes"] == sum(x.size_bytes for x in saved)
    assert body["status"] == "completed"
    assert body["agents_involved"] == ["bot-1"]
    assert body["resumed"] is False
    assert body["error_count"] == 0
    assert body["first_checkpoint_at"] == saved[0].created_at
    assert body["last_checkpoint_at"] == saved[2].created_at
    span = parse_ts(saved[2].created_at) - parse_ts(saved[0].created_at)
    assert isinstance(body["duration_seconds"], (int, float))
    assert abs(body["duration_seconds"] - span) <= 1
    cps = body["checkpoints"]
    assert [c["step"] for c in cps] == [1, 2, 3]
    for i, (c, x) in enumerate(zip(cps, saved)):
        assert_keys(c, WF_ANALYTICS_CP_KEYS, "timeline entry")
        assert c["label"] == f"l{i + 1}"
        assert c["size_bytes"] == x.size_bytes
        assert c["agent_id"] == "bot-1"
        assert c["created_at"] == x.created_at
        if i == 0:
            assert c["time_since_previous_ms"] in (None, 0)
        else:
            want = (parse_ts(x.created_at) - parse_ts(saved[i - 1].created_at)) * 1000
            assert abs(c["time_since_previous_ms"] - want) <= 1, (c, want)


@pytest.mark.parametrize("k,status,errors,agents,steps", [
    ("b", "failed", 1, ["bot-2"], 2),
    ("c", "active", 1, ["bot-1"], 2),
    ("d", "failed", 0, [], 1),
    ("e", "active", 0, [], 1),
    ("f", "active", 0, [], 3),
])
def test_workflow_status_errors_and_agents(server, sc, k, status, errors, agents, steps):
    body = _get(server, sc, f"/analytics/workflows/{sc.wf[k]}")
    assert_keys(body, WF_ANALYTICS_KEYS, "workflow analytics")
    assert (body["status"], body["error_count"], body["agents_involved"], body["total_steps"]) == (
        status, errors, agents, steps)
    assert body["resumed"] is (k == "e")
    assert len(body["checkpoints"]) == steps
    assert body["checkpoints"][0]["agent_id"] == (agents[0] if agents else None)


def test_resume_marks_a_workflow_resumed(server):
    key = server.tenant("an-r")
    wf = new_wf("an-r")
    with server.client(key) as c:
        c.save(wf, 1, {"a": 1})
        assert server.get_json(f"/analytics/workflows/{wf}", token=key)["resumed"] is False
        c.resume(wf)
        assert server.get_json(f"/analytics/workflows/{wf}", token=key)["resumed"] is True
        # a failed resume of another workflow changes nothing
        with pytest.raises(NotFoundError):
            c.resume(new_wf("an-r"))


def test_workflow_analytics_unknown_is_404(server, sc):
    assert_error(server.http("GET", f"/analytics/workflows/{new_wf('none')}", token=sc.key), 404,
                 "NOT_FOUND")
    # another tenant's workflow is unknown too
    other = server.tenant("an-other")
    assert_error(server.http("GET", f"/analytics/workflows/{sc.wf['a']}", token=other), 404,
                 "NOT_FOUND")


def _failure(sc, k, step, agent, etype, msg):
    return {"workflow_id": sc.wf[k], "step": step, "agent_id": agent, "error_type": etype,
            "error_message": msg, "created_at": sc.saved[(k, step)].created_at}


def test_failures(server, sc):
    body = _get(server, sc, "/analytics/failures")
    assert_keys(body, FAILURES_KEYS, "failures")
    assert body["period_days"] == 7
    assert body["total_failures"] == 2
    assert sorted((e["step"], e["count"]) for e in body["failure_by_step"]) == [(1, 1), (2, 1)]
    for e in body["failure_by_step"]:
        assert_keys(e, ["step", "count"], "failure_by_step entry")
    for e in body["failure_by_agent"]:
        assert_keys(e, ["agent_id", "count", "error_rate"], "failure_by_agent entry")
        assert isinstance(e["error_rate"], (int, float)) and 0 <= e["error_rate"] <= 1
    assert sorted((e["agent_id"], e["count"]) for e in body["failure_by_agent"]) == [
        ("bot-1", 1), ("bot-2", 1)]
    for e in body["recent_failures"]:
        assert_keys(e, RECENT_FAILURE_KEYS, "recent failure")
        assert_ts(e["created_at"])
    want = [_failure(sc, "b", 2, "bot-2", "Timeout", "took too long"),
            _failure(sc, "c", 1, "bot-1", "error", "boom")]
    key = lambda e: e["workflow_id"]  # noqa: E731
    assert sorted(body["recent_failures"], key=key) == sorted(want, key=key)


def test_failures_filtered_by_agent_and_days(server, sc):
    body = _get(server, sc, "/analytics/failures?agent_id=bot-2&days=30")
    assert body["period_days"] == 30
    assert body["recent_failures"] == [_failure(sc, "b", 2, "bot-2", "Timeout", "took too long")]
    body = _get(server, sc, "/analytics/failures?agent_id=nobody")
    assert body["recent_failures"] == []


def test_failures_of_an_empty_tenant(server):
    key = server.tenant("an-empty")
    body = assert_json(server.http("GET", "/analytics/failures", token=key), 200)
    assert body == {"period_days": 7, "total_failures": 0, "failure_by_step": [],
                    "failure_by_agent": [], "recent_failures": []}


def test_agents_leaderboard(server, sc):
    body = _get(server, sc, "/analytics/agents")
    assert_keys(body, ["agents"], "analytics agents")
    by_id = {}
    for e in body["agents"]:
        assert_keys(e, AGENT_ANALYTICS_KEYS, "analytics agent")
        by_id[e["agent_id"]] = e
    assert set(by_id) == {"bot-1", "bot-2"}
    one, two = by_id["bot-1"], by_id["bot-2"]
    assert (one["name"], one["total_workflows"], one["active_workflows"], one["total_checkpoints"]) == (
        "Bot One", 2, 1, 5)
    assert one["avg_steps"] == pytest.approx(2.5, abs=0.01)
    assert (two["name"], two["total_workflows"], two["active_workflows"], two["total_checkpoints"]) == (
        "Bot Two", 1, 0, 2)
    assert two["avg_steps"] == pytest.approx(2.0, abs=0.01)
    for e in (one, two):
        assert_ts(e["last_seen_at"])
        assert isinstance(e["avg_duration_seconds"], (int, float)) and e["avg_duration_seconds"] >= 0
        assert isinstance(e["error_rate"], (int, float)) and 0 <= e["error_rate"] <= 1


def test_analytics_is_tenant_scoped(server, sc):
    other = server.tenant("an-other")
    assert server.get_json("/analytics/agents", token=other) == {"agents": []}
    assert server.get_json("/analytics/overview", token=other)["total_workflows"] == 0
    assert server.get_json("/analytics/failures", token=other)["total_failures"] == 0
