"""Children and fan-out as child runs joined by a checkpointed step (contract §1.8)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from tbcompat import EDGE_KEYS, RUN_KEYS, assert_id, assert_keys, assert_ts


def _child_runs_of(server, parent_id):
    return [r for r in server.ok("GET", "/runs")["runs"]
            if (r.get("metadata") or {}).get("parentRunId") == parent_id]


def test_fanout_children_join_and_idempotent_resume(tide, server):
    lock = threading.Lock()
    child_calls = Counter()
    crash = {"on": True}
    parent_ids: list = []

    def child_workflow(run, input):
        with lock:
            child_calls[input["n"]] += 1
        return run.step("work", lambda: {"n": input["n"], "square": input["n"] ** 2})

    def parent(run, input):
        parent_ids.append(run.run_id)
        results = run.fanout("squares", [
            {"name": f"sq-{n}", "workflow_name": "square-child", "workflow": child_workflow,
             "input": {"n": n}}
            for n in (1, 2, 3)
        ])
        if crash["on"]:
            raise RuntimeError("crash after the join")
        return {"results": results}

    with pytest.raises(RuntimeError, match="crash after the join"):
        tide.run("fanout-parent", parent, input={})
    pid = parent_ids[0]
    assert child_calls == Counter({1: 1, 2: 1, 3: 1})

    detail = server.detail(pid)
    edges = detail["runEdges"]
    assert len(edges) == 3
    for e in edges:
        assert_keys(e, EDGE_KEYS, "RunEdge")
        assert_id(e["id"], "edge_")
        assert e["parentRunId"] == pid
        assert e["edgeType"] == "fanout"
        assert e["metadata"] == {"fanout": "squares"}
        assert_ts(e["createdAt"])
    assert sorted(e["name"] for e in edges) == ["sq-1", "sq-2", "sq-3"]

    children = detail["childRuns"]
    assert len(children) == 3
    assert [c["id"] for c in children] == [e["childRunId"] for e in edges]  # edge order
    for c in children:
        assert_keys(c, RUN_KEYS, "Run (child)")
        assert c["workflowName"] == "square-child"
        assert c["status"] == "completed"
        assert c["metadata"]["parentRunId"] == pid
        assert c["metadata"]["parentEdgeName"] in {"sq-1", "sq-2", "sq-3"}
        assert c["queue"] is None and c["deadlineAt"] is None

    join = next(s for s in detail["steps"] if s["name"] == "join:squares")
    assert join["status"] == "completed"
    assert join["input"] == {"fanout": "squares", "join": "all",
                             "children": ["sq-1", "sq-2", "sq-3"]}
    assert join["resumeContract"]["replay"] == "auto"
    assert join["resumeContract"]["checkpointInvariant"] == "all child run results were collected"
    expected = [{"n": n, "square": n * n} for n in (1, 2, 3)]
    assert join["output"] == expected

    created = [e for e in detail["events"] if e["type"] == "run.child.created"]
    assert len(created) == 3
    for e in created:
        assert set(e["payload"]) == {"childRun", "edge"}

    # A child's own log starts with run.created carrying its parent and edge.
    child_detail = server.detail(children[0]["id"])
    first = child_detail["events"][0]
    assert first["type"] == "run.created"
    assert first["payload"]["parentRunId"] == pid
    assert first["payload"]["edgeName"] == children[0]["metadata"]["parentEdgeName"]

    n_children_before = len(_child_runs_of(server, pid))
    assert n_children_before == 3

    # Resume: children are found by edge name (created:false), already completed,
    # so they are not run again; the join step replays.
    crash["on"] = False
    result = tide.run("fanout-parent", parent, run_id=pid)
    assert result == {"results": expected}
    assert child_calls == Counter({1: 1, 2: 1, 3: 1})
    after = server.detail(pid)
    assert len(after["runEdges"]) == 3
    assert [e["id"] for e in after["runEdges"]] == [e["id"] for e in edges]
    assert len(_child_runs_of(server, pid)) == 3
    assert [e["type"] for e in after["events"]].count("run.child.created") == 3
    join_after = next(s for s in after["steps"] if s["name"] == "join:squares")
    assert join_after["attempt"] == 1
    assert after["run"]["status"] == "completed"


def test_child_run(tide, server):
    calls = Counter()
    parent_ids: list = []

    def child(run, input):
        calls["child"] += 1
        return run.step("inner", lambda: {"got": input})

    def parent(run, input):
        parent_ids.append(run.run_id)
        out = run.child("kid-workflow", child, name="kid", input={"q": 1},
                        metadata={"team": "x"})
        again = run.child("kid-workflow", child, name="kid", input={"q": 1})
        return {"out": out, "again": again}

    result = tide.run("child-parent", parent, input={})
    assert result == {"out": {"got": {"q": 1}}, "again": {"got": {"q": 1}}}
    assert calls["child"] == 1  # the second call found the completed child by edge name

    detail = server.detail(parent_ids[0])
    (edge,) = detail["runEdges"]
    assert edge["name"] == "kid"
    assert edge["edgeType"] == "child"
    assert edge["metadata"] == {}
    (kid,) = detail["childRuns"]
    assert kid["id"] == edge["childRunId"]
    assert kid["workflowName"] == "kid-workflow"
    assert kid["input"] == {"q": 1}
    assert kid["metadata"] == {"team": "x", "parentRunId": parent_ids[0], "parentEdgeName": "kid"}
    assert kid["status"] == "completed"
    assert kid["result"] == {"got": {"q": 1}}


def test_children_endpoint_raw(server):
    parent = server.ok("POST", "/runs/raw-parent", {"input": {}})["run"]
    pid = parent["id"]
    first = server.ok("POST", f"/runs/{pid}/children",
                      {"name": "c", "workflowName": "w1", "input": {"a": 1},
                       "edgeType": "custom", "edgeMetadata": {"m": 1}})
    assert set(first) == {"run", "edge", "created"}
    assert first["created"] is True
    assert first["run"]["status"] == "pending"
    assert first["edge"]["edgeType"] == "custom"
    assert first["edge"]["metadata"] == {"m": 1}
    # Same edge name: the existing child, workflowName not compared.
    second = server.ok("POST", f"/runs/{pid}/children",
                       {"name": "c", "workflowName": "other"})
    assert second["created"] is False
    assert second["run"]["id"] == first["run"]["id"]
    assert second["edge"]["id"] == first["edge"]["id"]

    r = server.http("POST", f"/runs/run_{'0' * 32}/children", {"name": "c", "workflowName": "w"})
    assert r.status == 404, r
    assert r.json == {"error": "parent run not found"}


def test_wide_fanout(tide, server):
    parent_ids: list = []

    def child(run, input):
        return run.step("w", lambda: input["i"] * 3)

    def parent(run, input):
        parent_ids.append(run.run_id)
        return run.fanout("wide", [
            {"name": f"c{i:02d}", "workflow_name": "wide-child", "workflow": child,
             "input": {"i": i}} for i in range(16)
        ])

    assert tide.run("wide-parent", parent, input={}) == [i * 3 for i in range(16)]
    detail = server.detail(parent_ids[0])
    assert len(detail["runEdges"]) == 16
    assert len({e["childRunId"] for e in detail["runEdges"]}) == 16
    assert all(c["status"] == "completed" for c in detail["childRuns"])
    seqs = [e["seq"] for e in detail["events"]]
    assert seqs == list(range(1, len(seqs) + 1))
