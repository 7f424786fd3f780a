"""kill -9 the server mid-run, restart it on the same data dir and port, resume.

Leases survive the crash, so the resumed worker must wait for the dead
worker's run and step leases to expire: the server is started with a short
lease (TIDEBASE_LEASE_MS of contract §0, and Cairn's own CAIRN_LEASE_MS) so
that takes about a second.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from tidebase import Tidebase

from tbcompat import parse_ts, wait_until

LEASE_MS = 1500


def _wait_for_leases_to_expire(server, run_id, step_name):
    """Sleep until the crashed worker's run lease and step lease have expired,
    as the restarted server reports them (bounded)."""
    detail = server.detail(run_id)
    stamps = [detail["run"]["leaseExpiresAt"]]
    stamps += [s["leaseExpiresAt"] for s in detail["steps"] if s["name"] == step_name]
    latest = max((parse_ts(t) for t in stamps if t), default=0.0)
    remaining = latest - time.time()
    assert remaining < 15, (
        f"the crashed worker's lease is still held for {remaining:.0f}s: the server "
        f"does not honor TIDEBASE_LEASE_MS / CAIRN_LEASE_MS={LEASE_MS}"
    )
    deadline = latest + 0.05
    while time.time() < deadline:
        time.sleep(min(0.05, max(0.0, deadline - time.time())))


def test_kill9_mid_step_restart_and_resume(server_factory):
    srv = server_factory(env={"TIDEBASE_LEASE_MS": str(LEASE_MS), "CAIRN_LEASE_MS": str(LEASE_MS)})
    tide = Tidebase(url=srv.url)
    calls = Counter()
    entered_step2 = threading.Event()
    release_step2 = threading.Event()
    first_pass = {"on": True}
    run_ids: list = []

    def fetch():
        calls["fetch"] += 1
        return {"pages": 3}

    def render(pages):
        calls["render"] += 1
        if first_pass["on"]:
            entered_step2.set()
            release_step2.wait(30)  # the server dies while we are in here
        return {"rendered": pages * 10}

    def workflow(run, input):
        run_ids.append(run.run_id)
        fetched = run.step("fetch", fetch)
        if first_pass["on"]:
            run.state.set({"phase": "fetched", "pages": fetched["pages"]})
            for i in range(10):
                run.state.patch({f"note{i}": i})
            run.state.save("after-fetch")
            run.usage.record(input_tokens=100, output_tokens=20, cost_usd=0.5)
        rendered = run.step("render", lambda: render(fetched["pages"]))
        return {"fetched": fetched, "rendered": rendered}

    pool = ThreadPoolExecutor(max_workers=6)
    try:
        worker = pool.submit(tide.run, "crashy", workflow, input={"doc": "d1"})
        assert entered_step2.wait(20), "step 2 never started"
        if worker.done():
            worker.result()
        run_id = run_ids[0]

        # Four writers hammer another run right up to the kill (so the store is
        # group-committing); every write they saw acknowledged must survive.
        probe_id = srv.ok("POST", "/runs/durability-probe", {"input": {}})["run"]["id"]
        acked: list = []
        stop = threading.Event()

        def hammer(w):
            i = 0
            while not stop.is_set():
                key = f"w{w}-{i}"
                try:
                    r = srv.http("PATCH", f"/runs/{probe_id}/state", {"value": {key: i}},
                                 timeout=5)
                except Exception:  # the server died mid-request
                    return
                if r.status != 200:
                    return
                acked.append((r.json["state"]["version"], key, i))
                i += 1

        hammers = [pool.submit(hammer, w) for w in range(4)]
        wait_until(lambda: len(acked) >= 40, timeout=20, desc="40 acknowledged probe writes")

        before = srv.detail(run_id)
        steps = {s["name"]: s for s in before["steps"]}
        assert steps["fetch"]["status"] == "completed"
        assert steps["render"]["status"] == "running"
        assert before["run"]["status"] == "running"

        srv.kill9()
        stop.set()
        for h in hammers:
            h.result(timeout=30)
        acked_at_kill = list(acked)

        # The old worker wakes up to a dead server: its step-2 complete fails.
        release_step2.set()
        with pytest.raises(OSError):
            worker.result(timeout=30)
    finally:
        release_step2.set()
        pool.shutdown(wait=False)

    srv.restart()

    # Everything acknowledged before the kill is still there.
    after = srv.detail(run_id)
    assert after["run"] == before["run"]
    assert after["steps"] == before["steps"]
    assert after["state"] == before["state"]
    assert after["stateStreams"] == before["stateStreams"]
    assert after["stateVersions"] == before["stateVersions"]
    assert after["usage"] == before["usage"]
    assert after["events"] == before["events"]
    assert [v["version"] for v in after["stateVersions"]] == list(range(1, 13))
    assert after["stateVersions"][-1]["label"] == "after-fetch"

    probe = srv.detail(probe_id)
    versions = {v["version"]: v["value"] for v in probe["stateVersions"]}
    assert len(acked_at_kill) >= 40
    for version, key, i in acked_at_kill:
        assert version in versions, f"acknowledged state version {version} lost in the crash"
        assert versions[version].get(key) == i
    final_value = probe["state"]["value"]
    for _, key, i in acked_at_kill:
        assert final_value.get(key) == i, f"acknowledged write {key} missing from the state"
    assert probe["state"]["version"] >= max(v for v, _, _ in acked_at_kill)
    assert sorted(versions) == list(range(1, len(versions) + 1))
    seqs = [e["seq"] for e in probe["events"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) >= 1 + len(acked_at_kill)

    # Resume with the same run id once the dead worker's leases have lapsed.
    _wait_for_leases_to_expire(srv, run_id, "render")
    first_pass["on"] = False
    result = Tidebase(url=srv.url).run("crashy", workflow, run_id=run_id)
    assert result == {"fetched": {"pages": 3}, "rendered": {"rendered": 30}}
    assert calls == Counter(fetch=1, render=2)

    final = srv.detail(run_id)
    assert final["run"]["status"] == "completed"
    assert final["run"]["result"] == result
    steps = {s["name"]: s for s in final["steps"]}
    assert steps["fetch"]["attempt"] == 1
    assert steps["render"]["attempt"] == 2
    assert steps["render"]["status"] == "completed"
    assert final["events"][: len(before["events"])] == before["events"]
    seqs = [e["seq"] for e in final["events"]]
    assert seqs == list(range(1, len(seqs) + 1))
    assert [e["type"] for e in final["events"][len(before["events"]):]] == [
        "run.started", "step.started", "step.completed", "run.completed",
    ]


def test_clean_restart_keeps_everything(server_factory):
    srv = server_factory()
    tide = Tidebase(url=srv.url)
    run_ids: list = []

    def workflow(run, input):
        run_ids.append(run.run_id)
        run.state.set({"k": 1})
        run.snapshots.create("snap", {"k": 1})
        return run.step("s", lambda: "v")

    assert tide.run("restart-clean", workflow, input={}) == "v"
    before = srv.detail(run_ids[0])
    srv.stop()
    srv.restart()
    assert srv.detail(run_ids[0]) == before
    # New events continue the per-run sequence, and event ids keep growing.
    srv.ok("PATCH", f"/runs/{run_ids[0]}/state", {"value": {"k": 2}})
    events = srv.detail(run_ids[0])["events"]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert events[-1]["id"] > max(e["id"] for e in before["events"])
    # And a new run still works end to end.
    assert tide.run("restart-clean-2", lambda run, input: run.step("x", lambda: 1)) == 1


def test_sigterm_with_an_open_sse_stream_exits_promptly(server_factory):
    srv = server_factory()
    rid = srv.ok("POST", "/runs/sigterm", {"input": {}})["run"]["id"]
    with srv.sse(f"/runs/{rid}/events?after=0") as stream:
        assert stream.next(timeout=10)["data"]["type"] == "run.created"
        t0 = time.monotonic()
        srv.proc.terminate()
        code = srv.proc.wait(timeout=10)
        elapsed = time.monotonic() - t0
    assert elapsed < 5, f"SIGTERM took {elapsed:.1f}s with an SSE client connected"
    assert code == 0, f"exit code {code} after SIGTERM"
