"""Helpers for the Tidebase black-box compatibility suite.

Everything here talks to a real `cairn serve` process over loopback HTTP. The
unmodified PyPI `tidebase` SDK is used by the tests wherever it can do the job;
the raw helpers below cover what the SDK does not expose (gate resolve, status
codes, SSE framing, concurrency).
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import hashlib
import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[3]

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

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def assert_keys(obj: Any, keys: list, what: str) -> None:
    """The object has exactly these keys (order is checked separately)."""
    assert isinstance(obj, dict), f"{what}: expected an object, got {obj!r}"
    got = set(obj)
    want = set(keys)
    assert got == want, (
        f"{what}: keys differ from contract; missing={sorted(want - got)} "
        f"extra={sorted(got - want)}"
    )


def assert_id(value: Any, prefix: str) -> None:
    assert isinstance(value, str) and re.fullmatch(re.escape(prefix) + r"[0-9a-f]{32}", value), (
        f"expected an id {prefix}<32 lowercase hex>, got {value!r}"
    )


def assert_ts(value: Any, nullable: bool = False) -> None:
    if nullable and value is None:
        return
    assert isinstance(value, str) and TS_RE.match(value), (
        f"expected an ISO timestamp with 3 fractional digits and Z, got {value!r}"
    )


def parse_ts(value: str) -> float:
    return _dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=_dt.timezone.utc
    ).timestamp()


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
# Waiting
# ---------------------------------------------------------------------------


def wait_until(fn: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02,
               desc: str = "condition") -> Any:
    """Poll fn until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last_exc = None
        except AssertionError:
            raise
        except Exception as exc:  # transient (e.g. connection refused during restart)
            last_exc = exc
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {desc}"
                + (f" (last error: {last_exc!r})" if last_exc else "")
            )
        time.sleep(interval)


# ---------------------------------------------------------------------------
# Raw HTTP
# ---------------------------------------------------------------------------

_NO_BODY = object()


class Resp:
    def __init__(self, status: int, headers: Any, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            raise AssertionError(
                f"response is not JSON (status {self.status}): {self.text[:500]!r}"
            ) from None

    def __repr__(self) -> str:
        return f"<Resp {self.status} {self.text[:300]!r}>"


def http_call(base_url: str, method: str, path: str, body: Any = _NO_BODY, *,
              raw: Optional[bytes] = None, headers: Optional[dict] = None,
              token: Optional[str] = None, timeout: float = 30.0) -> Resp:
    """One HTTP request with urllib; never raises on an HTTP status."""
    data = None
    hdrs = {}
    if raw is not None:
        data = raw
        hdrs["content-type"] = "application/json"
    elif body is not _NO_BODY:
        data = json.dumps(body).encode("utf-8")
        hdrs["content-type"] = "application/json"
    if token is not None:
        hdrs["authorization"] = f"Bearer {token}"
    if headers:
        hdrs.update(headers)
    if data is None and method in ("POST", "PUT", "PATCH"):
        data = b""  # an explicit empty body (Content-Length: 0)
    req = urllib.request.Request(base_url + path, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        try:
            payload = e.read()
        finally:
            e.close()
        return Resp(e.code, e.headers, payload)


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


def cairn_bin() -> Path:
    raw = os.environ.get("CAIRN_BIN") or ".build/debug/cairn"
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _set_pdeathsig() -> None:  # pragma: no cover - runs in the child
    """Linux: the server gets SIGTERM if the test runner dies, so no orphans."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class CairnServer:
    """One `cairn serve` process on a fixed port and data dir (restartable)."""

    registry: list = []

    def __init__(self, workdir: Path, *, api_key: Optional[str] = None,
                 env: Optional[dict] = None, name: str = "cairn"):
        self.binary = cairn_bin()
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "server.log"
        self.api_key = api_key
        self.extra_env = dict(env or {})
        self.name = name
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0
        self.stopped_at: Optional[float] = None
        CairnServer.registry.append(self)

    # -- lifecycle ----------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self) -> None:
        if not self.binary.exists():
            raise RuntimeError(
                f"cairn binary not found at {self.binary} "
                "(build it with `swift build`, or set CAIRN_BIN)"
            )
        args = [
            str(self.binary), "serve",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--data-dir", str(self.data_dir),
        ]
        if self.api_key:
            args += ["--api-key", self.api_key]
        # The server's settings come from this harness only: drop any CAIRN_* or
        # TIDEBASE_* configuration inherited from the developer's shell.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CAIRN_", "TIDEBASE_"))}
        env.update(self.extra_env)
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts}: {' '.join(args)} =====\n".encode())
        log.flush()
        try:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, cwd=str(self.workdir), preexec_fn=_set_pdeathsig,
            )
        finally:
            log.close()
        self.stopped_at = None

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                r = http_call(self.url, "GET", "/health", timeout=2)
                if r.status == 200 and r.json == {"ok": True}:
                    return True
            except (OSError, http.client.HTTPException, AssertionError):
                pass
            time.sleep(0.05)
        raise RuntimeError(
            f"cairn did not answer GET /health within {timeout}s on port {self.port}\n"
            + self.log_tail()
        )

    def start(self, timeout: float = 30.0) -> "CairnServer":
        """First start: pick a free port (retrying if someone grabs it)."""
        for _ in range(3):
            self.port = free_port()
            self._spawn()
            if self._wait_ready(timeout):
                return self
        raise RuntimeError(
            f"cairn exited during startup (exit code {self.proc.returncode if self.proc else None})\n"
            + self.log_tail()
        )

    def restart(self, timeout: float = 30.0) -> "CairnServer":
        """Start again on the same port and data dir (after stop() or kill9())."""
        assert not self.alive, "restart() needs the previous process gone"
        deadline = time.monotonic() + timeout
        while True:
            self._spawn()
            if self._wait_ready(max(1.0, deadline - time.monotonic())):
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"cairn did not come back on port {self.port} "
                    f"(exit code {self.proc.returncode if self.proc else None})\n"
                    + self.log_tail()
                )
            time.sleep(0.2)  # e.g. the port was still held; try again

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.stopped_at = time.time()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.stopped_at is None:
            self.stopped_at = time.time()

    def log_tail(self, lines: int = 200) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return f"(no log at {self.log_path})"
        tail = text.splitlines()[-lines:]
        return f"--- {self.log_path} (last {len(tail)} lines) ---\n" + "\n".join(tail)

    # -- HTTP ---------------------------------------------------------------

    def http(self, method: str, path: str, body: Any = _NO_BODY, **kw: Any) -> Resp:
        if "token" not in kw and self.api_key:
            kw["token"] = self.api_key
        return http_call(self.url, method, path, body, **kw)

    def ok(self, method: str, path: str, body: Any = _NO_BODY, **kw: Any) -> Any:
        """Request that must return 200; returns the parsed JSON."""
        r = self.http(method, path, body, **kw)
        assert r.status == 200, f"{method} {path} -> {r.status} {r.text[:1000]}"
        return r.json

    def detail(self, run_id: str) -> dict:
        return self.ok("GET", f"/runs/{run_id}")

    def sse(self, path: str, **kw: Any) -> SSEStream:
        return SSEStream(self.url, path, **kw)


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


def start_server(tmp_path_factory: Any, name: str, **kw: Any) -> CairnServer:
    """Start a fresh server (own temp dir and port) or fail the test clearly."""
    import pytest

    if not cairn_bin().exists():
        pytest.fail(
            f"cairn binary not found at {cairn_bin()}: build it (swift build) or set CAIRN_BIN",
            pytrace=False,
        )
    srv = CairnServer(tmp_path_factory.mktemp(name), name=name, **kw)
    try:
        srv.start()
    except Exception as exc:
        srv.stop()
        pytest.fail(f"could not start cairn: {exc}", pytrace=False)
    return srv


# ---------------------------------------------------------------------------
# Outbound webhooks (channels, recovery and invoke calls)
# ---------------------------------------------------------------------------


class WebhookReceiver:
    """A loopback HTTP endpoint that records every POST it gets.

    Each call is recorded on arrival (before it is answered) as a dict with
    "path", "headers" (lower-cased names), "body" (raw bytes), "json" (parsed or
    None) and "at" (time.monotonic()); "answered" is set once the reply is sent.
    respond(call) -> (status, body_bytes) decides the answer (default 200
    {"ok":true}); it may block, e.g. to stall a caller or to resume a run inline.
    """

    def __init__(self, respond: Optional[Callable[[dict], Any]] = None):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.calls: list = []
        self._lock = threading.Lock()
        self._respond = respond
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                try:
                    parsed = json.loads(body.decode("utf-8"))
                except ValueError:
                    parsed = None
                call = {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                    "json": parsed,
                    "at": time.monotonic(),
                    "answered": False,
                }
                with receiver._lock:
                    receiver.calls.append(call)
                status, reply = 200, b'{"ok":true}'
                if receiver._respond is not None:
                    try:
                        status, reply = receiver._respond(call)
                    except Exception as exc:  # surface handler bugs as a 500 with the reason
                        status, reply = 500, repr(exc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                call["answered"] = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = self.base + "/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url_for(self, path: str) -> str:
        return self.base + path

    def received(self, path: Optional[str] = None) -> list:
        """The calls so far (optionally only those to `path`), in arrival order."""
        with self._lock:
            return [c for c in self.calls if path is None or c["path"] == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "WebhookReceiver":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
