"""State, versions, snapshots (contract §1.9) and the usage ledger (§1.10)."""

from __future__ import annotations

import pytest
from tidebase import TidebaseError

from tbcompat import (
    PUBLIC_VERSION_KEYS,
    STATE_KEYS,
    STREAM_KEYS,
    USAGE_KEYS,
    VERSION_KEYS,
    assert_id,
    assert_keys,
    assert_ts,
)


def _session(tide, name):
    return tide.runs.attach(name, input={}, heartbeat_s=None)


def test_state_set_patch_save_versions(tide, server):
    s = _session(tide, "state-basic")
    rid = s.run_id

    r1 = s.state.set({"status": "planning", "progress": 0.1, "nested": {"a": 1}})
    assert set(r1) == {"state"}
    st = r1["state"]
    assert_keys(st, STATE_KEYS, "State")
    assert st["runId"] == rid
    assert st["value"] == {"status": "planning", "progress": 0.1, "nested": {"a": 1}}
    assert st["version"] == 1
    assert_ts(st["updatedAt"])

    # PATCH is a shallow (top-level) merge: "nested" is replaced, not merged.
    st2 = s.state.patch({"progress": 0.5, "nested": {"b": 2}, "extra": True})["state"]
    assert st2["value"] == {"status": "planning", "progress": 0.5,
                            "nested": {"b": 2}, "extra": True}
    assert st2["version"] == 2

    saved = s.state.save("after-plan", reason="plan done", created_by="tester")
    assert set(saved) == {"stateVersion"}
    sv = saved["stateVersion"]
    assert_keys(sv, VERSION_KEYS, "StateVersion (save)")
    assert_id(sv["id"], "ver_")
    assert sv["runId"] == rid
    assert sv["stepId"] is None
    assert sv["version"] == 3
    assert sv["value"] == st2["value"]
    assert sv["patch"] is None
    assert sv["label"] == "after-plan"
    assert sv["reason"] == "plan done"
    assert sv["importance"] == "milestone"
    assert sv["createdBy"] == "tester"
    assert_ts(sv["createdAt"])

    st4 = s.state.set({"status": "done"}, importance="checkpoint", label="final")["state"]
    # save records a stream version but leaves run_state.version alone.
    assert st4["version"] == 3
    assert st4["value"] == {"status": "done"}

    versions = s.state.versions()
    for v in versions:
        assert_keys(v, VERSION_KEYS, "StateVersion (list)")
    assert [v["version"] for v in versions] == [1, 2, 3, 4]  # gap-free
    assert len({v["streamId"] for v in versions}) == 1
    assert [v["patch"] for v in versions] == [
        None, {"progress": 0.5, "nested": {"b": 2}, "extra": True}, None, None,
    ]
    assert versions[0]["value"] == r1["state"]["value"]
    assert versions[1]["value"] == st2["value"]
    assert [v["importance"] for v in versions] == ["normal", "normal", "milestone", "checkpoint"]
    assert [v["label"] for v in versions] == [None, None, "after-plan", "final"]

    labeled = s.state.versions(labeled=True)
    assert [v["label"] for v in labeled] == ["after-plan", "final"]
    # Only the exact string "true" filters.
    assert len(s.state.versions(labeled=False)) == 4
    assert [v["version"] for v in s.state.versions(stream="run")] == [1, 2, 3, 4]
    assert s.state.versions(stream="no-such-stream") == []

    detail = server.detail(rid)
    assert detail["state"] == {"runId": rid, "value": {"status": "done"},
                               "version": 3, "updatedAt": detail["state"]["updatedAt"]}
    (stream,) = detail["stateStreams"]
    assert_keys(stream, STREAM_KEYS, "StateStream")
    assert_id(stream["id"], "stream_")
    assert stream["name"] == "run"
    assert stream["targetType"] == "run"
    assert stream["targetId"] == rid
    assert stream["currentVersion"] == 4
    assert stream["currentValue"] == {"status": "done"}
    assert stream["id"] == versions[0]["streamId"]
    assert detail["stateVersions"] == versions

    events = [e for e in detail["events"] if e["type"].startswith("state.")]
    assert [e["type"] for e in events] == [
        "state.updated", "state.updated", "state.saved", "state.updated",
    ]
    put_ev, patch_ev, save_ev, _ = events
    assert set(put_ev["payload"]) == {"value", "stateVersion"}
    assert put_ev["payload"]["value"] == r1["state"]["value"]
    assert set(patch_ev["payload"]) == {"value", "patch", "stateVersion"}
    assert patch_ev["payload"]["value"] == st2["value"]
    assert patch_ev["payload"]["patch"] == {"progress": 0.5, "nested": {"b": 2}, "extra": True}
    assert set(save_ev["payload"]) == {"stateVersion"}
    for e in events:
        assert_keys(e["payload"]["stateVersion"], PUBLIC_VERSION_KEYS, "PublicStateVersion")
    assert save_ev["payload"]["stateVersion"]["label"] == "after-plan"
    assert save_ev["payload"]["stateVersion"]["id"] == sv["id"]
    s.complete("ok")


def test_patch_without_prior_state_inserts(tide):
    s = _session(tide, "state-patch-first")
    st = s.state.patch({"a": 1})["state"]
    assert st["value"] == {"a": 1}
    assert st["version"] == 1
    s.complete(None)


def test_save_without_state_is_404(tide):
    s = _session(tide, "state-save-empty")
    with pytest.raises(TidebaseError) as info:
        s.state.save("nothing-yet")
    assert info.value.status == 404
    assert '"run state not found"' in info.value.body
    s.complete(None)


def test_named_stream_versions(tide, server):
    s = _session(tide, "state-streams")
    rid = s.run_id
    s.state.set({"v": 1})
    st = s.state.set({"draft": "a"}, stream="draft")["state"]
    # [quirk] a named stream still overwrites the run-level state.
    assert st["value"] == {"draft": "a"}
    assert st["version"] == 2
    s.state.patch({"more": 1}, stream="draft")
    draft = s.state.versions(stream="draft")
    assert [v["version"] for v in draft] == [1, 2]
    assert draft[1]["value"] == {"draft": "a", "more": 1}
    assert [v["version"] for v in s.state.versions(stream="run")] == [1]
    saved = s.state.save("draft-done", stream="draft")["stateVersion"]
    assert saved["version"] == 3
    assert saved["value"] == {"draft": "a", "more": 1}
    names = [x["name"] for x in server.detail(rid)["stateStreams"]]
    assert sorted(names) == ["draft", "run"]
    s.complete(None)


def test_snapshots_create_and_list(tide, server):
    s = _session(tide, "snapshots")
    rid = s.run_id
    s.state.set({"doc": "v1"})
    s.state.save("saved-v1")

    snap = s.snapshots.create("before-edit", {"doc": "v1", "cursor": 3},
                              reason="pre-edit", metadata={"by": "agent"},
                              created_by="agent-7")
    assert set(snap) == {"snapshot"}
    sv = snap["snapshot"]
    assert_keys(sv, VERSION_KEYS, "StateVersion (snapshot)")
    assert_id(sv["id"], "ver_")
    assert sv["version"] == 1
    assert sv["value"] == {"doc": "v1", "cursor": 3}
    assert sv["label"] == "before-edit"
    assert sv["importance"] == "milestone"
    assert sv["reason"] == "pre-edit"
    assert sv["metadata"] == {"by": "agent"}
    assert sv["createdBy"] == "agent-7"
    assert sv["patch"] is None

    t1 = s.snapshots.create("doc-a", {"a": 1}, target={"type": "doc", "id": "d1"})["snapshot"]
    t2 = s.snapshots.create("doc-b", {"a": 2}, target={"type": "doc", "id": "d1"})["snapshot"]
    assert (t1["version"], t2["version"]) == (1, 2)
    assert t1["streamId"] == t2["streamId"] != sv["streamId"]

    listed = s.snapshots.list()
    for v in listed:
        assert_keys(v, VERSION_KEYS, "StateVersion (snapshots list)")
    assert sorted(v["label"] for v in listed) == ["before-edit", "doc-a", "doc-b", "saved-v1"]
    stamps = [v["createdAt"] for v in listed]
    assert stamps == sorted(stamps, reverse=True)  # created_at desc

    streams = {x["name"]: x for x in server.detail(rid)["stateStreams"]}
    assert set(streams) == {"run", f"run:{rid}", "doc:d1"}
    assert streams[f"run:{rid}"]["id"] == sv["streamId"]
    assert (streams[f"run:{rid}"]["targetType"], streams[f"run:{rid}"]["targetId"]) == ("run", rid)
    assert (streams["doc:d1"]["targetType"], streams["doc:d1"]["targetId"]) == ("doc", "d1")
    assert streams["doc:d1"]["currentVersion"] == 2
    assert streams["doc:d1"]["currentValue"] == {"a": 2}

    assert [v["version"] for v in s.state.versions(stream="doc:d1")] == [1, 2]
    assert [v["label"] for v in s.state.versions(stream=f"run:{rid}")] == ["before-edit"]

    # All versions: stream name asc, then version asc.
    by_id = {x["id"]: x["name"] for x in streams.values()}
    all_versions = s.state.versions()
    keys = [(by_id[v["streamId"]], v["version"]) for v in all_versions]
    assert keys == sorted(keys)
    assert len(keys) == 2 + 1 + 2

    # A snapshot does not touch the run-level state.
    assert server.detail(rid)["state"]["value"] == {"doc": "v1"}
    ev = [e for e in server.detail(rid)["events"] if e["type"] == "snapshot.created"]
    assert len(ev) == 3
    assert_keys(ev[0]["payload"]["stateVersion"], PUBLIC_VERSION_KEYS, "PublicStateVersion")
    s.complete(None)


def test_usage_ledger(tide, server):
    run_ids: list = []

    def workflow(run, input):
        run_ids.append(run.run_id)
        step_out = run.step("llm", lambda: "answer")
        steps = tide.runs.get(run.run_id)["steps"]
        a = run.usage.record(step_id=steps[0]["id"], kind="llm", provider="openai",
                             model="gpt-x", label="draft", input_tokens=100,
                             output_tokens=50, cost_usd=0.0123, metadata={"k": "v"})
        b = run.usage.record(input_tokens=100, output_tokens=50, total_tokens=999)
        c = run.usage.record(kind="image", quantity=2.5, unit="images", cost_usd=0.25)
        d = run.usage.record(output_tokens=7)
        return {"out": step_out, "usage": [a, b, c, d]}

    result = tide.run("usage", workflow)
    a, b, c, d = result["usage"]
    for x in (a, b, c, d):
        assert set(x) == {"usage"}
        assert_keys(x["usage"], USAGE_KEYS, "Usage")
        assert_id(x["usage"]["id"], "use_")
        assert_ts(x["usage"]["createdAt"])
        assert x["usage"]["runId"] == run_ids[0]
    ua, ub, uc, ud = (x["usage"] for x in (a, b, c, d))
    assert ua["kind"] == "llm" and ua["provider"] == "openai" and ua["model"] == "gpt-x"
    assert ua["label"] == "draft"
    assert ua["stepId"] is not None
    assert (ua["inputTokens"], ua["outputTokens"], ua["totalTokens"]) == (100, 50, 150)
    assert ua["costUsd"] == pytest.approx(0.0123)
    assert ua["metadata"] == {"k": "v"}
    assert ub["totalTokens"] == 999  # explicit total wins even if inconsistent
    assert ub["kind"] == "custom"
    assert ub["stepId"] is None
    assert uc["totalTokens"] is None and uc["inputTokens"] is None
    assert uc["quantity"] == pytest.approx(2.5) and uc["unit"] == "images"
    assert uc["costUsd"] == pytest.approx(0.25)
    assert ud["totalTokens"] == 7
    assert ud["costUsd"] is None

    detail = server.detail(run_ids[0])
    assert [u["id"] for u in detail["usage"]] == [ua["id"], ub["id"], uc["id"], ud["id"]]
    recorded = [e["payload"] for e in detail["events"] if e["type"] == "usage.recorded"]
    assert recorded == [{"usage": u} for u in (ua, ub, uc, ud)]


@pytest.mark.parametrize("field", ["input_tokens", "output_tokens", "total_tokens"])
def test_negative_tokens_is_400(tide, server, field):
    s = _session(tide, "usage-negative")
    with pytest.raises(TidebaseError) as info:
        s.usage.record(**{field: -1})
    assert info.value.status == 400
    assert '"invalid request body"' in info.value.body
    assert server.detail(s.run_id)["usage"] == []
    s.complete(None)


def test_negative_cost_is_400(tide):
    s = _session(tide, "usage-negative-cost")
    with pytest.raises(TidebaseError) as info:
        s.usage.record(cost_usd=-0.01)
    assert info.value.status == 400
    s.complete(None)


def test_json_values_round_trip(tide, server):
    value = {
        "int": 9007199254740991,
        "neg": -42,
        "float": 0.1,
        "exp": 1.5e300,
        "tiny": 2.5e-8,
        "zero": 0,
        "bool": [True, False],
        "null": None,
        "text": "h\u00e9llo \u2713 \U0001F600 \"quoted\" back\\slash \n\t tab",
        "nested": {"deep": [[[{"x": []}]]], "empty": {}},
        "long": "x" * 100_000,
    }
    run_ids: list = []

    def workflow(run, input):
        run_ids.append(run.run_id)
        run.state.set(input)
        return run.step("echo", lambda: input, input=input)

    assert tide.run("json-fidelity", workflow, input=value) == value
    detail = server.detail(run_ids[0])
    assert detail["run"]["input"] == value
    assert detail["run"]["result"] == value
    assert detail["state"]["value"] == value
    assert detail["steps"][0]["output"] == value
    assert detail["steps"][0]["input"] == value
    # Replay returns the stored output unchanged.
    session = tide.runs.attach("json-fidelity-2", input={}, heartbeat_s=None)
    assert session.step("echo", lambda: value) == value
    assert session.step("echo", lambda: "not called") == value
    session.complete(None)
