"""Rate limits: a sliding window per API key on /checkpoints, /workflows and /webhooks only
(server: --rate-limit 3 --rate-limit-window-ms 1500). Over the limit: 429 RATE_LIMITED with an
integer Retry-After; rejected requests are not counted; each key has its own bucket; the SDK
retries after Retry-After x 2^attempt and raises RateLimitError when out of attempts."""

from __future__ import annotations

import asyncio
import math
import time
import uuid

import pytest
from snapstate_sdk import RateLimitError, SaveResult

from sscompat import assert_error, assert_json, cp_id, new_wf

LIMIT = 3
WINDOW_MS = 1500
MAX_RETRY_AFTER = math.ceil(WINDOW_MS / 1000)


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    from sscompat import start_snap_server

    srv = start_snap_server(tmp_path_factory, "rate-limited", rate_limit=LIMIT,
                            args=("--rate-limit-window-ms", str(WINDOW_MS)))
    yield srv
    srv.stop()


@pytest.fixture
def keys(limited):
    """Two fresh keys (two buckets) of one fresh tenant: the first is used up by the test, the
    second checks what was stored."""
    tenant = f"rl-{uuid.uuid4().hex[:12]}"
    return limited.key(tenant), limited.key(tenant)


@pytest.fixture
def key(keys):
    return keys[0]


def _retry_after(resp) -> int:
    raw = resp.headers.get("Retry-After")
    assert raw is not None and raw.strip().isdigit(), f"Retry-After must be integer seconds: {raw!r}"
    value = int(raw)
    assert 1 <= value <= MAX_RETRY_AFTER, f"Retry-After {value} outside 1..{MAX_RETRY_AFTER}"
    return value


def _exhaust(limited, key, wf):
    for step in range(1, LIMIT + 1):
        r = limited.save(wf, step, {"s": step}, token=key)
        assert r.status == 201, (step, r)


def test_over_the_limit_is_429_with_retry_after_and_nothing_stored(limited, keys):
    key, checker = keys
    wf = new_wf("rl")
    _exhaust(limited, key, wf)
    r = limited.save(wf, 4, {"s": 4}, token=key)
    assert_error(r, 429, "RATE_LIMITED")
    _retry_after(r)
    # reads on /workflows and /checkpoints are limited too
    for path in (f"/workflows/{wf}/resume", f"/workflows/{wf}/replay", f"/checkpoints/{cp_id(wf, 1)}",
                 "/webhooks"):
        r = limited.http("GET", path, token=key)
        assert_error(r, 429, "RATE_LIMITED")
        _retry_after(r)
    r = limited.http("POST", "/webhooks", {"url": "http://127.0.0.1:9/h",
                                           "events": ["checkpoint.saved"]}, token=key)
    assert_error(r, 429, "RATE_LIMITED")
    # the rejected save stored nothing (seen through the tenant's other key)
    assert limited.http("GET", f"/checkpoints/{cp_id(wf, 4)}", token=checker).status == 404
    assert limited.get_json(f"/workflows/{wf}/resume", token=checker)["total_checkpoints"] == 3
    hooks = limited.get_json("/webhooks", token=checker)
    assert hooks == {"webhooks": []}


def test_agents_and_analytics_are_not_limited(limited, key):
    _exhaust(limited, key, new_wf("rl"))
    assert limited.save(new_wf("rl"), 1, {}, token=key).status == 429
    for _ in range(LIMIT + 2):
        assert limited.http("GET", "/agents", token=key).status == 200
        assert limited.http("POST", "/agents", {"agent_id": "a1"}, token=key).status == 201
        assert limited.http("GET", "/analytics/overview", token=key).status == 200
        assert limited.http("GET", "/analytics/agents", token=key).status == 200
        assert limited.http("GET", "/analytics/failures", token=key).status == 200


def test_each_key_has_its_own_bucket(limited):
    tenant = "rl-shared"
    k1 = limited.key(tenant)
    k2 = limited.key(tenant)
    wf = new_wf("rl")
    _exhaust(limited, k1, wf)
    assert limited.save(wf, 10, {}, token=k1).status == 429
    # the same tenant's other key still has its whole budget, and sees k1's workflow
    for step in (11, 12, 13):
        assert limited.save(wf, step, {}, token=k2).status == 201
    assert limited.save(wf, 14, {}, token=k2).status == 429
    # and the root key (another tenant) is unaffected
    assert limited.save(new_wf("rl"), 1, {}).status == 201


def test_rejected_requests_are_not_counted(limited, key):
    t0 = time.monotonic()
    _exhaust(limited, key, new_wf("rl"))
    # rejections spread into the window: if they counted, the bucket would stay full
    time.sleep(0.6)
    for _ in range(LIMIT + 1):
        assert limited.http("GET", f"/workflows/{new_wf()}/replay", token=key).status == 429
    # once the 3 accepted requests left the window (t0 + 1.5 s) there is room again
    time.sleep(max(0.0, t0 + WINDOW_MS / 1000 + 0.15 - time.monotonic()))
    assert time.monotonic() - t0 < 0.6 + WINDOW_MS / 1000, "too slow to tell the difference"
    r = limited.http("GET", f"/workflows/{new_wf()}/replay", token=key)
    assert r.status == 200, r


def test_window_slides(limited, key):
    t0 = time.monotonic()
    wf = new_wf("rl")
    _exhaust(limited, key, wf)
    r = limited.save(wf, 9, {}, token=key)
    assert r.status == 429
    deadline = t0 + WINDOW_MS / 1000 + 2
    while time.monotonic() < deadline:
        r = limited.save(wf, 9, {}, token=key)
        if r.status == 201:
            break
        assert r.status == 429, r
        time.sleep(0.1)
    assert r.status == 201, "the bucket never emptied"
    assert time.monotonic() - t0 >= WINDOW_MS / 1000 * 0.9


def test_sdk_retries_a_rate_limited_save(limited, keys):
    key, checker = keys
    wf = new_wf("rl")
    with limited.client(key) as c:
        for s in range(1, LIMIT + 1):
            c.save(wf, s, {"s": s})
        t = time.monotonic()
        res = c.save(wf, 4, {"s": 4})  # 429 first; the SDK sleeps Retry-After and retries
        waited = time.monotonic() - t
    assert isinstance(res, SaveResult) and res.checkpoint_id == cp_id(wf, 4)
    assert waited >= 0.9, f"the save did not wait for the window ({waited:.2f}s)"
    # stored exactly once
    resumed = limited.get_json(f"/workflows/{wf}/resume", token=checker)
    assert resumed["total_checkpoints"] == 4
    assert resumed["latest_checkpoint"]["state"] == {"s": 4}


def test_sdk_raises_rate_limit_error_when_out_of_attempts(limited, key):
    wf = new_wf("rl")
    with limited.client(key, max_retries=1) as c:
        for s in range(1, LIMIT + 1):
            c.save(wf, s, {"s": s})
        t = time.monotonic()
        with pytest.raises(RateLimitError) as exc:
            c.save(wf, 4, {"s": 4})
        err = exc.value
        assert err.status_code == 429 and err.code == "RATE_LIMITED"
        assert isinstance(err.retry_after, int) and 1 <= err.retry_after <= MAX_RETRY_AFTER
        # the SDK sleeps Retry-After even after its last attempt
        assert time.monotonic() - t >= err.retry_after * 0.9


def test_async_sdk_retries_and_raises(limited):
    k_retry = limited.tenant("rl")
    k_fail = limited.tenant("rl")

    async def main():
        wf = new_wf("rl")
        async with limited.client(k_retry) as c:
            for s in range(1, LIMIT + 1):
                await c.async_save(wf, s, {"s": s})
            res = await c.async_save(wf, 4, {"s": 4})
            assert res.checkpoint_id == cp_id(wf, 4)
        wf2 = new_wf("rl")
        async with limited.client(k_fail, max_retries=1) as c:
            for s in range(1, LIMIT + 1):
                await c.async_save(wf2, s, {"s": s})
            with pytest.raises(RateLimitError) as exc:
                await c.async_replay(wf2)
            assert exc.value.status_code == 429 and exc.value.code == "RATE_LIMITED"
            assert 1 <= exc.value.retry_after <= MAX_RETRY_AFTER

    asyncio.run(main())


def test_rate_limit_zero_disables_limiting(server):
    # the module server of the other files runs with --rate-limit 0
    wf = new_wf("unlimited")
    for s in range(120):
        r = server.save(wf, s, {"s": s})
        assert r.status == 201, (s, r)
    assert assert_json(server.http("GET", f"/workflows/{wf}/replay?limit=1000"), 200)["total"] == 120
