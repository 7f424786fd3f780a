"""Forks of runs (Cairn's extension): `POST /runs/:id/fork {"step": NAME}` makes a run that the
unchanged Tidebase SDK executes by id; the parent's steps up to NAME replay, the rest run."""

from __future__ import annotations

from collections import Counter

import pytest

from tbcompat import assert_id


def workflow_counting(calls: Counter, variant: str, run_ids: list):
    def workflow(run, input):
        run_ids.append(run.run_id)
        out = []
        for name in ("a", "b", "c"):
            def body(name=name):
                calls[name] += 1
                return f"{variant}-{name}"
            out.append(run.step(name, body))
        return out
    return workflow


def test_a_fork_replays_up_to_its_step_and_runs_the_rest(tide, server):
    first_calls, run_ids = Counter(), []
    result = tide.run("fork-demo", workflow_counting(first_calls, "orig", run_ids), input={"q": 1})
    assert result == ["orig-a", "orig-b", "orig-c"]
    parent = run_ids[0]

    r = server.http("POST", f"/runs/{parent}/fork", {"step": "b"})
    assert r.status == 201, r.text
    fork = r.json["run"]["id"]
    assert_id(fork, "run_")
    assert r.json["run"]["status"] == "pending" and r.json["run"]["workflowName"] == "fork-demo"
    assert r.json["forkedFrom"]["runId"] == parent and r.json["forkedFrom"]["step"] == "b"

    fork_calls = Counter()
    result = tide.run("fork-demo", workflow_counting(fork_calls, "fork", []), run_id=fork)
    assert result == ["orig-a", "orig-b", "fork-c"]
    assert fork_calls == Counter(c=1)
    detail = server.detail(fork)
    assert detail["run"]["status"] == "completed"
    assert detail["forkedFrom"]["runId"] == parent
    assert [s["name"] for s in detail["steps"]] == ["c"]
    assert "forkedFrom" not in server.detail(parent)


@pytest.mark.parametrize("body, status", [
    ({"step": "missing"}, 400),
    ({}, 400),
    ({"step": 5}, 400),
])
def test_bad_forks_are_refused(tide, server, body, status):
    run_ids = []
    tide.run("fork-refusals", workflow_counting(Counter(), "x", run_ids), input={})
    r = server.http("POST", f"/runs/{run_ids[0]}/fork", body)
    assert r.status == status, r.text


def test_forking_an_unknown_run_is_404(server):
    r = server.http("POST", f"/runs/run_{'0' * 32}/fork", {"step": "a"})
    assert r.status == 404
