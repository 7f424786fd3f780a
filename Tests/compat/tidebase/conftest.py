"""Fixtures for the Tidebase compatibility suite.

A fresh `cairn serve` is started per test module (`server`) on a free port with
a fresh data dir; tests that need isolation or a restart use `server_factory`.
The binary is $CAIRN_BIN (relative paths resolve against the repo root),
default <repo>/.build/debug/cairn.
"""

from __future__ import annotations

import os
import socket
import time

import pytest

from tbcompat import CairnServer, cairn_bin, start_server as _start

# The SDK calls urlopen without a timeout; never let a wedged server hang the suite.
socket.setdefaulttimeout(30)

# The SDK (and possibly the server) read these; the suite decides them itself.
for _var in ("TIDEBASE_URL", "TIDEBASE_API_KEY", "TIDEBASE_WEBHOOK_SECRET"):
    os.environ.pop(_var, None)

_test_started_at = [0.0]


def pytest_report_header(config):
    path = cairn_bin()
    return [f"cairn binary: {path}" + ("" if path.exists() else " (MISSING)")]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _test_started_at[0] = time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for srv in CairnServer.registry:
        relevant = srv.proc is not None and (
            srv.stopped_at is None or srv.stopped_at >= _test_started_at[0]
        )
        if relevant:
            report.sections.append(
                (f"cairn server log ({srv.name}, port {srv.port})", srv.log_tail())
            )


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """A fresh server for this test module (open, no API key)."""
    srv = _start(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1])
    yield srv
    srv.stop()


@pytest.fixture
def server_factory(request, tmp_path_factory):
    """Start extra servers (own data dir, own port) for one test; stopped after.

    server_factory(api_key=None, env=None) -> CairnServer. The returned server
    has kill9() and restart() (same port, same data dir) for crash tests.
    """
    started: list = []

    def make(**kw) -> CairnServer:
        srv = _start(tmp_path_factory, request.node.name[:40], **kw)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture(scope="module")
def tide(server):
    from tidebase import Tidebase

    return Tidebase(url=server.url)
