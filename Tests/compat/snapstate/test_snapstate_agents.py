"""The agent registry: register_agent / list_agents with the SDK, GET/PATCH/DELETE /agents/{id}
raw, upsert semantics, validation, the 50-agent limit and last_seen_at from checkpoint saves."""

from __future__ import annotations

import pytest
from snapstate_sdk import Agent, ValidationError

from sscompat import (
    AGENT_KEYS,
    assert_error,
    assert_json,
    assert_keys,
    assert_ts,
    new_wf,
    parse_ts,
)


@pytest.fixture
def tkey(server):
    """A brand-new tenant per test: its agent registry starts empty."""
    return server.tenant("ag")


@pytest.fixture
def tclient(server, tkey):
    c = server.client(tkey)
    yield c
    c.close()


def _agent(server, key, agent_id, status=200):
    r = server.http("GET", f"/agents/{agent_id}", token=key)
    if status != 200:
        return assert_error(r, status, "AGENT_NOT_FOUND")
    body = assert_json(r, 200)
    assert_keys(body, AGENT_KEYS, "agent")
    return body


def test_register_agent_raw_201_shape(server, tkey):
    r = server.http("POST", "/agents", {
        "agent_id": "research-bot", "name": "Research Bot", "description": "finds things",
        "capabilities": ["web_search", "summarize"], "metadata": {"model": "m1", "v": 2},
    }, token=tkey)
    body = assert_json(r, 201)
    assert_keys(body, AGENT_KEYS, "agent")
    assert body["id"] is not None
    assert body["agent_id"] == "research-bot"
    assert body["name"] == "Research Bot"
    assert body["description"] == "finds things"
    assert body["capabilities"] == ["web_search", "summarize"]
    assert body["metadata"] == {"model": "m1", "v": 2}
    assert body["last_seen_at"] is None
    assert_ts(body["created_at"])
    assert _agent(server, tkey, "research-bot") == body


def test_register_agent_only_agent_id(server, tkey):
    body = assert_json(server.http("POST", "/agents", {"agent_id": "bare"}, token=tkey), 201)
    assert (body["name"], body["description"], body["capabilities"], body["metadata"]) == (
        None, None, [], {})


def test_register_and_list_with_the_sdk(server, tkey, tclient):
    a = tclient.register_agent("bot-a", "Bot A", description="first", capabilities=["x"],
                               metadata={"k": 1})
    assert isinstance(a, Agent)
    assert (a.agent_id, a.name, a.description, a.capabilities, a.metadata) == (
        "bot-a", "Bot A", "first", ["x"], {"k": 1})
    assert a.last_seen_at is None
    assert_ts(a.created_at)
    b = tclient.register_agent("bot_b-2", "Bot B")
    assert (b.description, b.capabilities, b.metadata) == (None, [], {})
    listed = tclient.list_agents()
    assert all(isinstance(x, Agent) for x in listed)
    assert sorted((x.agent_id, x.name) for x in listed) == [("bot-a", "Bot A"), ("bot_b-2", "Bot B")]
    raw = assert_json(server.http("GET", "/agents", token=tkey), 200)
    assert_keys(raw, ["agents"], "GET /agents")
    for item in raw["agents"]:
        assert_keys(item, AGENT_KEYS, "listed agent")


def test_empty_list(tclient, server, tkey):
    assert tclient.list_agents() == []
    assert server.get_json("/agents", token=tkey) == {"agents": []}


def test_upsert_replaces_every_field_and_keeps_created_at(server, tkey, tclient):
    first = tclient.register_agent("up", "Old", description="d", capabilities=["c"],
                                   metadata={"m": 1})
    r = server.http("POST", "/agents", {"agent_id": "up", "name": "New"}, token=tkey)
    body = assert_json(r, 201)  # 201 on update too
    assert body["name"] == "New"
    assert (body["description"], body["capabilities"], body["metadata"]) == (None, [], {})
    assert body["created_at"] == first.created_at
    assert [a.agent_id for a in tclient.list_agents()] == ["up"]


def test_get_unknown_agent_is_404(server, tkey):
    _agent(server, tkey, "nobody", status=404)


def test_patch_updates_only_the_given_fields(server, tkey, tclient):
    tclient.register_agent("p", "P", description="d", capabilities=["a"], metadata={"m": 1})
    r = server.http("PATCH", "/agents/p", {"name": "P2", "capabilities": ["a", "b"]}, token=tkey)
    body = assert_json(r, 200)
    assert_keys(body, AGENT_KEYS, "patched agent")
    assert (body["name"], body["description"], body["capabilities"], body["metadata"]) == (
        "P2", "d", ["a", "b"], {"m": 1})
    body = assert_json(server.http("PATCH", "/agents/p",
                                   {"description": "new d", "metadata": {"z": 2}}, token=tkey), 200)
    assert (body["name"], body["description"], body["metadata"]) == ("P2", "new d", {"z": 2})
    assert _agent(server, tkey, "p") == body


def test_patch_without_updatable_fields_is_400_before_the_existence_check(server, tkey, tclient):
    tclient.register_agent("q", "Q")
    for path in ("/agents/q", "/agents/does-not-exist"):
        for body in ({}, {"agent_id": "other"}, {"last_seen_at": "2020-01-01T00:00:00.000Z"}):
            assert_error(server.http("PATCH", path, body, token=tkey), 400, "VALIDATION_ERROR")
    assert_error(server.http("PATCH", "/agents/does-not-exist", {"name": "x"}, token=tkey), 404,
                 "AGENT_NOT_FOUND")
    assert _agent(server, tkey, "q")["name"] == "Q"


def test_delete_agent(server, tkey, tclient):
    tclient.register_agent("d1", "D1")
    tclient.register_agent("d2", "D2")
    r = server.http("DELETE", "/agents/d1", token=tkey)
    assert r.status == 204 and r.body == b"", r
    _agent(server, tkey, "d1", status=404)
    assert [a.agent_id for a in tclient.list_agents()] == ["d2"]
    assert_error(server.http("DELETE", "/agents/d1", token=tkey), 404, "AGENT_NOT_FOUND")
    # registering again starts over
    again = tclient.register_agent("d1", "D1 again")
    assert again.name == "D1 again"


@pytest.mark.parametrize("body", [
    {}, {"name": "no id"}, {"agent_id": ""}, {"agent_id": "has space"}, {"agent_id": "dot.ted"},
    {"agent_id": "slash/y"}, {"agent_id": "ü"}, {"agent_id": "a" * 256}, {"agent_id": 5},
    {"agent_id": "ok", "capabilities": "web"}, {"agent_id": "ok", "capabilities": [1]},
    {"agent_id": "ok", "metadata": [1]}, {"agent_id": "ok", "metadata": "m"},
    {"agent_id": "ok", "name": 5},
], ids=["empty", "no agent_id", "empty id", "space", "dot", "slash", "non-ascii", "256 chars",
        "number", "capabilities string", "capabilities numbers", "metadata array",
        "metadata string", "name number"])
def test_invalid_agent_is_400(server, tkey, body):
    assert_error(server.http("POST", "/agents", body, token=tkey), 400, "VALIDATION_ERROR")
    assert server.get_json("/agents", token=tkey) == {"agents": []}


def test_invalid_agent_with_the_sdk_is_a_validation_error(tclient):
    with pytest.raises(ValidationError) as exc:
        tclient.register_agent("bad id", "x")
    assert exc.value.status_code == 400 and exc.value.code == "VALIDATION_ERROR"


def test_agent_id_of_255_chars_is_accepted(server, tkey):
    aid = "A-_9" * 63 + "xyz"
    assert len(aid) == 255
    assert assert_json(server.http("POST", "/agents", {"agent_id": aid}, token=tkey), 201)[
        "agent_id"] == aid
    assert _agent(server, tkey, aid)["agent_id"] == aid


def test_at_most_50_agents_per_tenant(server, tkey, tclient):
    for i in range(50):
        r = server.http("POST", "/agents", {"agent_id": f"agent-{i}", "name": f"A{i}"}, token=tkey)
        assert r.status == 201, (i, r)
    assert_error(server.http("POST", "/agents", {"agent_id": "agent-50"}, token=tkey), 400,
                 "MAX_AGENTS_REACHED")
    # updating an existing one is still fine, and other tenants are unaffected
    assert server.http("POST", "/agents", {"agent_id": "agent-7", "name": "renamed"},
                       token=tkey).status == 201
    assert len(tclient.list_agents()) == 50
    _agent(server, tkey, "agent-50", status=404)
    other = server.tenant("ag")
    assert server.http("POST", "/agents", {"agent_id": "agent-50"}, token=other).status == 201
    # after a delete there is room again
    assert server.http("DELETE", "/agents/agent-0", token=tkey).status == 204
    assert server.http("POST", "/agents", {"agent_id": "agent-50"}, token=tkey).status == 201


def test_saving_a_checkpoint_with_agent_id_updates_last_seen_at(server, tkey, tclient):
    agent = tclient.register_agent("worker", "Worker")
    assert agent.last_seen_at is None
    other = tclient.register_agent("idle", "Idle")
    saved = tclient.save(new_wf(), 1, {"a": 1}, agent_id="worker")
    seen = _agent(server, tkey, "worker")["last_seen_at"]
    assert_ts(seen)
    assert parse_ts(seen) >= parse_ts(agent.created_at)
    assert abs(parse_ts(seen) - parse_ts(saved.created_at)) < 5
    assert _agent(server, tkey, "idle")["last_seen_at"] is None
    # a later save moves it forward
    later = tclient.save(new_wf(), 1, {"a": 2}, agent_id="worker")
    seen2 = _agent(server, tkey, "worker")["last_seen_at"]
    assert parse_ts(seen2) >= parse_ts(seen)
    assert abs(parse_ts(seen2) - parse_ts(later.created_at)) < 5
    assert other.last_seen_at is None
    # an unregistered agent id is fine (and registers nothing)
    tclient.save(new_wf(), 1, {"a": 3}, agent_id="ghost")
    _agent(server, tkey, "ghost", status=404)
