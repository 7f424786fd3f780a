"""Lifecycle rules enforced by the server's sweeper, end to end with boto3.

This module's server sweeps every 100 ms (`--lifecycle-sweep-ms 100`). Rules whose time is
already up (an `Expiration` `Date` in the past: S3 accepts those and expires at once) show the
enforcement without moving a clock; the day arithmetic (`Days`, rounding to midnight UTC,
noncurrent ages) is covered by the Swift store tests, which advance an injected clock.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from botocore.exceptions import ClientError

from cairncompat import start_server
from s3compat import ROOT_KEY, cairn_only, new_bucket_name, put, s3_error

pytestmark = cairn_only

PAST = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "s3-lifecycle", s3=True, api_key=ROOT_KEY,
                       args=["--lifecycle-sweep-ms", "100"])
    yield srv
    srv.stop()


def rule(**kw):
    base = {"ID": "r", "Status": "Enabled", "Filter": {"Prefix": ""}}
    base.update(kw)
    return base


def keys(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def eventually(check, timeout=15.0):
    """Polls `check` until it returns true; the sweeper runs every 100 ms."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError("the lifecycle sweeper did not act in time")
        time.sleep(0.05)


def test_a_past_date_expires_matching_objects_only(s3, bucket):
    put(s3, bucket, "tmp/a", b"1")
    put(s3, bucket, "tmp/b", b"2")
    put(s3, bucket, "keep/c", b"3")
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        rule(Filter={"Prefix": "tmp/"}, Expiration={"Date": PAST})]})
    eventually(lambda: keys(s3, bucket) == ["keep/c"])
    # Objects written afterwards expire too: the date has passed for them as well.
    put(s3, bucket, "tmp/later", b"4")
    eventually(lambda: keys(s3, bucket) == ["keep/c"])


def test_versioned_bucket_gets_delete_markers(s3, versioned_bucket):
    first = put(s3, versioned_bucket, "doc", b"v1")
    s3.put_bucket_lifecycle_configuration(Bucket=versioned_bucket, LifecycleConfiguration={"Rules": [
        rule(Expiration={"Date": PAST})]})
    eventually(lambda: keys(s3, versioned_bucket) == [])
    versions = s3.list_object_versions(Bucket=versioned_bucket)
    assert [m["IsLatest"] for m in versions.get("DeleteMarkers", [])] == [True]
    assert [v["VersionId"] for v in versions["Versions"]] == [first["VersionId"]]
    body = s3.get_object(Bucket=versioned_bucket, Key="doc", VersionId=first["VersionId"])["Body"].read()
    assert body == b"v1"


def test_snapshot_workspace_keeps_expired_objects_at_its_snapshots(s3):
    tigris = pytest.importorskip("tigris_boto3_ext")
    name = new_bucket_name("ttl")
    tigris.create_snapshot_bucket(s3, name)
    put(s3, name, "notes.md", b"draft")
    version = tigris.get_snapshot_version(tigris.create_snapshot(s3, name, snapshot_name="before-expiry"))
    s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
        rule(Expiration={"Date": PAST})]})
    eventually(lambda: keys(s3, name) == [])
    got = tigris.get_object_from_snapshot(s3, name, "notes.md", version)
    assert got["Body"].read() == b"draft"


def test_a_disabled_rule_does_nothing(s3, bucket):
    put(s3, bucket, "a", b"1")
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        rule(Status="Disabled", Expiration={"Date": PAST})]})
    # A canary bucket with an enabled rule proves a sweep ran after the configuration was set.
    canary = new_bucket_name("canary")
    s3.create_bucket(Bucket=canary)
    put(s3, canary, "x", b"1")
    s3.put_bucket_lifecycle_configuration(Bucket=canary, LifecycleConfiguration={"Rules": [
        rule(Expiration={"Date": PAST})]})
    eventually(lambda: keys(s3, canary) == [])
    put(s3, canary, "y", b"1")
    eventually(lambda: keys(s3, canary) == [])  # a full pass after the configuration was set
    assert keys(s3, bucket) == ["a"]


def test_old_multipart_uploads_are_aborted_only_by_a_rule_that_says_so(s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        rule(AbortIncompleteMultipartUpload={"DaysAfterInitiation": 1})]})
    # A canary bucket proves a sweep ran after the rule was set (twice: one full pass after it).
    canary = new_bucket_name("canary")
    s3.create_bucket(Bucket=canary)
    put(s3, canary, "x", b"1")
    s3.put_bucket_lifecycle_configuration(Bucket=canary, LifecycleConfiguration={"Rules": [
        rule(Expiration={"Date": PAST})]})
    eventually(lambda: keys(s3, canary) == [])
    put(s3, canary, "y", b"1")
    eventually(lambda: keys(s3, canary) == [])
    # A day has not passed: the upload stays (the Swift tests advance a clock past it).
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [upload]


@pytest.mark.parametrize("bad, code", [
    (rule(Expiration={"Date": dt.datetime(2030, 1, 1, 12, tzinfo=dt.timezone.utc)}), "InvalidArgument"),
    (rule(Filter={"Tag": {"Key": "a", "Value": "b"}}, Expiration={"Days": 1}), "NotImplemented"),
    (rule(Filter={"And": {"Prefix": "a", "ObjectSizeGreaterThan": 10, "ObjectSizeLessThan": 5}},
          Expiration={"Days": 1}), "InvalidArgument"),
    (rule(NoncurrentVersionExpiration={"NoncurrentDays": 1, "NewerNoncurrentVersions": 101}), "InvalidArgument"),
])
def test_bad_rules_are_refused_and_change_nothing(s3, bucket, bad, code):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        rule(Expiration={"Days": 7})]})
    with s3_error(code):
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [bad]})
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules[0]["Expiration"]["Days"] == 7


def test_duplicate_rule_ids_are_refused(s3, bucket):
    with s3_error("InvalidArgument"):
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
            rule(ID="same", Expiration={"Days": 1}), rule(ID="same", Expiration={"Days": 2})]})
    with pytest.raises(ClientError):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)


def test_a_rule_without_an_id_is_given_one_that_stays(s3, bucket):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 3}},
        rule(ID="named", Expiration={"Days": 5})]})
    first = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert 0 < len(first[0]["ID"]) <= 255 and first[0]["ID"] != "named"
    assert first[0]["Filter"] == {"Prefix": "tmp/"} and first[0]["Expiration"] == {"Days": 3}
    assert first[1]["ID"] == "named" and first[1]["Expiration"] == {"Days": 5}
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == first


def test_expiry_is_notified(s3, bucket):
    import json
    from cairncompat import WebhookReceiver
    tigris = pytest.importorskip("tigris_boto3_ext")
    from tigris_boto3_ext._transport import signed_request
    with WebhookReceiver() as receiver:
        signed_request(s3, "PATCH", bucket, headers={"Content-Type": "application/json"},
                       body=json.dumps({"object_notifications": {"enabled": True, "web_hook": receiver.url}}))
        put(s3, bucket, "old", b"1")
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
            rule(Expiration={"Date": PAST})]})
        eventually(lambda: len(receiver.received()) == 2)
        names = [e["eventName"] for c in receiver.received() for e in c["json"]["events"]]
        assert names == ["OBJECT_CREATED_PUT", "OBJECT_EXPIRED"]
    assert tigris is not None
