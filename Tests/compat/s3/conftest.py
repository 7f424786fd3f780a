"""Fixtures for the S3 listener suite (Cairn's `--s3-port`, Tigris-compatible).

Default target: a fresh `cairn serve` per test module, started with an S3 listener
(`CairnServer(..., s3=True)`, which picks a free port, passes `--s3-port` and exposes
`server.s3_url`) and a root API key (auth on). S3 credentials come from
`cairn keys create --tenant T --s3 [--scope S]` (s3compat.s3_keys).

S3_COMPAT_TARGET=moto runs the same tests against a local moto S3 server (one per session)
to validate the plain-S3 tests; tests marked `cairn_only` (Tigris headers, tenants, strict
validation that moto does not do) are skipped there (S3_COMPAT_RUN_ALL=1 runs them anyway).

Tests use fresh bucket names (uuid-based) so they stay independent on a shared server.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

_here = Path(__file__).resolve().parent
sys.path.insert(0, str(_here.parent))
sys.path.insert(0, str(_here))

from cairncompat import start_server  # noqa: E402

# Read here, not from s3compat: that module skips (boto3 missing) and must not be imported by
# a conftest, or one missing package would break every suite's collection.
ON_MOTO = os.environ.get("S3_COMPAT_TARGET", "").strip().lower() == "moto"


def pytest_collection_modifyitems(config, items):
    # S3_COMPAT_RUN_ALL=1: run the cairn_only tests on moto too (to see where moto differs).
    if not ON_MOTO or os.environ.get("S3_COMPAT_RUN_ALL") == "1":
        return
    skip = pytest.mark.skip(reason="cairn_only (S3_COMPAT_TARGET=moto)")
    for item in items:
        if _here in Path(str(item.fspath)).resolve().parents and item.get_closest_marker("cairn_only"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def _moto(tmp_path_factory):
    if not ON_MOTO:
        yield None
        return
    from s3compat import MotoServer
    srv = MotoServer(tmp_path_factory.mktemp("moto")).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def server(request, tmp_path_factory, _moto):
    """The S3 target for this module: a fresh Cairn with an S3 listener, or the moto server."""
    if ON_MOTO:
        yield _moto
        return
    from s3compat import ROOT_KEY
    name = "s3-" + request.module.__name__.rsplit(".", 1)[-1][:30]
    srv = start_server(tmp_path_factory, name, s3=True, api_key=ROOT_KEY)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def creds(server):
    """(access key id, secret) of an admin S3 key of this module's main tenant."""
    from s3compat import s3_keys
    return s3_keys(server, "s3-main", "admin")


@pytest.fixture(scope="module")
def s3(server, creds):
    """A boto3 S3 client with the main tenant's admin key."""
    from s3compat import s3_client
    return s3_client(server, *creds)


@pytest.fixture
def bucket_name():
    """A fresh bucket name (not created)."""
    from s3compat import new_bucket_name
    return new_bucket_name()


@pytest.fixture
def bucket(s3):
    """A fresh, empty, created bucket."""
    from s3compat import new_bucket_name
    name = new_bucket_name()
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def versioned_bucket(s3):
    """A fresh bucket with versioning enabled."""
    from s3compat import new_bucket_name
    name = new_bucket_name("v")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name
