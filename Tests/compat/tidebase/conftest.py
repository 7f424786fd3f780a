"""Fixtures for the Tidebase compatibility suite.

A fresh `cairn serve` is started per test module (`server`) on a free port with
a fresh data dir; tests that need isolation or a restart use `server_factory`.
The binary is $CAIRN_BIN (relative paths resolve against the repo root),
default <repo>/.build/debug/cairn.
"""

from __future__ import annotations

import os

import pytest

from tbcompat import CairnServer, start_server as _start

# The SDK (and possibly the server) read these; the suite decides them itself.
for _var in ("TIDEBASE_URL", "TIDEBASE_API_KEY", "TIDEBASE_WEBHOOK_SECRET"):
    os.environ.pop(_var, None)


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
