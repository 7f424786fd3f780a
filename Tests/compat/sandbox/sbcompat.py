"""Helpers for the sandbox suites (issue 15; the server documents them in docs/api/sandboxes.md).

A `SandboxServer` is a `cairn serve` with a root API key plus shortcuts for the sandbox routes
(under /sandboxes). The host-side probes (processes carrying a token in their argv,
cgroup directories named after a sandbox, the server's resident memory) read /proc and
/sys/fs/cgroup directly: these suites run on the same machine as the server, as the harness
always does.
"""

from __future__ import annotations

import datetime as _dt
import http.client
import json
import os
import re
import socket
import subprocess
import uuid
from typing import Any, Iterator, Optional
from urllib.parse import quote, urlsplit

import pytest

from cairncompat import CairnServer, Resp, create_key, http_call, start_server, wait_until

ROOT_KEY = "sandbox-compat-root-key"
# Where the sandbox routes live (docs/api/sandboxes.md), beside /artifacts and /runs.
SPEC_PREFIX = "/sandboxes"
MiB = 1024 * 1024

BACKENDS = ("linux", "process")
CAPABILITIES = ("timeout", "process_isolation", "network_off", "filesystem_isolation",
                "memory_limit", "cpu_limit", "process_limit", "temp_space_limit", "reset")
EXIT_REASONS = ("exited", "timeout", "memory_limit", "process_limit", "output_limit", "killed")

# How to ask for each capability: a limit with a harmless value, or a `require` entry.
CAPABILITY_REQUEST = {
    "timeout": {"limits": {"timeout_ms": 60_000}},
    "memory_limit": {"limits": {"memory_bytes": 512 * MiB}},
    "cpu_limit": {"limits": {"cpu_millicores": 1000}},
    "process_limit": {"limits": {"processes": 256}},
    "temp_space_limit": {"limits": {"tmp_bytes": 64 * MiB}},
    "network_off": {"require": ["network_off"]},
    "filesystem_isolation": {"require": ["filesystem_isolation"]},
    "process_isolation": {"require": ["process_isolation"]},
    "reset": {"require": ["reset"]},
}

SANDBOX_KEYS = ["id", "backend", "language", "status", "limits", "capabilities", "workspace",
                "created_at", "expires_at", "idle_expires_at"]
EXEC_KEYS = ["stdout", "stderr", "value", "error", "truncated", "exit"]
EXIT_KEYS = ["reason", "exit_code", "signal", "duration_ms", "cpu_ms", "peak_memory_bytes"]


def new_token() -> str:
    """A marker unique to one test: put it in a process's argv to find that process later."""
    return f"cairntok{uuid.uuid4().hex[:16]}"


def fill_in(template: str, **values: Any) -> str:
    """Python source from a template: each __NAME__ becomes repr(values[NAME])."""
    for name, value in values.items():
        marker = f"__{name}__"
        assert marker in template, f"{marker} not in the template"
        template = template.replace(marker, repr(value))
    leftover = re.findall(r"__[A-Z_]+__", template)
    assert not leftover, f"unfilled placeholders {leftover}"
    return template


def parse_iso(value: Any) -> float:
    """An ISO 8601 timestamp (Z or an offset) as epoch seconds; fails on anything else."""
    assert isinstance(value, str), f"expected an ISO timestamp, got {value!r}"
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise AssertionError(f"not an ISO 8601 timestamp: {value!r}") from None
    assert parsed.tzinfo is not None, f"timestamp without a zone: {value!r}"
    return parsed.timestamp()


def error_of(resp: Resp) -> dict:
    """The refusal's fields as {"code", "message", ...}, from Cairn's flat envelope
    {"error": message, "code", ...} (test_errors_use_the_documented_envelope checks it)."""
    body = resp.json
    assert isinstance(body, dict) and isinstance(body.get("error"), str), f"expected an error body, got {body!r}"
    fields = {k: v for k, v in body.items() if k != "error"}
    fields["message"] = body["error"]
    return fields


def assert_error(resp: Resp, status: int, *codes: str) -> dict:
    """A refusal with this status, a message, and (when codes are given) one of these codes."""
    assert resp.status == status, f"expected {status} {codes}, got {resp!r}"
    err = error_of(resp)
    assert isinstance(err.get("message"), str) and err["message"], f"no message: {resp!r}"
    if codes:
        assert err.get("code") in codes, f"expected code {codes}, got {resp!r}"
    return err


# ---------------------------------------------------------------------------
# Host-side probes
# ---------------------------------------------------------------------------


def pids_with(token: str) -> list:
    """Live processes (zombies have an empty cmdline) whose argv contains `token`."""
    needle = token.encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if needle in f.read():
                    found.append(int(entry))
        except OSError:
            pass
    return found


def describe_pids(pids: list) -> str:
    """pid, parent, state and argv of each process, for failure messages."""
    lines = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            lines.append(f"pid {pid} ppid {fields[1]} state {fields[0]}: {argv[:160]}")
        except OSError:
            lines.append(f"pid {pid} (gone)")
    return "; ".join(lines)


def wait_no_pids(token: str, what: str, timeout: float = 20.0) -> None:
    """Wait until no live process carries `token`; fail naming the ones left."""
    try:
        wait_until(lambda: not pids_with(token), timeout=timeout, desc=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; still running: {describe_pids(pids_with(token))}") from None


def kill_pids_with(token: str) -> None:
    """Last-resort cleanup after a failed test: SIGKILL, by pid, what carries our token."""
    for pid in pids_with(token):
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def cgroup_dirs(sandbox_id: str) -> list:
    """cgroup directories (v1 hierarchies and v2) whose name contains the sandbox id's hex."""
    key = sandbox_id.split("_", 1)[-1]
    hits = []
    for root, dirs, _files in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if key in d:
                hits.append(os.path.join(root, d))
    return hits


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def host_address() -> Optional[str]:
    """This machine's first non-loopback IPv4 address, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a source address
            ip = s.getsockname()[0]
        if ip and not ip.startswith("127."):
            return ip
    except OSError:
        pass
    try:
        out = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for ip in re.findall(r"inet (\d+\.\d+\.\d+\.\d+)", out):
        if not ip.startswith("127."):
            return ip
    return None


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------


class SandboxServer(CairnServer):
    """`cairn serve` with ROOT_KEY (tenant "default") and the sandbox routes as methods."""

    def __init__(self, *args: Any, **kw: Any):
        kw.setdefault("api_key", ROOT_KEY)
        super().__init__(*args, **kw)
        self.api = SPEC_PREFIX  # the routes' prefix, as discovered by require_sandbox_routes
        self.created: list = []  # (sandbox id, token) made through create(); deleted after each test

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # -- capabilities and sandboxes -----------------------------------------

    def capabilities(self) -> dict:
        return self.ok("GET", f"{self.api}/capabilities")

    def backend(self, name: str) -> Optional[dict]:
        for b in self.capabilities()["backends"]:
            if b.get("name") == name:
                return b
        return None

    def create_raw(self, body: Any = None, *, token: Optional[str] = None, raw: Optional[bytes] = None) -> Resp:
        kw: dict = {}
        if token is not None:
            kw["token"] = token
        if raw is not None:
            return self.http("POST", self.api, raw=raw, **kw)
        return self.http("POST", self.api, {} if body is None else body, **kw)

    def create(self, *, token: Optional[str] = None, **body: Any) -> dict:
        """POST /v1/sandboxes that must answer 201; the sandbox is deleted after the test."""
        r = self.create_raw(body, token=token)
        assert r.status == 201, f"POST {self.api} {body} -> {r!r}"
        sandbox = r.json
        self.created.append((sandbox["id"], token))
        return sandbox

    def get(self, sid: str, **kw: Any) -> Resp:
        return self.http("GET", f"{self.api}/{sid}", **kw)

    def delete(self, sid: str, **kw: Any) -> Resp:
        return self.http("DELETE", f"{self.api}/{sid}", **kw)

    def list_ids(self, **kw: Any) -> list:
        r = self.http("GET", self.api, **kw)
        assert r.status == 200, r
        return [s["id"] for s in r.json["sandboxes"]]

    def reset(self, sid: str, **kw: Any) -> Resp:
        return self.http("POST", f"{self.api}/{sid}/reset", **kw)

    def save_artifact(self, sid: str, body: Any, **kw: Any) -> Resp:
        return self.http("POST", f"{self.api}/{sid}/artifacts", body, **kw)

    def cleanup(self) -> None:
        for sid, token in self.created:
            try:
                kw = {"token": token} if token else {}
                self.delete(sid, timeout=30, **kw)
            except Exception:
                pass
        self.created.clear()

    # -- exec -----------------------------------------------------------------

    def exec_raw(self, sid: str, body: Any = None, *, raw: Optional[bytes] = None,
                 timeout: float = 60.0, **kw: Any) -> Resp:
        if raw is not None:
            return self.http("POST", f"{self.api}/{sid}/exec", raw=raw, timeout=timeout, **kw)
        return self.http("POST", f"{self.api}/{sid}/exec", body, timeout=timeout, **kw)

    def run(self, sid: str, code: str, *, timeout: float = 60.0, **extra: Any) -> dict:
        """Execute python code; the request must answer 200; returns the JSON answer."""
        r = self.exec_raw(sid, {"code": code, **extra}, timeout=timeout)
        assert r.status == 200, f"exec code in {sid} -> {r!r}"
        return r.json

    def cmd(self, sid: str, argv: list, *, timeout: float = 60.0, **extra: Any) -> dict:
        """Execute a command; the request must answer 200; returns the JSON answer."""
        r = self.exec_raw(sid, {"command": argv, **extra}, timeout=timeout)
        assert r.status == 200, f"exec command {argv[:2]} in {sid} -> {r!r}"
        return r.json

    def stream(self, sid: str, body: dict, *, token: Optional[str] = None,
               timeout: float = 60.0) -> "SSEExec":
        return SSEExec(self, sid, body, token=token or self.api_key, timeout=timeout)

    # -- files ------------------------------------------------------------------

    def files_path(self, sid: str, path: Optional[str]) -> str:
        base = f"{self.api}/{sid}/files"
        return base if path is None else f"{base}?path={quote(path, safe='')}"

    def file_get(self, sid: str, path: Optional[str], **kw: Any) -> Resp:
        return self.http("GET", self.files_path(sid, path), **kw)

    def file_put(self, sid: str, path: Optional[str], data: bytes, **kw: Any) -> Resp:
        headers = {"content-type": "application/octet-stream"}
        return self.http("PUT", self.files_path(sid, path), raw=data, headers=headers, **kw)

    def file_delete(self, sid: str, path: Optional[str], **kw: Any) -> Resp:
        return self.http("DELETE", self.files_path(sid, path), **kw)

    def file_bytes(self, sid: str, path: str) -> Optional[bytes]:
        """The file's bytes through the files API, or None when it answers 404."""
        r = self.file_get(sid, path)
        if r.status == 404:
            return None
        assert r.status == 200, f"GET files?path={path} -> {r!r}"
        return r.body

    # -- tenants ----------------------------------------------------------------

    def tenant_key(self, prefix: str = "sbx") -> str:
        """A key of a brand-new tenant, usable once this returns."""
        secret = create_key(self, f"{prefix}-{uuid.uuid4().hex[:12]}")
        wait_until(lambda: self.http("GET", self.api, token=secret).status != 401,
                   timeout=10, desc="the new tenant's key to be accepted")
        return secret


def start_sandbox_server(tmp_path_factory: Any, name: str, *, args: tuple = (),
                         **kw: Any) -> SandboxServer:
    """A fresh SandboxServer; rate limiting off (the suites make hundreds of calls a minute)."""
    return start_server(tmp_path_factory, name, cls=SandboxServer,
                        args=["--rate-limit", "0", *args], **kw)


def require_sandbox_routes(srv: SandboxServer) -> None:
    """Fail clearly (not with a cascade of 404s) when the binary has no sandbox routes."""
    if srv.http("GET", f"{SPEC_PREFIX}/capabilities").status != 404:
        srv.api = SPEC_PREFIX
        return
    pytest.fail(f"{srv.binary} does not serve {SPEC_PREFIX}/capabilities (404): "
                "build the server with the sandbox routes", pytrace=False)


# ---------------------------------------------------------------------------
# Streaming exec (Accept: text/event-stream)
# ---------------------------------------------------------------------------


class SSEExec:
    """POST .../exec with Accept: text/event-stream; iterate the events as they arrive.

    Each event is {"event": name, "data": parsed JSON (or None), "raw": text}.
    """

    def __init__(self, srv: CairnServer, sid: str, body: dict, *, token: Optional[str],
                 timeout: float):
        parts = urlsplit(srv.url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.conn.request("POST", f"{srv.api}/{sid}/exec", body=json.dumps(body).encode(),
                          headers=headers)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = self.resp.headers
        self.body = b"" if self.status == 200 else self.resp.read()

    def events(self) -> Iterator[dict]:
        name, data_lines = None, []
        while True:
            raw = self.resp.readline()
            if not raw:
                return
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data_lines or name is not None:
                    text = "\n".join(data_lines)
                    try:
                        parsed = json.loads(text)
                    except ValueError:
                        parsed = None
                    yield {"event": name or "message", "data": parsed, "raw": text}
                name, data_lines = None, []
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                name = value
            elif field == "data":
                data_lines.append(value)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "SSEExec":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
