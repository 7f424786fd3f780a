"""Authentication and authorisation on the S3 listener: SigV4 failures, presigned URLs, tenant
isolation, key scopes, the error document, unsupported operations."""

from __future__ import annotations

import datetime as dt
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest

from s3compat import (
    cairn_only, get, new_bucket_name, new_tenant, put, s3_client, s3_error,
    status_of, tenant_client,
)

import botocore.auth  # noqa: E402  (after s3compat, which skips without boto3)
from botocore.exceptions import ClientError  # noqa: E402


def fetch(url: str, method: str = "GET", data: bytes = None, headers: dict = None):
    """(status, headers, body) of a raw HTTP request; never raises on an HTTP status."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        try:
            return e.code, e.headers, e.read()
        finally:
            e.close()


def error_doc(body: bytes) -> dict:
    """Code/Message/RequestId of an S3 XML error document (namespace-agnostic)."""
    root = ET.fromstring(body)
    assert re.sub(r"^\{.*\}", "", root.tag) == "Error", body[:500]
    return {re.sub(r"^\{.*\}", "", c.tag): (c.text or "") for c in root}


# --- SigV4 failures ------------------------------------------------------------


@cairn_only
def test_wrong_secret_is_signature_does_not_match(server, creds, bucket):
    bad = s3_client(server, creds[0], creds[1] + "x")
    with s3_error("SignatureDoesNotMatch", 403):
        bad.list_objects_v2(Bucket=bucket)
    with s3_error("SignatureDoesNotMatch", 403):
        bad.put_object(Bucket=bucket, Key="k", Body=b"x")


@cairn_only
def test_unknown_access_key(server, bucket):
    bad = s3_client(server, "AKIAUNKNOWNKEY000000", "whatever-secret")
    with s3_error("InvalidAccessKeyId", 403):
        bad.list_objects_v2(Bucket=bucket)


@cairn_only
def test_anonymous_request_is_denied(server, s3, bucket):
    put(s3, bucket, "k", b"secret")
    status, headers, body = fetch(f"{server.s3_url}/{bucket}/k")
    assert status == 403
    assert error_doc(body)["Code"] == "AccessDenied"


@cairn_only
def test_region_auto_is_accepted(server, creds, bucket):
    import boto3
    import botocore.config
    c = boto3.client("s3", endpoint_url=server.s3_url, aws_access_key_id=creds[0],
                     aws_secret_access_key=creds[1], region_name="auto",
                     config=botocore.config.Config(retries={"max_attempts": 1}))
    c.put_object(Bucket=bucket, Key="auto", Body=b"ok")
    assert get(c, bucket, "auto") == b"ok"


def freeze_signing_clock(monkeypatch, when: dt.datetime) -> None:
    """Make botocore sign as of `when` (UTC), with its own signer and with the CRT's (which
    botocore prefers for S3 when awscrt is installed)."""
    def fake(remove_tzinfo=True):
        return when.replace(tzinfo=None) if remove_tzinfo else when
    monkeypatch.setattr(botocore.auth, "get_current_datetime", fake)
    try:
        import botocore.crt.auth as crt_auth
        monkeypatch.setattr(crt_auth, "get_current_datetime", fake)
    except ImportError:
        pass


@cairn_only
def test_request_too_old_is_refused(server, creds, bucket, monkeypatch):
    freeze_signing_clock(monkeypatch, dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    c = s3_client(server, *creds)
    with s3_error("RequestTimeTooSkewed", 403):
        c.list_objects_v2(Bucket=bucket)


@cairn_only
def test_body_changed_after_signing_is_refused(server, creds, s3, bucket):
    def tamper(request, **kwargs):  # same length, different bytes, after signing
        body = request.body
        if isinstance(body, bytes):
            request.body = body.replace(b"hello", b"jello")
        elif hasattr(body, "getvalue") and body.getvalue() == b"hello":
            pos = body.tell()
            body.seek(0)
            body.write(b"j")
            body.seek(pos)

    c = s3_client(server, *creds)
    c.meta.events.register("before-send.s3.PutObject", tamper)
    with s3_error(None, 400) as err:
        c.put_object(Bucket=bucket, Key="tampered", Body=b"hello")
    assert err["response"]["Error"]["Code"] in ("XAmzContentSHA256Mismatch", "BadDigest")
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="tampered")


# --- presigned URLs ------------------------------------------------------------
#
# Note: with region us-east-1 botocore presigns S3 URLs with the legacy SigV2 query scheme
# (AWSAccessKeyId/Signature/Expires) unless signature_version="s3v4" is set (with region
# "auto" it uses SigV4). These tests ask for SigV4 explicitly.


@pytest.fixture
def presigner(server, creds):
    return s3_client(server, *creds, signature_version="s3v4")


def test_presigned_get(s3, bucket, presigner):
    put(s3, bucket, "shared.txt", b"presigned body")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared.txt"},
                                    ExpiresIn=60)
    status, _, body = fetch(url)
    assert status == 200
    assert body == b"presigned body"


def test_presigned_get_odd_key(s3, bucket, presigner):
    key = "dir/with space+plus é.txt"
    put(s3, bucket, key, b"odd")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                    ExpiresIn=60)
    status, _, body = fetch(url)
    assert (status, body) == (200, b"odd")


def test_presigned_put(s3, bucket, presigner):
    url = presigner.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"},
                                    ExpiresIn=60)
    status, _, _ = fetch(url, method="PUT", data=b"uploaded via url",
                         headers={"Content-Type": "application/octet-stream"})
    assert status == 200
    assert get(s3, bucket, "up.txt") == b"uploaded via url"


def _with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    q.update(changes)
    return urlunsplit(parts._replace(query=urlencode(q)))


@cairn_only
def test_presigned_tampered_signature(s3, bucket, presigner):
    put(s3, bucket, "k", b"x")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                    ExpiresIn=60)
    sig = parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    status, _, body = fetch(_with_query(url, **{"X-Amz-Signature": flipped}))
    assert status == 403
    assert error_doc(body)["Code"] == "SignatureDoesNotMatch"


@cairn_only
def test_presigned_other_key_is_refused(s3, bucket, presigner):
    put(s3, bucket, "a", b"a")
    put(s3, bucket, "b", b"b")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a"},
                                    ExpiresIn=60)
    status, _, _ = fetch(url.replace(f"/{bucket}/a?", f"/{bucket}/b?"))
    assert status == 403


@cairn_only
def test_presigned_expires_beyond_seven_days(s3, bucket, presigner):
    put(s3, bucket, "k", b"x")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                    ExpiresIn=60)
    # Editing X-Amz-Expires also breaks the signature; any 4xx refusal will do.
    status, _, _ = fetch(_with_query(url, **{"X-Amz-Expires": str(8 * 24 * 3600)}))
    assert 400 <= status < 500
    try:
        long_url = presigner.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=8 * 24 * 3600)
    except Exception:
        return  # refused client-side
    status, _, body = fetch(long_url)
    assert status == 400, body[:300]


@cairn_only
def test_presigned_sigv2_tampered_is_refused(s3, bucket):
    put(s3, bucket, "k", b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                    ExpiresIn=60)
    assert "Signature=" in url and "X-Amz-Signature" not in url  # botocore's legacy default
    status, _, _ = fetch(_with_query(url, Signature="AAAAAAAAAAAAAAAAAAAAAAAAAAA="))
    assert status in (400, 403)


@cairn_only
def test_presigned_expired(s3, bucket, monkeypatch, presigner):
    put(s3, bucket, "k", b"x")
    freeze_signing_clock(monkeypatch, dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2))
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                    ExpiresIn=60)
    monkeypatch.undo()
    status, _, body = fetch(url)
    assert status == 403
    assert error_doc(body)["Code"] == "AccessDenied"


# --- error document --------------------------------------------------------------


def test_error_response_is_xml_with_request_id(s3, bucket, presigner):
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "nope"},
                                    ExpiresIn=60)
    status, headers, body = fetch(url)
    assert status == 404
    assert "xml" in (headers.get("Content-Type") or "")
    doc = error_doc(body)
    assert doc["Code"] == "NoSuchKey"
    assert doc["Message"]
    assert "RequestId" in doc


@cairn_only
def test_error_request_id_matches_header(s3, bucket, presigner):
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "nope"},
                                    ExpiresIn=60)
    status, headers, body = fetch(url)
    doc = error_doc(body)
    assert doc["RequestId"] and doc["RequestId"] == headers.get("x-amz-request-id")
    assert doc.get("Key") in (None, "nope")


# --- tenants -------------------------------------------------------------------


@pytest.fixture
def two_tenants(server):
    a = tenant_client(server)
    b = tenant_client(server)
    name = new_bucket_name("iso")
    a.create_bucket(Bucket=name)
    put(a, name, "secret.txt", b"tenant A data")
    return a, b, name


@cairn_only
def test_other_tenant_cannot_see_bucket(two_tenants):
    a, b, name = two_tenants
    with s3_error("404", 404):
        b.head_bucket(Bucket=name)
    with s3_error("NoSuchBucket", 404):
        b.get_object(Bucket=name, Key="secret.txt")
    with s3_error("404", 404):
        b.head_object(Bucket=name, Key="secret.txt")
    with s3_error("NoSuchBucket", 404):
        b.list_objects_v2(Bucket=name)
    with s3_error("NoSuchBucket", 404):
        b.put_object(Bucket=name, Key="intruder", Body=b"x")
    with s3_error("NoSuchBucket", 404):
        b.delete_object(Bucket=name, Key="secret.txt")
    with s3_error("NoSuchBucket", 404):
        b.delete_bucket(Bucket=name)
    assert name not in [x["Name"] for x in b.list_buckets()["Buckets"]]
    # Nothing changed for A.
    assert get(a, name, "secret.txt") == b"tenant A data"
    assert [o["Key"] for o in a.list_objects_v2(Bucket=name)["Contents"]] == ["secret.txt"]


@cairn_only
def test_other_tenant_cannot_copy_from_bucket(two_tenants):
    a, b, name = two_tenants
    own = new_bucket_name("own")
    b.create_bucket(Bucket=own)
    with s3_error("NoSuchBucket", 404):
        b.copy_object(Bucket=own, Key="stolen", CopySource={"Bucket": name, "Key": "secret.txt"})
    assert b.list_objects_v2(Bucket=own)["KeyCount"] == 0


@cairn_only
def test_tenants_have_separate_bucket_namespaces(two_tenants):
    a, b, name = two_tenants
    r = b.create_bucket(Bucket=name)  # same name, other tenant: no conflict
    assert status_of(r) == 200
    put(b, name, "secret.txt", b"tenant B data")
    assert get(a, name, "secret.txt") == b"tenant A data"
    assert get(b, name, "secret.txt") == b"tenant B data"
    b.delete_object(Bucket=name, Key="secret.txt")
    assert get(a, name, "secret.txt") == b"tenant A data"


@cairn_only
def test_same_tenant_keys_share_buckets(server):
    tenant = new_tenant()
    c1 = tenant_client(server, tenant)
    c2 = tenant_client(server, tenant)
    name = new_bucket_name()
    c1.create_bucket(Bucket=name)
    put(c1, name, "k", b"shared")
    assert get(c2, name, "k") == b"shared"


# --- scopes ----------------------------------------------------------------------


@cairn_only
def test_read_scoped_key(server):
    tenant = new_tenant()
    admin = tenant_client(server, tenant, "admin")
    reader = tenant_client(server, tenant, "read")
    name = new_bucket_name()
    admin.create_bucket(Bucket=name)
    put(admin, name, "k", b"readable")

    assert get(reader, name, "k") == b"readable"
    assert reader.head_object(Bucket=name, Key="k")["ContentLength"] == 8
    assert [o["Key"] for o in reader.list_objects_v2(Bucket=name)["Contents"]] == ["k"]
    assert name in [b["Name"] for b in reader.list_buckets()["Buckets"]]

    with s3_error("AccessDenied", 403):
        reader.put_object(Bucket=name, Key="k2", Body=b"x")
    with s3_error("AccessDenied", 403):
        reader.delete_object(Bucket=name, Key="k")
    with s3_error("AccessDenied", 403):
        reader.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "k"}]})
    with s3_error("AccessDenied", 403):
        reader.copy_object(Bucket=name, Key="k3", CopySource={"Bucket": name, "Key": "k"})
    with s3_error("AccessDenied", 403):
        reader.create_multipart_upload(Bucket=name, Key="mp")
    with s3_error("AccessDenied", 403):
        reader.create_bucket(Bucket=new_bucket_name())
    with s3_error("AccessDenied", 403):
        reader.delete_bucket(Bucket=name)
    assert get(admin, name, "k") == b"readable"


@cairn_only
def test_write_scoped_key_can_write_objects(server):
    tenant = new_tenant()
    admin = tenant_client(server, tenant, "admin")
    writer = tenant_client(server, tenant, "write")
    name = new_bucket_name()
    admin.create_bucket(Bucket=name)
    put(writer, name, "w", b"written")
    assert get(writer, name, "w") == b"written"
    writer.delete_object(Bucket=name, Key="w")
    assert admin.list_objects_v2(Bucket=name)["KeyCount"] == 0


# --- unsupported operations ----------------------------------------------------


@cairn_only
@pytest.mark.parametrize("op", ["get_bucket_policy", "put_bucket_policy", "put_bucket_cors"])
def test_unsupported_operation_not_implemented(s3, bucket, op):
    kwargs = {
        "get_bucket_policy": {},
        "put_bucket_policy": {"Policy": '{"Version":"2012-10-17","Statement":[]}'},
        "put_bucket_cors": {"CORSConfiguration": {"CORSRules": [
            {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]}},
    }[op]
    with s3_error("NotImplemented", 501):
        getattr(s3, op)(Bucket=bucket, **kwargs)


# --- Signature Version 2 presigned URLs (boto3's default for S3 in us-east-1) ---------------


@cairn_only
def test_default_presigned_urls_are_version_2_and_work(server, creds, s3, bucket):
    key = "dir/v2 key+plus é.txt"
    put(s3, bucket, key, b"signed the old way")
    default = s3_client(server, *creds)
    url = default.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key, "ResponseContentType": "text/plain"}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    status, headers, body = fetch(url)
    assert (status, body) == (200, b"signed the old way")
    assert headers["Content-Type"] == "text/plain"
    # Version 2 signs the Content-Type: the upload sends the one that was signed.
    put_url = default.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "v2-up", "ContentType": "application/octet-stream"},
        ExpiresIn=60)
    status, _, _ = fetch(put_url, method="PUT", data=b"up", headers={"Content-Type": "application/octet-stream"})
    assert status == 200
    assert get(s3, bucket, "v2-up") == b"up"


@cairn_only
def test_version_2_presigned_urls_are_checked(server, creds, s3, bucket):
    put(s3, bucket, "k", b"secret")
    default = s3_client(server, *creds)
    url = default.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60)
    # Another key, the same signature.
    status, _, _ = fetch(url.replace("/k?", "/other?"))
    assert status == 403
    # A later expiry than signed.
    expires = int(url.split("Expires=")[1].split("&")[0])
    status, _, body = fetch(url.replace(f"Expires={expires}", f"Expires={expires + 1}"))
    assert status == 403 and error_doc(body)["Code"] == "SignatureDoesNotMatch"
    # An expired one.
    old = default.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=-10)
    status, _, body = fetch(old)
    assert status == 403 and error_doc(body)["Code"] == "AccessDenied"
    # More than seven days.
    far = default.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"},
                                         ExpiresIn=8 * 86400)
    status, _, _ = fetch(far)
    assert status == 400


@cairn_only
def test_other_tenant_can_do_nothing_with_any_other_operation(server):
    """Every bucket- and object-level operation with tenant B's key on tenant A's bucket: each
    is refused as a missing bucket, and A's bucket, objects, uploads and snapshots are unchanged."""
    a, b = tenant_client(server), tenant_client(server)
    name = new_bucket_name("iso")

    def header(client, event, name_, value):
        client.meta.events.register(event, lambda params, **_: params["headers"].__setitem__(name_, value))

    header(a, "before-call.s3.CreateBucket", "X-Tigris-Enable-Snapshot", "true")
    a.create_bucket(Bucket=name)
    put(a, name, "secret.txt", b"tenant A data")
    upload = a.create_multipart_upload(Bucket=name, Key="big")["UploadId"]
    a.upload_part(Bucket=name, Key="big", UploadId=upload, PartNumber=1, Body=b"part")
    snap = boto3_snapshot(server, a, name)

    refused = {
        "list_objects": lambda: b.list_objects(Bucket=name),
        "list_object_versions": lambda: b.list_object_versions(Bucket=name),
        "list_multipart_uploads": lambda: b.list_multipart_uploads(Bucket=name),
        "create_multipart_upload": lambda: b.create_multipart_upload(Bucket=name, Key="x"),
        "upload_part": lambda: b.upload_part(Bucket=name, Key="big", UploadId=upload, PartNumber=2, Body=b"x"),
        "list_parts": lambda: b.list_parts(Bucket=name, Key="big", UploadId=upload),
        "complete": lambda: b.complete_multipart_upload(
            Bucket=name, Key="big", UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]}),
        "abort": lambda: b.abort_multipart_upload(Bucket=name, Key="big", UploadId=upload),
        "delete_objects": lambda: b.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "secret.txt"}]}),
        "get_versioning": lambda: b.get_bucket_versioning(Bucket=name),
        "put_versioning": lambda: b.put_bucket_versioning(
            Bucket=name, VersioningConfiguration={"Status": "Suspended"}),
        "get_lifecycle": lambda: b.get_bucket_lifecycle_configuration(Bucket=name),
        "put_lifecycle": lambda: b.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration={"Rules": [
                {"ID": "x", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]}),
        "delete_lifecycle": lambda: b.delete_bucket_lifecycle(Bucket=name),
        "get_location": lambda: b.get_bucket_location(Bucket=name),
        "get_at_snapshot": lambda: with_headers(b, "GetObject", {"X-Tigris-Snapshot-Version": snap},
                                                lambda: b.get_object(Bucket=name, Key="secret.txt")),
        "take_snapshot": lambda: with_headers(b, "CreateBucket", {"X-Tigris-Snapshot": "true"},
                                              lambda: b.create_bucket(Bucket=name)),
        "delete_snapshot": lambda: with_headers(b, "DeleteBucket", {"X-Tigris-Snapshot-Version": snap},
                                                lambda: b.delete_bucket(Bucket=name)),
        "force_delete": lambda: with_headers(b, "DeleteBucket", {"X-Tigris-Force-Delete": "true"},
                                             lambda: b.delete_bucket(Bucket=name)),
        "fork": lambda: with_headers(b, "CreateBucket", {"X-Tigris-Fork-Source-Bucket": name},
                                     lambda: b.create_bucket(Bucket=new_bucket_name("theft"))),
        "rename": lambda: with_headers(b, "CopyObject", {"X-Tigris-Rename": "true"},
                                       lambda: b.copy_object(Bucket=name, Key="moved",
                                                             CopySource={"Bucket": name, "Key": "secret.txt"})),
    }
    for what, call in refused.items():
        try:
            call()
        except ClientError as e:
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
            assert status == 404 and e.response["Error"]["Code"] in ("NoSuchBucket", "404"), (what, e.response)
        else:
            pytest.fail(f"{what} with another tenant's key succeeded")
    # Tenant B's snapshot listing of the name shows none of A's snapshots.
    try:
        listed = with_headers(b, "ListBuckets", {"X-Tigris-Snapshot": name}, b.list_buckets)["Buckets"]
    except ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, e.response
        listed = []
    assert listed == []
    # Nothing of A's changed.
    assert get(a, name, "secret.txt") == b"tenant A data"
    assert [o["Key"] for o in a.list_objects_v2(Bucket=name)["Contents"]] == ["secret.txt"]
    assert [u["UploadId"] for u in a.list_multipart_uploads(Bucket=name).get("Uploads", [])] == [upload]
    assert a.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    with s3_error("NoSuchLifecycleConfiguration", 404):
        a.get_bucket_lifecycle_configuration(Bucket=name)
    snapshots = with_headers(a, "ListBuckets", {"X-Tigris-Snapshot": name}, a.list_buckets)["Buckets"]
    assert [x["Name"] for x in snapshots] == [snap]


def with_headers(client, operation: str, headers: dict, call):
    """Runs call() with extra request headers on one operation of the client."""
    def add(params, **_):
        params["headers"].update(headers)

    event = f"before-call.s3.{operation}"
    client.meta.events.register(event, add)
    try:
        return call()
    finally:
        client.meta.events.unregister(event, add)


def boto3_snapshot(server, client, bucket: str) -> str:
    response = with_headers(client, "CreateBucket", {"X-Tigris-Snapshot": "true"},
                            lambda: client.create_bucket(Bucket=bucket))
    return response["ResponseMetadata"]["HTTPHeaders"]["x-tigris-snapshot-version"]
