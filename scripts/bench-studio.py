#!/usr/bin/env python3
"""Studio's figures: time to first byte and page weight of the web UI's pages on a full store.
Prints figures and a markdown table; asserts nothing.

    .venv-compat/bin/python scripts/bench-studio.py [--runs 100000] [--events 10000] [-n 200]

Starts `cairn serve` on a fresh temporary data directory (free loopback port, no S3 listener,
a root key), then:

1. signs in to Studio as a browser does (GET /studio/sign-in for the CSRF cookie and the form's
   hidden token, POST the form with the root key, keep the `cairn_studio` session cookie), and
   weighs the empty state: the sign-in page, the runs list of an empty store, studio.css and
   studio.js;
2. seeds the store through the public HTTP API (the Tidebase run protocol, the root key as a
   bearer token; several threads, each its own keep-alive connection): `--runs` runs in all,
   over a few workflow names and every terminal and non-terminal status a worker leaves (pending,
   running, completed, failed, cancelled), among them one run of `--events` events per kind in
   `--heavy` (`steps`: a running run of begun-and-completed steps, two events per step, the
   realistic shape; `state`: state PATCHes, one event and one state version each, which isolates
   the event page from the step timeline) and one new run (its `run.created` event only); then
   `--queued` more runs enqueued over four queues, every tenth enqueue followed by a claim of
   ten from one of two worked queues (so the queue page counts a quarter hour of claims over
   them; with `--queued 0`, `--empty-status queued` is a status no run has);
3. measures, over one warm keep-alive connection with the session cookie, `-n` requests per page
   (taking turns, after `--warmup` unmeasured ones): time to first byte (from just before the
   request is written to the arrival of the first byte of the status line) and total time (to
   the last byte of the body), for the runs list, the list filtered by a status (`--status`) and
   by one no run has (`--empty-status`), a later page (the `a[rel=next]` link followed
   `--next-hops` times), the list oldest first, filtered by a workflow and by one no run has,
   the queue page, each heavy run's page, its `?part=live` fragment and its first page of older
   events, a new run's page, and, as floors, the same lists as JSON from the API
   (`GET /runs?limit=50`, `GET /queues`, bearer auth) and `GET /health`;
4. prints p50 / p95 / p99 per page, the byte sizes, and markdown tables ready to paste.

Sizes are response bodies as sent (Studio does not compress; the gzip column is what
`gzip -6` would make of the same bytes, for reference). Stops the server and removes the data
directory on exit, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import gzip
import html
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Optional

ROOT_KEY = "bench-studio-root-" + os.urandom(8).hex()
WORKFLOWS = ("ingest-documents", "summarize-report", "triage-ticket", "nightly-eval")
HOST = "127.0.0.1"


# ---------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 client over one socket, so time to first byte is the first recv, not
# whenever a library has parsed the head.


class Response:
    __slots__ = ("status", "headers", "body", "ttfb", "total")

    def __init__(self, status: int, headers: list, body: bytes, ttfb: float, total: float):
        self.status, self.headers, self.body, self.ttfb, self.total = status, headers, body, ttfb, total

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_all(self, name: str) -> list:
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Stale(Exception):
    """The connection was closed before any of the answer arrived."""


class RawConnection:
    """One keep-alive connection; requests one at a time (no pipelining)."""

    def __init__(self, port: int):
        self.port = port
        self.sock: Optional[socket.socket] = None
        self.buf = b""

    def _connect(self) -> None:
        self.sock = socket.create_connection((HOST, self.port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, method: str, path: str, headers: Optional[dict] = None, body: bytes = b"") -> Response:
        reused = self.sock is not None
        try:
            return self._request(method, path, headers, body)
        except _Stale:
            # The server closed the idle connection (its idle timeout) before this request: once
            # more on a new one. Nothing of the answer had arrived, so nothing was measured.
            if not reused:
                raise ConnectionError("connection closed before the response") from None
            self.close()
            return self._request(method, path, headers, body)

    def _request(self, method: str, path: str, headers: Optional[dict], body: bytes) -> Response:
        if self.sock is None:
            self._connect()
        head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        sock = self.sock
        assert sock is not None
        t0 = time.perf_counter()
        buf = self.buf
        try:
            sock.sendall(data)
            if not buf:
                buf = sock.recv(262144)
        except (BrokenPipeError, ConnectionResetError):
            raise _Stale() from None
        if not buf:
            raise _Stale()
        ttfb = time.perf_counter() - t0
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(262144)
            if not chunk:
                raise ConnectionError("connection closed in the response head")
            buf += chunk
        end = buf.index(b"\r\n\r\n")
        lines = buf[:end].decode("latin-1").split("\r\n")
        buf = buf[end + 4:]
        status = int(lines[0].split(" ", 2)[1])
        hdrs = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs.append((k.strip().lower(), v.strip()))
        hmap = {k: v for k, v in hdrs}
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body_out = b""
        elif "content-length" in hmap:
            n = int(hmap["content-length"])
            parts = [buf]
            have = len(buf)
            while have < n:
                chunk = sock.recv(max(262144, n - have))
                if not chunk:
                    raise ConnectionError("connection closed in the body")
                parts.append(chunk)
                have += len(chunk)
            whole = b"".join(parts)
            body_out, buf = whole[:n], whole[n:]
        elif hmap.get("transfer-encoding", "").lower() == "chunked":
            out = []
            while True:
                while b"\r\n" not in buf:
                    buf += self._recv()
                i = buf.index(b"\r\n")
                size = int(buf[:i].split(b";")[0], 16)
                buf = buf[i + 2:]
                if size == 0:
                    while b"\r\n" not in buf:
                        buf += self._recv()
                    # No trailers expected: the terminating CRLF.
                    buf = buf[buf.index(b"\r\n") + 2:]
                    break
                while len(buf) < size + 2:
                    buf += self._recv()
                out.append(buf[:size])
                buf = buf[size + 2:]
            body_out = b"".join(out)
        else:
            parts = [buf]
            while True:
                chunk = sock.recv(262144)
                if not chunk:
                    break
                parts.append(chunk)
            body_out, buf = b"".join(parts), b""
            self.close()
        total = time.perf_counter() - t0
        self.buf = buf
        if hmap.get("connection", "").lower() == "close":
            self.close()
        return Response(status, hdrs, body_out, ttfb, total)

    def _recv(self) -> bytes:
        assert self.sock is not None
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("connection closed in a chunked body")
        return chunk


# ---------------------------------------------------------------------------------------------
# The server


def _pdeathsig() -> None:  # runs in the child: the server gets SIGTERM if this script dies
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except Exception:
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary: Path, workdir: Path):
        self.binary = binary
        self.data = workdir / "data"
        self.log_path = workdir / "server.log"
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0

    def start(self) -> None:
        for _ in range(3):
            self.port = free_port()
            args = [str(self.binary), "serve", "--host", HOST, "--port", str(self.port), "--s3-port", "0",
                    "--data-dir", str(self.data), "--api-key", ROOT_KEY, "--log-level", "warning"]
            env = {k: v for k, v in os.environ.items() if not k.startswith(("CAIRN_", "TIDEBASE_"))}
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             env=env, preexec_fn=_pdeathsig)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    c = http.client.HTTPConnection(HOST, self.port, timeout=2)
                    c.request("GET", "/health")
                    r = c.getresponse()
                    r.read()
                    c.close()
                    if r.status == 200:
                        return
                except OSError:
                    pass
                time.sleep(0.05)
            self.stop()
        raise RuntimeError("cairn serve did not answer GET /health:\n" + self.log_tail())

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cpu_seconds(self) -> Optional[float]:
        """The server's user + system CPU time so far (Linux /proc)."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def rss_mib(self) -> Optional[float]:
        if self.proc is None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None


# ---------------------------------------------------------------------------------------------
# Seeding through the public API (http.client, keep-alive, one connection per thread)


class Api:
    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=120)
        self.headers = {"Authorization": f"Bearer {ROOT_KEY}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body=None, extra: Optional[dict] = None):
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = dict(self.headers)
        if extra:
            headers.update(extra)
        for attempt in range(3):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                payload = r.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=120)
                if attempt == 2:
                    raise
        if r.status >= 300:
            raise RuntimeError(f"{method} {path} -> {r.status} {payload[:300]!r}")
        return json.loads(payload) if payload else None

    def close(self) -> None:
        self.conn.close()


# The status mix of the bulk runs, by index modulo 100: the calls a worker would have made.
def status_for(i: int) -> str:
    m = (i * 37) % 100  # spread each status over the whole creation order
    if m < 40:
        return "pending"  # created, no worker yet
    if m < 50:
        return "running"  # begun
    if m < 88:
        return "completed"  # begun, completed
    if m < 98:
        return "failed"  # begun, failed
    return "cancelled"  # cancelled before it began


def seed_one(api: Api, i: int) -> int:
    """One bulk run; returns the number of requests made."""
    wf = WORKFLOWS[i % len(WORKFLOWS)]
    run = api.call("POST", f"/runs/{wf}", {"input": {"n": i, "source": f"doc-{i}"}})["run"]
    rid = run["id"]
    status = status_for(i)
    if status == "pending":
        return 1
    if status == "cancelled":
        api.call("POST", f"/runs/{rid}/cancel", {"reason": "superseded"})
        return 2
    api.call("POST", f"/runs/{rid}/begin", extra={"X-Tidebase-Worker": f"worker-{i % 8}"})
    if status == "running":
        return 2
    if status == "completed":
        api.call("POST", f"/runs/{rid}/complete", {"result": {"ok": True, "n": i}})
    else:
        api.call("POST", f"/runs/{rid}/fail", {"error": {"message": "model timed out", "n": i}})
    return 3


def parallel(threads: int, count: int, work, label: str, port: int) -> tuple:
    """Runs work(api, i) for i in range(count) on `threads` threads; returns (seconds, requests)."""
    done = [0] * threads
    requests = [0] * threads
    errors: list = []
    stop = threading.Event()

    def worker(t: int) -> None:
        api = Api(port)
        try:
            for i in range(t, count, threads):
                if stop.is_set():
                    return
                requests[t] += work(api, i)
                done[t] += 1
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
            stop.set()
        finally:
            api.close()

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for th in pool:
        th.start()
    last = started
    while any(th.is_alive() for th in pool):
        for th in pool:
            th.join(timeout=0.2)
        now = time.perf_counter()
        if now - last >= 10:
            last = now
            n = sum(done)
            print(f"   {label}: {n:,}/{count:,} ({n / (now - started):,.0f}/s)", flush=True)
    if errors:
        raise errors[0]
    return time.perf_counter() - started, sum(requests)


QUEUES = ("emails", "embeddings", "webhooks", "reports")


def seed_queued(api: Api, i: int) -> int:
    """One enqueued run; every tenth enqueue also claims ten runs of one of the two worked queues
    (the first and third), so about half the runs are claimed and the other two queues only wait."""
    queue = QUEUES[i % len(QUEUES)]
    api.call("POST", f"/queues/{queue}/enqueue", {"workflowName": "deliver", "input": {"n": i}})
    if i % 10 == 0:
        worked = QUEUES[0::2][(i // 10) % 2]
        api.call("POST", "/queues/claim", {"queues": [worked], "limit": 10, "leaseOwner": f"worker-{i % 4}"})
        return 2
    return 1


def seed_heavy(port: int, kind: str, events: int, threads: int) -> tuple:
    """A run of exactly `events` events; returns (run id, seconds, requests)."""
    api = Api(port)
    started = time.perf_counter()
    run = api.call("POST", f"/runs/{WORKFLOWS[0]}", {"input": {"heavy": kind}})["run"]
    rid = run["id"]
    count = 1  # run.created
    reqs = 1
    if kind == "steps":
        owner = api.call("POST", f"/runs/{rid}/begin", extra={"X-Tidebase-Worker": "bench-heavy"})["leaseOwner"]
        count += 1  # run.started
        reqs += 1
        steps = max(0, (events - count) // 2)

        def step(a: Api, k: int) -> int:
            r = a.call("POST", f"/runs/{rid}/steps/begin",
                       {"name": f"step-{k:05d}", "inputHash": f"h{k}", "input": {"k": k}, "leaseOwner": owner})
            assert r["action"] == "execute", r
            a.call("POST", f"/runs/{rid}/steps/{r['step']['id']}/complete",
                   {"leaseOwner": owner, "output": {"k": k, "summary": "ok"}})
            return 2

        _, n = parallel(threads, steps, step, f"{kind} run", port)
        reqs += n
        count += 2 * steps
        while count < events:  # an odd remainder: one usage entry
            api.call("POST", f"/runs/{rid}/usage", {"kind": "llm", "model": "m", "totalTokens": 10})
            count += 1
            reqs += 1
    elif kind == "state":
        patches = max(0, events - count)

        def patch(a: Api, k: int) -> int:
            a.call("PATCH", f"/runs/{rid}/state", {"value": {f"k{k % 16}": k}})
            return 1

        _, n = parallel(threads, patches, patch, f"{kind} run", port)
        reqs += n
        count += patches
    else:
        raise SystemExit(f"unknown --heavy kind {kind!r} (steps, state)")
    seconds = time.perf_counter() - started
    detail = api.call("GET", f"/runs/{rid}")
    seqs = [e["seq"] for e in detail["events"]]
    api.close()
    if len(seqs) != events or max(seqs) != events:
        raise RuntimeError(f"the {kind} run has {len(seqs)} events (max seq {max(seqs)}), expected {events}")
    return rid, seconds, reqs, len(detail["steps"])


# ---------------------------------------------------------------------------------------------
# Studio as a browser


class Browser:
    def __init__(self, port: int):
        self.conn = RawConnection(port)
        self.cookies: dict = {}

    def _take_cookies(self, r: Response) -> None:
        for line in r.header_all("set-cookie"):
            pair = line.split(";", 1)[0]
            name, _, value = pair.partition("=")
            max_age = re.search(r"max-age=(-?\d+)", line, re.I)
            if max_age and int(max_age.group(1)) <= 0:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value.strip()

    def headers(self) -> dict:
        h = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Encoding": "gzip, deflate, br",
             "User-Agent": "bench-studio"}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return h

    def get(self, path: str) -> Response:
        r = self.conn.request("GET", path, self.headers())
        self._take_cookies(r)
        return r

    def post_form(self, path: str, fields: dict) -> Response:
        h = self.headers()
        h["Content-Type"] = "application/x-www-form-urlencoded"
        r = self.conn.request("POST", path, h, urllib.parse.urlencode(fields).encode())
        self._take_cookies(r)
        return r

    def sign_in(self) -> tuple:
        page = self.get("/studio/sign-in")
        assert page.status == 200, (page.status, page.text[:300])
        assert "cairn_studio_signin" in self.cookies, page.headers
        m = re.search(r'<input type="hidden" name="csrf" value="([^"]+)"', page.text)
        assert m, "no csrf input on the sign-in page"
        r = self.post_form("/studio/sign-in", {"csrf": html.unescape(m.group(1)), "key": ROOT_KEY})
        assert r.status == 303, (r.status, r.text[:300])
        assert self.cookies.get("cairn_studio"), r.headers
        runs = self.get("/studio/runs")
        assert runs.status == 200 and "Sign out" in runs.text, (runs.status, runs.text[:300])
        return page, runs


def next_link(text: str) -> Optional[str]:
    m = re.search(r'<a rel="next" href="([^"]+)"', text)
    return html.unescape(m.group(1)) if m else None


# ---------------------------------------------------------------------------------------------
# Figures


def pct(sorted_values: list, p: float) -> float:
    """Nearest-rank percentile."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(-(-p * len(sorted_values) // 100)) - 1))
    return sorted_values[k]


def kb(n: int) -> str:
    return f"{n / 1000:,.1f} KB"


def gz(data: bytes) -> int:
    return len(gzip.compress(data, 6))


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    distro = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {mem}, {distro or platform.platform()}, Python {platform.python_version()}"


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    release = root / ".build-release/release/cairn"
    default_bin = release if release.exists() else root / ".build/debug/cairn"
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", type=Path, default=default_bin, help=f"the cairn binary (default {default_bin})")
    p.add_argument("--runs", type=int, default=100_000, help="runs in the store (default 100000)")
    p.add_argument("--events", type=int, default=10_000, help="events of each heavy run (default 10000)")
    p.add_argument("--heavy", default="steps,state",
                   help="the heavy runs to make, comma-separated: steps, state (default steps,state)")
    p.add_argument("-n", "--requests", type=int, default=200, help="measured requests per page (default 200)")
    p.add_argument("--warmup", type=int, default=10, help="unmeasured requests per page first (default 10)")
    p.add_argument("--threads", type=int, default=16, help="seeding threads (default 16)")
    p.add_argument("--next-hops", type=int, default=5, help="rel=next links followed for the later page (default 5)")
    p.add_argument("--queued", type=int, default=20_000,
                   help="runs enqueued over four queues, about half of them claimed (default 20000)")
    p.add_argument("--status", default="failed", help="the status the filtered list shows (default failed)")
    p.add_argument("--empty-status", default="queued",
                   help="a second status to filter by; no seeded run has it when --queued is 0 (default queued)")
    p.add_argument("--keep", action="store_true", help="keep the data directory (its path is printed)")
    args = p.parse_args()
    heavy_kinds = [k.strip() for k in args.heavy.split(",") if k.strip()]
    if not args.bin.exists():
        raise SystemExit(f"no cairn binary at {args.bin} (swift build, or --bin)")

    workdir = Path(tempfile.mkdtemp(prefix="bench-studio-"))
    server = Server(args.bin, workdir)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return run(args, server, heavy_kinds)
    finally:
        server.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run(args, server: Server, heavy_kinds: list) -> int:
    binary = args.bin.resolve()
    build = "release" if "release" in str(binary) else "debug" if "debug" in str(binary) else "?"
    print(f"== machine: {machine()}")
    print(f"== binary: {binary} ({build} build)")
    server.start()
    port = server.port
    print(f"== cairn serve on {HOST}:{port}, data in {server.data}")

    # 1. Sign in, weigh the empty state.
    browser = Browser(port)
    signin_page, empty_list = browser.sign_in()
    css = browser.get("/studio/assets/studio.css")
    js = browser.get("/studio/assets/studio.js")
    assert css.status == 200 and js.status == 200
    weights = [
        ("sign-in page (HTML)", signin_page),
        ("runs list, empty store (HTML)", empty_list),
        ("/studio/assets/studio.css", css),
        ("/studio/assets/studio.js", js),
    ]
    encodings = {r.header("content-encoding") for _, r in weights} - {None}
    print(f"== signed in (cookie cairn_studio); Content-Encoding sent: {', '.join(encodings) or 'none'}")
    empty_total = len(empty_list.body) + len(css.body) + len(js.body)

    # 2. Seed.
    bulk = args.runs - len(heavy_kinds) - 1
    cpu0 = server.cpu_seconds()
    client0 = time.process_time()
    print(f"== seeding {bulk:,} runs over {len(WORKFLOWS)} workflows, {args.threads} threads")
    seconds, reqs = parallel(args.threads, bulk, seed_one, "runs", port)
    cpu1 = server.cpu_seconds()
    client_cpu = time.process_time() - client0
    mix: dict = {}
    for i in range(bulk):
        s = status_for(i)
        mix[s] = mix.get(s, 0) + 1
    server_cpu = f"server CPU {cpu1 - cpu0:.1f} s, " if cpu0 is not None and cpu1 is not None else ""
    print(f"   {bulk:,} runs in {seconds:.1f} s: {bulk / seconds:,.0f} runs/s, {reqs / seconds:,.0f} requests/s "
          f"({reqs:,} requests; {server_cpu}this client's CPU {client_cpu:.1f} s)")
    print("   statuses: " + ", ".join(f"{k} {v:,}" for k, v in mix.items()))
    if args.queued:
        seconds, reqs = parallel(args.threads, args.queued, seed_queued, "queued runs", port)
        print(f"== {args.queued:,} runs enqueued over {len(QUEUES)} queues in {seconds:.1f} s "
              f"({reqs:,} requests, every tenth a claim of up to 10)")
    heavy: dict = {}
    for kind in heavy_kinds:
        rid, secs, n, steps = seed_heavy(port, kind, args.events, min(args.threads, 8))
        heavy[kind] = rid
        print(f"== {kind} run {rid}: {args.events:,} events ({steps:,} steps) in {secs:.1f} s "
              f"({n / secs:,.0f} requests/s), verified with GET /runs/:id")
    api = Api(port)
    fresh = api.call("POST", f"/runs/{WORKFLOWS[1]}", {"input": {"fresh": True}})["run"]["id"]
    listing = api.call("GET", "/runs?limit=1")
    api.close()
    print(f"== store: {args.runs + args.queued:,} runs; server RSS {server.rss_mib():.0f} MiB; newest run {listing['runs'][0]['id']}")

    # 3. The pages, on a new connection (the server closed the idle one during seeding).
    browser.conn.close()
    first = browser.get("/studio/runs")
    assert first.status == 200 and first.text.count('href="/studio/runs/') >= 50, first.text[:500]
    later = first
    path_later = "/studio/runs"
    for _ in range(args.next_hops):
        nxt = next_link(later.text)
        assert nxt, "no rel=next link on a runs page"
        path_later = nxt
        later = browser.get(nxt)
        assert later.status == 200
    filtered_path = "/studio/runs?status=" + urllib.parse.quote(args.status)
    pages = [
        ("runs list, first page", "/studio/runs"),
        (f"runs list, status={args.status}", filtered_path),
        (f"runs list, status={args.empty_status}" + (" (no run has it)" if args.queued == 0 else ""),
         "/studio/runs?status=" + urllib.parse.quote(args.empty_status)),
        (f"runs list, page {args.next_hops + 1} (rel=next ×{args.next_hops})", path_later),
        ("runs list, oldest first", "/studio/runs?order=asc"),
        (f"runs list, workflow={WORKFLOWS[2]}", "/studio/runs?workflow=" + urllib.parse.quote(WORKFLOWS[2])),
        ("runs list, workflow no run has", "/studio/runs?workflow=no-such-workflow"),
        (f"queues ({args.queued:,} queued runs, activity counted)", "/studio/queues"),
    ]
    for kind, rid in heavy.items():
        run_page = browser.get(f"/studio/runs/{rid}")
        assert run_page.status == 200, run_page.status
        older = next_link(run_page.text)
        assert older and "before=" in older, "no older-events link on the run page"
        pages += [
            (f"run page, {args.events:,} events ({kind})", f"/studio/runs/{rid}"),
            (f"run page `?part=live` ({kind})", f"/studio/runs/{rid}?part=live"),
            (f"run page, older events ({kind})", older),
        ]
    pages.append(("run page, new run (1 event)", f"/studio/runs/{fresh}"))
    floors = [
        ("floor: `GET /runs?limit=50` (JSON)", "/runs?limit=50"),
        (f"floor: `GET /runs?limit=50&status={args.empty_status}` (JSON)",
         "/runs?limit=50&status=" + urllib.parse.quote(args.empty_status)),
        ("floor: `GET /queues` (JSON, no activity)", "/queues"),
        ("floor: `GET /health`", "/health"),
    ]
    api_conn = RawConnection(port)
    api_headers = {"Authorization": f"Bearer {ROOT_KEY}", "Accept": "application/json"}

    def fetch(label: str, path: str) -> Response:
        if label.startswith("floor"):
            return api_conn.request("GET", path, api_headers)
        return browser.conn.request("GET", path, browser.headers())

    everything = pages + floors
    samples: dict = {label: ([], []) for label, _ in everything}
    last: dict = {}
    for label, path in everything:
        for _ in range(args.warmup):
            r = fetch(label, path)
            assert r.status == 200, (label, path, r.status, r.text[:300])
        last[label] = r
    print(f"== measuring {args.requests} requests per page, taking turns ({len(everything)} pages)")
    cpu0 = server.cpu_seconds()
    started = time.perf_counter()
    for _ in range(args.requests):
        for label, path in everything:
            r = fetch(label, path)
            if r.status != 200:
                raise RuntimeError(f"{label}: {path} -> {r.status}")
            samples[label][0].append(r.ttfb)
            samples[label][1].append(r.total)
            last[label] = r
    elapsed = time.perf_counter() - started
    cpu1 = server.cpu_seconds()
    if cpu0 is not None and cpu1 is not None:
        print(f"   {args.requests * len(everything):,} requests in {elapsed:.1f} s; server CPU {cpu1 - cpu0:.1f} s")

    # 4. Report.
    def ms(v: float) -> str:
        return f"{v * 1000:.2f}"

    rows = []
    for label, _path in everything:
        t = sorted(samples[label][0])
        tt = sorted(samples[label][1])
        body = last[label].body
        rows.append((label, len(body), gz(body), [pct(t, q) for q in (50, 95, 99)], [pct(tt, q) for q in (50, 95, 99)]))

    print()
    print("page | bytes | gzip | TTFB p50 / p95 / p99 ms | total p50 / p95 / p99 ms")
    for label, size, gsize, t, tt in rows:
        print(f"  {label}: {size:,} B | {gsize:,} B | {' / '.join(ms(v) for v in t)} | {' / '.join(ms(v) for v in tt)}")
    print()
    for label, r in weights:
        print(f"  {label}: {len(r.body):,} B (gzip {gz(r.body):,} B)")
    print(f"  empty list + css + js (the layout before data): {empty_total:,} B")

    print()
    print(f"Markdown ({args.runs:,} runs, heavy runs of {args.events:,} events, n = {args.requests} per page, "
          f"{build} build, {datetime.date.today().isoformat()}):")
    print()
    print("| page | HTML bytes (gzip) | TTFB p50 / p95 / p99 | total p50 / p95 / p99 |")
    print("|---|---|---|---|")
    for label, size, gsize, t, tt in rows:
        print(f"| {label} | {size:,} ({gsize:,}) | {' / '.join(ms(v) for v in t)} ms | "
              f"{' / '.join(ms(v) for v in tt)} ms |")
    print()
    print("| page weight | bytes | gzip |")
    print("|---|---|---|")
    for label, r in weights:
        print(f"| {label} | {len(r.body):,} | {gz(r.body):,} |")
    print(f"| **layout before data** (empty list + CSS + JS) | **{empty_total:,}** | "
          f"{gz(empty_list.body) + gz(css.body) + gz(js.body):,} |")
    for label, size, gsize, _t, _tt in rows:
        if not label.startswith("floor"):
            print(f"| {label} | {size:,} | {gsize:,} |")

    print()
    print("Against the targets (TTFB p50 ≤ 50 ms; under 100 KB before data):")
    for label, size, _g, t, _tt in rows:
        if label.startswith("floor") or "older events" in label or "new run" in label:
            continue
        verdict = "met" if t[0] <= 0.050 else f"NOT met (+{(t[0] - 0.050) * 1000:.1f} ms)"
        print(f"  {label}: TTFB p50 {ms(t[0])} ms: {verdict}")
    verdict = "met" if empty_total < 100_000 else f"NOT met (+{empty_total - 100_000:,} B)"
    print(f"  layout before data {empty_total:,} B: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
