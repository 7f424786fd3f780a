"""Helpers for the Tidebase black-box compatibility suite.

Everything here talks to a real `cairn serve` process over loopback HTTP. The
unmodified PyPI `tidebase` SDK is used by the tests wherever it can do the job;
the raw helpers below cover what the SDK does not expose (gate resolve, status
codes, SSE framing, concurrency). The generic harness (server process, raw HTTP,
waiting, webhook receiver) is shared with the other suites in ../cairncompat.py.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import queue
import re
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cairncompat import (  # noqa: E402,F401  (also re-exported for the tests)
    _NO_BODY,
    REPO_ROOT,
    TS_RE,
    CairnServer as _CairnServer,
    Resp,
    WebhookReceiver,
    assert_keys,
    assert_ts,
    cairn_bin,
    free_port,
    http_call,
    parse_ts,
    start_server as _start_server,
    wait_until,
)

# ---------------------------------------------------------------------------
# Shapes from contract §1.4 (exact keys, in emission order)
# ---------------------------------------------------------------------------

RUN_KEYS = [
    "id", "workflowName", "input", "metadata", "status", "result", "error",
    "recoveryWebhook", "leaseOwner", "leaseExpiresAt", "attempt", "queue",
    "dedupeKey", "priority", "runAt", "maxAttempts", "deadlineAt",
    "cancelRequestedAt", "cancelledAt", "cancelReason", "cancelActor",
    "failureClass", "createdAt", "updatedAt", "completedAt",
]
DETAIL_KEYS = [
    "run", "steps", "state", "stateStreams", "stateVersions", "runEdges",
    "childRuns", "recoveryAttempts", "channels", "channelDeliveries", "gates",
    "usage", "events",
    "stalled",  # Cairn extension, after every reference key
]
STEP_KEYS = [
    "id", "runId", "name", "inputHash", "input", "options", "resumeContract",
    "status", "output", "error", "leaseOwner", "leaseExpiresAt", "attempt",
    "startedAt", "completedAt", "createdAt", "updatedAt",
]
RESUME_CONTRACT_KEYS = [
    "sideEffects", "idempotencyKey", "replay", "checkpointInvariant",
    "verifiedBy", "credentials",
]
GATE_KEYS = [
    "id", "runId", "name", "prompt", "data", "status", "decision", "actor",
    "decisionPayload", "capability", "channels", "resolveToken", "createdAt",
    "updatedAt", "resolvedAt",
]
PUBLIC_GATE_KEYS = [
    "id", "runId", "name", "prompt", "data", "status", "decision", "actor",
    "capability", "resolveUrl", "resolveToken",
]
STATE_KEYS = ["runId", "value", "version", "updatedAt"]
STREAM_KEYS = [
    "id", "runId", "name", "targetType", "targetId", "currentVersion",
    "currentValue", "metadata", "createdAt", "updatedAt",
]
VERSION_KEYS = [
    "id", "streamId", "runId", "stepId", "version", "value", "patch", "label",
    "reason", "importance", "metadata", "createdBy", "createdAt",
]
PUBLIC_VERSION_KEYS = [
    "id", "streamId", "runId", "version", "label", "reason", "importance",
    "createdAt",
]
EDGE_KEYS = ["id", "parentRunId", "childRunId", "name", "edgeType", "metadata", "createdAt"]
USAGE_KEYS = [
    "id", "runId", "stepId", "kind", "provider", "model", "label", "quantity",
    "unit", "inputTokens", "outputTokens", "totalTokens", "costUsd", "metadata",
    "createdAt",
]
EVENT_KEYS = ["id", "runId", "seq", "type", "payload", "createdAt"]
CHANNEL_KEYS = ["id", "runId", "type", "config", "events", "createdAt"]


def assert_id(value: Any, prefix: str) -> None:
    assert isinstance(value, str) and re.fullmatch(re.escape(prefix) + r"[0-9a-f]{32}", value), (
        f"expected an id {prefix}<32 lowercase hex>, got {value!r}"
    )


def stable_hash(value: Any) -> str:
    """Independent re-implementation of the SDK's stableStringify + sha256."""

    def enc(v: Any) -> str:
        if isinstance(v, dict):
            return "{" + ",".join(
                json.dumps(str(k), ensure_ascii=False) + ":" + enc(v[k]) for k in sorted(v)
            ) + "}"
        if isinstance(v, list):
            return "[" + ",".join(enc(x) for x in v) + "]"
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))

    return hashlib.sha256(enc(value).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# SSE
# ---------------------------------------------------------------------------


class SSEStream:
    """A raw SSE client: a reader thread parses `data:`/`id:` blocks into a queue.

    Use next(timeout) to take one message; close() shuts the socket down so the
    reader thread ends promptly.
    """

    def __init__(self, base_url: str, path: str, headers: Optional[dict] = None,
                 timeout: float = 20.0):
        parts = urlsplit(base_url)
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        hdrs = {"Accept": "text/event-stream"}
        if headers:
            hdrs.update(headers)
        self._conn.request("GET", path, headers=hdrs)
        self._sock = self._conn.sock
        self._resp = self._conn.getresponse()
        self.status = self._resp.status
        self.headers = self._resp.headers
        self._q: "queue.Queue" = queue.Queue()
        self._closed = False
        self.body = b""
        if self.status == 200:
            self._thread = threading.Thread(target=self._read, daemon=True)
            self._thread.start()
        else:
            self.body = self._resp.read()
            self._thread = None

    def _read(self) -> None:
        data_lines: list = []
        event_id = None
        fields: dict = {}
        try:
            while True:
                raw = self._resp.readline()
                if not raw:
                    break
                line = raw.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if data_lines or event_id is not None:
                        data = "\n".join(data_lines)
                        msg = {"raw_data": data, "id": event_id, "fields": fields}
                        try:
                            msg["data"] = json.loads(data)
                        except ValueError:
                            msg["data"] = None
                        self._q.put(msg)
                    data_lines, event_id, fields = [], None, {}
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if name == "data":
                    data_lines.append(value)
                elif name == "id":
                    event_id = value
                else:
                    fields[name] = value
        except Exception as exc:  # socket shut down, timeout, reset
            if not self._closed:
                self._q.put({"error": exc})
        finally:
            self._q.put(None)

    def next(self, timeout: float = 10.0) -> dict:
        try:
            msg = self._q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no SSE message within {timeout}s") from None
        if msg is None:
            raise AssertionError("SSE stream ended")
        if "error" in msg:
            raise AssertionError(f"SSE stream failed: {msg['error']!r}")
        return msg

    def close(self) -> None:
        self._closed = True
        try:
            if self._sock is not None:
                self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self._conn.close()
        except OSError:
            pass
        try:
            self._resp.close()
        except Exception:
            pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "SSEStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------


class CairnServer(_CairnServer):
    """The generic server plus Tidebase shortcuts."""

    def detail(self, run_id: str) -> dict:
        return self.ok("GET", f"/runs/{run_id}")

    def sse(self, path: str, **kw: Any) -> SSEStream:
        return SSEStream(self.url, path, **kw)


def start_server(tmp_path_factory: Any, name: str, **kw: Any) -> CairnServer:
    """Start a fresh server (own temp dir and port) or fail the test clearly."""
    return _start_server(tmp_path_factory, name, cls=CairnServer, **kw)


# ---------------------------------------------------------------------------
# Gates
# ---------------------------------------------------------------------------


def pending_gate(server: CairnServer, run_id: str, name: str) -> Optional[dict]:
    for g in server.detail(run_id)["gates"]:
        if g["name"] == name and g["status"] == "pending":
            return g
    return None


def resolve_when_pending(server: CairnServer, run_id: str, name: str, *,
                         decision: str = "approved", actor: str = "alice",
                         payload: Any = None, timeout: float = 15.0) -> Resp:
    """What a human (or Studio) does: find the pending gate's id and token in
    GET /runs/:id, then POST the decision."""
    gate = wait_until(lambda: pending_gate(server, run_id, name), timeout=timeout,
                      desc=f"gate {name!r} to be pending")
    body = {"token": gate["resolveToken"], "decision": decision, "actor": actor}
    if payload is not None:
        body["payload"] = payload
    return server.http("POST", f"/runs/{run_id}/gates/{gate['id']}/resolve", body)
