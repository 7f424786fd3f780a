"""Tenants and API keys with the unmodified SDK: keys created by `cairn keys create` while the
server runs; each tenant sees only its own runs; another tenant's run ids are unknown (404);
anonymous requests are refused once keys exist; a revoked key stops working."""

from __future__ import annotations

import pytest
from tidebase import Tidebase, TidebaseError

from cairncompat import create_key as _create_key, keys_cli as cli
from tbcompat import wait_until


def create_key(server, tenant: str, *scopes: str) -> str:
    secret = _create_key(server, tenant, *scopes)
    assert secret.startswith("cairn_")  # Cairn's own key format
    return secret


def test_tenants_are_isolated_and_keys_can_be_revoked(server_factory):
    server = server_factory()
    acme_key = create_key(server, "acme")
    globex_key = create_key(server, "globex")
    acme = Tidebase(url=server.url, api_key=acme_key)
    globex = Tidebase(url=server.url, api_key=globex_key)

    # Anonymous access ends once keys exist (the server re-reads within a second).
    wait_until(lambda: server.http("GET", "/runs").status == 401, timeout=5, desc="anonymous refused")

    result = acme.run("acme-report", lambda run, input: run.step("s", lambda: {"ok": input["n"]}), input={"n": 1})
    assert result == {"ok": 1}
    run_id = acme.runs.list()[0]["id"]

    assert globex.runs.list() == []
    with pytest.raises(TidebaseError) as missing:
        globex.runs.get(run_id)
    assert missing.value.status == 404
    with pytest.raises(TidebaseError) as cancel:
        globex.runs.cancel(run_id)
    assert cancel.value.status == 404
    assert acme.runs.get(run_id)["run"]["status"] == "completed"

    # A read-only key cannot write.
    reader = Tidebase(url=server.url, api_key=create_key(server, "acme", "read"))
    assert reader.runs.list()[0]["id"] == run_id
    with pytest.raises(TidebaseError) as refused:
        reader.runs.create("nope")
    assert refused.value.status == 403

    listed = cli(server, "list", "--tenant", "acme")
    assert listed.returncode == 0 and acme_key not in listed.stdout
    key_id = next(line.split("\t")[0] for line in listed.stdout.splitlines()[1:] if "read,write" in line)
    assert cli(server, "revoke", key_id).returncode == 0
    with pytest.raises(TidebaseError) as revoked:
        acme.runs.list()
    assert revoked.value.status == 401


def test_event_stream_of_another_tenants_run_carries_none_of_its_events(server_factory):
    server = server_factory()
    acme_key = create_key(server, "acme")
    globex_key = create_key(server, "globex")
    wait_until(lambda: server.http("GET", "/runs").status == 401, timeout=5, desc="anonymous refused")
    created = server.http("POST", "/runs/acme-stream", {"input": {}}, token=acme_key)
    assert created.status in (200, 201), created.body
    run_id = created.json["run"]["id"]

    own = server.sse(f"/runs/{run_id}/events?after=0", headers={"Authorization": f"Bearer {acme_key}"})
    foreign = server.sse(f"/runs/{run_id}/events?token={globex_key}&after=0")
    try:
        # The reference answers an unknown run with an open, empty stream; another tenant's run
        # must look exactly like that: no stored events, and no live ones as the run changes.
        assert own.status == 200 and foreign.status == 200
        assert own.next(timeout=10)["data"]["type"] == "run.created"
        changed = server.http("PUT", f"/runs/{run_id}/state", {"value": {"x": 1}}, token=acme_key)
        assert changed.status == 200, changed.body
        assert own.next(timeout=10)["data"]["type"] == "state.updated"
        with pytest.raises(AssertionError, match="no SSE message"):
            foreign.next(timeout=1.0)
    finally:
        own.close()
        foreign.close()
