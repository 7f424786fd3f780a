"""kill -9 the server at random moments under a mixed load, restart it, and check that every
acknowledged write survived.

Each cycle starts the server on the same data dir, runs four kinds of writers at once (Tidebase
runs: memoized steps, state writes, usage events; concurrent state writes to one long-lived run
so commits are shared; SnapState checkpoint saves; artifact uploads), waits until each has had
a write acknowledged, then kills the server (SIGKILL) after a random delay. After the restart,
everything acknowledged in that cycle, and a sample of what was acknowledged before, must be
there unchanged; after the last cycle, all of it. Event sequences must replay gap-free.

Random but seeded: the seed is printed and named in every failure. The load depends only on
the seed; the exact kill points also depend on the machine's timing.

    CAIRN_CRASH_CYCLES=500 Tests/compat/run.sh -k crash_points     # a longer run
    CAIRN_CRASH_SEED=1234 Tests/compat/run.sh -k crash_points      # replay a seed
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tidebase"))

from tbcompat import CairnServer, SSEStream, start_server  # noqa: E402

ROOT_KEY = "crash-points-root-key"
CYCLES = int(os.environ.get("CAIRN_CRASH_CYCLES", "20"))
SEED = int(os.environ.get("CAIRN_CRASH_SEED") or random.SystemRandom().randrange(2**32))
# Older acknowledged writes rechecked per cycle and kind (all of them after the last cycle).
SAMPLE = 8
# A "long-lived" run takes this many cycles of concurrent state writes, then the next one does.
LONG_RUN_CYCLES = 25
STATE_WRITERS = 3


@dataclass
class Ledger:
    """Everything the server acknowledged, and what must be found after a crash."""

    # run id -> {step name: output}
    steps: dict = field(default_factory=dict)
    # run id -> {state version: value}
    versions: dict = field(default_factory=dict)
    # run id -> writes that each appended at least one event
    event_writes: dict = field(default_factory=dict)
    # long-lived run id -> {writer key: highest acknowledged counter}
    latest: dict = field(default_factory=dict)
    # checkpoint id -> (etag, state)
    checkpoints: dict = field(default_factory=dict)
    # artifact id -> (sha256, size)
    artifacts: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> dict:
        with self.lock:
            return {
                "steps": sum(len(s) for s in self.steps.values()),
                "stateVersions": sum(len(v) for v in self.versions.values()),
                "checkpoints": len(self.checkpoints),
                "artifacts": len(self.artifacts),
            }


class Cycle:
    """One server lifetime: writers run until the kill; only their acknowledged writes count."""

    def __init__(self, srv: CairnServer, ledger: Ledger, number: int):
        self.srv = srv
        self.ledger = ledger
        self.number = number
        self.killing = threading.Event()
        self.acked = {name: threading.Event() for name in ("run", "state", "checkpoint", "artifact")}
        self.touched_runs: set = set()
        self.new_checkpoints: list = []
        self.new_artifacts: list = []
        self.failures: list = []

    def rng(self, worker: str) -> random.Random:
        return random.Random(f"{SEED}-{self.number}-{worker}")

    def worker(self, name: str, body: Callable[[random.Random], None]) -> threading.Thread:
        def loop() -> None:
            rng = self.rng(name)
            try:
                while not self.killing.is_set():
                    body(rng)
            except Exception as exc:  # noqa: BLE001 - after the kill every call fails
                if not self.killing.is_set():
                    self.failures.append(f"{name}: {exc!r}")

        thread = threading.Thread(target=loop, name=f"crash-{name}", daemon=True)
        thread.start()
        return thread

    def ok(self, method: str, path: str, body: Any) -> Any:
        """A JSON call that must answer 200; returns the parsed body."""
        r = self.srv.http(method, path, body, timeout=10)
        if r.status != 200:
            raise AssertionError(f"{method} {path} -> {r.status} {r.text[:300]}")
        return r.json

    # -- writers ------------------------------------------------------------

    def runs_worker(self) -> Callable[[random.Random], None]:
        """A Tidebase run per pass: memoized steps (SDK), state writes and usage events."""
        from tidebase import Tidebase

        tide = Tidebase(url=self.srv.url, api_key=ROOT_KEY)
        passes = [0]

        def one_run(rng: random.Random) -> None:
            passes[0] += 1
            session = tide.runs.attach(f"crash-{self.number}-{passes[0]}", heartbeat_s=None)
            rid = session.run_id
            with self.ledger.lock:
                self.touched_runs.add(rid)
                self.ledger.steps.setdefault(rid, {})
                self.ledger.versions.setdefault(rid, {})
                self.ledger.event_writes[rid] = 1  # run.created
            for i in range(rng.randint(3, 12)):
                if self.killing.is_set():
                    return
                kind = rng.choice(["step", "step", "state", "usage"])
                if kind == "step":
                    output = {"i": i, "r": rng.randrange(10**9)}
                    got = session.step(f"s{i}", lambda: output)
                    assert got == output, f"step s{i} of {rid} returned {got!r}"
                    with self.ledger.lock:
                        self.ledger.steps[rid][f"s{i}"] = output
                        self.ledger.event_writes[rid] += 2  # step.started, step.completed
                elif kind == "state":
                    value = {"i": i, "blob": "x" * rng.randint(0, 2000)}
                    version = self.ok("PUT", f"/runs/{rid}/state", {"value": value})["state"]["version"]
                    with self.ledger.lock:
                        self.ledger.versions[rid][version] = value
                        self.ledger.event_writes[rid] += 1
                else:
                    session.usage.record(kind="tool", label=f"u{i}", quantity=rng.randint(1, 5))
                    with self.ledger.lock:
                        self.ledger.event_writes[rid] += 1
                self.acked["run"].set()

        return one_run

    def state_writer(self, long_run: str, writer: int) -> Callable[[random.Random], None]:
        """Concurrent state patches to one run that outlives many crashes."""
        key = f"w{writer}"

        def patch(rng: random.Random) -> None:
            with self.ledger.lock:
                counter = self.ledger.latest[long_run].get(key, 0) + 1 + rng.randint(0, 2)
            body = {"value": {key: counter}}
            state = self.ok("PATCH", f"/runs/{long_run}/state", body)["state"]
            with self.ledger.lock:
                self.ledger.versions[long_run][state["version"]] = {key: counter}
                self.ledger.event_writes[long_run] += 1
                self.ledger.latest[long_run][key] = counter
            self.acked["state"].set()

        return patch

    def checkpoint_worker(self) -> Callable[[random.Random], None]:
        """SnapState saves (SDK) to a few workflows, each step once."""
        from snapstate_sdk import SnapStateClient

        client = SnapStateClient(api_key=ROOT_KEY, base_url=self.srv.url, timeout=10, max_retries=1)  # one attempt: it retries only 429s
        steps: dict = {}

        def save(rng: random.Random) -> None:
            wf = f"crash-{self.number}-wf{rng.randrange(3)}"
            steps[wf] = steps.get(wf, 0) + 1
            state = {"step": steps[wf], "items": [rng.randrange(1000) for _ in range(rng.randint(0, 50))]}
            saved = client.save(wf, steps[wf], state, label=f"l{steps[wf]}")
            with self.ledger.lock:
                self.ledger.checkpoints[saved.checkpoint_id] = (saved.etag, state)
                self.new_checkpoints.append(saved.checkpoint_id)
            self.acked["checkpoint"].set()

        return save

    def artifact_worker(self) -> Callable[[random.Random], None]:
        """Artifact uploads of random bytes, each with its checksum."""
        def upload(rng: random.Random) -> None:
            data = rng.randbytes(rng.choice([0, 1, 100, 5000, 70_000, 300_000]))
            digest = hashlib.sha256(data).hexdigest()
            r = self.srv.http(
                "POST", f"/artifacts?name=crash-{self.number}.bin&sha256={digest}", raw=data,
                headers={"content-type": "application/octet-stream"}, timeout=10)
            if r.status != 201:
                raise AssertionError(f"upload -> {r.status} {r.text[:300]}")
            artifact = r.json["artifact"]
            assert (artifact["sha256"], artifact["size"]) == (digest, len(data)), artifact
            with self.ledger.lock:
                self.ledger.artifacts[artifact["id"]] = (digest, len(data))
                self.new_artifacts.append(artifact["id"])
            self.acked["artifact"].set()

        return upload


# ---------------------------------------------------------------------------
# Checks after a restart
# ---------------------------------------------------------------------------


def check_run(srv: CairnServer, ledger: Ledger, rid: str) -> None:
    detail = srv.ok("GET", f"/runs/{rid}")
    with ledger.lock:
        steps = dict(ledger.steps.get(rid, {}))
        versions = dict(ledger.versions.get(rid, {}))
        event_writes = ledger.event_writes.get(rid, 0)
        latest = dict(ledger.latest.get(rid, {}))
    stored_steps = {s["name"]: s for s in detail["steps"]}
    for name, output in steps.items():
        step = stored_steps.get(name)
        assert step is not None, f"acknowledged step {name} of run {rid} lost"
        assert (step["status"], step["output"]) == ("completed", output), \
            f"acknowledged step {name} of run {rid} changed: {step}"
    stored_versions = {v["version"]: v["value"] for v in detail["stateVersions"]}
    assert sorted(stored_versions) == list(range(1, len(stored_versions) + 1)), \
        f"state versions of run {rid} have a gap: {sorted(stored_versions)}"
    for version, value in versions.items():
        assert version in stored_versions, f"acknowledged state version {version} of run {rid} lost"
        stored = stored_versions[version]
        # A patch's version holds the merged state; a put's holds exactly its value.
        assert all(stored.get(k) == v for k, v in value.items()), \
            f"state version {version} of run {rid} is {stored}, acknowledged {value}"
    if versions:
        assert detail["state"]["version"] >= max(versions)
    for key, counter in latest.items():
        assert detail["state"]["value"].get(key, 0) >= counter, \
            f"state of run {rid} lost the acknowledged {key}={counter}: {detail['state']['value']}"
    seqs = [e["seq"] for e in detail["events"]]
    assert seqs == list(range(1, len(seqs) + 1)), f"events of run {rid} have a gap: {seqs}"
    assert len(seqs) >= event_writes, \
        f"run {rid} has {len(seqs)} events, fewer than its {event_writes} acknowledged ones"
    # The event stream replays the same sequence from the start.
    with SSEStream(srv.url, f"/runs/{rid}/events?after=0",
                   headers={"authorization": f"Bearer {ROOT_KEY}"}) as stream:
        assert stream.status == 200, stream.body
        replayed = [stream.next(timeout=10)["data"]["seq"] for _ in seqs]
    assert replayed == seqs, f"the event stream of run {rid} replays {replayed}, stored {seqs}"


def check_checkpoint(srv: CairnServer, ledger: Ledger, checkpoint_id: str) -> None:
    etag, state = ledger.checkpoints[checkpoint_id]
    r = srv.http("GET", f"/checkpoints/{checkpoint_id}")
    assert r.status == 200, f"acknowledged checkpoint {checkpoint_id} lost: {r!r}"
    record = r.json
    assert (record["etag"], record["state"]) == (etag, state), \
        f"checkpoint {checkpoint_id} changed: {record['etag']} {record['state']}"


def check_artifact(srv: CairnServer, ledger: Ledger, artifact_id: str) -> None:
    digest, size = ledger.artifacts[artifact_id]
    r = srv.http("GET", f"/artifacts/{artifact_id}")
    assert r.status == 200, f"acknowledged artifact {artifact_id} lost: {r!r}"
    assert (hashlib.sha256(r.body).hexdigest(), len(r.body)) == (digest, size), \
        f"artifact {artifact_id} has other bytes than were acknowledged"
    meta = srv.ok("GET", f"/artifacts/{artifact_id}/metadata")["artifact"]
    assert (meta["sha256"], meta["size"]) == (digest, size), meta


def sample(rng: random.Random, items: list, exclude: set) -> list:
    older = sorted(set(items) - exclude)
    return rng.sample(older, min(SAMPLE, len(older)))


# ---------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------


@pytest.fixture
def crash_server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "crash-points", api_key=ROOT_KEY, args=["--rate-limit", "0"])
    yield srv
    srv.stop()


def test_crash_points_under_mixed_load_lose_no_acknowledged_write(crash_server):
    print(f"\ncrash points: seed {SEED}, {CYCLES} cycles (replay with CAIRN_CRASH_SEED={SEED})")
    try:
        run_cycles(crash_server)
    except AssertionError as exc:
        raise AssertionError(f"[seed {SEED}; replay with CAIRN_CRASH_SEED={SEED}] {exc}") from exc


def run_cycles(srv: CairnServer) -> None:
    ledger = Ledger()
    chooser = random.Random(SEED)
    for number in range(CYCLES):
        if number % LONG_RUN_CYCLES == 0:
            long_run = srv.ok("POST", "/runs/crash-ledger", {"input": {}})["run"]["id"]
            with ledger.lock:
                ledger.versions[long_run] = {}
                ledger.latest[long_run] = {}
                ledger.event_writes[long_run] = 1  # run.created
        cycle = Cycle(srv, ledger, number)
        cycle.touched_runs.add(long_run)
        threads = [
            cycle.worker("runs", cycle.runs_worker()),
            *[cycle.worker(f"state{w}", cycle.state_writer(long_run, w)) for w in range(STATE_WRITERS)],
            cycle.worker("checkpoints", cycle.checkpoint_worker()),
            cycle.worker("artifacts", cycle.artifact_worker()),
        ]
        # Kill under load: once every kind of write has been acknowledged, after a random delay.
        deadline = time.monotonic() + 30
        for kind, acked in cycle.acked.items():
            if not acked.wait(max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"cycle {number}: no {kind} write acknowledged within 30s: "
                                     f"{cycle.failures}\n{srv.log_tail(40)}")
        time.sleep(chooser.uniform(0.0, 0.4))
        cycle.killing.set()
        srv.kill9()
        for thread in threads:
            thread.join(timeout=30)
            assert not thread.is_alive(), f"cycle {number}: writer {thread.name} hangs after the kill"
        assert not cycle.failures, f"cycle {number}: writes failed before the kill: {cycle.failures}"

        srv.restart()
        with ledger.lock:
            all_runs = list(ledger.steps) + list(ledger.latest)
            all_checkpoints = list(ledger.checkpoints)
            all_artifacts = list(ledger.artifacts)
        for rid in sorted(cycle.touched_runs) + sample(chooser, all_runs, cycle.touched_runs):
            check_run(srv, ledger, rid)
        new_checkpoints = set(cycle.new_checkpoints)
        for cid in cycle.new_checkpoints + sample(chooser, all_checkpoints, new_checkpoints):
            check_checkpoint(srv, ledger, cid)
        new_artifacts = set(cycle.new_artifacts)
        for aid in cycle.new_artifacts + sample(chooser, all_artifacts, new_artifacts):
            check_artifact(srv, ledger, aid)

    # After the last restart: everything ever acknowledged.
    with ledger.lock:
        all_runs = sorted(set(ledger.steps) | set(ledger.latest))
        all_checkpoints = sorted(ledger.checkpoints)
        all_artifacts = sorted(ledger.artifacts)
    for rid in all_runs:
        check_run(srv, ledger, rid)
    for cid in all_checkpoints:
        check_checkpoint(srv, ledger, cid)
    for aid in all_artifacts:
        check_artifact(srv, ledger, aid)
    counts = ledger.count()
    print(f"crash points: {CYCLES} kills survived, acknowledged and found again: {counts}")
    assert all(counts.values()), f"some kind of write was never acknowledged: {counts}"
