"""Fixtures for the sandbox suites: one `cairn serve` per test module (`server`, root key
ROOT_KEY), and every sandbox a test created through `server.create` deleted after that test."""

from __future__ import annotations

import pytest

from sbcompat import require_sandbox_routes, start_sandbox_server


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    srv = start_sandbox_server(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1][:40])
    try:
        require_sandbox_routes(srv)
        yield srv
    finally:
        srv.cleanup()
        srv.stop()


@pytest.fixture(autouse=True)
def _delete_created_sandboxes(request):
    srv = request.getfixturevalue("server") if "server" in request.fixturenames else None
    yield
    if srv is not None and srv.alive:
        srv.cleanup()


@pytest.fixture
def server_factory(request, tmp_path_factory):
    """Extra servers for one test (e.g. one to kill -9); stopped after it."""
    started = []

    def make(**kw):
        srv = start_sandbox_server(tmp_path_factory, request.node.name[:40], **kw)
        started.append(srv)
        require_sandbox_routes(srv)
        return srv

    yield make
    for srv in started:
        try:
            if srv.alive:
                srv.cleanup()
        finally:
            srv.stop()
