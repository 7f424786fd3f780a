"""Object operations: put/get/head/delete, metadata and standard headers, ETags, ranges,
conditional requests, key encoding and limits, checksums."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import zlib

import pytest

from s3compat import (
    MIB, b64md5, cairn_only, get, md5hex, put, s3_error, sha256hex, status_of,
)

PAST = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
FUTURE = dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc)
EXPIRES = dt.datetime(2037, 1, 1, 0, 0, 0, tzinfo=dt.timezone.utc)
EXPIRES_HTTP = "Thu, 01 Jan 2037 00:00:00 GMT"


# --- basic CRUD ------------------------------------------------------------


def test_put_get_head_delete(s3, bucket):
    data = b"hello world"
    r = put(s3, bucket, "greeting.txt", data)
    assert status_of(r) == 200
    assert r["ETag"] == f'"{md5hex(data)}"'

    g = s3.get_object(Bucket=bucket, Key="greeting.txt")
    assert g["Body"].read() == data
    assert g["ContentLength"] == len(data)
    assert g["ETag"] == f'"{md5hex(data)}"'
    assert g["LastModified"] is not None

    h = s3.head_object(Bucket=bucket, Key="greeting.txt")
    assert h["ContentLength"] == len(data)
    assert h["ETag"] == r["ETag"]

    d = s3.delete_object(Bucket=bucket, Key="greeting.txt")
    assert status_of(d) == 204
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="greeting.txt")


def test_overwrite_replaces_content(s3, bucket):
    put(s3, bucket, "k", b"one")
    put(s3, bucket, "k", b"two!")
    assert get(s3, bucket, "k") == b"two!"


def test_delete_missing_key_is_204(s3, bucket):
    assert status_of(s3.delete_object(Bucket=bucket, Key="never-there")) == 204


def test_get_missing_key_is_no_such_key(s3, bucket):
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="missing")


def test_head_missing_key_is_404(s3, bucket):
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key="missing")


def test_put_into_missing_bucket_is_no_such_bucket(s3, bucket_name):
    with s3_error("NoSuchBucket", 404):
        put(s3, bucket_name, "k")


def test_get_from_missing_bucket_is_no_such_bucket(s3, bucket_name):
    with s3_error("NoSuchBucket", 404):
        s3.get_object(Bucket=bucket_name, Key="k")


# --- metadata and standard headers ----------------------------------------


def _put_with_headers(s3, bucket, key):
    return s3.put_object(
        Bucket=bucket, Key=key, Body=b"<p>hi</p>",
        Metadata={"a": "b", "project-name": "Cairn 1"},
        ContentType="text/html; charset=utf-8",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="hi.html"',
        ContentEncoding="identity",
        ContentLanguage="en",
        Expires=EXPIRES,
    )


def _check_headers(r):
    assert r["Metadata"] == {"a": "b", "project-name": "Cairn 1"}
    assert r["ContentType"] == "text/html; charset=utf-8"
    assert r["CacheControl"] == "max-age=60"
    assert r["ContentDisposition"] == 'attachment; filename="hi.html"'
    assert r["ContentEncoding"] == "identity"
    assert r["ContentLanguage"] == "en"
    assert r["ResponseMetadata"]["HTTPHeaders"]["expires"] == EXPIRES_HTTP


def test_metadata_and_headers_on_get(s3, bucket):
    _put_with_headers(s3, bucket, "page.html")
    g = s3.get_object(Bucket=bucket, Key="page.html")
    assert g["Body"].read() == b"<p>hi</p>"
    _check_headers(g)


def test_metadata_and_headers_on_head(s3, bucket):
    _put_with_headers(s3, bucket, "page.html")
    _check_headers(s3.head_object(Bucket=bucket, Key="page.html"))


def test_default_content_type(s3, bucket):
    put(s3, bucket, "noct", b"x")
    assert s3.head_object(Bucket=bucket, Key="noct")["ContentType"] in (
        "binary/octet-stream", "application/octet-stream")


def test_response_header_overrides(s3, bucket):
    put(s3, bucket, "data.bin", b"abc", ContentType="application/octet-stream")
    g = s3.get_object(
        Bucket=bucket, Key="data.bin",
        ResponseContentType="text/plain",
        ResponseContentDisposition="inline",
        ResponseCacheControl="no-cache",
        ResponseContentLanguage="de",
        ResponseContentEncoding="identity",
        ResponseExpires=EXPIRES,
    )
    assert g["Body"].read() == b"abc"
    assert g["ContentType"] == "text/plain"
    assert g["ContentDisposition"] == "inline"
    assert g["CacheControl"] == "no-cache"
    assert g["ContentLanguage"] == "de"
    assert g["ContentEncoding"] == "identity"
    assert g["ResponseMetadata"]["HTTPHeaders"]["expires"] == EXPIRES_HTTP
    # The stored object is unchanged.
    assert s3.head_object(Bucket=bucket, Key="data.bin")["ContentType"] == "application/octet-stream"


# --- ETags -----------------------------------------------------------------


def test_etag_is_quoted_md5(s3, bucket):
    data = os.urandom(1000)
    r = put(s3, bucket, "rnd", data)
    assert r["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'
    assert s3.head_object(Bucket=bucket, Key="rnd")["ETag"] == r["ETag"]


def test_empty_object(s3, bucket):
    r = put(s3, bucket, "empty", b"")
    assert r["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    g = s3.get_object(Bucket=bucket, Key="empty")
    assert g["ContentLength"] == 0
    assert g["Body"].read() == b""
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0


def test_5mib_round_trip(s3, bucket):
    data = os.urandom(5 * MIB)
    r = put(s3, bucket, "big", data)
    assert r["ETag"] == f'"{md5hex(data)}"'
    got = get(s3, bucket, "big")
    assert len(got) == len(data)
    assert sha256hex(got) == sha256hex(data)


# --- ranges ----------------------------------------------------------------

TEN = b"0123456789"


@pytest.mark.parametrize("rng,body,content_range", [
    ("bytes=0-4", b"01234", "bytes 0-4/10"),
    ("bytes=-3", b"789", "bytes 7-9/10"),
    ("bytes=5-", b"56789", "bytes 5-9/10"),
    ("bytes=8-100", b"89", "bytes 8-9/10"),
    ("bytes=3-3", b"3", "bytes 3-3/10"),
])
def test_range_get(s3, bucket, rng, body, content_range):
    put(s3, bucket, "ten", TEN)
    g = s3.get_object(Bucket=bucket, Key="ten", Range=rng)
    assert status_of(g) == 206
    assert g["Body"].read() == body
    assert g["ContentRange"] == content_range
    assert g["ContentLength"] == len(body)


def test_range_unsatisfiable(s3, bucket):
    put(s3, bucket, "ten", TEN)
    with s3_error("InvalidRange", 416):
        s3.get_object(Bucket=bucket, Key="ten", Range="bytes=100-200")


def test_accept_ranges_header(s3, bucket):
    put(s3, bucket, "ten", TEN)
    h = s3.head_object(Bucket=bucket, Key="ten")
    assert h["AcceptRanges"] == "bytes"


# --- conditional GET -------------------------------------------------------


def test_if_match_right_etag(s3, bucket):
    etag = put(s3, bucket, "c", b"data")["ETag"]
    assert get(s3, bucket, "c", IfMatch=etag) == b"data"


def test_if_match_wrong_etag_is_412(s3, bucket):
    put(s3, bucket, "c", b"data")
    with s3_error("PreconditionFailed", 412):
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0123456789abcdef0123456789abcdef"')


def test_if_none_match_matching_is_304(s3, bucket):
    etag = put(s3, bucket, "c", b"data")["ETag"]
    with s3_error("304", 304):
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)


def test_if_none_match_other_etag_returns_body(s3, bucket):
    put(s3, bucket, "c", b"data")
    assert get(s3, bucket, "c", IfNoneMatch='"0123456789abcdef0123456789abcdef"') == b"data"


def test_if_modified_since_future_is_304(s3, bucket):
    put(s3, bucket, "c", b"data")
    with s3_error("304", 304):
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=FUTURE)


def test_if_modified_since_last_modified_is_304(s3, bucket):
    put(s3, bucket, "c", b"data")
    lm = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    with s3_error("304", 304):
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=lm)


def test_if_modified_since_past_returns_body(s3, bucket):
    put(s3, bucket, "c", b"data")
    assert get(s3, bucket, "c", IfModifiedSince=PAST) == b"data"


def test_if_unmodified_since_past_is_412(s3, bucket):
    put(s3, bucket, "c", b"data")
    with s3_error("PreconditionFailed", 412):
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=PAST)


def test_if_unmodified_since_future_returns_body(s3, bucket):
    put(s3, bucket, "c", b"data")
    assert get(s3, bucket, "c", IfUnmodifiedSince=FUTURE) == b"data"


def test_conditional_head(s3, bucket):
    etag = put(s3, bucket, "c", b"data")["ETag"]
    with s3_error("412", 412):
        s3.head_object(Bucket=bucket, Key="c", IfMatch='"0123456789abcdef0123456789abcdef"')
    with s3_error("304", 304):
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)


# --- conditional PUT -------------------------------------------------------


def test_put_if_none_match_star_on_new_key(s3, bucket):
    r = put(s3, bucket, "fresh", b"1", IfNoneMatch="*")
    assert status_of(r) == 200
    assert get(s3, bucket, "fresh") == b"1"


def test_put_if_none_match_star_on_existing_key_is_412(s3, bucket):
    put(s3, bucket, "taken", b"1")
    with s3_error("PreconditionFailed", 412):
        put(s3, bucket, "taken", b"2", IfNoneMatch="*")
    assert get(s3, bucket, "taken") == b"1"


def test_put_if_match_right_etag(s3, bucket):
    etag = put(s3, bucket, "cas", b"1")["ETag"]
    r = put(s3, bucket, "cas", b"2", IfMatch=etag)
    assert status_of(r) == 200
    assert get(s3, bucket, "cas") == b"2"


def test_a_list_of_content_codings_comes_back_as_sent(s3, bucket):
    put(s3, bucket, "coded", b"x", ContentEncoding="deflate, gzip")
    assert s3.head_object(Bucket=bucket, Key="coded")["ContentEncoding"] == "deflate, gzip"


def test_put_if_match_on_a_missing_key_is_404(s3, bucket):
    with s3_error("NoSuchKey", 404):
        put(s3, bucket, "absent", b"2", IfMatch='"0123456789abcdef0123456789abcdef"')
    with s3_error(None, 404):
        s3.head_object(Bucket=bucket, Key="absent")


def test_put_if_match_wrong_etag_is_412(s3, bucket):
    put(s3, bucket, "cas", b"1")
    with s3_error("PreconditionFailed", 412):
        put(s3, bucket, "cas", b"2", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert get(s3, bucket, "cas") == b"1"


# --- keys ------------------------------------------------------------------

ODD_KEYS = [
    "with space.txt",
    "plus+sign.txt",
    "unicodé/ключ/日本.txt",
    "a/b/c/deep.txt",
    "percent%20literal%.txt",
    "q?mark&amp=1#hash.txt",
    "tilde~!$'()*,;=:@.txt",
    "trailing-slash/",
    "  leading-spaces",
    "dots/../x",
]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_keys_round_trip(s3, bucket, key):
    data = key.encode("utf-8")
    put(s3, bucket, key, data)
    assert get(s3, bucket, key) == data
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(data)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []


def test_key_of_1024_bytes_is_accepted(s3, bucket):
    key = "k/" + "é" * 511  # 2 + 1022 bytes of UTF-8
    assert len(key.encode()) == 1024
    put(s3, bucket, key, b"long")
    assert get(s3, bucket, key) == b"long"


@cairn_only
def test_key_of_1025_bytes_is_refused(s3, bucket):
    key = "k" * 1025
    with s3_error("KeyTooLongError", 400):
        put(s3, bucket, key, b"x")


# --- checksums -------------------------------------------------------------


def _crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@pytest.mark.parametrize("algo", ["CRC32", "CRC32C", "SHA256", "SHA1", "CRC64NVME"])
def test_put_with_checksum_algorithm(s3, bucket, algo):
    if algo in ("CRC32C", "CRC64NVME"):
        pytest.importorskip("awscrt", reason=f"botocore needs botocore[crt] (awscrt) for {algo}")
    data = b"checksummed " * 100
    r = s3.put_object(Bucket=bucket, Key="sum", Body=data, ChecksumAlgorithm=algo)
    assert status_of(r) == 200
    expected = {"CRC32": _crc32_b64(data),
                "SHA256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
                "SHA1": base64.b64encode(hashlib.sha1(data).digest()).decode()}
    field = "Checksum" + algo
    if field in r and algo in expected:  # echoing it is optional; if echoed it must be right
        assert r[field] == expected[algo]
    g = s3.get_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert g["Body"].read() == data  # botocore verifies any checksum the server returns


@cairn_only
def test_a_puts_checksum_is_returned_to_readers_that_ask(s3, bucket):
    data = b"kept checksum " * 100
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    s3.put_object(Bucket=bucket, Key="sha", Body=data, ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket=bucket, Key="sha", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha and head["ChecksumType"] == "FULL_OBJECT"
    g = s3.get_object(Bucket=bucket, Key="sha", ChecksumMode="ENABLED")
    assert g["ChecksumSHA256"] == sha and g["Body"].read() == data
    assert "ChecksumSHA256" not in s3.head_object(Bucket=bucket, Key="sha")
    # A range is not the object the checksum is of.
    part = s3.get_object(Bucket=bucket, Key="sha", Range="bytes=0-9", ChecksumMode="ENABLED")
    assert "ChecksumSHA256" not in part and part["Body"].read() == data[:10]
    # boto3's default upload sends a CRC32 (in a trailer); a copy keeps it, with the bytes.
    s3.put_object(Bucket=bucket, Key="crc", Body=data)
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "crc"})
    for key in ("crc", "copied"):
        assert s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")["ChecksumCRC32"] == _crc32_b64(data)


@cairn_only  # moto does not verify checksums
def test_put_with_wrong_checksum_is_refused(s3, bucket):
    data = b"payload"
    with s3_error(None, 400) as err:
        s3.put_object(Bucket=bucket, Key="bad", Body=data, ChecksumCRC32=_crc32_b64(b"other"))
    assert err["response"]["Error"]["Code"] in ("BadDigest", "InvalidRequest", "XAmzContentChecksumMismatch")
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="bad")


def test_put_with_right_content_md5(s3, bucket):
    data = b"md5 checked"
    r = s3.put_object(Bucket=bucket, Key="md5", Body=data, ContentMD5=b64md5(data))
    assert r["ETag"] == f'"{md5hex(data)}"'


@cairn_only  # moto does not verify Content-MD5
def test_put_with_wrong_content_md5_is_bad_digest(s3, bucket):
    with s3_error("BadDigest", 400):
        s3.put_object(Bucket=bucket, Key="md5", Body=b"real bytes", ContentMD5=b64md5(b"other bytes"))
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="md5")


@cairn_only
def test_chunked_transfer_encoding_with_expect_continue(server, creds, s3, bucket):
    """A PUT whose body comes with Transfer-Encoding: chunked (no Content-Length) after an
    Expect: 100-continue, through a presigned URL."""
    import http.client
    from urllib.parse import urlsplit

    from s3compat import s3_client

    presigner = s3_client(server, *creds, signature_version="s3v4")
    url = urlsplit(presigner.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "chunked"}, ExpiresIn=60))
    data = os.urandom(300_000)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("PUT", url.path + "?" + url.query, body=iter([data[:100_000], data[100_000:]]),
                 headers={"Expect": "100-continue"}, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 200, response.read()
    conn.close()
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == data
