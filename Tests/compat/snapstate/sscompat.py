"""Helpers for the SnapState black-box compatibility suite.

Every test drives a real `cairn serve` process over loopback with the unmodified PyPI
`snapstate-sdk==1.0.2` (SnapStateClient / the deprecated CheckpointClient), and raw HTTP where
the SDK has no method or hides the status/body. The generic harness (server process, raw HTTP,
polling, webhook receiver, `cairn keys`) is shared with the Tidebase suite: ../cairncompat.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cairncompat import (  # noqa: E402,F401  (also re-exported for the tests)
    _NO_BODY,
    TS_RE,
    CairnServer,
    Resp,
    WebhookReceiver,
    assert_keys,
    assert_ts,
    cairn_bin,
    free_port,
    create_key,
    http_call,
    keys_cli,
    parse_ts,
    server_log_sections,
    start_server,
    wait_until,
)

ROOT_KEY = "snapstate-compat-root-key"
DEFAULT_TTL_SECONDS = 604800
MAX_STATE_BYTES = 1_048_576

# ---------------------------------------------------------------------------
# Shapes (exact keys; RECORD_KEYS also in emission order)
# ---------------------------------------------------------------------------

SAVE_KEYS = [
    "checkpoint_id", "workflow_id", "step", "etag", "created_at", "diff_from_previous",
    "size_bytes",
]
RECORD_KEYS = [
    "checkpoint_id", "workflow_id", "step", "label", "state", "metadata", "etag",
    "created_at", "expires_at", "diff_from_previous", "size_bytes",
]
ITEM_KEYS = [
    "checkpoint_id", "workflow_id", "step", "label", "state", "metadata", "etag",
    "size_bytes", "created_at",
]
RESUME_KEYS = [
    "workflow_id", "latest_checkpoint", "total_checkpoints", "workflow_started_at",
    "last_activity_at",
]
REPLAY_KEYS = ["workflow_id", "checkpoints", "total", "has_more"]
DIFF_KEYS = ["added", "removed", "changed"]
WEBHOOK_KEYS = ["webhook_id", "url", "events", "created_at"]
DELIVERY_KEYS = ["event", "webhook_id", "timestamp", "data"]
AGENT_KEYS = [
    "id", "agent_id", "name", "description", "capabilities", "metadata", "last_seen_at",
    "created_at",
]
OVERVIEW_KEYS = [
    "period", "total_workflows", "completed_workflows", "failed_workflows",
    "active_workflows", "total_checkpoints", "avg_steps_per_workflow",
    "avg_workflow_duration_seconds", "top_agents",
]
TOP_AGENT_KEYS = ["agent_id", "workflows", "avg_steps"]
WF_ANALYTICS_KEYS = [
    "workflow_id", "total_steps", "total_size_bytes", "duration_seconds", "status",
    "agents_involved", "checkpoints", "resumed", "error_count", "first_checkpoint_at",
    "last_checkpoint_at",
]
WF_ANALYTICS_CP_KEYS = [
    "step", "label", "size_bytes", "time_since_previous_ms", "agent_id", "created_at",
]
FAILURES_KEYS = [
    "period_days", "total_failures", "failure_by_step", "failure_by_agent", "recent_failures",
]
RECENT_FAILURE_KEYS = [
    "workflow_id", "step", "agent_id", "error_type", "error_message", "created_at",
]
AGENT_ANALYTICS_KEYS = [
    "agent_id", "name", "total_workflows", "active_workflows", "avg_steps",
    "avg_duration_seconds", "total_checkpoints", "error_rate", "last_seen_at",
]

WEBHOOK_ID_RE = re.compile(r"^wh_[0-9a-f]{24}$")

# ---------------------------------------------------------------------------
# Values the server must compute
# ---------------------------------------------------------------------------


def compact(state: Any) -> bytes:
    """The compact JSON the server hashes and measures (no spaces, raw UTF-8, '/' unescaped)."""
    return json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def etag_of(state: Any) -> str:
    return '"' + hashlib.sha256(compact(state)).hexdigest()[:16] + '"'


def size_of(state: Any) -> int:
    return len(compact(state))


def cp_id(workflow_id: str, step: int) -> str:
    return f"cp_{workflow_id}_{step:03d}"


def new_wf(prefix: str = "wf") -> str:
    """A workflow id no other test uses (tests share a module server)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def diff(added=(), removed=(), changed=()) -> dict:
    return {"added": list(added), "removed": list(removed), "changed": list(changed)}


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------
# Assertions
# ---------------------------------------------------------------------------


def assert_request_id(resp: Resp) -> str:
    rid = resp.headers.get("X-Request-Id")
    assert rid, f"response has no X-Request-Id header: {resp!r}"
    return rid


def assert_error(resp: Resp, status: int, code: str, *, extra_keys: tuple = (),
                 request_id: bool = True) -> dict:
    """The status, the {"error":{"code","message"}} envelope (and nothing else unless
    extra_keys), and (unless request_id=False: tests that check it separately) an X-Request-Id
    header. Returns the body."""
    assert resp.status == status, f"expected {status} {code}, got {resp!r}"
    body = resp.json
    assert_keys(body, ["error", *extra_keys], f"{status} error body")
    assert_keys(body["error"], ["code", "message"], "error envelope")
    assert body["error"]["code"] == code, f"expected code {code}, got {body!r}"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    if request_id:
        assert_request_id(resp)
    return body


def assert_json(resp: Resp, status: int) -> Any:
    assert resp.status == status, f"expected {status}, got {resp!r}"
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), f"content-type {ctype!r}"
    assert_request_id(resp)
    return resp.json


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------


class SnapServer(CairnServer):
    """A `cairn serve` with a root API key (default tenant) plus SnapState shortcuts."""

    def client(self, key: Optional[str] = None, alias: bool = False, **kw: Any):
        """An unmodified SDK client for this server (root key unless `key`)."""
        import snapstate_sdk

        cls = snapstate_sdk.CheckpointClient if alias else snapstate_sdk.SnapStateClient
        return cls(api_key=key or self.api_key, base_url=self.url, **kw)

    def key(self, tenant: str, *scopes: str) -> str:
        """A new API key of `tenant` (default scopes read+write), usable once this returns."""
        secret = create_key(self, tenant, *scopes)
        wait_until(lambda: self.http("GET", "/agents", token=secret).status != 401,
                   timeout=5, desc=f"the new key of tenant {tenant} to be accepted")
        return secret

    def tenant(self, prefix: str = "t") -> str:
        """A key (read+write) of a brand-new tenant: an empty namespace for one test."""
        return self.key(f"{prefix}-{uuid.uuid4().hex[:12]}")

    def save(self, workflow_id: str, step: int, state: Any, *, token: Optional[str] = None,
             headers: Optional[dict] = None, **fields: Any) -> Resp:
        """Raw POST /checkpoints (compact JSON body as written)."""
        body = {"workflow_id": workflow_id, "step": step, "state": state, **fields}
        kw: dict = {"raw": json.dumps(body).encode("utf-8"), "headers": headers}
        if token is not None:
            kw["token"] = token
        return self.http("POST", "/checkpoints", **kw)

    def saved(self, workflow_id: str, step: int, state: Any, **kw: Any) -> dict:
        """Raw save that must return 201; returns the body."""
        r = self.save(workflow_id, step, state, **kw)
        assert r.status == 201, f"save {workflow_id}/{step} -> {r!r}"
        return r.json

    def get_json(self, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.http("GET", path, **kw)
        assert r.status == status, f"GET {path} -> {r!r}"
        return r.json

    def resume_status(self, workflow_id: str, **kw: Any) -> int:
        return self.http("GET", f"/workflows/{workflow_id}/resume", **kw).status

    def assert_nothing_stored(self, workflow_id: str, step: Optional[int] = None,
                              token: Optional[str] = None) -> None:
        """No trace of the workflow: resume 404, replay empty, GET checkpoint 404."""
        kw = {} if token is None else {"token": token}
        r = self.http("GET", f"/workflows/{workflow_id}/resume", **kw)
        assert r.status == 404, f"expected nothing stored for {workflow_id!r}, resume -> {r!r}"
        page = self.get_json(f"/workflows/{workflow_id}/replay", **kw)
        assert page == {"workflow_id": workflow_id, "checkpoints": [], "total": 0,
                        "has_more": False}, page
        if step is not None:
            r = self.http("GET", f"/checkpoints/{cp_id(workflow_id, step)}", **kw)
            assert r.status == 404, r


def start_snap_server(tmp_path_factory: Any, name: str, *, rate_limit: int = 0,
                      args: tuple = (), api_key: str = ROOT_KEY, **kw: Any) -> SnapServer:
    """A fresh SnapServer; rate limiting off unless `rate_limit` is given."""
    flags = ["--rate-limit", str(rate_limit), *args]
    return start_server(tmp_path_factory, name, cls=SnapServer, api_key=api_key, args=flags,
                        **kw)


# ---------------------------------------------------------------------------
# Webhook deliveries
# ---------------------------------------------------------------------------


def deliveries(receiver: WebhookReceiver, event: Optional[str] = None,
               pred: Optional[Callable[[dict], bool]] = None) -> list:
    """Calls received so far whose JSON body has this event (and matches pred)."""
    out = []
    for call in receiver.received():
        body = call["json"]
        if not isinstance(body, dict):
            out.append(call)  # malformed: keep it so assertions see it
            continue
        if event is not None and body.get("event") != event:
            continue
        if pred is not None and not pred(body):
            continue
        out.append(call)
    return out


def wait_deliveries(receiver: WebhookReceiver, n: int, event: Optional[str] = None,
                    pred: Optional[Callable[[dict], bool]] = None,
                    timeout: float = 10.0) -> list:
    """Wait until at least n matching deliveries arrived; returns them all."""
    return wait_until(lambda: (lambda c: c if len(c) >= n else None)(
        deliveries(receiver, event, pred)), timeout=timeout,
        desc=f"{n} webhook deliveries of {event or 'any event'}")


def settle(seconds: float = 0.3) -> None:
    """A short grace period before asserting that something did NOT happen (no later
    delivery). Only used after a positive signal that the server already acted."""
    time.sleep(seconds)
