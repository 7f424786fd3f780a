"""The SDK's typed errors come from the right statuses (sync and async): 400 ValidationError,
401 AuthError, 403 SnapStateError, 404 NotFoundError, 409 ConflictError, 413
PayloadTooLargeError (429 RateLimitError: test_snapstate_rate_limits.py), with .status_code,
.code and the server's message; the deprecated aliases; X-Request-Id on every response."""

from __future__ import annotations

import asyncio
import json

import pytest
import snapstate_sdk
from snapstate_sdk import (
    AuthError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    SnapStateClient,
    SnapStateError,
    ValidationError,
)

from sscompat import MAX_STATE_BYTES, assert_request_id, cp_id, new_wf

BIG = {"blob": "x" * (MAX_STATE_BYTES + 1)}


def test_every_error_class_is_a_snapstate_error():
    for cls in (AuthError, ConflictError, NotFoundError, PayloadTooLargeError, RateLimitError,
                ValidationError):
        assert issubclass(cls, SnapStateError)
    assert snapstate_sdk.CheckpointClient is SnapStateClient
    assert snapstate_sdk.CheckpointError is SnapStateError


def _cases(server):
    """(expected class, status, code, sync call, async call) against the shared server."""
    wf = new_wf("err")
    reader = server.key(f"err-{wf[-10:]}", "read")

    def setup(c):
        c.save(wf, 1, {"a": 1})

    return reader, setup, [
        (ValidationError, 400, "VALIDATION_ERROR",
         lambda c: c.save(wf, -1, {}), lambda c: c.async_save(wf, -1, {})),
        (ValidationError, 400, "VALIDATION_ERROR",
         lambda c: c.replay(wf, limit=5000), lambda c: c.async_replay(wf, limit=5000)),
        (ValidationError, 400, "VALIDATION_ERROR",
         lambda c: c.register_agent("no spaces allowed", "x"),
         lambda c: c.async_register_agent("no spaces allowed", "x")),
        (NotFoundError, 404, "NOT_FOUND",
         lambda c: c.get(cp_id(wf, 99)), lambda c: c.async_get(cp_id(wf, 99))),
        (NotFoundError, 404, "NOT_FOUND",
         lambda c: c.resume(wf + "-none"), lambda c: c.async_resume(wf + "-none")),
        (ConflictError, 409, "CONFLICT",
         lambda c: c.save(wf, 1, {"a": 2}), lambda c: c.async_save(wf, 1, {"a": 2})),
        (ConflictError, 409, "CONFLICT",
         lambda c: c.save(wf, 1, {"a": 2}, if_match='"x"'),
         lambda c: c.async_save(wf, 1, {"a": 2}, if_match='"x"')),
        (PayloadTooLargeError, 413, "PAYLOAD_TOO_LARGE",
         lambda c: c.save(wf, 2, BIG), lambda c: c.async_save(wf, 2, BIG)),
    ]


def _check(exc, cls, status, code):
    assert type(exc) is cls, f"expected {cls.__name__}, got {exc!r}"
    assert exc.status_code == status
    assert exc.code == code
    message = str(exc)
    assert message and not message.lstrip().startswith("{"), (
        f"the SDK fell back to the raw body: the error envelope is missing ({message[:200]!r})")


def test_sync_errors(server):
    reader, setup, cases = _cases(server)
    with server.client() as c:
        setup(c)
        for cls, status, code, sync_call, _ in cases:
            with pytest.raises(SnapStateError) as exc:
                sync_call(c)
            _check(exc.value, cls, status, code)
    with server.client(reader) as rc:
        with pytest.raises(SnapStateError) as exc:
            rc.save(new_wf(), 1, {})
        _check(exc.value, SnapStateError, 403, "FORBIDDEN")
    with server.client("not-a-key") as bad:
        with pytest.raises(SnapStateError) as exc:
            bad.resume("x")
        _check(exc.value, AuthError, 401, "UNAUTHORIZED")


def test_async_errors(server):
    reader, setup, cases = _cases(server)

    async def main():
        async with server.client() as c:
            setup(c)
            for cls, status, code, _, async_call in cases:
                with pytest.raises(SnapStateError) as exc:
                    await async_call(c)
                _check(exc.value, cls, status, code)
        async with server.client(reader) as rc:
            with pytest.raises(SnapStateError) as exc:
                await rc.async_save(new_wf(), 1, {})
            _check(exc.value, SnapStateError, 403, "FORBIDDEN")
            assert isinstance(await rc.async_list_agents(), list)  # reads are fine
        async with server.client("not-a-key") as bad:
            for call in (bad.async_list_agents(), bad.async_resume("x"), bad.async_get("cp_x_001"),
                         bad.async_replay("x"), bad.async_save("x", 1, {}),
                         bad.async_register_agent("x", "x")):
                with pytest.raises(SnapStateError) as exc:
                    await call
                _check(exc.value, AuthError, 401, "UNAUTHORIZED")

    asyncio.run(main())


def test_deprecated_checkpoint_client_raises_the_same_errors(server):
    with server.client(alias=True) as c:
        assert type(c) is SnapStateClient
        with pytest.raises(snapstate_sdk.CheckpointError) as exc:
            c.resume(new_wf("none"))
        _check(exc.value, NotFoundError, 404, "NOT_FOUND")


def test_every_response_has_a_request_id(server):
    # (auth failures: test_snapstate_tenants.py::test_auth_failures_carry_a_request_id)
    wf = new_wf()
    responses = [
        server.save(wf, 1, {"a": 1}),                                  # 201
        server.save(wf, 1, {"a": 1}),                                  # 409
        server.http("GET", f"/checkpoints/{cp_id(wf, 1)}"),            # 200
        server.http("GET", f"/workflows/{wf}/resume"),                 # 200
        server.http("GET", f"/workflows/{wf}/replay?limit=0"),         # 400
        server.http("GET", "/checkpoints/nope"),                       # 404
        server.http("POST", "/checkpoints", raw=b"{"),                 # 400
        server.http("GET", "/agents"),                                 # 200
        server.http("GET", "/analytics/overview"),                     # 200
        server.http("GET", "/webhooks"),                               # 200
        server.http("DELETE", "/webhooks/wh_000000000000000000000000"),  # 404
    ]
    ids = [assert_request_id(r) for r in responses]
    assert len(set(ids)) == len(ids), f"request ids are not unique: {ids}"


def test_error_bodies_are_json_envelopes(server):
    for r in (server.save(new_wf(), "x", {}), server.http("GET", "/checkpoints/none"),
              server.http("GET", "/agents/none"), server.http("GET", "/agents", token=None)):
        assert r.headers.get("Content-Type", "").startswith("application/json"), r
        body = json.loads(r.body)
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
