"""Bad input on the checkpoint routes: wrong types, unknown fields, bounds, bad JSON, a bad TTL
header, an oversized state and bad replay query parameters give 400 VALIDATION_ERROR (413
PAYLOAD_TOO_LARGE for the state) in the app envelope, and nothing is stored."""

from __future__ import annotations

import json

import pytest
from snapstate_sdk import PayloadTooLargeError, ValidationError

from sscompat import MAX_STATE_BYTES, assert_error, cp_id, etag_of, new_wf, parse_ts, size_of

# (name, body minus workflow_id) -- each is sent for a fresh workflow id
BAD_BODIES = [
    ("missing step", {"state": {}}),
    ("missing state", {"step": 1}),
    ("step negative", {"step": -1, "state": {}}),
    ("step as string", {"step": "3", "state": {}}),
    ("step fractional", {"step": 1.5, "state": {}}),
    ("step boolean", {"step": True, "state": {}}),
    ("step null", {"step": None, "state": {}}),
    ("state array", {"step": 1, "state": [1, 2]}),
    ("state string", {"step": 1, "state": "x"}),
    ("state number", {"step": 1, "state": 5}),
    ("state null", {"step": 1, "state": None}),
    ("label too long", {"step": 1, "state": {}, "label": "L" * 257}),
    ("label number", {"step": 1, "state": {}, "label": 5}),
    ("label object", {"step": 1, "state": {}, "label": {"a": 1}}),
    ("agent_id too long", {"step": 1, "state": {}, "agent_id": "a" * 256}),
    ("agent_id number", {"step": 1, "state": {}, "agent_id": 7}),
    ("metadata array", {"step": 1, "state": {}, "metadata": [1]}),
    ("metadata string", {"step": 1, "state": {}, "metadata": "m"}),
    ("unknown key", {"step": 1, "state": {}, "extra": 1}),
    ("camelCase key", {"step": 1, "state": {}, "workflowId": "x"}),
    ("ttl in the body", {"step": 1, "state": {}, "ttl_seconds": 60}),
]


@pytest.mark.parametrize("name,fields", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_invalid_save_body_is_400_and_stores_nothing(server, name, fields):
    wf = new_wf("bad")
    body = {"workflow_id": wf, **fields}
    r = server.http("POST", "/checkpoints", raw=json.dumps(body).encode())
    assert_error(r, 400, "VALIDATION_ERROR")
    server.assert_nothing_stored(wf, step=1)


@pytest.mark.parametrize("workflow_id", [None, "", "w" * 129, 5, ["wf"], {"id": "x"}],
                         ids=["missing", "empty", "129 chars", "number", "array", "object"])
def test_invalid_workflow_id_is_400(server, workflow_id):
    body = {"step": 1, "state": {"a": 1}}
    if workflow_id is not None:
        body["workflow_id"] = workflow_id
    r = server.http("POST", "/checkpoints", raw=json.dumps(body).encode())
    assert_error(r, 400, "VALIDATION_ERROR")
    if workflow_id == "w" * 129:
        server.assert_nothing_stored(workflow_id)


@pytest.mark.parametrize("raw", [
    b"", b"{", b"not json", b'{"workflow_id":"x","step":1,"state":{}', b"[]", b'"a string"',
    b"null", b"42", b'{"workflow_id":"x","step":1,"state":{}} trailing',
], ids=["empty", "open brace", "text", "truncated", "array", "string", "null", "number",
        "trailing garbage"])
def test_unparseable_or_non_object_body_is_400(server, raw):
    r = server.http("POST", "/checkpoints", raw=raw)
    assert_error(r, 400, "VALIDATION_ERROR")
    server.assert_nothing_stored("x", step=1)


@pytest.mark.parametrize("ttl", ["0", "-5", "abc", "3600abc", "1.5", "1e3", "0x10", "+"])
def test_bad_ttl_header_is_400_and_stores_nothing(server, ttl):
    wf = new_wf("badttl")
    r = server.save(wf, 1, {"a": 1}, headers={"X-Checkpoint-TTL": ttl})
    assert_error(r, 400, "VALIDATION_ERROR")
    server.assert_nothing_stored(wf, step=1)


def test_bad_ttl_with_the_sdk_is_a_validation_error(server, client):
    wf = new_wf("badttl")
    with pytest.raises(ValidationError) as exc:
        client.save(wf, 1, {"a": 1}, ttl_seconds=0)
    assert exc.value.status_code == 400 and exc.value.code == "VALIDATION_ERROR"
    with pytest.raises(ValidationError):
        client.save(wf, 1, {"a": 1}, ttl_seconds=-60)
    server.assert_nothing_stored(wf, step=1)


def test_valid_ttl_header_is_accepted(server):
    wf = new_wf()
    r = server.save(wf, 1, {"a": 1}, headers={"X-Checkpoint-TTL": "3600"})
    assert r.status == 201, r
    rec = server.get_json(f"/checkpoints/{cp_id(wf, 1)}")
    assert round(parse_ts(rec["expires_at"]) - parse_ts(rec["created_at"]), 3) == 3600


def _state_of_size(n: int) -> dict:
    # {"blob":"xxx..."} is 11 bytes of wrapper
    state = {"blob": "x" * (n - 11)}
    assert size_of(state) == n
    return state


def test_state_of_exactly_1mib_is_accepted(server):
    wf = new_wf("big")
    state = _state_of_size(MAX_STATE_BYTES)
    body = server.saved(wf, 1, state)
    assert body["size_bytes"] == MAX_STATE_BYTES
    assert body["etag"] == etag_of(state)


def test_state_over_1mib_is_413_and_stores_nothing(server, client):
    wf = new_wf("big")
    state = _state_of_size(MAX_STATE_BYTES + 1)
    r = server.save(wf, 1, state)
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")
    with pytest.raises(PayloadTooLargeError) as exc:
        client.save(wf, 1, _state_of_size(3 * MAX_STATE_BYTES))
    assert exc.value.status_code == 413 and exc.value.code == "PAYLOAD_TOO_LARGE"
    server.assert_nothing_stored(wf, step=1)


def test_oversized_state_is_measured_compact_not_as_sent(server):
    # The SDK-style body (", " separators, \\u escapes) of this state is far over 1 MiB,
    # its compact UTF-8 JSON is under it: accepted.
    wf = new_wf("big")
    state = {"k": ["é"] * 200_000}  # compact: 1,000,007 bytes; as sent: ~2 MB
    assert size_of(state) < MAX_STATE_BYTES
    raw = json.dumps({"workflow_id": wf, "step": 1, "state": state}).encode()
    assert len(raw) > MAX_STATE_BYTES
    r = server.http("POST", "/checkpoints", raw=raw)
    assert r.status == 201, r
    assert r.json["size_bytes"] == size_of(state)


def test_rejected_save_of_an_existing_workflow_changes_nothing(server, client):
    wf = new_wf()
    first = client.save(wf, 1, {"a": 1})
    assert server.save(wf, "2", {"a": 2}).status == 400
    assert server.save(wf, 2, {"a": 2}, headers={"X-Checkpoint-TTL": "x"}).status == 400
    assert server.save(wf, 2, _state_of_size(MAX_STATE_BYTES + 1)).status == 413
    assert server.http("GET", f"/checkpoints/{cp_id(wf, 2)}").status == 404
    resumed = client.resume(wf)
    assert resumed.total_checkpoints == 1
    assert resumed.latest_checkpoint.checkpoint_id == first.checkpoint_id
    # the next good save still diffs against step 1
    assert client.save(wf, 2, {"a": 3}).diff_from_previous == {
        "added": [], "removed": [], "changed": ["a"]}


# ---------------------------------------------------------------------------
# Replay query parameters
# ---------------------------------------------------------------------------

BAD_QUERIES = [
    "foo=1", "from_step=-1", "from_step=abc", "to_step=1.5", "to_step=-2", "limit=0",
    "limit=1001", "limit=abc", "limit=-1", "limit=", "from_step=", "offset=10", "cursor=x",
]


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_bad_replay_query_is_400(server, query):
    wf = new_wf()
    server.saved(wf, 1, {"a": 1})
    r = server.http("GET", f"/workflows/{wf}/replay?{query}")
    assert_error(r, 400, "VALIDATION_ERROR")


def test_bad_replay_query_with_the_sdk_is_a_validation_error(client):
    wf = new_wf()
    client.save(wf, 1, {"a": 1})
    for kw in ({"limit": 0}, {"limit": 1001}, {"from_step": -1}, {"to_step": -1}):
        with pytest.raises(ValidationError) as exc:
            client.replay(wf, **kw)
        assert exc.value.status_code == 400 and exc.value.code == "VALIDATION_ERROR", kw


@pytest.mark.parametrize("query,steps", [
    ("limit=1", [1]), ("limit=1000", [1, 2]), ("from_step=0", [1, 2]), ("to_step=0", []),
    ("from_step=2&to_step=2&limit=1", [2]),
])
def test_replay_query_bounds_are_accepted(server, query, steps):
    wf = new_wf()
    server.saved(wf, 1, {"a": 1})
    server.saved(wf, 2, {"a": 2})
    page = server.get_json(f"/workflows/{wf}/replay?{query}")
    assert [c["step"] for c in page["checkpoints"]] == steps
