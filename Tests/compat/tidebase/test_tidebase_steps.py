"""Steps: checkpoint, replay on resume, retries, input hashing (contract §1.6)."""

from __future__ import annotations

from collections import Counter

import pytest
from tidebase import TidebaseError

from tbcompat import (
    RESUME_CONTRACT_KEYS,
    RUN_KEYS,
    STEP_KEYS,
    assert_id,
    assert_keys,
    assert_ts,
    stable_hash,
)


def _steps_by_name(detail: dict) -> dict:
    return {s["name"]: s for s in detail["steps"]}


def test_crash_in_step_two_then_resume_replays_step_one(tide, server):
    calls = Counter()
    crash = {"on": True}
    run_ids: list = []

    def fetch():
        calls["fetch"] += 1
        return {"rows": [1, 2, 3]}

    def summarize(rows):
        calls["summarize"] += 1
        if crash["on"]:
            raise RuntimeError("boom in step 2")
        return {"sum": sum(rows)}

    def workflow(run, input):
        run_ids.append(run.run_id)
        data = run.step("fetch", fetch)
        summary = run.step("summarize", lambda: summarize(data["rows"]))
        return {"input": input, "summary": summary}

    with pytest.raises(RuntimeError, match="boom in step 2"):
        tide.run("crash-resume", workflow, input={"q": "x"})
    run_id = run_ids[0]
    assert_id(run_id, "run_")
    assert calls == Counter(fetch=1, summarize=1)

    failed = server.detail(run_id)
    assert failed["run"]["status"] == "failed"
    assert failed["run"]["error"] == {"name": "RuntimeError", "message": "boom in step 2"}
    assert failed["run"]["leaseOwner"] is None
    steps = _steps_by_name(failed)
    assert steps["fetch"]["status"] == "completed"
    assert steps["fetch"]["attempt"] == 1
    assert steps["fetch"]["output"] == {"rows": [1, 2, 3]}
    assert steps["summarize"]["status"] == "failed"
    assert steps["summarize"]["attempt"] == 1
    assert steps["summarize"]["error"]["message"] == "boom in step 2"

    crash["on"] = False
    result = tide.run("crash-resume", workflow, run_id=run_id)
    assert result == {"input": {"q": "x"}, "summary": {"sum": 6}}
    # step 1 replayed from its checkpoint: its function ran exactly once overall
    assert calls == Counter(fetch=1, summarize=2)

    done = server.detail(run_id)
    run = done["run"]
    assert run["status"] == "completed"
    assert run["result"] == result
    assert run["attempt"] == 2
    assert run["error"] is None  # complete clears the earlier failure
    assert run["leaseOwner"] is None and run["leaseExpiresAt"] is None
    assert_ts(run["completedAt"])
    steps = _steps_by_name(done)
    assert [s["name"] for s in done["steps"]] == ["fetch", "summarize"]
    assert steps["fetch"]["attempt"] == 1
    assert steps["summarize"]["attempt"] == 2
    assert steps["summarize"]["status"] == "completed"
    assert steps["summarize"]["output"] == {"sum": 6}
    assert steps["summarize"]["error"] is None

    types = [e["type"] for e in done["events"]]
    assert types == [
        "run.created", "run.started",
        "step.started", "step.completed",
        "step.started", "step.failed",
        "run.failed",
        "run.started",
        "step.started", "step.completed",
        "run.completed",
    ]
    assert [e["seq"] for e in done["events"]] == list(range(1, len(types) + 1))

    # A completed run short-circuits: the SDK returns the stored result, no begin.
    assert tide.run("crash-resume", workflow, run_id=run_id) == result
    assert calls == Counter(fetch=1, summarize=2)


def test_step_shape_and_resume_contract(tide, server):
    run_ids: list = []

    def workflow(run, input):
        run_ids.append(run.run_id)
        return run.step(
            "send-email",
            lambda: {"sent": True},
            input={"to": "a@example.com"},
            side_effects=["email"],
            idempotency_key="mail-1",
            checkpoint_invariant="mail accepted",
            verified_by="smtp-250",
        )

    assert tide.run("step-shape", workflow) == {"sent": True}
    detail = server.detail(run_ids[0])
    assert_keys(detail["run"], RUN_KEYS, "Run")
    (step,) = detail["steps"]
    assert_keys(step, STEP_KEYS, "Step")
    assert_id(step["id"], "step_")
    assert step["runId"] == run_ids[0]
    assert step["inputHash"] == stable_hash({"to": "a@example.com"})
    assert step["input"] == {"to": "a@example.com"}
    assert step["options"]["idempotencyKey"] == "mail-1"
    assert step["status"] == "completed"
    assert step["output"] == {"sent": True}
    assert step["leaseOwner"] is None
    for k in ("startedAt", "completedAt", "createdAt", "updatedAt"):
        assert_ts(step[k])
    rc = step["resumeContract"]
    assert_keys(rc, RESUME_CONTRACT_KEYS, "ResumeContract")
    assert rc == {
        "sideEffects": ["email"],
        "idempotencyKey": "mail-1",
        "replay": "auto",  # side effects with a string idempotencyKey infer auto
        "checkpointInvariant": "mail accepted",
        "verifiedBy": "smtp-250",
        "credentials": [],
    }
    started = [e for e in detail["events"] if e["type"] == "step.started"][0]
    assert started["payload"] == {
        "stepId": step["id"], "name": "send-email", "attempt": 1, "resumeContract": rc,
    }
    completed = [e for e in detail["events"] if e["type"] == "step.completed"][0]
    assert completed["payload"] == {
        "stepId": step["id"], "name": "send-email",
        "checkpointInvariant": "mail accepted", "verifiedBy": "smtp-250",
    }


def test_retries_fail_twice_then_succeed(tide, server):
    attempts = Counter()
    run_ids: list = []

    def flaky():
        attempts["flaky"] += 1
        if attempts["flaky"] <= 2:
            raise ConnectionError(f"transient #{attempts['flaky']}")
        return "ok"

    def workflow(run, input):
        run_ids.append(run.run_id)
        return run.step("flaky", flaky, retries=2)

    assert tide.run("retries", workflow) == "ok"
    assert attempts["flaky"] == 3
    detail = server.detail(run_ids[0])
    (step,) = detail["steps"]
    assert step["status"] == "completed"
    assert step["attempt"] == 3
    assert step["output"] == "ok"
    assert step["options"].get("retries") == 2

    events = detail["events"]
    started = [e["payload"]["attempt"] for e in events if e["type"] == "step.started"]
    assert started == [1, 2, 3]
    failed = [e["payload"] for e in events if e["type"] == "step.failed"]
    assert len(failed) == 2
    for p in failed:
        assert set(p) == {"stepId", "name", "retryable", "resumeDecision", "resumeContract",
                          "error"}
        assert p["error"]["name"] == "ConnectionError"
        assert p["retryable"] is True
        assert p["resumeDecision"] == "auto_retry"
        assert p["name"] == "flaky"
    assert [e["type"] for e in events] == [
        "run.created", "run.started",
        "step.started", "step.failed",
        "step.started", "step.failed",
        "step.started", "step.completed",
        "run.completed",
    ]


def test_retries_exhausted_final_failure_not_retryable(tide, server):
    run_ids: list = []

    def workflow(run, input):
        run_ids.append(run.run_id)
        return run.step("always", lambda: 1 / 0, retries=1)

    with pytest.raises(ZeroDivisionError):
        tide.run("retries-exhausted", workflow)
    detail = server.detail(run_ids[0])
    (step,) = detail["steps"]
    assert step["attempt"] == 2
    assert step["status"] == "failed"  # no side effects: safe_replay -> failed
    failed = [e["payload"] for e in detail["events"] if e["type"] == "step.failed"]
    assert [p["retryable"] for p in failed] == [True, False]
    assert [p["resumeDecision"] for p in failed] == ["auto_retry", "safe_replay"]
    assert detail["run"]["status"] == "failed"


def test_unkeyed_external_write_failure_is_manual_review(tide, server):
    run_ids: list = []
    calls = Counter()
    fail = {"on": True}

    def charge():
        calls["charge"] += 1
        if not fail["on"]:
            return "charged"
        raise RuntimeError("card declined?")

    def workflow(run, input):
        run_ids.append(run.run_id)
        return run.step("charge", charge, side_effects=["payment"])

    with pytest.raises(RuntimeError):
        tide.run("manual-review", workflow)
    detail = server.detail(run_ids[0])
    (step,) = detail["steps"]
    assert step["status"] == "manual_review"
    assert step["resumeContract"]["replay"] == "manual"
    (failed,) = [e["payload"] for e in detail["events"] if e["type"] == "step.failed"]
    assert failed["resumeDecision"] == "manual_review"
    assert failed["retryable"] is False

    # The server does not block manual_review steps: a resume re-executes it.
    fail["on"] = False
    assert tide.run("manual-review", workflow, run_id=run_ids[0]) == "charged"
    assert calls["charge"] == 2
    step = server.detail(run_ids[0])["steps"][0]
    assert (step["status"], step["attempt"]) == ("completed", 2)


def test_input_hash_is_key_order_independent(tide, server):
    calls = Counter()
    crash = {"on": True}
    run_ids: list = []
    step_input = {"a": 1, "b": [1, {"y": 2, "x": 1}], "c": {"z": None, "k": "v"}}

    def workflow(run, input):
        run_ids.append(run.run_id)
        out = run.step(
            "hashed", lambda: calls.update(["hashed"]) or {"n": 1}, input=input["step_input"]
        )
        if crash["on"]:
            raise RuntimeError("crash after the hashed step")
        return out

    with pytest.raises(RuntimeError):
        tide.run("input-hash", workflow, input={"step_input": step_input})
    run_id = run_ids[0]
    step = server.detail(run_id)["steps"][0]
    assert step["inputHash"] == stable_hash(step_input)

    # Same content, every object's keys in a different order: replays.
    reordered = {"c": {"k": "v", "z": None}, "b": [1, {"x": 1, "y": 2}], "a": 1}

    def reordered_workflow(run, input):
        return run.step(
            "hashed", lambda: calls.update(["hashed"]) or {"n": 2}, input=reordered
        )

    crash["on"] = False
    assert tide.run("input-hash", reordered_workflow, run_id=run_id) == {"n": 1}
    assert calls["hashed"] == 1


def test_changed_input_is_input_mismatch(tide, server):
    calls = Counter()
    run_ids: list = []

    def first(run, input):
        run_ids.append(run.run_id)
        run.step("hashed", lambda: calls.update(["first"]) or 1, input={"v": 1})
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        tide.run("input-mismatch", first)
    run_id = run_ids[0]

    def changed(run, input):
        return run.step("hashed", lambda: calls.update(["changed"]) or 2, input={"v": 2})

    # The step is completed, yet the mismatch wins over the replay (checked first).
    with pytest.raises(ValueError, match="input hash changed"):
        tide.run("input-mismatch", changed, run_id=run_id)
    assert calls == Counter(first=1)

    # The raw response shape.
    r = server.http(
        "POST", f"/runs/{run_id}/steps/begin",
        {"name": "hashed", "inputHash": stable_hash({"v": 3}), "input": {"v": 3}},
    )
    assert r.status == 200, r
    body = r.json
    assert body["action"] == "input_mismatch"
    assert body["expectedInputHash"] == stable_hash({"v": 1})
    assert body["actualInputHash"] == stable_hash({"v": 3})
    assert body["step"]["name"] == "hashed"
    assert body["step"]["status"] == "completed"


def test_step_without_input_hashes_null(tide, server):
    run_ids: list = []

    def workflow(run, input):
        run_ids.append(run.run_id)
        return run.step("no-input", lambda: 7)

    assert tide.run("null-hash", workflow) == 7
    step = server.detail(run_ids[0])["steps"][0]
    assert step["inputHash"] == stable_hash(None)
    assert step["input"] == {}  # input ?? {}
    assert step["options"] == {}
    assert step["inputHash"] == "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b"


def test_raw_step_protocol_complete_and_fail_are_fenced(server):
    run = server.ok("POST", "/runs/raw-steps", {"input": {}})["run"]
    rid = run["id"]
    begin = server.ok(
        "POST", f"/runs/{rid}/steps/begin",
        {"name": "s", "inputHash": "h1", "leaseOwner": "owner-a"},
    )
    assert begin["action"] == "execute"
    assert begin["leaseOwner"] == "owner-a"
    step = begin["step"]
    assert step["status"] == "running"
    assert step["attempt"] == 1
    assert step["leaseOwner"] == "owner-a"
    assert_ts(step["leaseExpiresAt"])

    # Another owner while the lease is live: locked.
    locked = server.ok(
        "POST", f"/runs/{rid}/steps/begin",
        {"name": "s", "inputHash": "h1", "leaseOwner": "owner-b"},
    )
    assert locked["action"] == "locked"
    assert locked["step"]["id"] == step["id"]

    # The same owner beginning again re-executes (attempt+1), it is not "locked".
    same = server.ok(
        "POST", f"/runs/{rid}/steps/begin",
        {"name": "s", "inputHash": "h1", "leaseOwner": "owner-a"},
    )
    assert same["action"] == "execute"
    assert same["step"]["attempt"] == 2
    assert same["step"]["id"] == step["id"]

    # Complete with the wrong owner: 409.
    r = server.http("POST", f"/runs/{rid}/steps/{step['id']}/complete",
                    {"leaseOwner": "owner-b", "output": 1})
    assert r.status == 409, r
    assert r.json == {"error": "step not found or lease lost"}

    done = server.ok("POST", f"/runs/{rid}/steps/{step['id']}/complete",
                     {"leaseOwner": "owner-a", "output": {"x": 1}})["step"]
    assert done["status"] == "completed"
    assert done["output"] == {"x": 1}
    assert done["leaseOwner"] is None

    # A second complete fails: the lease is gone.
    r = server.http("POST", f"/runs/{rid}/steps/{step['id']}/complete",
                    {"leaseOwner": "owner-a", "output": 2})
    assert r.status == 409, r

    replay = server.ok(
        "POST", f"/runs/{rid}/steps/begin",
        {"name": "s", "inputHash": "h1", "leaseOwner": "owner-c"},
    )
    assert replay["action"] == "return"
    assert replay["output"] == {"x": 1}

    # Fail with the wrong owner: 409; a retryable fail by the holder frees it.
    b2 = server.ok("POST", f"/runs/{rid}/steps/begin",
                   {"name": "t", "inputHash": "h", "leaseOwner": "o1"})
    r = server.http("POST", f"/runs/{rid}/steps/{b2['step']['id']}/fail",
                    {"leaseOwner": "o2", "error": {"message": "x"}})
    assert r.status == 409, r
    f = server.ok("POST", f"/runs/{rid}/steps/{b2['step']['id']}/fail",
                  {"leaseOwner": "o1", "retryable": True, "error": {"message": "x"}})["step"]
    assert f["status"] == "failed_retryable"
    again = server.ok("POST", f"/runs/{rid}/steps/begin",
                      {"name": "t", "inputHash": "h", "leaseOwner": "o2"})
    assert again["action"] == "execute"
    assert again["step"]["attempt"] == 2


def test_sdk_surfaces_http_errors_as_tidebase_error(tide):
    with pytest.raises(TidebaseError) as info:
        tide.runs.get("run_" + "0" * 32)
    assert info.value.status == 404


def test_step_returning_none_replays_none(tide, server):
    calls = Counter()
    crash = {"on": True}
    run_ids: list = []

    def workflow(run, input):
        run_ids.append(run.run_id)
        first = run.step("nothing", lambda: calls.update(["nothing"]))
        if crash["on"]:
            raise RuntimeError("crash")
        return {"first": first}

    with pytest.raises(RuntimeError):
        tide.run("none-output", workflow)
    crash["on"] = False
    assert tide.run("none-output", workflow, run_id=run_ids[0]) == {"first": None}
    assert calls["nothing"] == 1
    step = server.detail(run_ids[0])["steps"][0]
    assert (step["status"], step["output"]) == ("completed", None)
