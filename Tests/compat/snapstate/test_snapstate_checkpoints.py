"""POST /checkpoints and GET /checkpoints/{id} with the unmodified SDK (and raw HTTP for the exact
wire): the 201 shape, checkpoint ids, etag and size over compact JSON, the stored record,
diff_from_previous (contract §1.5 algorithm and examples), duplicate steps and If-Match."""

from __future__ import annotations

import pytest
from snapstate_sdk import Checkpoint, ConflictError, NotFoundError, SaveResult

from sscompat import (
    DEFAULT_TTL_SECONDS,
    DIFF_KEYS,
    RECORD_KEYS,
    SAVE_KEYS,
    assert_error,
    assert_json,
    assert_keys,
    assert_ts,
    cp_id,
    diff,
    etag_of,
    new_wf,
    parse_ts,
    size_of,
)


def test_save_with_the_sdk_returns_the_computed_fields(client):
    wf = new_wf()
    state = {"progress": 0, "name": "fetch"}
    res = client.save(wf, 1, state)
    assert isinstance(res, SaveResult)
    assert res.checkpoint_id == f"cp_{wf}_001"
    assert res.workflow_id == wf
    assert res.step == 1
    assert res.etag == etag_of(state)
    assert res.etag.startswith('"') and res.etag.endswith('"') and len(res.etag) == 18
    assert res.size_bytes == size_of(state) == len(b'{"progress":0,"name":"fetch"}')
    assert_ts(res.created_at)
    assert res.diff_from_previous == diff(added=["progress", "name"])


def test_save_201_has_exactly_the_contract_keys(server):
    wf = new_wf()
    state = {"a": 1}
    r = server.save(wf, 7, state, label="seven", metadata={"k": "v"}, agent_id="bot")
    body = assert_json(r, 201)
    assert_keys(body, SAVE_KEYS, "201 save body")
    assert body["checkpoint_id"] == cp_id(wf, 7)
    assert body["workflow_id"] == wf and body["step"] == 7
    assert body["etag"] == etag_of(state)
    assert body["size_bytes"] == size_of(state)
    assert_ts(body["created_at"])
    assert_keys(body["diff_from_previous"], DIFF_KEYS, "diff_from_previous")
    assert body["diff_from_previous"] == diff(added=["a"])
    # the etag lives in the body only
    assert r.headers.get("ETag") is None


@pytest.mark.parametrize("step,suffix", [
    (0, "000"), (1, "001"), (42, "042"), (999, "999"), (1234, "1234"), (100000, "100000"),
])
def test_checkpoint_id_pads_the_step_to_three_digits(client, step, suffix):
    wf = new_wf()
    res = client.save(wf, step, {"s": step})
    assert res.checkpoint_id == f"cp_{wf}_{suffix}"
    assert client.get(res.checkpoint_id).step == step


def test_etag_and_size_use_compact_utf8_json_whatever_the_request_bytes(client, server):
    # The SDK sends ", "/": " separators and \\u escapes for non-ASCII; the server measures and hashes its
    # own compact re-serialization: raw UTF-8, '/' unescaped, the input key order kept.
    wf = new_wf()
    state = {"zeta": "héllo ✓ 日本", "alpha": {"path": "a/b/c", "list": [1, "two", {"x": 3}]},
             "emoji": "🙂"}
    res = client.save(wf, 1, state)
    assert res.size_bytes == size_of(state)
    assert res.etag == etag_of(state)
    # raw compact body with the same value: same etag and size
    wf2 = new_wf()
    body = server.saved(wf2, 1, state)
    assert body["etag"] == res.etag and body["size_bytes"] == res.size_bytes
    # the state comes back equal
    assert client.get(res.checkpoint_id).state == state


def test_etag_depends_only_on_the_state(client):
    state = {"k": [1, 2, 3], "s": "x"}
    a = client.save(new_wf(), 1, state, label="one", metadata={"m": 1})
    b = client.save(new_wf(), 9, state)
    assert a.etag == b.etag == etag_of(state)
    c = client.save(new_wf(), 1, {"k": [1, 2, 4], "s": "x"})
    assert c.etag != a.etag


def test_get_returns_the_full_record_in_order(server, client):
    wf = new_wf()
    state = {"messages": ["hi"], "count": 1}
    saved = client.save(wf, 3, state, label="fetched", metadata={"model": "m1"}, agent_id="bot-a")
    r = server.http("GET", f"/checkpoints/{saved.checkpoint_id}")
    rec = assert_json(r, 200)
    assert list(rec) == RECORD_KEYS, f"record keys/order: {list(rec)}"
    assert rec["checkpoint_id"] == saved.checkpoint_id
    assert rec["workflow_id"] == wf
    assert rec["step"] == 3
    assert rec["label"] == "fetched"
    assert rec["state"] == state
    assert rec["metadata"] == {"model": "m1", "agent_id": "bot-a"}
    assert rec["etag"] == saved.etag
    assert rec["created_at"] == saved.created_at
    assert_ts(rec["expires_at"])
    assert round(parse_ts(rec["expires_at"]) - parse_ts(rec["created_at"]), 3) == DEFAULT_TTL_SECONDS
    assert rec["diff_from_previous"] == saved.diff_from_previous == diff(added=["messages[0]", "count"])
    assert rec["size_bytes"] == saved.size_bytes


def test_get_record_without_label_or_metadata_has_nulls(server):
    wf = new_wf()
    server.saved(wf, 1, {"a": 1})
    rec = server.get_json(f"/checkpoints/{cp_id(wf, 1)}")
    assert list(rec) == RECORD_KEYS
    assert rec["label"] is None
    assert rec["metadata"] is None


def test_agent_id_alone_becomes_metadata(server, client):
    wf = new_wf()
    client.save(wf, 1, {"a": 1}, agent_id="solo-agent")
    rec = server.get_json(f"/checkpoints/{cp_id(wf, 1)}")
    assert rec["metadata"] == {"agent_id": "solo-agent"}
    assert "agent_id" not in rec  # merged into metadata, not a top-level field


def test_agent_id_wins_over_metadata_agent_id(server):
    wf = new_wf()
    server.saved(wf, 1, {"a": 1}, metadata={"agent_id": "from-metadata", "k": 1},
                 agent_id="from-field")
    rec = server.get_json(f"/checkpoints/{cp_id(wf, 1)}")
    assert rec["metadata"] == {"agent_id": "from-field", "k": 1}
    server.saved(wf, 2, {"a": 1}, metadata={"agent_id": "only-metadata"})
    assert server.get_json(f"/checkpoints/{cp_id(wf, 2)}")["metadata"] == {"agent_id": "only-metadata"}


def test_get_with_the_sdk_parses_the_record(client):
    wf = new_wf()
    saved = client.save(wf, 2, {"x": {"y": [1]}}, label="L", metadata={"m": True}, agent_id="ag-1")
    cp = client.get(saved.checkpoint_id)
    assert isinstance(cp, Checkpoint)
    assert (cp.checkpoint_id, cp.workflow_id, cp.step, cp.label) == (saved.checkpoint_id, wf, 2, "L")
    assert cp.state == {"x": {"y": [1]}}
    assert cp.metadata == {"m": True, "agent_id": "ag-1"}
    assert cp.agent_id == "ag-1"
    assert cp.etag == saved.etag and cp.size_bytes == saved.size_bytes
    assert cp.created_at == saved.created_at
    assert cp.diff_from_previous == diff(added=["x.y[0]"])


def test_get_unknown_checkpoint_is_404(server, client):
    r = server.http("GET", "/checkpoints/cp_nope_001")
    assert_error(r, 404, "NOT_FOUND")
    with pytest.raises(NotFoundError) as exc:
        client.get("cp_nope_001")
    assert exc.value.status_code == 404 and exc.value.code == "NOT_FOUND"


def test_workflow_ids_with_spaces_and_unicode(client):
    # workflow_id has no character restriction (1-128 chars); the SDK puts it in paths unencoded
    # and httpx percent-escapes it; the server decodes it.
    wf = new_wf("wf mit ümlaut:") + " end"
    res = client.save(wf, 1, {"ok": True})
    assert res.checkpoint_id == f"cp_{wf}_001"
    assert client.get(res.checkpoint_id).workflow_id == wf
    assert client.resume(wf).latest_checkpoint.checkpoint_id == res.checkpoint_id
    assert [c.step for c in client.replay(wf).checkpoints] == [1]


@pytest.mark.parametrize("wf", ["w", "x" * 118 + "-128-chars"])
def test_workflow_id_length_bounds_are_accepted(server, wf):
    assert len(wf) in (1, 128)
    r = server.save(wf, 1, {"n": len(wf)})
    assert r.status == 201, r
    assert r.json["checkpoint_id"] == cp_id(wf, 1)
    assert server.get_json(f"/workflows/{wf}/resume")["workflow_id"] == wf


def test_label_256_and_agent_id_255_are_accepted(server):
    wf = new_wf()
    r = server.save(wf, 1, {"a": 1}, label="L" * 256, agent_id="a" * 255)
    assert r.status == 201, r
    rec = server.get_json(f"/checkpoints/{cp_id(wf, 1)}")
    assert rec["label"] == "L" * 256
    assert rec["metadata"] == {"agent_id": "a" * 255}


def test_empty_state_is_accepted(client):
    wf = new_wf()
    res = client.save(wf, 0, {})
    assert res.size_bytes == 2 and res.etag == etag_of({})
    assert res.diff_from_previous == diff()


# ---------------------------------------------------------------------------
# diff_from_previous
# ---------------------------------------------------------------------------

DIFF_CASES = [
    # the contract's own examples
    ({"a": 1, "b": 2}, {"a": 99, "b": 2, "c": 3}, diff(added=["c"], changed=["a"])),
    ({"x": {"y": [1, 2]}}, {"x": {"y": [1, 3, 4]}}, diff(added=["x.y[2]"], changed=["x.y[1]"])),
    ({"a": {"b": 1}}, {"a": 5}, diff(changed=["a"])),
    # removed leaves: inside a kept object first (during the walk of next), then the object's
    # missing keys in prev's order
    ({"a": 1, "b": {"c": 1, "d": 2}, "e": 3}, {"b": {"c": 1}, "f": 1},
     diff(added=["f"], removed=["b.d", "a", "e"])),
    # a removed subtree reports every leaf
    ({"a": {"b": {"c": 1, "d": [1, 2]}}, "k": 0}, {"k": 0},
     diff(removed=["a.b.c", "a.b.d[0]", "a.b.d[1]"])),
    # added or removed empty containers report nothing
    ({"k": 1}, {"k": 1, "o": {}, "l": []}, diff()),
    ({"k": 1, "o": {}, "l": []}, {"k": 1}, diff()),
    ({"a": {}}, {"a": {"x": 1}}, diff(added=["a.x"])),
    # arrays: index-wise, no move detection
    ({"l": [1, 2]}, {"l": [0, 1, 2]}, diff(added=["l[2]"], changed=["l[0]", "l[1]"])),
    ({"l": [1, 2, 3]}, {"l": [1]}, diff(removed=["l[1]", "l[2]"])),
    ({"list": [{"name": "a"}, {"name": "b"}]}, {"list": [{"name": "a"}, {"name": "c"}, {"name": "d"}]},
     diff(added=["list[2].name"], changed=["list[1].name"])),
    # type mismatches report the whole path
    ({"a": [1]}, {"a": {"0": 1}}, diff(changed=["a"])),
    ({"a": None}, {"a": {"b": 1}}, diff(changed=["a"])),
    ({"a": {"b": 1}}, {"a": None}, diff(changed=["a"])),
    ({"a": "x"}, {"a": ["x"]}, diff(changed=["a"])),
    # strict equality, but numbers compare numerically
    ({"a": 1}, {"a": "1"}, diff(changed=["a"])),
    ({"a": True}, {"a": 1}, diff(changed=["a"])),
    ({"a": 1}, {"a": 1.0}, diff()),
    ({"a": None}, {"a": None}, diff()),
    # nothing changed at all
    ({"a": {"b": [1, {"c": "d"}]}}, {"a": {"b": [1, {"c": "d"}]}}, diff()),
    # depth-first following next's key order
    ({"z": 1, "m": {"p": 1}}, {"m": {"p": 2, "q": 1}, "z": 2, "n": {"o": [5]}},
     diff(added=["m.q", "n.o[0]"], changed=["m.p", "z"])),
]


@pytest.mark.parametrize("prev,nxt,expected", DIFF_CASES)
def test_diff_from_previous(server, prev, nxt, expected):
    wf = new_wf("diff")
    server.saved(wf, 1, prev)
    body = server.saved(wf, 2, nxt)
    assert body["diff_from_previous"] == expected
    # the stored record carries the same diff
    assert server.get_json(f"/checkpoints/{cp_id(wf, 2)}")["diff_from_previous"] == expected


def test_first_save_lists_every_leaf_as_added(client):
    state = {"a": 1, "b": {"c": [1, 2]}, "d": {}, "e": None, "f": [[], [3]]}
    res = client.save(new_wf(), 1, state)
    assert res.diff_from_previous == diff(added=["a", "b.c[0]", "b.c[1]", "e", "f[1][0]"])


def test_diff_is_against_the_most_recently_saved_checkpoint(client):
    wf = new_wf()
    client.save(wf, 5, {"a": 5, "only5": True})
    client.save(wf, 9, {"a": 9})
    # step 2 is saved last but is the lowest step: its diff is against step 9 (saved last)
    res = client.save(wf, 2, {"a": 2, "new": 1})
    assert res.diff_from_previous == diff(added=["new"], changed=["a"])


# ---------------------------------------------------------------------------
# Duplicate steps and If-Match
# ---------------------------------------------------------------------------


def test_saving_an_existing_step_again_is_409_with_existing(server, client):
    wf = new_wf()
    first = client.save(wf, 1, {"v": 1})
    r = server.save(wf, 1, {"v": 2})
    body = assert_error(r, 409, "CONFLICT", extra_keys=("existing",))
    assert body["existing"] == {"checkpoint_id": first.checkpoint_id, "etag": first.etag}
    # same state again is still a conflict without If-Match
    assert server.save(wf, 1, {"v": 1}).status == 409
    with pytest.raises(ConflictError) as exc:
        client.save(wf, 1, {"v": 3})
    assert exc.value.status_code == 409 and exc.value.code == "CONFLICT"
    # nothing was overwritten
    cp = client.get(first.checkpoint_id)
    assert cp.state == {"v": 1} and cp.etag == first.etag
    assert client.resume(wf).total_checkpoints == 1


@pytest.mark.parametrize("if_match", ["\"0000000000000000\"", "*", "W/\"x\"", "nope"])
def test_if_match_other_than_the_stored_etag_is_409(server, client, if_match):
    wf = new_wf()
    first = client.save(wf, 1, {"v": 1})
    r = server.save(wf, 1, {"v": 2}, headers={"If-Match": if_match})
    assert_error(r, 409, "CONFLICT", extra_keys=tuple(k for k in ("existing",) if "existing" in r.json))
    with pytest.raises(ConflictError):
        client.save(wf, 1, {"v": 2}, if_match=if_match)
    assert client.get(first.checkpoint_id).state == {"v": 1}


def test_if_match_without_the_quotes_is_409(client):
    wf = new_wf()
    first = client.save(wf, 1, {"v": 1})
    with pytest.raises(ConflictError):
        client.save(wf, 1, {"v": 1}, if_match=first.etag.strip('"'))


def test_if_match_equal_to_the_stored_etag_replays_the_existing_record(server, client):
    wf = new_wf()
    client.save(wf, 1, {"v": 0})
    first = server.saved(wf, 2, {"v": 1}, label="two")
    # a different state with the matching etag: 201 with the existing record, nothing written
    r = server.save(wf, 2, {"v": 999, "other": True}, headers={"If-Match": first["etag"]})
    again = assert_json(r, 201)
    assert again == first
    assert list(again) == list(first)
    res = client.save(wf, 2, {"v": 5}, if_match=first["etag"])
    assert (res.checkpoint_id, res.etag, res.created_at, res.size_bytes, res.diff_from_previous) == (
        first["checkpoint_id"], first["etag"], first["created_at"], first["size_bytes"],
        first["diff_from_previous"])
    rec = server.get_json(f"/checkpoints/{cp_id(wf, 2)}")
    assert rec["state"] == {"v": 1} and rec["label"] == "two"
    resumed = client.resume(wf)
    assert resumed.total_checkpoints == 2
    assert resumed.latest_checkpoint.state == {"v": 1}
    assert [c.step for c in client.replay(wf).checkpoints] == [1, 2]


def test_replay_of_an_older_step_does_not_move_latest(client):
    wf = new_wf()
    one = client.save(wf, 1, {"v": 1})
    client.save(wf, 2, {"v": 2})
    client.save(wf, 1, {"v": 1}, if_match=one.etag)
    resumed = client.resume(wf)
    assert resumed.latest_checkpoint.step == 2
    assert resumed.total_checkpoints == 2
    # the next new save diffs against step 2, still the most recently saved
    assert client.save(wf, 3, {"v": 3}).diff_from_previous == diff(changed=["v"])


def test_if_match_on_a_new_step_is_ignored(client):
    wf = new_wf()
    res = client.save(wf, 1, {"v": 1}, if_match='"ffffffffffffffff"')
    assert res.checkpoint_id == cp_id(wf, 1) and res.etag == etag_of({"v": 1})
    assert client.get(res.checkpoint_id).state == {"v": 1}
