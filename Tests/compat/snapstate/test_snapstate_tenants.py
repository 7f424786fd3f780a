"""Tenants, scopes and authentication: keys from `cairn keys create`. Tenant A cannot see or touch
anything of tenant B's (checkpoints, workflows, webhooks, agents, analytics; 404, not 403), the
same workflow_id in two tenants is two workflows, a SnapState key cannot read another tenant's
Tidebase runs, a read-only key cannot write (403), and no/invalid keys get 401."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from snapstate_sdk import AuthError, NotFoundError, SnapStateError

from sscompat import (
    _NO_BODY,
    assert_error,
    assert_request_id,
    http_call,
    cp_id,
    keys_cli,
    new_wf,
    settle,
    wait_until,
)


@pytest.fixture(scope="module")
def ab(server):
    """Keys (read+write) of two fresh tenants, and SDK clients for them."""
    ns = SimpleNamespace(ta=f"a-{uuid.uuid4().hex[:10]}", tb=f"b-{uuid.uuid4().hex[:10]}")
    ns.a, ns.b = server.key(ns.ta), server.key(ns.tb)
    ns.ca, ns.cb = server.client(ns.a), server.client(ns.b)
    yield ns
    ns.ca.close()
    ns.cb.close()


def test_same_workflow_id_in_two_tenants_is_two_workflows(server, ab):
    ca, cb = ab.ca, ab.cb
    wf = new_wf("shared")
    ra = ca.save(wf, 1, {"who": "a"}, label="A")
    rb = cb.save(wf, 1, {"who": "b", "extra": True})   # no 409: another tenant's step 1
    assert ra.checkpoint_id == rb.checkpoint_id == cp_id(wf, 1)
    assert rb.diff_from_previous == {"added": ["who", "extra"], "removed": [], "changed": []}
    ca.save(wf, 2, {"who": "a2"})
    assert ca.get(cp_id(wf, 1)).state == {"who": "a"}
    assert cb.get(cp_id(wf, 1)).state == {"who": "b", "extra": True}
    assert ca.resume(wf).total_checkpoints == 2 and ca.resume(wf).latest_checkpoint.step == 2
    rb_res = cb.resume(wf)
    assert rb_res.total_checkpoints == 1 and rb_res.latest_checkpoint.state == {"who": "b", "extra": True}
    assert [c.step for c in ca.replay(wf).checkpoints] == [1, 2]
    assert [c.state for c in cb.replay(wf).checkpoints] == [{"who": "b", "extra": True}]
    # the root key's default tenant sees neither
    server.assert_nothing_stored(wf, step=1)


def test_other_tenants_checkpoints_and_workflows_are_404(server, ab):
    a, b, ca, cb = ab.a, ab.b, ab.ca, ab.cb
    wf = new_wf("only-a")
    ca.save(wf, 1, {"secret": "a"})
    assert_error(server.http("GET", f"/checkpoints/{cp_id(wf, 1)}", token=b), 404, "NOT_FOUND")
    assert_error(server.http("GET", f"/workflows/{wf}/resume", token=b), 404, "NOT_FOUND")
    assert server.get_json(f"/workflows/{wf}/replay", token=b) == {
        "workflow_id": wf, "checkpoints": [], "total": 0, "has_more": False}
    with pytest.raises(NotFoundError):
        cb.get(cp_id(wf, 1))
    with pytest.raises(NotFoundError):
        cb.resume(wf)
    # B's If-Match with A's etag is no key to A's checkpoint: it saves B's own step 1
    etag = ca.get(cp_id(wf, 1)).etag
    res = cb.save(wf, 1, {"secret": "b"}, if_match=etag)
    assert ca.get(cp_id(wf, 1)).state == {"secret": "a"}
    assert cb.get(res.checkpoint_id).state == {"secret": "b"}
    # B's resume did not count as a resume of A's workflow
    assert server.get_json(f"/analytics/workflows/{wf}", token=a)["resumed"] is False


def test_other_tenants_webhooks_are_invisible(server, ab, receiver):
    a, b, ca, cb = ab.a, ab.b, ab.ca, ab.cb
    hook = ca.register_webhook(receiver.url_for("/a"), ["checkpoint.saved", "workflow.resumed"])
    hb = cb.register_webhook(receiver.url_for("/b"), ["checkpoint.saved"])
    listed_b = server.get_json("/webhooks", token=b)["webhooks"]
    assert hook["webhook_id"] not in {h["webhook_id"] for h in listed_b}
    assert hb["webhook_id"] in {h["webhook_id"] for h in listed_b}
    assert_error(server.http("DELETE", f"/webhooks/{hook['webhook_id']}", token=b), 404,
                 "NOT_FOUND")
    assert hook["webhook_id"] in {h["webhook_id"] for h in server.get_json("/webhooks", token=a)["webhooks"]}
    # B's events go to B's hook only
    wf = new_wf("hook-b")
    cb.save(wf, 1, {"x": 1})
    cb.resume(wf)
    wait_until(lambda: [c for c in receiver.received("/b")
                        if c["json"]["data"]["workflow_id"] == wf], desc="B's delivery")
    settle()
    assert [c for c in receiver.received("/a") if c["json"]["data"]["workflow_id"] == wf] == []
    for path, key in (("/a", a), ("/b", b)):
        for h in server.get_json("/webhooks", token=key)["webhooks"]:
            assert server.http("DELETE", f"/webhooks/{h['webhook_id']}", token=key).status == 204


def test_other_tenants_agents_are_invisible(server, ab):
    a, b, ca, cb = ab.a, ab.b, ab.ca, ab.cb
    ca.register_agent("agent-x", "A's agent", capabilities=["a"])
    assert "agent-x" not in {x.agent_id for x in cb.list_agents()}
    assert_error(server.http("GET", "/agents/agent-x", token=b), 404, "AGENT_NOT_FOUND")
    assert_error(server.http("PATCH", "/agents/agent-x", {"name": "stolen"}, token=b), 404,
                 "AGENT_NOT_FOUND")
    assert_error(server.http("DELETE", "/agents/agent-x", token=b), 404, "AGENT_NOT_FOUND")
    # B can have its own agent-x
    mine = cb.register_agent("agent-x", "B's agent")
    assert mine.name == "B's agent" and mine.capabilities == []
    theirs = server.get_json("/agents/agent-x", token=a)
    assert theirs["name"] == "A's agent" and theirs["capabilities"] == ["a"]
    # a checkpoint of B's with agent_id agent-x touches B's agent only
    cb.save(new_wf("ag"), 1, {}, agent_id="agent-x")
    assert server.get_json("/agents/agent-x", token=b)["last_seen_at"] is not None
    assert server.get_json("/agents/agent-x", token=a)["last_seen_at"] is None


def test_other_tenants_analytics_are_invisible(server):
    a, b = server.tenant("an-a"), server.tenant("an-b")
    with server.client(a) as ca:
        ca.save("wf-an", 1, {"x": 1}, agent_id="bot", metadata={"error": "e"})
        ca.register_agent("bot", "Bot")
    assert_error(server.http("GET", "/analytics/workflows/wf-an", token=b), 404, "NOT_FOUND")
    ov = server.get_json("/analytics/overview", token=b)
    assert (ov["total_workflows"], ov["total_checkpoints"], ov["top_agents"]) == (0, 0, [])
    fl = server.get_json("/analytics/failures", token=b)
    assert (fl["total_failures"], fl["recent_failures"]) == (0, [])
    assert server.get_json("/analytics/agents", token=b) == {"agents": []}
    # and A sees its own
    assert server.get_json("/analytics/workflows/wf-an", token=a)["workflow_id"] == "wf-an"
    assert server.get_json("/analytics/overview", token=a)["total_workflows"] == 1


def test_snapstate_key_cannot_read_another_tenants_tidebase_run(server, ab):
    a, b = ab.a, ab.b
    r = server.http("POST", "/runs/snap-cross-protocol", {"input": {"n": 1}}, token=b)
    assert r.status == 200, r
    run_id = r.json["run"]["id"]
    assert server.http("GET", f"/runs/{run_id}", token=b).status == 200
    assert server.http("GET", f"/runs/{run_id}", token=a).status == 404
    assert run_id not in {x["id"] for x in server.get_json("/runs", token=a)["runs"]}
    assert run_id in {x["id"] for x in server.get_json("/runs", token=b)["runs"]}


# ---------------------------------------------------------------------------
# Scopes
# ---------------------------------------------------------------------------


def test_read_only_key_can_read_but_not_write(server, ab):
    a, ca = ab.a, ab.ca
    reader = server.key(ab.ta, "read")
    wf = new_wf("ro")
    saved = ca.save(wf, 1, {"v": 1}, agent_id="ro-agent")
    ca.register_agent("ro-agent", "RO")
    hook = ca.register_webhook("http://127.0.0.1:9/never", ["workflow.expired"])
    # reads work, with the SDK and raw
    with server.client(reader) as rc:
        assert rc.get(saved.checkpoint_id).state == {"v": 1}
        assert rc.resume(wf).latest_checkpoint.step == 1
        assert rc.replay(wf).total == 1
        assert "ro-agent" in {x.agent_id for x in rc.list_agents()}
        for path in ("/webhooks", "/agents/ro-agent", "/analytics/overview",
                     f"/analytics/workflows/{wf}", "/analytics/failures", "/analytics/agents"):
            assert server.http("GET", path, token=reader).status == 200, path
        # writes are 403 FORBIDDEN (a plain SnapStateError in the SDK)
        assert_error(server.save(wf, 2, {"v": 2}, token=reader), 403, "FORBIDDEN",
                     request_id=False)
        with pytest.raises(SnapStateError) as exc:
            rc.save(wf, 2, {"v": 2})
        assert type(exc.value) is SnapStateError
        assert exc.value.status_code == 403 and exc.value.code == "FORBIDDEN"
        with pytest.raises(SnapStateError) as exc:
            rc.register_agent("new-agent", "x")
        assert exc.value.status_code == 403
        with pytest.raises(SnapStateError) as exc:
            rc.register_webhook("http://127.0.0.1:9/x", ["checkpoint.saved"])
        assert exc.value.status_code == 403
    for method, path, body in (
        ("DELETE", f"/webhooks/{hook['webhook_id']}", None),
        ("PATCH", "/agents/ro-agent", {"name": "changed"}),
        ("DELETE", "/agents/ro-agent", None),
        ("POST", "/agents", {"agent_id": "x"}),
        ("POST", "/webhooks", {"url": "http://127.0.0.1:9/x", "events": ["checkpoint.saved"]}),
    ):
        kw = {} if body is None else {"body": body}
        assert_error(server.http(method, path, token=reader, **kw), 403, "FORBIDDEN",
                     request_id=False)
    # nothing changed
    assert server.http("GET", f"/checkpoints/{cp_id(wf, 2)}", token=a).status == 404
    assert server.get_json("/agents/ro-agent", token=a)["name"] == "RO"
    assert hook["webhook_id"] in {h["webhook_id"] for h in server.get_json("/webhooks", token=a)["webhooks"]}
    assert server.http("GET", "/agents/new-agent", token=a).status == 404


# ---------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------

ROUTES = [
    ("POST", "/checkpoints", {"workflow_id": "w", "step": 1, "state": {}}),
    ("GET", "/checkpoints/cp_w_001", None),
    ("GET", "/workflows/w/resume", None),
    ("GET", "/workflows/w/replay", None),
    ("POST", "/webhooks", {"url": "http://127.0.0.1:9/x", "events": ["checkpoint.saved"]}),
    ("GET", "/webhooks", None),
    ("DELETE", "/webhooks/wh_000000000000000000000000", None),
    ("POST", "/agents", {"agent_id": "x"}),
    ("GET", "/agents", None),
    ("GET", "/agents/x", None),
    ("PATCH", "/agents/x", {"name": "y"}),
    ("DELETE", "/agents/x", None),
    ("GET", "/analytics/overview", None),
    ("GET", "/analytics/workflows/w", None),
    ("GET", "/analytics/failures", None),
    ("GET", "/analytics/agents", None),
]


@pytest.mark.parametrize("method,path,body", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
@pytest.mark.parametrize("auth", [None, "Bearer nope-not-a-key", "Bearer ", "Basic Zm9vOmJhcg==",
                                  "snapstate-compat-root-key"],
                         ids=["none", "unknown key", "empty bearer", "basic", "no Bearer prefix"])
def test_missing_or_invalid_key_is_401(server, method, path, body, auth):
    headers = {} if auth is None else {"Authorization": auth}
    r = http_call(server.url, method, path, _NO_BODY if body is None else body, headers=headers)
    # (X-Request-Id on auth failures: test_auth_failures_carry_a_request_id)
    assert_error(r, 401, "UNAUTHORIZED", request_id=False)


def test_auth_failures_carry_a_request_id(server, ab):
    reader = server.key(ab.ta, "read")
    for r in (
        http_call(server.url, "GET", "/workflows/w/resume"),
        http_call(server.url, "GET", "/agents", headers={"Authorization": "Bearer nope"}),
        server.save(new_wf(), 1, {}, token=reader),
    ):
        assert_request_id(r)


def test_sdk_with_a_bad_key_raises_auth_error(server):
    with server.client("cairn_definitely-not-a-key") as bad:
        for call in (lambda: bad.save(new_wf(), 1, {}), lambda: bad.get("cp_x_001"),
                     lambda: bad.resume("x"), lambda: bad.replay("x"), bad.list_agents,
                     lambda: bad.register_agent("x", "x"),
                     lambda: bad.register_webhook("http://127.0.0.1:9/x", ["checkpoint.saved"])):
            with pytest.raises(AuthError) as exc:
                call()
            assert exc.value.status_code == 401 and exc.value.code == "UNAUTHORIZED"


def test_revoked_key_stops_working(server):
    tenant = f"revoke-{uuid.uuid4().hex[:8]}"
    key = server.key(tenant)
    with server.client(key) as c:
        c.save(new_wf("rv"), 1, {})
        listed = keys_cli(server, "list", "--tenant", tenant)
        key_id = listed.stdout.splitlines()[1].split("\t")[0]
        assert keys_cli(server, "revoke", key_id).returncode == 0
        wait_until(lambda: server.http("GET", "/agents", token=key).status == 401, timeout=5,
                   desc="the revoked key to be refused")
        with pytest.raises(AuthError):
            c.resume("anything")
