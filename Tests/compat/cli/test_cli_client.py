"""The client commands (`cairn runs|queues|schedules|checkpoints`) against a running server,
and the sentences they print when something is wrong."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request

import pytest

from cairncompat import cairn_bin, start_server

KEY = "cli-test-root-key-0123456789"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "cli_client", api_key=KEY)
    yield srv
    srv.stop()


def cairn(*args, env_key=KEY, url=None, server=None, timeout=60):
    env = {"PATH": "/usr/bin:/bin"}
    if env_key:
        env["CAIRN_API_KEY"] = env_key
    if url or server:
        env["CAIRN_URL"] = url or server.url
    return subprocess.run([str(cairn_bin()), *args], capture_output=True, text=True, timeout=timeout, env=env)


def ok(done):
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_version():
    out = ok(cairn("--version"))
    assert out.strip() and out.strip()[0].isdigit()


def test_runs_ls_show_events_cancel(server):
    from tidebase import Tidebase

    tide = Tidebase(url=server.url, api_key=KEY)
    done = tide.run("cli-report", lambda run, input: run.step("one", lambda: {"n": 1}) and {"ok": True}, input={})
    lines = ok(cairn("runs", "ls", "--json", "--workflow", "cli-report", server=server)).splitlines()
    runs = [json.loads(line) for line in lines]
    assert [r["workflowName"] for r in runs] == ["cli-report"]
    run_id = runs[0]["id"]
    assert runs[0]["status"] == "completed"
    assert run_id in ok(cairn("runs", "ls", "--status", "completed", server=server))
    assert run_id not in ok(cairn("runs", "ls", "--status", "failed", server=server))

    shown = ok(cairn("runs", "show", run_id, server=server))
    assert "completed" in shown and "one" in shown
    events = [json.loads(line) for line in ok(cairn("runs", "events", run_id, server=server)).splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    later = [json.loads(line) for line in ok(cairn("runs", "events", run_id, "--after", "2", server=server)).splitlines()]
    assert [e["seq"] for e in later] == [e["seq"] for e in events if e["seq"] > 2]

    req = urllib.request.Request(
        server.url + "/runs/cli-cancel", data=b'{"input":{}}', method="POST",
        headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"})
    created = json.loads(urllib.request.urlopen(req).read())
    victim = created["run"]["id"]
    assert "cancelled" in ok(cairn("runs", "cancel", victim, "--reason", "test", server=server))
    assert json.loads(ok(cairn("runs", "show", victim, "--json", server=server)))["run"]["status"] == "cancelled"


def test_gate_approved_from_the_cli(server):
    from tidebase import Tidebase

    tide = Tidebase(url=server.url, api_key=KEY)
    result: dict = {}

    def workflow(run, input):
        result["run"] = run.run_id
        decision = run.gate("review", "Ship it?", poll_s=0.05, timeout_s=30)
        return {"approved": decision.approved, "payload": decision.payload}

    worker = threading.Thread(target=lambda: result.setdefault("out", tide.run("cli-gated", workflow, input={})))
    worker.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if "run" in result and "review" in ok(cairn("runs", "show", result["run"], server=server)):
            break
        time.sleep(0.05)
    out = ok(cairn("runs", "approve", result["run"], "review", "--comment", "fine", server=server))
    assert "approved" in out
    worker.join(30)
    assert result["out"] == {"approved": True, "payload": {"comment": "fine"}}
    again = cairn("runs", "approve", result["run"], "review", server=server)
    assert again.returncode != 0 and "already approved" in again.stderr


def test_queues_schedules_checkpoints(server):
    def send(method, path, body):
        req = urllib.request.Request(
            server.url + path, data=json.dumps(body).encode(), method=method,
            headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"})
        return json.loads(urllib.request.urlopen(req).read())

    send("POST", "/queues/cli-q/enqueue", {"workflowName": "w", "input": {}})
    assert "cli-q" in ok(cairn("queues", "ls", server=server))
    send("PUT", "/schedules/cli-nightly", {"cron": "0 3 * * *", "workflowName": "w", "input": {}})
    assert "cli-nightly" in ok(cairn("schedules", "ls", server=server))
    for step in (1, 2, 3):
        send("POST", "/checkpoints", {"workflow_id": "cli-wf", "step": step, "state": {"s": step}})
    rows = [json.loads(line) for line in ok(cairn("checkpoints", "replay", "cli-wf", "--json", server=server)).splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    latest = json.loads(ok(cairn("checkpoints", "resume", "cli-wf", server=server)))
    assert latest["latest_checkpoint"]["step"] == 3
    listed = [json.loads(line) for line in ok(cairn("checkpoints", "ls", "--json", server=server)).splitlines()]
    assert [(w["workflow_id"], w["latest_step"]) for w in listed if w["workflow_id"] == "cli-wf"] == [("cli-wf", 3)]
    one = json.loads(ok(cairn("checkpoints", "show", rows[0]["checkpoint_id"], server=server)))
    assert one["state"] == {"s": 1}


def test_errors_are_sentences(server):
    no_key = cairn("runs", "ls", env_key=None, server=server)
    assert no_key.returncode != 0
    assert f"401 from {server.url}/runs" in no_key.stderr
    assert "needs an API key (--api-key or CAIRN_API_KEY)" in no_key.stderr
    bad_key = cairn("runs", "ls", env_key="not-a-key-of-this-server", server=server)
    assert "does not accept this API key" in bad_key.stderr
    missing = cairn("runs", "show", "run_missing", server=server)
    assert missing.returncode != 0 and "404 from" in missing.stderr and "not found" in missing.stderr
    unreachable = cairn("runs", "ls", url="http://127.0.0.1:1")
    assert unreachable.returncode != 0 and "cannot reach http://127.0.0.1:1: connection refused" in unreachable.stderr
    for done in (no_key, bad_key, missing, unreachable):
        assert "CairnError" not in done.stderr and "NSCocoaErrorDomain" not in done.stderr
    usage = cairn("runs", "ls", "--limit", "0", server=server)
    assert usage.returncode != 0 and "Usage: cairn runs ls" in usage.stderr


def test_keys_over_the_admin_api(server):
    made = cairn("keys", "create", "--tenant", "cli-remote", "--scope", "read", server=server)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret and "\n" not in secret
    listed = [json.loads(line) for line in ok(cairn("keys", "list", "--tenant", "cli-remote", "--json", server=server)).splitlines()]
    assert [k["scopes"] for k in listed] == [["read"]]
    assert all("secret" not in k for k in listed)
    # The new key works, then stops working once revoked over the API.
    assert cairn("runs", "ls", env_key=secret, server=server).returncode == 0
    assert "revoked" in ok(cairn("keys", "revoke", listed[0]["id"], server=server))
    refused = cairn("runs", "ls", env_key=secret, server=server)
    assert refused.returncode != 0 and "does not accept this API key" in refused.stderr
    # A key without the admin scope is told so.
    denied = cairn("keys", "list", env_key=secret, server=server)
    assert denied.returncode != 0
