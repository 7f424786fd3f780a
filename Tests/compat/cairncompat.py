"""Generic harness for Cairn's black-box compatibility suites (shared by tidebase/ and snapstate/).

Everything here talks to a real `cairn serve` process over loopback HTTP: starting and stopping
the server binary ($CAIRN_BIN), raw HTTP calls, polling with deadlines, a loopback webhook
receiver and the `cairn keys` CLI. Protocol-specific helpers live beside each suite
(tidebase/tbcompat.py, snapstate/sscompat.py).
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------
# Shapes and timestamps
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# Store and blob backends (a database per server, a bucket per server)
# ---------------------------------------------------------------------------
#
# By default every server keeps everything in its --data-dir (SQLite and local blobs). The same
# suites run against the scale-out backends when asked:
#   CAIRN_COMPAT_DATABASE=postgres  each server gets a fresh database on the cluster at
#                                   CAIRN_TEST_POSTGRES_ADMIN_URL (scripts/postgres.sh) and is
#                                   started with --database; restart() keeps it.
#   CAIRN_COMPAT_BLOBS=s3           each server gets a fresh bucket on the S3 server at
#                                   CAIRN_TEST_S3_ENDPOINT (scripts/s3-server.sh) and is started
#                                   with --blobs s3://BUCKET/cairn --s3-endpoint ENDPOINT.
# A server on Postgres still has its own --data-dir, for the files that stay local.

AUTO = "auto"  # CairnServer(database=AUTO, blobs=AUTO): follow the variables above


def compat_database() -> Optional[str]:
    """"postgres" when the suites run on Postgres, None for the embedded store."""
    mode = os.environ.get("CAIRN_COMPAT_DATABASE", "").strip().lower()
    if mode in ("", "sqlite"):
        return None
    if mode != "postgres":
        raise RuntimeError(f"CAIRN_COMPAT_DATABASE={mode!r}: expected postgres or sqlite")
    if not os.environ.get("CAIRN_TEST_POSTGRES_ADMIN_URL"):
        raise RuntimeError(
            "CAIRN_COMPAT_DATABASE=postgres needs CAIRN_TEST_POSTGRES_ADMIN_URL "
            "(eval \"$(scripts/postgres.sh start /tmp/cairn-pg)\")"
        )
    return "postgres"


def compat_blobs() -> Optional[str]:
    """"s3" when the suites keep artifact bytes in S3, None for the data directory."""
    mode = os.environ.get("CAIRN_COMPAT_BLOBS", "").strip().lower()
    if mode in ("", "local"):
        return None
    if mode != "s3":
        raise RuntimeError(f"CAIRN_COMPAT_BLOBS={mode!r}: expected s3 or local")
    if not os.environ.get("CAIRN_TEST_S3_ENDPOINT"):
        raise RuntimeError(
            "CAIRN_COMPAT_BLOBS=s3 needs CAIRN_TEST_S3_ENDPOINT "
            "(eval \"$(scripts/s3-server.sh start /tmp/cairn-s3)\")"
        )
    return "s3"


def psql_path() -> str:
    """psql: on PATH, else in Debian's /usr/lib/postgresql/*/bin (newest first)."""
    found = shutil.which("psql")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"),
                        key=lambda p: [int(x) for x in re.findall(r"\d+", p)], reverse=True)
    if candidates:
        return candidates[0]
    raise RuntimeError("psql not found (apt-get install -y postgresql-client)")


def psql(url: str, sql: str) -> str:
    """Run SQL through psql on `url`; returns its output, raises with psql's error."""
    done = subprocess.run(
        [psql_path(), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"psql failed on {sql!r}: {done.stderr.strip()}")
    return done.stdout


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def fresh_database(prefix: str = "cairn") -> str:
    """CREATE DATABASE <prefix>_<random> through the admin URL, owned by the application role
    of CAIRN_TEST_POSTGRES_URL (else the admin's); returns the URL a server connects with."""
    admin = os.environ.get("CAIRN_TEST_POSTGRES_ADMIN_URL")
    if not admin:
        raise RuntimeError("CAIRN_TEST_POSTGRES_ADMIN_URL is not set (scripts/postgres.sh start DIR)")
    app = os.environ.get("CAIRN_TEST_POSTGRES_URL") or admin
    owner = urlsplit(app).username or urlsplit(admin).username
    if not owner or not re.fullmatch(r"[A-Za-z0-9_]+", owner):
        raise RuntimeError(f"cannot tell the database owner from {app!r}")
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    # Postgres 15 lets only a database's owner create tables in its public schema.
    psql(admin, f'CREATE DATABASE "{name}" OWNER "{owner}"')
    return _with_database(app, name)


def s3_endpoint() -> str:
    endpoint = os.environ.get("CAIRN_TEST_S3_ENDPOINT")
    if not endpoint:
        raise RuntimeError("CAIRN_TEST_S3_ENDPOINT is not set (scripts/s3-server.sh start DIR)")
    return endpoint.rstrip("/")


def fresh_bucket(prefix: str = "cairn") -> str:
    """A new, empty bucket on the test S3 server (a plain path-style PUT: the test server
    takes it unsigned); returns its name."""
    endpoint = s3_endpoint()
    name = f"{prefix}-{uuid.uuid4().hex[:20]}"
    r = http_call(endpoint, "PUT", "/" + name, timeout=30)
    if r.status != 200:
        raise RuntimeError(f"could not create bucket {name} at {endpoint}: {r.status} {r.text[:500]}")
    return name


def s3_credentials() -> dict:
    """The keys the server signs S3 requests with: the caller's, else fixed test ones (the
    test server accepts any)."""
    return {
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID") or "cairn-test",
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY") or "cairn-test-secret",
    }


def backend_description() -> str:
    """One line for the report header: which store and blob store the servers use."""
    try:
        store = "postgres (a fresh database per server)" if compat_database() else "sqlite (--data-dir)"
        blobs = "s3 (a fresh bucket per server)" if compat_blobs() else "local (--data-dir)"
    except RuntimeError as exc:
        return f"misconfigured: {exc}"
    return f"store: {store}; blobs: {blobs}"


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
    """Linux: the server gets SIGTERM if the test runner dies, so no orphans. The "parent" is
    the thread that spawned it: spawn servers from a thread that outlives them (the main one)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class CairnServer:
    """One `cairn serve` process on a fixed port and data dir (restartable).

    database: a Postgres URL for --database, None for the embedded store, or AUTO (a fresh
    database when CAIRN_COMPAT_DATABASE=postgres). blobs: an s3:// URL for --blobs (with
    s3_endpoint, default $CAIRN_TEST_S3_ENDPOINT), None for local blobs, or AUTO (a fresh bucket
    when CAIRN_COMPAT_BLOBS=s3). AUTO is resolved at the first start; restarts keep the result.
    """

    registry: list = []

    def __init__(self, workdir: Path, *, api_key: Optional[str] = None,
                 env: Optional[dict] = None, args: Optional[list] = None,
                 name: str = "cairn", allow_loopback_outbound: bool = True,
                 database: Optional[str] = AUTO, blobs: Optional[str] = AUTO,
                 s3_endpoint: Optional[str] = None, s3: bool = False):
        self.binary = cairn_bin()
        self.workdir = Path(workdir)
        self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "server.log"
        self.api_key = api_key
        self.extra_env = dict(env or {})
        self.extra_args = [str(a) for a in (args or [])]  # more `cairn serve` flags
        self.allow_loopback_outbound = allow_loopback_outbound
        self.name = name
        self.database = database
        self.blobs = blobs
        self.s3_endpoint = s3_endpoint
        self.port: Optional[int] = None
        # The S3 listener (workspaces): on a free port when asked for, else off, so servers
        # started side by side never compete for its default port.
        self.s3 = s3
        self.s3_port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0
        self.stopped_at: Optional[float] = None
        CairnServer.registry.append(self)

    # -- lifecycle ----------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def s3_url(self) -> str:
        assert self.s3 and self.s3_port, "start the server with s3=True"
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _resolve_backends(self) -> None:
        """Pick the database and bucket once (first start); restarts reuse them."""
        if self.database == AUTO:
            self.database = fresh_database() if compat_database() else None
        if self.blobs == AUTO:
            self.blobs = f"s3://{fresh_bucket()}/cairn" if compat_blobs() else None
        if self.blobs and self.s3_endpoint is None:
            self.s3_endpoint = s3_endpoint()

    def store_args(self) -> list:
        """The flags that name this server's store and blob store (also for CLI commands
        that open the store directly)."""
        if self.database:
            return ["--database", self.database]
        return ["--data-dir", str(self.data_dir)]

    def _spawn(self) -> None:
        if not self.binary.exists():
            raise RuntimeError(
                f"cairn binary not found at {self.binary} "
                "(build it with `swift build`, or set CAIRN_BIN)"
            )
        self._resolve_backends()
        args = [
            str(self.binary), "serve",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            # Also with --database: the spool and other local files live here.
            "--data-dir", str(self.data_dir),
        ]
        if self.s3:
            if self.s3_port is None:
                self.s3_port = free_port()
            args += ["--s3-port", str(self.s3_port)]
        else:
            args += ["--s3-port", "0"]
        if self.database:
            args += ["--database", self.database]
        if self.blobs:
            args += ["--blobs", self.blobs, "--s3-endpoint", str(self.s3_endpoint)]
        if self.allow_loopback_outbound:
            # The suites' webhook receivers listen on loopback.
            args.append("--allow-loopback-outbound")
        if self.api_key:
            args += ["--api-key", self.api_key]
        args += self.extra_args
        # The server's settings come from this harness only: drop any CAIRN_* or
        # TIDEBASE_* configuration inherited from the developer's shell.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CAIRN_", "TIDEBASE_"))}
        if self.blobs:
            env.update(s3_credentials())
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

    def spawn(self) -> "CairnServer":
        """Start the process on a free port without waiting for it to answer (several servers
        booting at once); wait_started() then waits. Call from the main thread."""
        self.port = free_port()
        self._spawn()
        return self

    def wait_started(self, timeout: float = 30.0) -> "CairnServer":
        if not self._wait_ready(timeout):
            raise RuntimeError(
                f"cairn exited during startup (exit code {self.proc.returncode if self.proc else None})\n"
                + self.log_tail()
            )
        return self

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

    def succeeds(self, method: str, path: str, body: Any = _NO_BODY, **kw: Any) -> Resp:
        """Request that must answer 2xx (201 for creations, say); returns the response."""
        r = self.http(method, path, body, **kw)
        assert 200 <= r.status < 300, f"{method} {path} -> {r.status} {r.text[:1000]}"
        return r



# ---------------------------------------------------------------------------
# Gates
# ---------------------------------------------------------------------------


def start_server(tmp_path_factory: Any, name: str, *, cls: Optional[type] = None,
                 **kw: Any) -> CairnServer:
    """Start a fresh server (own temp dir and port) or fail the test clearly.

    cls is the CairnServer subclass to make (a suite's own helpers); kw go to its constructor.
    """
    import pytest

    if not cairn_bin().exists():
        pytest.fail(
            f"cairn binary not found at {cairn_bin()}: build it (swift build) or set CAIRN_BIN",
            pytrace=False,
        )
    srv = (cls or CairnServer)(tmp_path_factory.mktemp(name), name=name, **kw)
    try:
        srv.start()
    except Exception as exc:
        srv.stop()
        pytest.fail(f"could not start cairn: {exc}", pytrace=False)
    return srv



# Outbound webhooks (channels, recovery and invoke calls)
# ---------------------------------------------------------------------------


class WebhookReceiver:
    """A loopback HTTP endpoint that records every POST it gets.

    Each call is recorded on arrival (before it is answered) as a dict with
    "path", "headers" (lower-cased names), "body" (raw bytes), "json" (parsed or
    None) and "at" (time.monotonic()); "answered" is set once the reply is sent.
    respond(call) -> (status, body_bytes) decides the answer (default 200
    {"ok":true}); it may block, e.g. to stall a caller or to resume a run inline.
    port: listen on this loopback port (default: any free one).
    """

    def __init__(self, respond: Optional[Callable[[dict], Any]] = None, port: int = 0):
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

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
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


# ---------------------------------------------------------------------------
# API keys (`cairn keys` on the server's data dir, also while it runs)
# ---------------------------------------------------------------------------


def keys_cli(server: CairnServer, *args: str) -> subprocess.CompletedProcess:
    """`cairn keys ARGS` on the server's store: its --data-dir, or its --database on Postgres
    (the same database the running server uses, so a new key counts at once)."""
    if server.database == AUTO:
        raise RuntimeError("keys_cli before the server's first start: its store is not chosen yet")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAIRN_", "TIDEBASE_"))}
    return subprocess.run(
        [str(cairn_bin()), "keys", *args, *server.store_args()],
        capture_output=True, text=True, timeout=60, env=env,
    )


def create_key(server: CairnServer, tenant: str, *scopes: str) -> str:
    """`cairn keys create --tenant T [--scope S]...`: returns the secret (printed alone)."""
    args = ["create", "--tenant", tenant]
    for scope in scopes:
        args += ["--scope", scope]
    done = keys_cli(server, *args)
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    assert secret and "\n" not in secret, f"expected the secret alone on stdout, got {done.stdout!r}"
    return secret


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def server_log_sections(started_at: float) -> list:
    """(title, log tail) for every server that ran during a test started at `started_at`;
    conftests attach these to a failed test's report."""
    sections = []
    for srv in CairnServer.registry:
        relevant = srv.proc is not None and (
            srv.stopped_at is None or srv.stopped_at >= started_at
        )
        if relevant:
            sections.append((f"cairn server log ({srv.name}, port {srv.port})", srv.log_tail()))
    return sections
