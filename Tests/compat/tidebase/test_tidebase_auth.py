"""Authentication with an admin API key (contract §1.2)."""

from __future__ import annotations

import asyncio

import pytest
from tidebase import Tidebase, TidebaseError
from tidebase.aio import AsyncTidebase

from tbcompat import SSEStream, http_call, start_server

KEY = "compat-admin-key-7f3a9c"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    srv = start_server(tmp_path_factory, "auth", api_key=KEY)
    yield srv
    srv.stop()


def test_health_is_open(keyed):
    r = http_call(keyed.url, "GET", "/health")
    assert r.status == 200
    assert r.json == {"ok": True}


@pytest.mark.parametrize("headers", [
    {},
    {"authorization": "Bearer wrong-key"},
    {"authorization": f"bearer {KEY}"},  # the prefix is case-sensitive
    {"authorization": KEY},
    {"authorization": f"Basic {KEY}"},
])
def test_requests_without_the_bearer_get_401(keyed, headers):
    for method, path, body in [
        ("GET", "/runs", None),
        ("POST", "/runs/wf", {"input": {}}),
        ("GET", f"/runs/run_{'0' * 32}", None),
        ("POST", f"/runs/run_{'0' * 32}/steps/begin", {"name": "s", "inputHash": "h"}),
    ]:
        kw = {} if body is None else {"body": body}
        r = http_call(keyed.url, method, path, headers=headers, **kw)
        assert r.status == 401, (method, path, headers, r)
        assert r.json == {"error": "unauthorized"}


def test_sdk_without_key_gets_401(keyed):
    tide = Tidebase(url=keyed.url)
    with pytest.raises(TidebaseError) as info:
        tide.runs.list()
    assert info.value.status == 401


def test_sdk_with_key_runs_a_workflow(keyed):
    tide = Tidebase(url=keyed.url, api_key=KEY)
    run_ids: list = []

    def workflow(run, input):
        run_ids.append(run.run_id)
        run.state.set({"authed": True})
        run.usage.record(input_tokens=1, output_tokens=1)
        return run.step("s", lambda: input["x"] + 1)

    assert tide.run("authed", workflow, input={"x": 1}) == 2
    detail = tide.runs.get(run_ids[0])
    assert detail["run"]["status"] == "completed"
    # Gate resolve needs the admin key too; the resolve token is an extra check.
    s = tide.runs.attach("authed-gate", input={}, heartbeat_s=None)
    g = s.gates.begin("g", "ok?")
    gate = next(x for x in tide.runs.get(s.run_id)["gates"] if x["id"] == g["gateId"])
    path = f"/runs/{s.run_id}/gates/{gate['id']}/resolve"
    body = {"token": gate["resolveToken"], "decision": "approved"}
    assert http_call(keyed.url, "POST", path, body).status == 401
    assert http_call(keyed.url, "POST", path, body, token=KEY).status == 200
    assert s.gates.get(g["gateId"])["status"] == "approved"
    s.complete(None)


def test_async_sdk_with_key(keyed):
    atide = AsyncTidebase(url=keyed.url, api_key=KEY)

    async def workflow(run, input):
        return await run.step("a", lambda: "async-ok")

    assert asyncio.run(atide.run("authed-async", workflow, input={})) == "async-ok"


def test_sse_accepts_token_query_but_other_routes_do_not(keyed):
    tide = Tidebase(url=keyed.url, api_key=KEY)
    run = tide.runs.create("sse-auth", input={})
    rid = run["id"]

    # SSE with ?token= works (what EventSource clients and the Python SDK use).
    with SSEStream(keyed.url, f"/runs/{rid}/events?after=0&token={KEY}") as stream:
        assert stream.status == 200, stream.body
        assert stream.next(timeout=10)["data"]["type"] == "run.created"
    # The SDK's subscribe() sends ?token= itself.
    gen = tide.runs.subscribe(rid, after=0)
    try:
        assert next(gen)["type"] == "run.created"
    finally:
        gen.close()
    # SSE with the bearer header also works.
    with SSEStream(keyed.url, f"/runs/{rid}/events?after=0",
                   headers={"Authorization": f"Bearer {KEY}"}) as stream:
        assert stream.status == 200, stream.body
        assert stream.next(timeout=10)["data"]["seq"] == 1
    # SSE without a token, or with a wrong one: 401.
    with SSEStream(keyed.url, f"/runs/{rid}/events?after=0") as stream:
        assert stream.status == 401
    with SSEStream(keyed.url, f"/runs/{rid}/events?after=0&token=nope") as stream:
        assert stream.status == 401

    # ?token= is ignored everywhere else.
    for path in (f"/runs/{rid}?token={KEY}", f"/runs?token={KEY}"):
        r = http_call(keyed.url, "GET", path)
        assert r.status == 401, (path, r)
    r = http_call(keyed.url, "POST", f"/runs/{rid}/cancel?token={KEY}", {})
    assert r.status == 401, r
    assert tide.runs.get(rid)["run"]["status"] == "pending"


def test_cors_preflight_needs_no_auth(keyed):
    r = http_call(keyed.url, "OPTIONS", "/runs", headers={
        "Origin": "http://studio.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    })
    assert r.status == 204, r
    assert r.headers.get("Access-Control-Allow-Origin") in ("*", "http://studio.example")


def test_cors_header_on_ordinary_responses(keyed):
    r = http_call(keyed.url, "GET", "/health", headers={"Origin": "http://studio.example"})
    assert r.status == 200
    assert r.headers.get("Access-Control-Allow-Origin") in ("*", "http://studio.example")
