"""Helpers for the S3 listener suite (Tests/compat/s3).

The suite runs against `cairn serve --s3-port N` (the default) or, with S3_COMPAT_TARGET=moto,
against a local moto S3 server, so the plain-S3 tests themselves can be checked against a
reference implementation. Tests marked `cairn_only` are skipped on moto.

Server objects: a CairnServer started with s3=True (it exposes `s3_url`), or a MotoServer
(below). The helpers take either.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Optional, Tuple

import pytest

_NEEDS = "the S3 suite needs boto3 and tigris-boto3-ext==0.8.0 (see Tests/compat/s3/requirements.txt)"
boto3 = pytest.importorskip("boto3", reason=_NEEDS)
import botocore.config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from cairncompat import free_port, keys_cli

TARGET = os.environ.get("S3_COMPAT_TARGET", "cairn").strip().lower() or "cairn"
if TARGET not in ("cairn", "moto"):
    raise RuntimeError(f"S3_COMPAT_TARGET={TARGET!r}: expected cairn or moto")
ON_MOTO = TARGET == "moto"

ROOT_KEY = "s3-suite-root-key-0123456789abcdef"  # --api-key of the Cairn server (auth on)
REGION = "us-east-1"
MIB = 1024 * 1024

cairn_only = pytest.mark.cairn_only


# ---------------------------------------------------------------------------
# moto as the reference S3 server
# ---------------------------------------------------------------------------


class MotoServer:
    """`python -m moto.server` on a free loopback port (any credentials are accepted)."""

    is_moto = True

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.log_path = self.workdir / "moto.log"
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "MotoServer":
        self.port = free_port()
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.s3_url + "/moto-api/", timeout=2):
                    return self
            except Exception:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not start on port {self.port}: "
                           + self.log_path.read_text("utf-8", "replace")[-2000:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# ---------------------------------------------------------------------------
# Credentials and clients
# ---------------------------------------------------------------------------


def s3_keys(server: Any, tenant: str, scope: Optional[str] = "admin") -> Tuple[str, str]:
    """An S3 access key pair for `tenant`: `cairn keys create --tenant T --s3 [--scope S]` on
    the server's store (access key id and secret are the last two stdout lines). On moto, any
    pair works: a tenant-derived fake one is returned."""
    if getattr(server, "is_moto", False):
        return (f"AKIA{hashlib.sha1(tenant.encode()).hexdigest()[:16].upper()}", "moto-secret")
    args = ["create", "--tenant", tenant, "--s3"]
    if scope:
        args += ["--scope", scope]
    done = keys_cli(server, *args)
    assert done.returncode == 0, f"cairn keys {' '.join(args)} failed: {done.stderr}"
    lines = [ln.strip() for ln in done.stdout.strip().splitlines() if ln.strip()]
    assert len(lines) >= 2, f"expected access key id and secret on stdout, got {done.stdout!r}"
    akid, secret = lines[-2], lines[-1]
    assert " " not in akid and " " not in secret, done.stdout
    return akid, secret


def s3_client(server: Any, akid: str, secret: str, **config: Any):
    """A boto3 S3 client on the server's S3 endpoint (path-style, us-east-1, no retries)."""
    opts = dict(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=120)
    opts.update(config)
    return boto3.client(
        "s3",
        endpoint_url=server.s3_url,
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        region_name=REGION,
        config=botocore.config.Config(**opts),
    )


def tenant_client(server: Any, tenant: Optional[str] = None, scope: Optional[str] = "admin",
                  **config: Any):
    """A client for a brand-new tenant (default: a random name)."""
    akid, secret = s3_keys(server, tenant or new_tenant(), scope)
    return s3_client(server, akid, secret, **config)


# ---------------------------------------------------------------------------
# Names, digests, errors
# ---------------------------------------------------------------------------


def new_bucket_name(prefix: str = "t") -> str:
    """A fresh, valid, lowercase bucket name."""
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def new_tenant() -> str:
    return f"s3t-{uuid.uuid4().hex[:12]}"


def md5hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha256hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def multipart_etag(parts: list) -> str:
    """The ETag S3 gives a completed multipart upload of these part bodies."""
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def status_of(resp: dict) -> int:
    return resp["ResponseMetadata"]["HTTPStatusCode"]


def headers_of(resp: dict) -> dict:
    return resp["ResponseMetadata"]["HTTPHeaders"]


@contextlib.contextmanager
def s3_error(code: Optional[str], status: Optional[int] = None):
    """The block must raise a ClientError with this error code (None: any) and HTTP status.
    Yields a dict that gets the error response as "response"."""
    box: dict = {}
    with pytest.raises(ClientError) as info:
        yield box
    resp = info.value.response
    box["response"] = resp
    got_code = resp.get("Error", {}).get("Code")
    got_status = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code is not None:
        assert got_code == code, f"expected error {code} ({status}), got {got_code} ({got_status}): {resp.get('Error')}"
    if status is not None:
        assert got_status == status, f"expected HTTP {status} ({code}), got {got_status} ({got_code}): {resp.get('Error')}"


def body_of(resp: dict) -> bytes:
    return resp["Body"].read()


def put(s3, bucket: str, key: str, data: bytes = b"hello", **kw) -> dict:
    return s3.put_object(Bucket=bucket, Key=key, Body=data, **kw)


def get(s3, bucket: str, key: str, **kw) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()
