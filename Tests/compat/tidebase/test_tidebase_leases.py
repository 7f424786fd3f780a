"""Lease expiry, takeover and zombie fencing, on a server with a 1 s lease
(contract §1.5 "Leases", §1.6 step leases)."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from tidebase import Tidebase, TidebaseError

from tbcompat import parse_ts, stable_hash, start_server, wait_until

LEASE_MS = 2000


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    srv = start_server(tmp_path_factory, "leases",
                       env={"CAIRN_LEASE_MS": str(LEASE_MS), "TIDEBASE_LEASE_MS": str(LEASE_MS)})
    yield srv
    srv.stop()


def _sleep_past(ts: str) -> None:
    """Wait until the wall clock is past a server-reported expiry (bounded)."""
    target = parse_ts(ts) + 0.02
    assert target - time.time() < 5, f"lease expiry {ts} is too far away for a {LEASE_MS} ms lease"
    while time.time() < target:
        time.sleep(min(0.05, max(0.0, target - time.time())))


def test_takeover_after_expiry_fences_the_zombie(short):
    tide = Tidebase(url=short.url)
    zombie = tide.runs.attach("takeover", input={}, heartbeat_s=None)
    rid = zombie.run_id
    assert parse_ts(zombie.run["leaseExpiresAt"]) - parse_ts(zombie.run["updatedAt"]) <= LEASE_MS / 1000 + 0.5

    # The zombie starts a step and then stalls (no heartbeat).
    begun = short.ok("POST", f"/runs/{rid}/steps/begin",
                     {"name": "work", "inputHash": stable_hash(None),
                      "leaseOwner": zombie.run["leaseOwner"]})
    assert begun["action"] == "execute"

    # While the lease is live another worker is refused.
    with pytest.raises(TidebaseError) as info:
        tide.runs.attach("takeover", run_id=rid, heartbeat_s=None)
    assert info.value.status == 409

    _sleep_past(begun["step"]["leaseExpiresAt"])
    _sleep_past(short.detail(rid)["run"]["leaseExpiresAt"])

    # A plain run with an expired lease stays running (nothing reclaims it) ...
    assert short.detail(rid)["run"]["status"] == "running"
    # ... and a new worker can take it over.
    heir = tide.runs.attach("takeover", run_id=rid, heartbeat_s=None)
    assert heir.run["attempt"] == 2
    assert heir.run["leaseOwner"] != zombie.run["leaseOwner"]

    # The zombie's heartbeat is fenced.
    with pytest.raises(TidebaseError) as info:
        zombie.heartbeat()
    assert info.value.status == 409
    assert json.loads(info.value.body)["code"] == "lease_lost"

    # The heir re-executes the abandoned step (its lease expired) ...
    calls = Counter()
    assert heir.step("work", lambda: calls.update(["heir"]) or "heir-result") == "heir-result"
    # ... and the zombie's late completion is refused.
    r = short.http("POST", f"/runs/{rid}/steps/{begun['step']['id']}/complete",
                   {"leaseOwner": zombie.run["leaseOwner"], "output": "zombie-result"})
    assert r.status == 409, r
    step = short.detail(rid)["steps"][0]
    assert step["output"] == "heir-result"
    assert step["attempt"] == 2
    heir.complete("done")


def test_heartbeat_after_expiry_without_takeover_succeeds(short):
    tide = Tidebase(url=short.url)
    s = tide.runs.attach("late-heartbeat", input={}, heartbeat_s=None)
    _sleep_past(s.run["leaseExpiresAt"])
    hb = s.heartbeat()
    assert hb["run"]["leaseOwner"] == s.run["leaseOwner"]
    assert parse_ts(hb["run"]["leaseExpiresAt"]) > time.time()
    # Renewed: another worker is refused again.
    r = short.http("POST", f"/runs/{s.run_id}/begin")
    assert r.status == 409, r
    s.complete(None)


def test_session_heartbeat_keeps_a_short_lease_alive(short):
    tide = Tidebase(url=short.url)
    lost: list = []
    s = tide.runs.attach("kept-alive", input={}, heartbeat_s=0.2, on_lease_lost=lost.append)
    first = s.run["leaseExpiresAt"]
    # Outlive the original lease; the heartbeat must have renewed it meanwhile.
    _sleep_past(first)
    wait_until(lambda: parse_ts(short.detail(s.run_id)["run"]["leaseExpiresAt"]) > time.time(),
               timeout=5, desc="a renewed lease")
    r = short.http("POST", f"/runs/{s.run_id}/begin")
    assert r.status == 409, r
    assert s.step("x", lambda: 1) == 1
    assert lost == []
    assert s.complete("ok")["run"]["status"] == "completed"
