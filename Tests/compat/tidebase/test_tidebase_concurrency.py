"""Concurrency over HTTP: first-begin races and gap-free event sequences."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tbcompat import stable_hash


def _race(n, fn):
    barrier = threading.Barrier(n)

    def task(i):
        barrier.wait(timeout=10)
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as ex:
        return list(ex.map(task, range(n), timeout=60))


def test_six_concurrent_first_begins_give_one_execute(server):
    rid = server.ok("POST", "/runs/race-begin", {"input": {}})["run"]["id"]
    h = stable_hash({"k": 1})

    def begin(i):
        return server.http("POST", f"/runs/{rid}/steps/begin",
                           {"name": "contended", "inputHash": h, "input": {"k": 1},
                            "leaseOwner": f"worker-{i}"})

    responses = _race(6, begin)
    assert all(r.status == 200 for r in responses), responses
    actions = Counter(r.json["action"] for r in responses)
    assert actions == Counter(execute=1, locked=5)
    winner = next(r.json for r in responses if r.json["action"] == "execute")
    step_ids = {r.json["step"]["id"] for r in responses}
    assert step_ids == {winner["step"]["id"]}

    detail = server.detail(rid)
    assert len(detail["steps"]) == 1
    assert detail["steps"][0]["attempt"] == 1
    assert detail["steps"][0]["leaseOwner"] == winner["leaseOwner"]
    assert [e["type"] for e in detail["events"]].count("step.started") == 1


def test_many_steps_raced_at_once_each_execute_once(server):
    rid = server.ok("POST", "/runs/race-many", {"input": {}})["run"]["id"]

    def begin(i):
        # 12 callers over 4 step names: each name gets exactly one execute.
        return server.http("POST", f"/runs/{rid}/steps/begin",
                           {"name": f"s{i % 4}", "inputHash": "h", "leaseOwner": f"w{i}"})

    responses = _race(12, begin)
    assert all(r.status == 200 for r in responses), responses
    per_name = Counter()
    for i, r in enumerate(responses):
        if r.json["action"] == "execute":
            per_name[f"s{i % 4}"] += 1
        else:
            assert r.json["action"] == "locked"
    assert per_name == Counter({"s0": 1, "s1": 1, "s2": 1, "s3": 1})
    seqs = [e["seq"] for e in server.detail(rid)["events"]]
    assert seqs == list(range(1, len(seqs) + 1))


def test_eight_concurrent_writes_have_gap_free_seqs(server):
    rid = server.ok("POST", "/runs/race-writes", {"input": {}})["run"]["id"]

    def write(i):
        if i % 2 == 0:
            return server.http("PATCH", f"/runs/{rid}/state", {"value": {f"k{i}": i}})
        return server.http("POST", f"/runs/{rid}/usage",
                           {"inputTokens": i, "outputTokens": 1, "label": f"u{i}"})

    responses = _race(8, write)
    assert all(r.status == 200 for r in responses), responses

    detail = server.detail(rid)
    events = detail["events"]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, 10)), seqs  # 1..9, no gaps, no duplicates
    ids = [e["id"] for e in events]
    assert len(set(ids)) == 9 and ids == sorted(ids)
    assert Counter(e["type"] for e in events) == Counter(
        {"run.created": 1, "state.updated": 4, "usage.recorded": 4})

    # No lost update: every concurrent shallow merge is in the final value,
    # and the state versions are gap-free too.
    assert detail["state"]["value"] == {"k0": 0, "k2": 2, "k4": 4, "k6": 6}
    assert detail["state"]["version"] == 4
    assert [v["version"] for v in detail["stateVersions"]] == [1, 2, 3, 4]
    assert sorted(u["label"] for u in detail["usage"]) == ["u1", "u3", "u5", "u7"]
    versions_in_events = sorted(
        e["payload"]["stateVersion"]["version"] for e in events if e["type"] == "state.updated")
    assert versions_in_events == [1, 2, 3, 4]


def test_concurrent_writes_across_runs_keep_per_run_seqs(server):
    rids = [server.ok("POST", "/runs/race-multi", {"input": {}})["run"]["id"] for _ in range(3)]

    def write(i):
        rid = rids[i % 3]
        return server.http("PATCH", f"/runs/{rid}/state", {"value": {f"w{i}": True}})

    responses = _race(15, write)
    assert all(r.status == 200 for r in responses), responses
    for rid in rids:
        seqs = [e["seq"] for e in server.detail(rid)["events"]]
        assert seqs == list(range(1, 7)), (rid, seqs)


def test_concurrent_gate_resolves_exactly_one_wins(server):
    rid = server.ok("POST", "/runs/race-gate", {"input": {}})["run"]["id"]
    gate = server.ok("POST", f"/runs/{rid}/gates/begin",
                     {"name": "g", "prompt": "p"})["gate"]
    decisions = ["approved", "rejected"] * 3

    def resolve(i):
        return server.http("POST", f"/runs/{rid}/gates/{gate['id']}/resolve",
                           {"token": gate["resolveToken"], "decision": decisions[i],
                            "actor": f"a{i}"})

    responses = _race(6, resolve)
    statuses = Counter(r.status for r in responses)
    assert statuses == Counter({200: 1, 409: 5}), responses
    winner = next(r.json["gate"] for r in responses if r.status == 200)
    final = server.ok("GET", f"/runs/{rid}/gates/{gate['id']}")["gate"]
    assert final["decision"] == winner["decision"]
    assert final["actor"] == winner["actor"]


def test_concurrent_children_same_edge_create_one(server):
    pid = server.ok("POST", "/runs/race-children", {"input": {}})["run"]["id"]

    def child(i):
        return server.http("POST", f"/runs/{pid}/children",
                           {"name": "only-one", "workflowName": "kid"})

    responses = _race(6, child)
    assert all(r.status == 200 for r in responses), responses
    assert sum(1 for r in responses if r.json["created"]) == 1
    assert len({r.json["run"]["id"] for r in responses}) == 1
    assert len(server.detail(pid)["runEdges"]) == 1


def test_concurrent_gate_begins_create_one_gate(server):
    rid = server.ok("POST", "/runs/race-gate-begin", {"input": {}})["run"]["id"]

    def begin(i):
        return server.http("POST", f"/runs/{rid}/gates/begin",
                           {"name": "approve", "prompt": f"prompt {i}"})

    responses = _race(6, begin)
    assert all(r.status == 200 for r in responses), responses
    assert len({r.json["gate"]["id"] for r in responses}) == 1
    detail = server.detail(rid)
    assert len(detail["gates"]) == 1
    assert [e["type"] for e in detail["events"]].count("gate.created") == 1
    gate = detail["gates"][0]
    assert (gate["data"], gate["capability"], gate["channels"]) == ({}, None, [])


def test_live_sse_under_concurrent_writers_is_ordered_and_complete(server):
    """Subscribers opened while writers are busy see every event exactly once, in order."""
    rid = server.ok("POST", "/runs/race-sse", {"input": {}})["run"]["id"]
    n_writes = 40
    streams = []
    try:
        streams.append(server.sse(f"/runs/{rid}/events?after=0"))

        def write(i):
            if i == n_writes // 2:
                # Another subscriber joins mid-burst (replay/live hand-over).
                streams.append(server.sse(f"/runs/{rid}/events?after=0"))
            if i % 2:
                return server.http("POST", f"/runs/{rid}/usage", {"inputTokens": i})
            return server.http("PATCH", f"/runs/{rid}/state", {"value": {f"k{i}": i}})

        with ThreadPoolExecutor(max_workers=8) as ex:
            responses = list(ex.map(write, range(n_writes), timeout=60))
        assert all(r.status == 200 for r in responses), responses

        total = 1 + n_writes
        for stream in streams:
            assert stream.status == 200
            seqs = [stream.next(timeout=10)["data"]["seq"] for _ in range(total)]
            assert seqs == list(range(1, total + 1)), seqs
    finally:
        for stream in streams:
            stream.close()
