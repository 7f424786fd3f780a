"""Replicas: two `cairn serve` processes (A and B) on one Postgres database and one S3 bucket
(without an S3 server: blobs in each data directory, and the artifact test skipped), each with
its own --data-dir and port, behave as one server.

A run made through one replica is driven through the other; an event stream on one sees, in
order and without gaps, what requests to the other caused; an artifact stored through one is
read byte for byte through the other; acknowledged writes survive `kill -9` of a replica; a
dead replica's claimed queue item comes back once its lease expires, through the survivor's
reconciler; keys made with `cairn keys --database` count on every replica.
Deadlines are generous and everything is polled: no assertion depends on timing.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import threading
import uuid

import pytest

from cairncompat import http_call, keys_cli, wait_until
from tbcompat import stable_hash


def new_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def step_body(name: str, input_value, owner: str) -> dict:
    return {"name": name, "inputHash": stable_hash(input_value), "input": input_value,
            "leaseOwner": owner}


def comparable(detail: dict) -> dict:
    """The stored parts of a run's detail (not `stalled`, which is computed per request)."""
    return {k: v for k, v in detail.items() if k != "stalled"}


# ---------------------------------------------------------------------------
# (a) A run created through A is driven through B
# ---------------------------------------------------------------------------


def test_a_run_created_on_a_is_driven_through_b_and_a_sees_the_result(replicas):
    a, b = replicas().servers
    created = a.ok("POST", "/runs/scaleout-report", {"input": {"n": 7}, "metadata": {"via": "A"}})
    run_id = created["run"]["id"]

    begun = b.ok("POST", f"/runs/{run_id}/begin", headers={"x-tidebase-worker": "worker-b"})
    assert begun["leaseOwner"] == "worker-b" and begun["run"]["status"] == "running", begun
    # B's lease is the shared one: A refuses another worker while it is live.
    taken = a.http("POST", f"/runs/{run_id}/begin", headers={"x-tidebase-worker": "worker-a"})
    assert taken.status == 409 and taken.json.get("leaseOwner") == "worker-b", taken

    step = b.ok("POST", f"/runs/{run_id}/steps/begin", step_body("fetch", {"n": 7}, "worker-b"))
    assert step["action"] == "execute", step
    b.ok("POST", f"/runs/{run_id}/steps/{step['step']['id']}/complete",
         {"leaseOwner": "worker-b", "output": {"rows": 3}})
    b.ok("PUT", f"/runs/{run_id}/state", {"value": {"phase": "written"}})
    done = b.ok("POST", f"/runs/{run_id}/complete", {"result": {"ok": True, "rows": 3}})
    assert done["run"]["status"] == "completed", done

    seen_by_a = a.detail(run_id)
    assert seen_by_a["run"]["status"] == "completed", seen_by_a["run"]
    assert seen_by_a["run"]["result"] == {"ok": True, "rows": 3}
    assert [s["status"] for s in seen_by_a["steps"]] == ["completed"]
    assert seen_by_a["steps"][0]["output"] == {"rows": 3}
    assert seen_by_a["state"]["value"] == {"phase": "written"}
    assert [e["type"] for e in seen_by_a["events"]] == [
        "run.created", "run.started", "step.started", "step.completed", "state.updated",
        "run.completed"]
    assert comparable(seen_by_a) == comparable(b.detail(run_id))
    assert run_id in [r["id"] for r in a.ok("GET", "/runs")["runs"]]

    # The checkpoint B wrote is replayed through A: the step is not executed again.
    again = a.ok("POST", f"/runs/{run_id}/steps/begin", step_body("fetch", {"n": 7}, "worker-a"))
    assert again["action"] == "return" and again["output"] == {"rows": 3}, again


# ---------------------------------------------------------------------------
# (b) An event stream on A sees what requests to B caused
# ---------------------------------------------------------------------------


def test_an_event_stream_on_a_sees_events_caused_through_b_in_order_without_gaps(replicas):
    a, b = replicas().servers
    run_id = a.ok("POST", "/runs/scaleout-stream", {"input": {}})["run"]["id"]

    with a.sse(f"/runs/{run_id}/events?after=0", timeout=60) as stream:
        assert stream.status == 200, stream.body
        got = [stream.next(timeout=30)]
        assert got[0]["data"]["type"] == "run.created", got[0]

        owner = b.ok("POST", f"/runs/{run_id}/begin")["leaseOwner"]
        step = b.ok("POST", f"/runs/{run_id}/steps/begin", step_body("one", {"i": 1}, owner))
        b.ok("POST", f"/runs/{run_id}/steps/{step['step']['id']}/complete",
             {"leaseOwner": owner, "output": 1})
        # Writers on both replicas at once: the log stays one sequence, and A's stream has it all.
        errors: list = []

        def patch(server, i: int) -> None:
            try:
                r = server.http("PATCH", f"/runs/{run_id}/state", {"value": {f"k{i}": i}})
                if r.status != 200:
                    errors.append(f"PATCH through {server.name} -> {r!r}")
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(f"PATCH through {server.name}: {exc!r}")

        writers = [threading.Thread(target=patch, args=((b, a)[i % 4 == 3], i)) for i in range(16)]
        for t in writers:
            t.start()
        for t in writers:
            t.join()
        assert not errors, errors
        b.ok("POST", f"/runs/{run_id}/complete", {"result": "done"})

        stored = b.detail(run_id)["events"]
        assert len(stored) == 1 + 1 + 2 + 16 + 1, [e["type"] for e in stored]
        while len(got) < len(stored):
            got.append(stream.next(timeout=30))

    seqs = [m["data"]["seq"] for m in got]
    assert seqs == list(range(1, len(stored) + 1)), f"stream on A out of order or with gaps: {seqs}"
    assert [m["id"] for m in got] == [str(s) for s in seqs]
    assert [m["data"] for m in got] == stored, "the stream on A differs from the stored log"
    assert stored[-1]["type"] == "run.completed"


# ---------------------------------------------------------------------------
# (c) Artifacts: stored through A, read through B
# ---------------------------------------------------------------------------


def upload(server, name: str, data: bytes) -> dict:
    r = server.http("POST", f"/artifacts?name={name}", raw=data,
                    headers={"content-type": "application/octet-stream"})
    assert r.status == 201, f"upload {name} through {server.name} -> {r!r}"
    return r.json["artifact"]


@pytest.mark.needs_s3
def test_an_artifact_uploaded_to_a_downloads_byte_exact_from_b(replicas):
    a, b = replicas().servers
    rng = random.Random(20260601)
    blobs = {
        "empty.bin": b"",
        "small.txt": b"hello from replica A\n",
        # Several of the server's 1 MiB chunks, and not a multiple of any part size.
        "large.bin": rng.randbytes(5 * 1024 * 1024 + 12345),
    }
    stored = {name: upload(a, name, data) for name, data in blobs.items()}

    for name, data in blobs.items():
        artifact = stored[name]
        got = b.http("GET", f"/artifacts/{artifact['id']}")
        assert got.status == 200, f"GET {name} through B -> {got!r}"
        assert len(got.body) == len(data), f"{name}: {len(got.body)} bytes through B, {len(data)} stored"
        assert hashlib.sha256(got.body).hexdigest() == hashlib.sha256(data).hexdigest(), name
        meta = b.ok("GET", f"/artifacts/{artifact['id']}/metadata")
        assert meta["artifact"]["sha256"] == hashlib.sha256(data).hexdigest(), meta
        assert meta["artifact"]["size"] == len(data), meta

    large = blobs["large.bin"]
    part = b.http("GET", f"/artifacts/{stored['large.bin']['id']}",
                  headers={"range": "bytes=3000000-3999999"})
    assert part.status == 206, part
    assert part.body == large[3_000_000:4_000_000]

    # Deleted through B: gone through A too.
    victim = stored["small.txt"]["id"]
    assert b.http("DELETE", f"/artifacts/{victim}").status == 200
    wait_until(lambda: a.http("GET", f"/artifacts/{victim}").status == 404, timeout=30,
               desc="A to answer 404 for the artifact deleted through B")


# ---------------------------------------------------------------------------
# (d) Acknowledged writes survive kill -9 of a replica
# ---------------------------------------------------------------------------

THREADS = 16


class Acks:
    """What the servers acknowledged (2xx), and what the survivor refused unexpectedly."""

    def __init__(self):
        self.lock = threading.Lock()
        self.runs: dict = {}         # run id -> input
        self.steps: list = []        # (run id, step name, output)
        self.checkpoints: list = []  # (workflow id, step, state)
        self.unexpected: list = []   # answers from a live server that were not 2xx
        self.count = 0

    def add(self, kind: str, item) -> None:
        with self.lock:
            if kind == "run":
                self.runs[item[0]] = item[1]
            else:
                getattr(self, kind).append(item)
            self.count += 1


def writer(i: int, servers: list, acks: Acks, stop: threading.Event, dead: set) -> None:
    """Round-robin over the replicas, one request each: create a run, complete a step of an
    acknowledged run of this thread's, save a checkpoint. A request to a dead replica (refused,
    reset) is simply not acknowledged."""
    turn = itertools.count(i)
    my_runs: list = []
    workflow = f"d-{i}-{uuid.uuid4().hex[:8]}"
    n = 0

    def call(method: str, path: str, body):
        srv = servers[next(turn) % len(servers)]
        try:
            r = srv.http(method, path, body, timeout=30)
        except Exception:  # noqa: BLE001 - the replica died under the request
            return None
        if not 200 <= r.status < 300 and srv.name not in dead:
            with acks.lock:
                acks.unexpected.append(f"{method} {path} through {srv.name} -> {r!r}")
        return r if 200 <= r.status < 300 else None

    while not stop.is_set():
        n += 1
        kind = n % 3
        if kind == 0 or not my_runs:
            value = {"thread": i, "n": n}
            r = call("POST", "/runs/scaleout-durable", {"input": value})
            if r is not None:
                run_id = r.json["run"]["id"]
                my_runs.append(run_id)
                acks.add("run", (run_id, value))
        elif kind == 1:
            run_id = my_runs[n % len(my_runs)]
            name, value = f"s{n}", {"thread": i, "n": n}
            r = call("POST", f"/runs/{run_id}/steps/begin", step_body(name, value, f"w{i}"))
            if r is None:
                continue
            if r.json.get("action") != "execute":
                with acks.lock:
                    acks.unexpected.append(f"steps/begin {name} on {run_id}: {r.json!r}")
                continue
            done = call("POST", f"/runs/{run_id}/steps/{r.json['step']['id']}/complete",
                        {"leaseOwner": f"w{i}", "output": value})
            if done is not None:
                acks.add("steps", (run_id, name, value))
        else:
            state = {"thread": i, "n": n, "pad": "x" * (n % 50)}
            r = call("POST", "/checkpoints", {"workflow_id": workflow, "step": n, "state": state})
            if r is not None:
                acks.add("checkpoints", (workflow, n, state))


def check_acknowledged(server, acks: Acks) -> None:
    missing: list = []
    for run_id, value in acks.runs.items():
        r = server.http("GET", f"/runs/{run_id}")
        if r.status != 200:
            missing.append(f"run {run_id}: {r.status}")
            continue
        detail = r.json
        if detail["run"]["input"] != value:
            missing.append(f"run {run_id}: input {detail['run']['input']!r}, acknowledged {value!r}")
        seqs = [e["seq"] for e in detail["events"]]
        if seqs != list(range(1, len(seqs) + 1)):
            missing.append(f"run {run_id}: event seqs {seqs}")
    steps_by_run: dict = {}
    for run_id, name, value in acks.steps:
        if run_id not in steps_by_run:
            steps_by_run[run_id] = {s["name"]: s for s in server.detail(run_id)["steps"]}
        step = steps_by_run[run_id].get(name)
        if step is None or step["status"] != "completed" or step["output"] != value:
            missing.append(f"step {name} of {run_id}: {step!r}")
    for workflow, n, state in acks.checkpoints:
        r = server.http("GET", f"/checkpoints/cp_{workflow}_{n:03d}")
        if r.status != 200 or r.json["state"] != state:
            missing.append(f"checkpoint {workflow}/{n}: {r!r}")
    assert not missing, (
        f"{len(missing)} acknowledged writes missing or changed through {server.name} "
        f"(of {acks.count}):\n" + "\n".join(missing[:40]))


def test_acknowledged_writes_survive_kill_9_of_a_replica(replicas):
    a, b = replicas().servers
    acks, stop, dead = Acks(), threading.Event(), set()
    threads = [threading.Thread(target=writer, args=(i, [a, b], acks, stop, dead), daemon=True)
               for i in range(THREADS)]
    for t in threads:
        t.start()
    try:
        # A kill point somewhere in the stream: after a random number of acknowledged writes.
        kill_at = 300 + random.randrange(200)
        wait_until(lambda: acks.count >= kill_at, timeout=120, interval=0.01,
                   desc=f"{kill_at} acknowledged writes before the kill")
        dead.add(a.name)
        a.kill9()
        before = acks.count
        wait_until(lambda: acks.count >= before + 300, timeout=120, interval=0.05,
                   desc="300 more acknowledged writes through B after A was killed")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer thread is stuck"
    assert not acks.unexpected, "B (or A while alive) refused writes:\n" + "\n".join(acks.unexpected[:20])
    assert acks.runs and acks.steps and acks.checkpoints, (len(acks.runs), len(acks.steps),
                                                           len(acks.checkpoints))
    check_acknowledged(b, acks)
    # And A, back on the same database, agrees.
    a.restart()
    check_acknowledged(a, acks)


# ---------------------------------------------------------------------------
# (e) A dead replica's claimed queue item is requeued and claimed through the survivor
# ---------------------------------------------------------------------------


def test_a_claim_held_by_a_killed_replica_is_requeued_and_claimable_through_b(replicas):
    a, b = replicas("--lease-ms", "1500").servers
    queue = new_name("scaleout-q")
    run = a.ok("POST", f"/queues/{queue}/enqueue",
               {"workflowName": "scaleout-job", "input": {"job": 1}, "maxAttempts": 3})["run"]
    claimed = a.ok("POST", "/queues/claim", {"queues": [queue], "leaseOwner": "worker-a"})
    assert [r["id"] for r in claimed["runs"]] == [run["id"]], claimed
    assert claimed["runs"][0]["attempt"] == 1
    a.kill9()

    def claim_through_b():
        return b.ok("POST", "/queues/claim", {"queues": [queue], "leaseOwner": "worker-b"})["runs"]

    # Lease expiry, then the retry backoff: B's reconciler requeues it, then it is claimable.
    runs = wait_until(claim_through_b, timeout=120, interval=0.5,
                      desc="the dead replica's claim to be requeued and claimable through B")
    assert [r["id"] for r in runs] == [run["id"]], runs
    assert runs[0]["leaseOwner"] == "worker-b" and runs[0]["attempt"] == 2, runs[0]
    types = [e["type"] for e in b.detail(run["id"])["events"]]
    assert types == ["run.enqueued", "run.claimed", "run.requeued", "run.claimed"], types
    requeued = [e for e in b.detail(run["id"])["events"] if e["type"] == "run.requeued"][0]
    assert requeued["payload"].get("reason") == "lease_expired", requeued


# ---------------------------------------------------------------------------
# Keys on the shared database; replicas starting together
# ---------------------------------------------------------------------------


def test_keys_made_with_the_cli_on_the_database_count_on_every_replica(replicas):
    a, b = replicas().servers
    assert a.http("GET", "/runs").status == 200  # open until the first key exists

    done = keys_cli(a, "create", "--tenant", "acme")
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    for srv in (a, b):
        wait_until(lambda: http_call(srv.url, "GET", "/runs", token=secret).status == 200,
                   timeout=30, desc=f"{srv.name} to accept the key made on the database")
        wait_until(lambda: http_call(srv.url, "GET", "/runs").status == 401, timeout=30,
                   desc=f"{srv.name} to leave open mode once a key exists")

    listed = keys_cli(b, "list", "--tenant", "acme")
    assert listed.returncode == 0, listed.stderr
    key_id = listed.stdout.splitlines()[1].split("\t")[0]
    assert keys_cli(b, "revoke", key_id).returncode == 0
    for srv in (a, b):
        wait_until(lambda: http_call(srv.url, "GET", "/runs", token=secret).status == 401,
                   timeout=30, desc=f"{srv.name} to refuse the revoked key")


def test_replicas_starting_together_on_an_empty_database_both_serve(replicas):
    cluster = replicas(count=3, concurrent=True)
    ids = [srv.ok("POST", "/runs/scaleout-boot", {"input": {"from": srv.name}})["run"]["id"]
           for srv in cluster.servers]
    for srv in cluster.servers:
        listed = {r["id"] for r in srv.ok("GET", "/runs")["runs"]}
        assert set(ids) <= listed, (srv.name, ids, listed)
