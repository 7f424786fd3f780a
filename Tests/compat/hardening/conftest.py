"""Fixtures shared by the hardening suites."""

from __future__ import annotations

import pytest

from cairncompat import start_server


@pytest.fixture
def serve(request, tmp_path_factory):
    """serve(*flags, **kw) starts a fresh server with extra `cairn serve` flags; all are
    stopped after the test."""
    started = []

    def make(*args: str, **kw):
        srv = start_server(tmp_path_factory, request.node.name[:40], args=list(args), **kw)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()
