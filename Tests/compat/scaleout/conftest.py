"""Fixtures for the scale-out suite: several `cairn serve` replicas on one Postgres database and
one S3 bucket, each with its own --data-dir and port.

Needs a Postgres cluster (CAIRN_TEST_POSTGRES_ADMIN_URL, from scripts/postgres.sh): without it
every test here is skipped, saying so. With an S3 server (CAIRN_TEST_S3_ENDPOINT, from
scripts/s3-server.sh) the replicas also share a bucket; without one they keep blobs in their
own data directories and the tests that need shared blobs (marked needs_s3) are skipped.
scripts/test.sh starts both.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

_here = Path(__file__).resolve().parent
sys.path.insert(0, str(_here.parent))
sys.path.insert(0, str(_here.parent / "tidebase"))

from cairncompat import fresh_bucket, fresh_database, start_server  # noqa: E402
from tbcompat import CairnServer  # noqa: E402  (the Tidebase shortcuts: detail(), sse())

HAS_POSTGRES = bool(os.environ.get("CAIRN_TEST_POSTGRES_ADMIN_URL"))
HAS_S3 = bool(os.environ.get("CAIRN_TEST_S3_ENDPOINT"))
NO_POSTGRES = (
    "scale-out needs a shared Postgres: CAIRN_TEST_POSTGRES_ADMIN_URL is not set "
    "(eval \"$(scripts/postgres.sh start DIR)\", or run scripts/test.sh)"
)
NO_S3 = (
    "replicas share artifacts through S3: CAIRN_TEST_S3_ENDPOINT is not set "
    "(eval \"$(scripts/s3-server.sh start DIR)\", or run scripts/test.sh)"
)

# Every replica runs its reconciler often, so lease expiry is noticed within a second or so.
RECONCILE_MS = "200"


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_s3: the test needs the replicas to share a bucket")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "scaleout" not in Path(str(item.fspath)).parts:
            continue
        if not HAS_POSTGRES:
            item.add_marker(pytest.mark.skip(reason=NO_POSTGRES))
        elif not HAS_S3 and item.get_closest_marker("needs_s3"):
            item.add_marker(pytest.mark.skip(reason=NO_S3))


class Cluster:
    """The replicas of one test and the database and bucket they share."""

    def __init__(self, database: str, blobs, servers: list):
        self.database = database
        self.blobs = blobs
        self.servers = servers


@pytest.fixture
def replicas(request, tmp_path_factory):
    """replicas(*serve_flags, count=2, concurrent=False) -> Cluster with servers A, B, ...

    A fresh database and bucket per call. With concurrent=True the replicas are started at the
    same moment (both migrate an empty database at once). All are stopped after the test.
    """
    started: list = []

    def make(*flags: str, count: int = 2, concurrent: bool = False, **kw) -> Cluster:
        database = fresh_database("cairn_scaleout")
        blobs = f"s3://{fresh_bucket('cairn-scaleout')}/cairn" if HAS_S3 else None
        names = [chr(ord("A") + i) for i in range(count)]
        options = dict(database=database, blobs=blobs,
                       args=["--reconcile-ms", RECONCILE_MS, *flags], **kw)
        servers: list = []
        if concurrent:
            # All processes started before any is waited for: they boot (and migrate) at once.
            for name in names:
                label = f"{request.node.name[:30]}-{name}"
                srv = CairnServer(tmp_path_factory.mktemp(label), name=label, **options)
                started.append(srv)
                servers.append(srv.spawn())
            for srv in servers:
                try:
                    srv.wait_started()
                except RuntimeError as exc:
                    pytest.fail(f"replica {srv.name} did not start: {exc}", pytrace=False)
        else:
            for name in names:
                srv = start_server(tmp_path_factory, f"{request.node.name[:30]}-{name}",
                                   cls=CairnServer, **options)
                started.append(srv)
                servers.append(srv)
        return Cluster(database, blobs, servers)

    yield make
    for srv in started:
        srv.stop()
