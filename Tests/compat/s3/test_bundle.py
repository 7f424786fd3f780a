"""Tigris bundles through tigris-boto3-ext 0.8.0's `bundle_objects` (contract:
shared/contracts/tigris-s3.md §2.7): `POST /{bucket}?bundle` streams a tar (optionally gzip or zstd)
of the named objects in request order. Cairn only (moto has no bundles)."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile

import pytest

pytest.importorskip("tigris_boto3_ext", reason="the S3 suite needs tigris-boto3-ext==0.8.0")

from tigris_boto3_ext import BundleError, bundle_objects  # noqa: E402
from tigris_boto3_ext._transport import TigrisAPIError, signed_request  # noqa: E402

from s3compat import MIB, put, tenant_client  # noqa: E402

pytestmark = pytest.mark.cairn_only

ERRORS = "__bundle_errors.json"


def read_tar(fileobj) -> list:
    """(name, bytes, mtime) of every entry, read sequentially as a streaming client does."""
    out = []
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for member in tar:
            assert member.isfile(), member
            f = tar.extractfile(member)
            out.append((member.name, f.read() if f is not None else b"", member.mtime))
    return out


def entries(response, compression="none") -> list:
    with response:
        if compression == "gzip":
            with gzip.open(response, "rb") as gz:
                return read_tar(gz)
        if compression == "zstd":
            return read_tar(io.BytesIO(unzstd(response.read())))
        return read_tar(response)


def unzstd(frame: bytes) -> bytes:
    """As tigris-boto3-ext's own test reads a zstd bundle: one frame whose header records its
    size (`decompress` refuses a frame without it)."""
    zstandard = pytest.importorskip("zstandard", reason="the zstd bundle tests need zstandard")
    data = zstandard.ZstdDecompressor().decompress(frame)
    assert zstandard.frame_content_size(frame) == len(data)
    return data


def test_preserves_request_order(s3, bucket):
    keys = ["c.txt", "a.txt", "dir/b c.txt", "z/y/x.bin"]
    for i, key in enumerate(keys):
        put(s3, bucket, key, f"content of {key} #{i}".encode())
    order = [keys[2], keys[0], keys[3], keys[1]]
    r = bundle_objects(s3, bucket, order)
    assert r.status_code == 200
    assert r.content_type == "application/x-tar"
    got = entries(r)
    assert [name for name, _, _ in got] == order
    for name, data, mtime in got:
        assert data == f"content of {name} #{keys.index(name)}".encode()
        assert mtime > 1_600_000_000


def test_response_has_object_count(s3, bucket):
    for key, data in (("one", b"1"), ("two", b"22"), ("three", b"333")):
        put(s3, bucket, key, data)
    r = bundle_objects(s3, bucket, ["one", "two", "three"])
    assert r.object_count == 3
    assert r.bundle_bytes == 6
    assert r.skipped_count == 0
    got = entries(r)
    assert [n for n, _, _ in got] == ["one", "two", "three"]


def test_skip_mode_omits_missing_keys(s3, bucket):
    put(s3, bucket, "present-1", b"p1")
    put(s3, bucket, "present-2", b"p2")
    put(s3, bucket, "deleted", b"gone soon")
    s3.delete_object(Bucket=bucket, Key="deleted")
    r = bundle_objects(s3, bucket, ["present-1", "missing.txt", "present-2", "deleted"], on_error="skip")
    assert r.object_count == 2
    assert r.skipped_count == 2
    got = entries(r)
    assert [n for n, _, _ in got] == ["present-1", "present-2", ERRORS]
    assert got[0][1] == b"p1" and got[1][1] == b"p2"
    report = json.loads(got[-1][1])
    assert [s["key"] for s in report["skipped"]] == ["missing.txt", "deleted"]
    assert all(isinstance(s["reason"], str) and s["reason"] for s in report["skipped"])


def test_fail_mode_raises_on_missing_key(s3, bucket):
    put(s3, bucket, "here", b"x")
    with pytest.raises(BundleError) as info:
        bundle_objects(s3, bucket, ["here", "not-here"], on_error="fail")
    assert info.value.status_code == 404
    assert info.value.code == "NoSuchKey"


def test_fail_mode_all_present(s3, bucket):
    put(s3, bucket, "k1", b"v1")
    got = entries(bundle_objects(s3, bucket, ["k1"], on_error="fail"))
    assert [(n, d) for n, d, _ in got] == [("k1", b"v1")]


@pytest.mark.parametrize("compression,content_type", [("gzip", "application/gzip"), ("zstd", "application/zstd")])
def test_compressed_round_trip(s3, bucket, compression, content_type):
    payload = {f"c/{i:03d}.txt": (f"line {i}\n" * (i + 1)).encode() for i in range(20)}
    for key, data in payload.items():
        put(s3, bucket, key, data)
    order = list(reversed(payload))
    r = bundle_objects(s3, bucket, order + ["nope"], compression=compression)
    assert r.content_type == content_type
    assert r.object_count == 20
    assert r.skipped_count == 1
    got = entries(r, compression)
    assert [n for n, _, _ in got] == order + [ERRORS]
    for name, data, _ in got[:-1]:
        assert data == payload[name]


def test_long_unicode_key_round_trips(s3, bucket):
    long_key = "datasets/" + "ü" * 40 + "/" + "x" * 80 + "/файл-名前 ✓.bin"
    assert len(long_key.encode()) > 100
    ascii_long = "a/" + "b" * 150 + ".txt"
    short_unicode = "ß.txt"
    put(s3, bucket, long_key, b"long unicode")
    put(s3, bucket, ascii_long, b"long ascii")
    put(s3, bucket, short_unicode, b"short unicode")
    for compression in ("none", "gzip", "zstd"):
        got = entries(bundle_objects(s3, bucket, [long_key, ascii_long, short_unicode], compression=compression),
                      compression)
        assert [(n, d) for n, d, _ in got] == [
            (long_key, b"long unicode"), (ascii_long, b"long ascii"), (short_unicode, b"short unicode")]


def test_large_object(s3, bucket):
    big = os.urandom(3 * MIB + 17)
    put(s3, bucket, "big.bin", big)
    put(s3, bucket, "empty", b"")
    put(s3, bucket, "after", b"after")
    r = bundle_objects(s3, bucket, ["big.bin", "empty", "after"])
    assert r.bundle_bytes == len(big) + 5
    got = entries(r)
    assert [n for n, _, _ in got] == ["big.bin", "empty", "after"]
    assert got[0][1] == big and got[1][1] == b"" and got[2][1] == b"after"
    for compression in ("gzip", "zstd"):
        got = entries(bundle_objects(s3, bucket, ["big.bin", "after"], compression=compression), compression)
        assert [(n, d) for n, d, _ in got] == [("big.bin", big), ("after", b"after")]


def test_same_key_twice(s3, bucket):
    put(s3, bucket, "dup", b"d")
    got = entries(bundle_objects(s3, bucket, ["dup", "dup"]))
    assert [(n, d) for n, d, _ in got] == [("dup", b"d"), ("dup", b"d")]


def test_other_tenant_gets_no_such_bucket(server, s3, bucket):
    put(s3, bucket, "secret.txt", b"tenant A data")
    other = tenant_client(server)
    with pytest.raises(BundleError) as info:
        bundle_objects(other, bucket, ["secret.txt"])
    assert info.value.status_code == 404
    assert info.value.code == "NoSuchBucket"


def test_missing_bucket(s3):
    with pytest.raises(BundleError) as info:
        bundle_objects(s3, "no-such-bucket-bundle-0001", ["a"])
    assert info.value.status_code == 404
    assert info.value.code == "NoSuchBucket"


def raw_bundle(s3, bucket, body, **headers):
    base = {"Content-Type": "application/json", "X-Tigris-Bundle-Format": "tar"}
    return signed_request(s3, "POST", bucket, query="bundle", headers={**base, **headers}, body=body, stream=True)


@pytest.mark.parametrize("body", [
    "not json", "[]", '{"keys": "a"}', '{"keys": [1]}', '{"nokeys": []}',
])
def test_malformed_body(s3, bucket, body):
    with pytest.raises(TigrisAPIError) as info:
        raw_bundle(s3, bucket, body)
    assert info.value.status_code == 400


def test_key_count_limits(s3, bucket):
    with pytest.raises(TigrisAPIError) as info:
        raw_bundle(s3, bucket, json.dumps({"keys": []}))
    assert info.value.status_code == 400
    with pytest.raises(TigrisAPIError) as info:
        raw_bundle(s3, bucket, json.dumps({"keys": [f"k{i}" for i in range(5001)]}))
    assert info.value.status_code == 400
    with pytest.raises(TigrisAPIError) as info:
        raw_bundle(s3, bucket, json.dumps({"keys": ["k" * 1025]}))
    assert info.value.status_code == 400


def test_many_keys(s3, bucket):
    put(s3, bucket, "k7", b"seven")
    keys = [f"k{i}" for i in range(5000)]
    r = raw_bundle(s3, bucket, json.dumps({"keys": keys}))
    assert r.headers["x-tigris-bundle-count"] == "1"
    assert r.headers["x-tigris-bundle-skipped"] == "4999"
    got = entries(r)
    assert [n for n, _, _ in got] == ["k7", ERRORS]
    assert len(json.loads(got[-1][1])["skipped"]) == 4999


def test_bad_headers(s3, bucket):
    body = json.dumps({"keys": ["a"]})
    for headers in ({"X-Tigris-Bundle-Format": "zip"}, {"X-Tigris-Bundle-Compression": "brotli"},
                    {"X-Tigris-Bundle-On-Error": "ignore"}):
        with pytest.raises(TigrisAPIError) as info:
            raw_bundle(s3, bucket, body, **headers)
        assert info.value.status_code == 400, headers
        assert info.value.code == "InvalidArgument", headers


def test_tampered_body_is_refused(s3, bucket):
    """The body must match the signed x-amz-content-sha256."""
    from botocore.awsrequest import AWSRequest
    from botocore.auth import SigV4Auth
    import hashlib

    signed = json.dumps({"keys": ["a"]}).encode()
    sent = json.dumps({"keys": ["b"]}).encode()
    url = f"{s3.meta.endpoint_url}/{bucket}?bundle"
    req = AWSRequest(method="POST", url=url, data=signed,
                     headers={"X-Amz-Content-Sha256": hashlib.sha256(signed).hexdigest()})
    SigV4Auth(s3._request_signer._credentials.get_frozen_credentials(), "s3", s3.meta.region_name).add_auth(req)
    prepared = req.prepare()
    prepared.body = sent
    resp = s3._endpoint.http_session.send(prepared)
    assert resp.status_code == 400
    assert b"XAmzContentSHA256Mismatch" in resp.content


def test_read_scope_is_enough(server, s3, bucket):
    from s3compat import s3_client, s3_keys
    put(s3, bucket, "r", b"read me")
    # Keys are per tenant: a read-only key of the same tenant as `s3`.
    reader = s3_client(server, *s3_keys(server, "s3-main", "read"))
    got = entries(bundle_objects(reader, bucket, ["r"]))
    assert [(n, d) for n, d, _ in got] == [("r", b"read me")]


def test_tarfile_random_access(s3, bucket):
    """The archive is a complete, valid tar file (not only a readable stream)."""
    put(s3, bucket, "one", b"1" * 513)
    put(s3, bucket, "two/" + "n" * 120, b"2")
    with bundle_objects(s3, bucket, ["one", "two/" + "n" * 120]) as r:
        raw = r.read()
    assert len(raw) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        assert tar.getnames() == ["one", "two/" + "n" * 120]
        assert tar.extractfile("one").read() == b"1" * 513
        assert tar.getmember("one").mode == 0o644


def test_gnu_tar_reads_it(s3, bucket, tmp_path):
    """GNU tar (or bsdtar) lists the archive with the full pax names."""
    import shutil
    import subprocess

    tar = shutil.which("tar")
    if tar is None:
        pytest.skip("no tar binary")
    long_key = "p/" + "é" * 70 + "/q.txt"
    put(s3, bucket, long_key, b"pax")
    put(s3, bucket, "plain.txt", b"plain")
    for compression, flag in (("none", "-tf"), ("gzip", "-tzf")):
        with bundle_objects(s3, bucket, [long_key, "plain.txt"], compression=compression) as r:
            raw = r.read()
        path = tmp_path / f"bundle-{compression}"
        path.write_bytes(raw)
        done = subprocess.run([tar, flag, str(path)], capture_output=True, check=True)
        assert done.stdout.decode().splitlines() == [long_key, "plain.txt"], done.stderr
