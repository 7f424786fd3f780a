"""Fixtures for the SnapState compatibility suite.

A fresh `cairn serve` (root API key, rate limiting off) is started per test module (`server`) on
a free port with a fresh data dir; tests that need other flags (rate limits, a fast expiry
sweeper) start their own with `server_factory`. Tests on the shared server use workflow ids of
their own (sscompat.new_wf) or a brand-new tenant (server.tenant()) so they stay independent.
The binary is $CAIRN_BIN (relative paths resolve against the repo root), default
<repo>/.build/debug/cairn.
"""

from __future__ import annotations

import os

import pytest

from sscompat import WebhookReceiver, start_snap_server

for _var in ("SNAPSTATE_API_KEY", "SNAPSTATE_API_URL", "SNAPSTATE_URL"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """A fresh server for this test module: root key ROOT_KEY, --rate-limit 0."""
    srv = start_snap_server(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1])
    yield srv
    srv.stop()


@pytest.fixture
def server_factory(request, tmp_path_factory):
    """Start extra servers for one test; stopped after.

    server_factory(rate_limit=0, args=(), api_key=ROOT_KEY, env=None) -> SnapServer
    """
    started: list = []

    def make(**kw):
        srv = start_snap_server(tmp_path_factory, request.node.name[:40], **kw)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def client(server):
    """An SDK client with the root key (default tenant)."""
    c = server.client()
    yield c
    c.close()


@pytest.fixture
def receiver():
    """A loopback webhook endpoint (records every POST; answers 200)."""
    r = WebhookReceiver()
    yield r
    r.close()
