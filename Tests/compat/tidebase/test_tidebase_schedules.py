"""Cron schedules (contract §1.15) through the SDK's schedules client, and one real fire
by the reconciler (§1.16): a "* * * * *" schedule enqueues exactly one run for the next
whole minute, which the SDK's work() loop then executes."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from tidebase import Tidebase, TidebaseError

from tbcompat import assert_ts, parse_ts, wait_until

SCHEDULE_KEYS = [
    "name", "cron", "workflowName", "input", "queue", "maxAttempts", "enabled",
    "nextRunAt", "lastEnqueuedAt", "createdAt", "updatedAt",
]

_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def _field(expr: str, lo: int, hi: int) -> set:
    values: set = set()
    for term in expr.split(","):
        base, _, step = term.partition("/")
        if base == "*":
            a, b = lo, hi
        elif "-" in base:
            a, b = map(int, base.split("-"))
        else:
            a = int(base)
            b = hi if step else a
        values.update(range(a, b + 1, int(step or 1)))
    return values


def next_fire(cron: str, after: str) -> str:
    """An independent (brute-force) nextFire: the first whole UTC minute strictly after."""
    fields = [_field(f, lo, hi) for f, (lo, hi) in zip(cron.split(), _RANGES)]
    minute, hour, dom, month, dow = fields
    dow = {d % 7 for d in dow}
    dom_star, dow_star = cron.split()[2] == "*", cron.split()[4] == "*"
    t = dt.datetime.fromtimestamp(parse_ts(after), dt.timezone.utc).replace(second=0, microsecond=0)
    for _ in range(60 * 24 * 400):
        t += dt.timedelta(minutes=1)
        day_ok = (t.day in dom) if dow_star else (t.isoweekday() % 7 in dow) if dom_star else (
            t.day in dom or t.isoweekday() % 7 in dow)
        if t.minute in minute and t.hour in hour and t.month in month and day_ok:
            return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    raise AssertionError(f"no fire time found for {cron!r}")


def test_schedules_set_list_update_delete(server):
    tide = Tidebase(url=server.url)
    nightly = tide.schedules.set("b-nightly", cron="0 3 * * *", workflow_name="nightly-report",
                                 input={"region": "eu"}, max_attempts=3)
    assert list(nightly) == SCHEDULE_KEYS
    assert {k: nightly[k] for k in ("name", "cron", "workflowName", "input", "queue", "maxAttempts",
                                    "enabled", "lastEnqueuedAt")} == {
        "name": "b-nightly", "cron": "0 3 * * *", "workflowName": "nightly-report",
        "input": {"region": "eu"}, "queue": "default", "maxAttempts": 3, "enabled": True,
        "lastEnqueuedAt": None}
    for key in ("nextRunAt", "createdAt", "updatedAt"):
        assert_ts(nightly[key])
    assert nightly["nextRunAt"] == next_fire("0 3 * * *", nightly["updatedAt"])

    # A disabled schedule still gets its next fire time computed.
    quarter = tide.schedules.set("a-quarter", cron="*/15 * * * *", workflow_name="poll",
                                 input={"feed": 1}, queue="polls", enabled=False)
    assert (quarter["enabled"], quarter["queue"], quarter["maxAttempts"]) == (False, "polls", 1)
    assert quarter["nextRunAt"] == next_fire("*/15 * * * *", quarter["updatedAt"])

    listed = tide.schedules.list()
    assert [s["name"] for s in listed] == ["a-quarter", "b-nightly"]
    for s in listed:
        assert list(s) == SCHEDULE_KEYS
    assert listed[1] == nightly

    # Upsert: every field is replaced, createdAt is kept.
    time.sleep(0.01)
    weekly = tide.schedules.set("b-nightly", cron="30 8 * * 1", workflow_name="weekly-report",
                                input={"region": "us"}, queue="reports")
    assert weekly["createdAt"] == nightly["createdAt"]
    assert parse_ts(weekly["updatedAt"]) > parse_ts(nightly["updatedAt"])
    assert (weekly["cron"], weekly["workflowName"], weekly["input"], weekly["queue"],
            weekly["maxAttempts"]) == ("30 8 * * 1", "weekly-report", {"region": "us"}, "reports", 1)
    assert weekly["nextRunAt"] == next_fire("30 8 * * 1", weekly["updatedAt"])
    sunday = tide.schedules.set("c-sunday", cron="0 0 * * 7", workflow_name="w", input={})
    assert sunday["nextRunAt"] == next_fire("0 0 * * 0", sunday["updatedAt"])
    assert dt.datetime.fromtimestamp(parse_ts(sunday["nextRunAt"]), dt.timezone.utc).isoweekday() == 7

    assert tide.schedules.delete("b-nightly") == {"deleted": "b-nightly"}
    with pytest.raises(TidebaseError) as info:
        tide.schedules.delete("b-nightly")
    assert info.value.status == 404
    r = server.http("DELETE", "/schedules/b-nightly")
    assert r.status == 404 and r.json == {"error": "schedule not found"}
    assert [s["name"] for s in tide.schedules.list()] == ["a-quarter", "c-sunday"]
    assert tide.schedules.delete("c-sunday") == {"deleted": "c-sunday"}
    assert tide.schedules.delete("a-quarter") == {"deleted": "a-quarter"}
    assert tide.schedules.list() == []


@pytest.mark.parametrize("cron, field, message", [
    ("0 25 * * *", "hour", 'invalid cron value "25" in hour (0-23)'),
    ("61 * * * *", "minute", 'invalid cron value "61"'),
    ("*/0 * * * *", "minute", 'invalid cron step "*/0" in minute'),
    ("* * * * 9", "day-of-week", 'invalid cron value "9"'),
    ("* * * *", None, "expected 5 fields, got 4"),
])
def test_invalid_cron_is_a_400_naming_the_field(server, cron, field, message):
    r = server.http("PUT", "/schedules/bad-cron", {"cron": cron, "workflowName": "wf"})
    assert r.status == 400, r  # the reference answers 500 here
    body = r.json
    assert body["code"] == "invalid_cron", body
    assert message in body["error"], body
    if field is not None:
        assert body["field"] == field, body
    # Nothing was stored, and the SDK surfaces the same error.
    assert "bad-cron" not in [s["name"] for s in Tidebase(url=server.url).schedules.list()]
    with pytest.raises(TidebaseError) as info:
        Tidebase(url=server.url).schedules.set("bad-cron", cron=cron, workflow_name="wf")
    assert info.value.status == 400


def test_every_minute_schedule_fires_once_for_the_next_minute(server_factory):
    srv = server_factory(env={"CAIRN_RECONCILE_MS": "100"})
    tide = Tidebase(url=srv.url)
    sched = tide.schedules.set("every-minute", cron="* * * * *", workflow_name="tick",
                               input={"source": "cron"}, queue="sched-q", max_attempts=2)
    fire = sched["nextRunAt"]
    assert fire == next_fire("* * * * *", sched["updatedAt"])
    tide.schedules.set("every-minute-off", cron="* * * * *", workflow_name="tick",
                       input={"source": "off"}, queue="sched-q", enabled=False)
    key = f"sched:every-minute:{fire}"

    def fired():
        return [r for r in srv.ok("GET", "/runs")["runs"] if r["queue"] == "sched-q"]

    runs = wait_until(fired, timeout=75, interval=0.1, desc=f"the schedule to fire at {fire}")
    assert len(runs) == 1, runs
    run = runs[0]
    assert time.time() >= parse_ts(fire) - 0.5  # not early (allowing a little clock slack)
    assert parse_ts(run["createdAt"]) >= parse_ts(fire)
    assert run["dedupeKey"] == key
    assert (run["workflowName"], run["input"], run["status"], run["maxAttempts"]) == (
        "tick", {"source": "cron"}, "queued", 2)
    assert run["metadata"] == {"schedule": "every-minute", "fireTime": fire}
    events = srv.detail(run["id"])["events"]
    assert [e["type"] for e in events] == ["run.enqueued"]
    payload = events[0]["payload"]
    assert payload["queue"] == "sched-q" and payload["runAt"] == run["runAt"]
    assert payload["schedule"] == "every-minute" and payload["fireTime"] == fire

    # The schedule moved on to the following minute.
    after = {s["name"]: s for s in tide.schedules.list()}
    assert after["every-minute"]["nextRunAt"] == next_fire("* * * * *", fire)
    assert parse_ts(after["every-minute"]["lastEnqueuedAt"]) >= parse_ts(fire)
    assert after["every-minute-off"]["lastEnqueuedAt"] is None

    # The SDK's worker executes it; once it is terminal its dedupe key is free again, yet
    # the reconciler (every 100 ms) must not fire the same minute a second time.
    done = threading.Event()

    @tide.workflow("tick")
    def tick(ctx, input):
        return ctx.step("tock", lambda: {"from": input["source"]})

    worker = threading.Thread(target=tide.work, args=(["sched-q"],),
                              kwargs=dict(poll_s=0.05, stop=done.is_set), daemon=True)
    worker.start()
    try:
        wait_until(lambda: srv.detail(run["id"])["run"]["status"] == "completed", timeout=10,
                   desc="the fired run to be executed")
        watch_until = time.monotonic() + 1.0
        while time.monotonic() < watch_until:
            keys = [r["dedupeKey"] for r in fired()]
            assert keys == [key], f"the schedule fired again: {keys}"
            time.sleep(0.1)
    finally:
        done.set()
        worker.join(timeout=10)
    assert srv.detail(run["id"])["run"]["result"] == {"from": "cron"}
    assert tide.schedules.delete("every-minute") == {"deleted": "every-minute"}
