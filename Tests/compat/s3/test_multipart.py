"""Multipart uploads: create/upload/complete (composite ETag), part-size and part-list errors,
abort, ListParts, ListMultipartUploads, and boto3's managed transfers."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from s3compat import MIB, cairn_only, get, multipart_etag, s3_error, sha256hex, status_of

from boto3.s3.transfer import TransferConfig  # noqa: E402  (after s3compat, which skips without boto3)

PART = 5 * MIB


def _upload_parts(s3, bucket, key, upload_id, bodies):
    parts = []
    for n, body in enumerate(bodies, start=1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=body)
        assert r["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    return parts


def test_multipart_upload_complete(s3, bucket):
    bodies = [os.urandom(PART), os.urandom(PART), b"tail bytes"]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="text/plain",
                                    Metadata={"origin": "mp"})
    assert up["Bucket"] == bucket and up["Key"] == "mp" and up["UploadId"]
    parts = _upload_parts(s3, bucket, "mp", up["UploadId"], bodies)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
    assert done["ETag"] == multipart_etag(bodies)
    assert done["Key"] == "mp"
    assert done["Bucket"] == bucket
    h = s3.head_object(Bucket=bucket, Key="mp")
    assert h["ContentLength"] == sum(len(b) for b in bodies)
    assert h["ETag"] == multipart_etag(bodies)
    assert h["ContentType"] == "text/plain"
    assert h["Metadata"] == {"origin": "mp"}
    data = get(s3, bucket, "mp")
    assert sha256hex(data) == sha256hex(b"".join(bodies))
    # Ranges across the part boundary.
    r = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={PART - 3}-{PART + 2}")
    assert r["Body"].read() == bodies[0][-3:] + bodies[1][:3]


def test_multipart_single_small_part(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="one")
    parts = _upload_parts(s3, bucket, "one", up["UploadId"], [b"only part"])
    done = s3.complete_multipart_upload(Bucket=bucket, Key="one", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
    assert done["ETag"] == multipart_etag([b"only part"])
    assert get(s3, bucket, "one") == b"only part"


def test_multipart_reupload_part_replaces_it(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="re")
    uid = up["UploadId"]
    s3.upload_part(Bucket=bucket, Key="re", UploadId=uid, PartNumber=1, Body=b"old")
    e = s3.upload_part(Bucket=bucket, Key="re", UploadId=uid, PartNumber=1, Body=b"new")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="re", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    assert get(s3, bucket, "re") == b"new"


def test_multipart_entity_too_small(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="small")
    parts = _upload_parts(s3, bucket, "small", up["UploadId"], [b"a" * 1024, b"b" * 1024])
    with s3_error("EntityTooSmall", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": parts})


@cairn_only  # moto sorts the list instead of refusing it
def test_multipart_invalid_part_order(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="order")
    parts = _upload_parts(s3, bucket, "order", up["UploadId"], [os.urandom(PART), os.urandom(PART)])
    with s3_error("InvalidPartOrder", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="order", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": list(reversed(parts))})


def test_multipart_invalid_part_etag(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="bad")
    _upload_parts(s3, bucket, "bad", up["UploadId"], [b"x"])
    with s3_error("InvalidPart", 400):
        s3.complete_multipart_upload(
            Bucket=bucket, Key="bad", UploadId=up["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1,
                                        "ETag": '"0123456789abcdef0123456789abcdef"'}]})


def test_multipart_missing_part_number(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="gap")
    _upload_parts(s3, bucket, "gap", up["UploadId"], [b"x"])
    with s3_error("InvalidPart", 400):
        s3.complete_multipart_upload(
            Bucket=bucket, Key="gap", UploadId=up["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 2,
                                        "ETag": f'"{hashlib.md5(b"x").hexdigest()}"'}]})


def test_multipart_abort(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="gone")
    uid = up["UploadId"]
    _upload_parts(s3, bucket, "gone", uid, [b"x"])
    r = s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=uid)
    assert status_of(r) == 204
    with s3_error("NoSuchUpload", 404):
        s3.list_parts(Bucket=bucket, Key="gone", UploadId=uid)
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="gone")


@cairn_only  # moto answers 500 to UploadPart/Complete on an unknown upload
def test_upload_part_and_complete_after_abort_are_no_such_upload(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="gone", UploadId=uid, PartNumber=1, Body=b"x")["ETag"]
    s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=uid)
    with s3_error("NoSuchUpload", 404):
        s3.upload_part(Bucket=bucket, Key="gone", UploadId=uid, PartNumber=2, Body=b"y")
    with s3_error("NoSuchUpload", 404):
        s3.complete_multipart_upload(Bucket=bucket, Key="gone", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})


@cairn_only  # moto answers 500 to UploadPart on an unknown upload
def test_upload_part_unknown_upload_id(s3, bucket):
    with s3_error("NoSuchUpload", 404):
        s3.upload_part(Bucket=bucket, Key="k", UploadId="no-such-upload-id", PartNumber=1, Body=b"x")


def test_abort_unknown_upload_id(s3, bucket):
    with s3_error("NoSuchUpload", 404):
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId="no-such-upload-id")


def test_list_parts(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="lp")
    bodies = [b"a" * 10, b"b" * 20, b"c" * 30]
    parts = _upload_parts(s3, bucket, "lp", up["UploadId"], bodies)
    r = s3.list_parts(Bucket=bucket, Key="lp", UploadId=up["UploadId"])
    assert r["UploadId"] == up["UploadId"]
    assert r["Key"] == "lp"
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in r["Parts"]] == [
        (p["PartNumber"], p["ETag"], len(b)) for p, b in zip(parts, bodies)]
    assert r["IsTruncated"] is False
    page = s3.list_parts(Bucket=bucket, Key="lp", UploadId=up["UploadId"], MaxParts=2)
    assert [p["PartNumber"] for p in page["Parts"]] == [1, 2]
    assert page["IsTruncated"] is True
    assert page["NextPartNumberMarker"] == 2
    rest = s3.list_parts(Bucket=bucket, Key="lp", UploadId=up["UploadId"],
                         PartNumberMarker=page["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]


def test_list_multipart_uploads(s3, bucket):
    u1 = s3.create_multipart_upload(Bucket=bucket, Key="dir/one")["UploadId"]
    u2 = s3.create_multipart_upload(Bucket=bucket, Key="two")["UploadId"]
    r = s3.list_multipart_uploads(Bucket=bucket)
    got = sorted((u["Key"], u["UploadId"]) for u in r["Uploads"])
    assert got == sorted([("dir/one", u1), ("two", u2)])
    assert all(u["Initiated"] is not None for u in r["Uploads"])
    r = s3.list_multipart_uploads(Bucket=bucket, Prefix="dir/")
    assert [u["Key"] for u in r["Uploads"]] == ["dir/one"]
    s3.abort_multipart_upload(Bucket=bucket, Key="two", UploadId=u2)
    r = s3.list_multipart_uploads(Bucket=bucket)
    assert [u["UploadId"] for u in r["Uploads"]] == [u1]


def test_completed_upload_not_listed(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="fin")
    parts = _upload_parts(s3, bucket, "fin", up["UploadId"], [b"x"])
    s3.complete_multipart_upload(Bucket=bucket, Key="fin", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": parts})
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def _file_round_trip(s3, bucket, tmp_path, size):
    src = tmp_path / "src.bin"
    with open(src, "wb") as f:
        for _ in range(size // MIB):
            f.write(os.urandom(MIB))
    cfg = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    s3.upload_file(str(src), bucket, "big/file.bin", Config=cfg)
    h = s3.head_object(Bucket=bucket, Key="big/file.bin")
    assert h["ContentLength"] == size
    parts = -(-size // (8 * MIB))
    assert h["ETag"].endswith(f'-{parts}"')
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "big/file.bin", str(dst), Config=cfg)
    assert dst.stat().st_size == size
    assert sha256hex(dst.read_bytes()) == sha256hex(src.read_bytes())


def test_upload_file_20mib(s3, bucket, tmp_path):
    _file_round_trip(s3, bucket, tmp_path, 20 * MIB)


def test_upload_file_100mib(s3, bucket, tmp_path):
    _file_round_trip(s3, bucket, tmp_path, 100 * MIB)


def test_upload_part_copy(s3, bucket):
    src = os.urandom(PART + 100)
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")
    r1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up["UploadId"], PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange=f"bytes=0-{PART - 1}")
    r2 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=up["UploadId"], PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "src"},
                             CopySourceRange=f"bytes={PART}-{PART + 99}")
    s3.complete_multipart_upload(
        Bucket=bucket, Key="dst", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
                                   {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
    assert get(s3, bucket, "dst") == src


def test_upload_part_copy_range_must_lie_within_the_source(s3, bucket):
    s3.put_object(Bucket=bucket, Key="five", Body=b"12345")
    up = s3.create_multipart_upload(Bucket=bucket, Key="dst")
    copy = dict(Bucket=bucket, Key="dst", UploadId=up["UploadId"], PartNumber=1,
                CopySource={"Bucket": bucket, "Key": "five"})
    with s3_error("InvalidRange") as e:
        s3.upload_part_copy(CopySourceRange="bytes=0-21", **copy)
    assert status_of(e["response"]) in (400, 416)
    for malformed in ("bytes=-", "bytes=0-x", "bytes=3-1", "0-2", "bytes=0-1,2-3"):
        with s3_error("InvalidArgument", 400):
            s3.upload_part_copy(CopySourceRange=malformed, **copy)
    assert s3.list_parts(Bucket=bucket, Key="dst", UploadId=up["UploadId"]).get("Parts", []) == []
    r = s3.upload_part_copy(CopySourceRange="bytes=1-3", **copy)
    s3.complete_multipart_upload(
        Bucket=bucket, Key="dst", UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["CopyPartResult"]["ETag"]}]})
    assert get(s3, bucket, "dst") == b"234"


# --- checksums of multipart objects -----------------------------------------------------


def _raw_checksum(algorithm, data):
    if algorithm == "SHA256":
        return hashlib.sha256(data).digest()
    if algorithm == "SHA1":
        return hashlib.sha1(data).digest()
    from awscrt import checksums
    if algorithm == "CRC32":
        return checksums.crc32(data).to_bytes(4, "big")
    if algorithm == "CRC32C":
        return checksums.crc32c(data).to_bytes(4, "big")
    return checksums.crc64nvme(data).to_bytes(8, "big")


def _b64(raw):
    return base64.b64encode(raw).decode()


def _checksum_parts(s3, bucket, key, upload_id, bodies, algorithm, send=True):
    parts = []
    for n, body in enumerate(bodies, start=1):
        extra = {"ChecksumAlgorithm": algorithm} if send else {}
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=body, **extra)
        assert r["Checksum" + algorithm] == _b64(_raw_checksum(algorithm, body))
        parts.append({"PartNumber": n, "ETag": r["ETag"], "Checksum" + algorithm: r["Checksum" + algorithm]})
    return parts


@cairn_only  # moto keeps no multipart checksums
@pytest.mark.parametrize("algorithm", ["SHA256", "SHA1", "CRC32", "CRC32C"])
def test_a_composite_checksum_is_made_of_the_parts_checksums(s3, bucket, algorithm):
    pytest.importorskip("awscrt")
    bodies = [os.urandom(PART), b"tail bytes"]
    up = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm=algorithm)
    assert up["ChecksumAlgorithm"] == algorithm and up["ChecksumType"] == "COMPOSITE"
    parts = _checksum_parts(s3, bucket, "c", up["UploadId"], bodies, algorithm)
    listed = s3.list_parts(Bucket=bucket, Key="c", UploadId=up["UploadId"])
    assert listed["ChecksumAlgorithm"] == algorithm and listed["ChecksumType"] == "COMPOSITE"
    assert [p["Checksum" + algorithm] for p in listed["Parts"]] == [p["Checksum" + algorithm] for p in parts]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert uploads[0]["ChecksumAlgorithm"] == algorithm and uploads[0]["ChecksumType"] == "COMPOSITE"
    composite = _b64(_raw_checksum(algorithm, b"".join(_raw_checksum(algorithm, b) for b in bodies))) + "-2"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="c", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
    assert done["Checksum" + algorithm] == composite and done["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head["Checksum" + algorithm] == composite and head["ChecksumType"] == "COMPOSITE"
    # The object's metadata does not show the upload's settings.
    assert head["Metadata"] == {}
    assert get(s3, bucket, "c", ChecksumMode="ENABLED") == b"".join(bodies)


@cairn_only
@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_a_full_object_checksum_is_the_crc_of_the_whole_object(s3, bucket, algorithm):
    pytest.importorskip("awscrt")
    bodies = [os.urandom(PART), os.urandom(PART + 17), b"tail bytes"]
    whole = _b64(_raw_checksum(algorithm, b"".join(bodies)))
    up = s3.create_multipart_upload(Bucket=bucket, Key="f", ChecksumAlgorithm=algorithm, ChecksumType="FULL_OBJECT")
    assert up["ChecksumType"] == "FULL_OBJECT"
    parts = _checksum_parts(s3, bucket, "f", up["UploadId"], bodies, algorithm)
    # A wrong whole-object checksum completes nothing; the right one completes the upload.
    wrong = _b64(_raw_checksum(algorithm, b"other bytes"))
    with s3_error("BadDigest", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="f", UploadId=up["UploadId"], MultipartUpload={"Parts": parts},
                                     **{"Checksum" + algorithm: wrong})
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="f")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="f", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts}, ChecksumType="FULL_OBJECT",
                                        **{"Checksum" + algorithm: whole})
    assert done["Checksum" + algorithm] == whole and done["ChecksumType"] == "FULL_OBJECT"
    # botocore checks a full-object checksum it is given against the bytes it reads.
    g = s3.get_object(Bucket=bucket, Key="f", ChecksumMode="ENABLED")
    assert g["Checksum" + algorithm] == whole and g["ChecksumType"] == "FULL_OBJECT"
    assert g["Body"].read() == b"".join(bodies)


@cairn_only
def test_parts_sent_without_the_uploads_checksum_get_it_from_the_server(s3, bucket):
    bodies = [os.urandom(PART), b"last"]
    up = s3.create_multipart_upload(Bucket=bucket, Key="s", ChecksumAlgorithm="SHA256")
    parts = []
    for n, body in enumerate(bodies, start=1):
        # boto3 sends its default CRC32 here, not the upload's SHA-256.
        r = s3.upload_part(Bucket=bucket, Key="s", UploadId=up["UploadId"], PartNumber=n, Body=body)
        assert r["ChecksumSHA256"] == _b64(hashlib.sha256(body).digest())
        parts.append({"PartNumber": n, "ETag": r["ETag"]})
    # A part copied from an object gets it too.
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    r = s3.upload_part_copy(Bucket=bucket, Key="s", UploadId=up["UploadId"], PartNumber=3,
                            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=2-4")
    assert r["CopyPartResult"]["ChecksumSHA256"] == _b64(hashlib.sha256(b"234").digest())
    parts.append({"PartNumber": 3, "ETag": r["CopyPartResult"]["ETag"]})
    # The last part must be the only small one, so the copy replaces part 2's place.
    done = s3.complete_multipart_upload(Bucket=bucket, Key="s", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": [parts[0], parts[2]]})
    raw = hashlib.sha256(bodies[0]).digest() + hashlib.sha256(b"234").digest()
    assert done["ChecksumSHA256"] == _b64(hashlib.sha256(raw).digest()) + "-2"


@cairn_only
def test_multipart_checksum_mistakes_are_refused_and_change_nothing(s3, bucket):
    body = b"x" * 1024
    # Combinations S3 does not allow.
    for algorithm, kind in (("SHA256", "FULL_OBJECT"), ("CRC64NVME", "COMPOSITE"), ("CRC32", "PARTIAL")):
        with s3_error("InvalidRequest", 400):
            s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm, ChecksumType=kind)
    for headers in ({"x-amz-checksum-algorithm": "MD5"}, {"x-amz-checksum-type": "COMPOSITE"}):
        def add(request, headers=headers, **_):
            for name, value in headers.items():
                request.headers[name] = value
        s3.meta.events.register_first("before-sign.s3.CreateMultipartUpload", add)
        try:
            with s3_error("InvalidRequest", 400):
                s3.create_multipart_upload(Bucket=bucket, Key="k")
        finally:
            s3.meta.events.unregister("before-sign.s3.CreateMultipartUpload", add)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)

    # An upload created without a checksum cannot have its object's stated.
    plain = s3.create_multipart_upload(Bucket=bucket, Key="k")
    parts = _upload_parts(s3, bucket, "k", plain["UploadId"], [body])
    composite = _b64(hashlib.sha256(hashlib.sha256(body).digest()).digest()) + "-1"
    with s3_error("InvalidRequest", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=plain["UploadId"], ChecksumSHA256=composite,
                                     MultipartUpload={"Parts": parts})

    # A part's checksum that is not the one uploaded, or of another algorithm than the upload's.
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")
    parts = _checksum_parts(s3, bucket, "k", up["UploadId"], [body], "SHA256")
    with s3_error("InvalidPart", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"], MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": parts[0]["ETag"], "ChecksumSHA256": _b64(hashlib.sha256(b"no").digest())}]})
    with s3_error("InvalidRequest", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"], MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": parts[0]["ETag"], "ChecksumCRC32": "AAAAAA=="}]})
    with s3_error("InvalidRequest", 400):
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"], ChecksumType="FULL_OBJECT",
                                     MultipartUpload={"Parts": parts})
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="k")
    # Both uploads are still there and complete.
    s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=plain["UploadId"], MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": parts[0]["ETag"]}]})
    assert "ChecksumSHA256" not in s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"], ChecksumSHA256=composite,
                                        MultipartUpload={"Parts": parts})
    assert done["ChecksumSHA256"] == composite


@cairn_only
def test_get_and_head_by_part_number(s3, bucket):
    bodies = [os.urandom(PART), os.urandom(PART), b"tail" * 256]
    up = s3.create_multipart_upload(Bucket=bucket, Key="parts")
    parts = _upload_parts(s3, bucket, "parts", up["UploadId"], bodies)
    done = s3.complete_multipart_upload(Bucket=bucket, Key="parts", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
    start = 0
    for number, body in enumerate(bodies, start=1):
        g = s3.get_object(Bucket=bucket, Key="parts", PartNumber=number)
        assert g["Body"].read() == body
        assert g["PartsCount"] == 3 and g["ETag"] == done["ETag"]
        assert g["ContentRange"] == f"bytes {start}-{start + len(body) - 1}/{sum(map(len, bodies))}"
        assert s3.head_object(Bucket=bucket, Key="parts", PartNumber=number)["ContentLength"] == len(body)
        start += len(body)
    with s3_error("InvalidPartNumber", 416):
        s3.get_object(Bucket=bucket, Key="parts", PartNumber=4)
    with s3_error("InvalidRequest", 400):
        s3.get_object(Bucket=bucket, Key="parts", PartNumber=1, Range="bytes=0-9")
    # Any other object is one part.
    s3.put_object(Bucket=bucket, Key="single", Body=b"body")
    single = s3.get_object(Bucket=bucket, Key="single", PartNumber=1)
    assert single["Body"].read() == b"body" and "PartsCount" not in single
    with s3_error("InvalidPartNumber", 416):
        s3.get_object(Bucket=bucket, Key="single", PartNumber=2)


@cairn_only
def test_a_repeated_complete_answers_what_the_upload_made(s3, versioned_bucket):
    bucket = versioned_bucket
    up = s3.create_multipart_upload(Bucket=bucket, Key="k")
    parts = _upload_parts(s3, bucket, "k", up["UploadId"], [b"x" * PART, b"tail"])
    first = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"],
                                         MultipartUpload={"Parts": parts})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=up["UploadId"],
                                         MultipartUpload={"Parts": parts})
    assert (again["ETag"], again["VersionId"]) == (first["ETag"], first["VersionId"])
    assert len(s3.list_object_versions(Bucket=bucket, Prefix="k")["Versions"]) == 1
    # It is not an upload any more: nothing else finds it, and another key does not complete it.
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with s3_error("NoSuchUpload", 404):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=up["UploadId"], PartNumber=3, Body=b"more")
    with s3_error("NoSuchUpload", 404):
        s3.complete_multipart_upload(Bucket=bucket, Key="other", UploadId=up["UploadId"],
                                     MultipartUpload={"Parts": parts})
