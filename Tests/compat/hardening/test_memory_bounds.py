"""Large request bodies cannot grow the server without bound.

One server takes, in turn: 1 MiB checkpoint saves whose leaf diffs would be hundreds of times
their size (deep key paths over many small elements, many tiny elements, wide objects), repeated
over several workflows; bodies at the 16 MiB limit (a state of tiny elements, and a checkpoint
save whose state is over its own 1 MiB limit); bodies just over the limit; and states of 120,000
keys through PUT and PATCH. Every request must be answered, `/health` must keep answering
meanwhile, and the server's peak resident memory (VmHWM) must stay under MEMORY_BOUND.

The server peaks at about 480 MiB here (debug build), almost all of it for the 16 MiB body of
5.6 million tiny values: each parsed value takes a 24-byte slot and the array holding them
grows by doubling. The saves of 1 MiB peak at about 210 MiB. The bound leaves room for a busier
allocator yet catches a regression by far: leaf diffs of these states took the server past
4 GiB. A watchdog kills the server as soon as its resident memory passes the bound, so a failing
run does not take the machine down with it.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from cairncompat import start_server

MEMORY_BOUND = 768 * 1024 * 1024
API_KEY = "hardening-memory-bounds-key"
BODY_LIMIT = 16 * 1024 * 1024
STATE_LIMIT = 1024 * 1024
REQUEST_TIMEOUT = 300.0
HEALTH_TIMEOUT = 10.0


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


class Watch:
    """While the attacks run: kill the server if its RSS passes the bound, and call /health
    every 100 ms, recording failures and the slowest answer."""

    def __init__(self, server):
        self.server = server
        self.pid = server.proc.pid
        self.stop = threading.Event()
        self.killed_at_kib = None
        self.health_failures: list = []
        self.health_calls = 0
        self.slowest_health = 0.0
        self.threads = [threading.Thread(target=self._memory, daemon=True),
                        threading.Thread(target=self._health, daemon=True)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=HEALTH_TIMEOUT + 5)

    def _memory(self):
        while not self.stop.is_set() and self.server.alive:
            try:
                rss = _status_kib(self.pid, "VmRSS")
            except (OSError, AssertionError):
                return
            if rss * 1024 > MEMORY_BOUND:
                self.killed_at_kib = rss
                self.server.kill9()
                return
            time.sleep(0.02)

    def _health(self):
        while not self.stop.is_set() and self.server.alive:
            started = time.monotonic()
            try:
                r = self.server.http("GET", "/health", timeout=HEALTH_TIMEOUT)
                if r.status != 200:
                    self.health_failures.append(f"status {r.status}")
            except Exception as exc:  # a timeout or a refused connection
                if self.server.alive:
                    self.health_failures.append(repr(exc))
            self.health_calls += 1
            self.slowest_health = max(self.slowest_health, time.monotonic() - started)
            self.stop.wait(0.1)

    def check(self, what: str):
        assert self.killed_at_kib is None, (
            f"{what}: resident memory reached {self.killed_at_kib // 1024} MiB, over the "
            f"{MEMORY_BOUND >> 20} MiB bound (server killed)")
        assert self.server.alive, f"{what}: the server died\n{self.server.log_tail(40)}"


def _deep_paths(leaves: int, root: str) -> dict:
    """Leaves under a 4 KiB key path: each leaf of a leaf diff repeats the path."""
    state: object = [0] * leaves
    for level in range(100):
        state = {f"level_{level:03d}_" + "p" * 32: state}
    return {root: state}


def _tiny_elements(count: int, root: str) -> dict:
    return {root: [[] for _ in range(count)]}


def _wide(count: int, root: str) -> dict:
    return {f"{root}{i}": i for i in range(count)}


def _fit(make, root: str) -> dict:
    """The largest state of this shape whose compact JSON is at most 1 MiB."""
    lo, hi = 1, 1_000_000
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(json.dumps(make(mid, root), separators=(",", ":"))) <= STATE_LIMIT:
            lo = mid
        else:
            hi = mid - 1
    return make(lo, root)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "memory_bounds", api_key=API_KEY,
                       args=["--rate-limit", "0", "--max-body-bytes", str(BODY_LIMIT)])
    yield srv
    srv.stop()


def _call(server, watch, method, path, raw, what):
    try:
        r = server.http(method, path, raw=raw, timeout=REQUEST_TIMEOUT)
    except Exception:
        watch.check(what)  # the watchdog's verdict explains a dropped connection
        raise
    watch.check(what)
    return r


def test_large_bodies_stay_within_the_memory_bound(server):
    with Watch(server) as watch:
        # 1 MiB checkpoint saves whose leaf diffs would be huge, alternating their top-level key
        # so that each save removes every leaf of the previous one and adds its own.
        shapes = [("deep paths", _deep_paths), ("tiny elements", _tiny_elements), ("wide", _wide)]
        for name, make in shapes:
            states = [_fit(make, "a"), _fit(make, "b")]
            for workflow in range(3):
                for step in range(4):
                    state = states[step % 2]
                    body = json.dumps({"workflow_id": f"wf-{name.replace(' ', '-')}-{workflow}",
                                       "step": step, "state": state}).encode()
                    what = f"checkpoint save ({name}, workflow {workflow}, step {step})"
                    r = _call(server, watch, "POST", "/checkpoints", body, what)
                    assert r.status == 201, f"{what}: {r}"
                    size = r.json["size_bytes"]
                    diff = json.dumps(r.json["diff_from_previous"], separators=(",", ":"))
                    assert size <= STATE_LIMIT
                    assert len(diff) <= max(2 * size, 64 * 1024), f"{what}: {len(diff)}-byte diff"
                    stored = server.http("GET", f"/checkpoints/{r.json['checkpoint_id']}")
                    assert stored.status == 200 and stored.json["diff_from_previous"] == \
                        r.json["diff_from_previous"], what

        run_id = server.ok("POST", "/runs/memory-bounds", {"input": {}})["run"]["id"]

        # Bodies at the 16 MiB limit: a state of tiny elements is taken; a checkpoint whose state
        # is over its 1 MiB limit is refused.
        filler = BODY_LIMIT - len(b'{"value":[]}')
        items = filler // 3
        at_limit = b'{"value":[' + b",".join([b"[]"] * items) + b"]}"
        at_limit += b" " * (BODY_LIMIT - len(at_limit))
        assert len(at_limit) == BODY_LIMIT
        r = _call(server, watch, "PUT", f"/runs/{run_id}/state", at_limit, "16 MiB PUT state")
        assert r.status == 200, r
        checkpoint = b'{"workflow_id":"wf-at-limit","step":0,"state":{"x":[' + \
            b",".join([b"[]"] * items) + b"]}}"
        checkpoint = checkpoint[:BODY_LIMIT - 4].rsplit(b",", 1)[0] + b"]}}"
        r = _call(server, watch, "POST", "/checkpoints", checkpoint, "16 MiB checkpoint")
        assert r.status == 413, r
        over = at_limit + b" "
        r = _call(server, watch, "PUT", f"/runs/{run_id}/state", over, "body over the limit")
        assert r.status == 413, r

        # 120,000 keys: replaced, then merged onto the stored 120,000.
        keys = 120_000
        put = json.dumps({"value": {f"k{i}": i for i in range(keys)}}).encode()
        r = _call(server, watch, "PUT", f"/runs/{run_id}/state", put, "PUT of 120,000 keys")
        assert r.status == 200, r
        patch = json.dumps({"value": {f"k{i + keys // 2}": True for i in range(keys)}}).encode()
        r = _call(server, watch, "PATCH", f"/runs/{run_id}/state", patch, "PATCH of 120,000 keys")
        assert r.status == 200, r
        merged = r.json["state"]["value"]
        assert len(merged) == keys + keys // 2 and merged["k0"] == 0 and merged[f"k{keys - 1}"] is True

    watch.check("after the attacks")
    assert not watch.health_failures, f"/health failed meanwhile: {watch.health_failures[:5]}"
    assert watch.health_calls > 0
    peak = _status_kib(server.proc.pid, "VmHWM") * 1024
    print(f"peak RSS {peak >> 20} MiB (bound {MEMORY_BOUND >> 20} MiB), "
          f"{watch.health_calls} /health calls, slowest {watch.slowest_health:.2f}s")
    assert peak < MEMORY_BOUND, f"peak RSS {peak >> 20} MiB is over the {MEMORY_BOUND >> 20} MiB bound"


def test_deep_nesting_is_a_400_and_the_deepest_allowed_state_round_trips(server):
    deep = b'{"workflow_id":"wf-deep","step":0,"state":{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    r = server.http("POST", "/checkpoints", raw=deep)
    assert r.status == 400, r
    assert "nesting" in r.text, r
    # The body object and `state` take two levels; 510 more stay within the 512 allowed.
    nested = "[" * 510 + "]" * 510
    for step, value in enumerate([nested, '{"y":' + nested[1:-1] + "}"]):
        body = f'{{"workflow_id":"wf-deep","step":{step},"state":{{"x":{value}}}}}'.encode()
        r = server.http("POST", "/checkpoints", raw=body)
        assert r.status == 201, r
    assert server.http("GET", "/health").status == 200
