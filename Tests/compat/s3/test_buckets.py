"""Bucket operations: create/head/list/delete, name validation, location, versioning,
lifecycle and canned ACLs."""

from __future__ import annotations

import pytest

from s3compat import cairn_only, new_bucket_name, put, s3_error, status_of, tenant_client


def test_create_bucket_returns_location(s3, bucket_name):
    r = s3.create_bucket(Bucket=bucket_name)
    assert status_of(r) == 200
    assert r["Location"] == f"/{bucket_name}"


def test_head_existing_bucket(s3, bucket):
    assert status_of(s3.head_bucket(Bucket=bucket)) == 200


def test_head_missing_bucket_is_404(s3):
    with s3_error("404", 404):
        s3.head_bucket(Bucket=new_bucket_name("missing"))


def test_list_buckets_shows_created_bucket(s3, bucket):
    r = s3.list_buckets()
    names = [b["Name"] for b in r["Buckets"]]
    assert bucket in names
    entry = next(b for b in r["Buckets"] if b["Name"] == bucket)
    assert entry["CreationDate"] is not None


@cairn_only
def test_list_buckets_empty_still_has_buckets_key(server):
    fresh = tenant_client(server)
    r = fresh.list_buckets()
    assert "Buckets" in r
    assert r["Buckets"] == []


def test_delete_empty_bucket(s3, bucket):
    r = s3.delete_bucket(Bucket=bucket)
    assert status_of(r) == 204
    with s3_error("404", 404):
        s3.head_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_delete_missing_bucket_is_no_such_bucket(s3):
    with s3_error("NoSuchBucket", 404):
        s3.delete_bucket(Bucket=new_bucket_name("missing"))


def test_delete_non_empty_bucket_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with s3_error("BucketNotEmpty", 409):
        s3.delete_bucket(Bucket=bucket)
    assert status_of(s3.head_bucket(Bucket=bucket)) == 200


@pytest.mark.parametrize("name", [
    "ab",                 # too short
    "a" * 64,             # too long
    # moto accepts these three; AWS and Cairn refuse them.
    pytest.param("MyBucket-upper", marks=cairn_only, id="uppercase"),
    pytest.param("192.168.1.1", marks=cairn_only, id="ip-address"),
    pytest.param("my_bucket", marks=cairn_only, id="underscore"),
    # A dot-separated label must start and end with a letter or digit.
    pytest.param("foo.-bar", marks=cairn_only, id="dot-dash"),
    pytest.param("foo-.bar", marks=cairn_only, id="dash-dot"),
])
def test_invalid_bucket_name(s3, name):
    with s3_error("InvalidBucketName", 400):
        s3.create_bucket(Bucket=name)


@pytest.mark.parametrize("length", [3, 63])
def test_bucket_name_length_limits_accepted(s3, length):
    import uuid
    name = (uuid.uuid4().hex * 2)[:length]
    name = "b" + name[1:]  # starts with a letter
    r = s3.create_bucket(Bucket=name)
    assert status_of(r) == 200
    assert status_of(s3.head_bucket(Bucket=name)) == 200
    s3.delete_bucket(Bucket=name)


def test_bucket_name_with_dots_and_dashes_accepted(s3):
    name = new_bucket_name("a.b-c")
    assert status_of(s3.create_bucket(Bucket=name)) == 200


@cairn_only
def test_recreate_own_bucket_conflicts(s3, bucket):
    with s3_error("BucketAlreadyOwnedByYou", 409):
        s3.create_bucket(Bucket=bucket)


def test_get_bucket_location(s3, bucket):
    r = s3.get_bucket_location(Bucket=bucket)
    assert status_of(r) == 200
    # us-east-1 is reported as an empty LocationConstraint (botocore: None).
    assert r.get("LocationConstraint") in (None, "", "us-east-1")


def test_bucket_versioning_unset_on_new_bucket(s3, bucket):
    r = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in r


def test_bucket_versioning_enabled_then_suspended(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_suspending_a_never_versioned_bucket_suspends_it(s3, bucket):
    put(s3, bucket, "k", b"v")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    # A delete in a suspended bucket leaves a null delete marker, as S3 does.
    r = s3.delete_object(Bucket=bucket, Key="k")
    assert r.get("DeleteMarker") is True and r.get("VersionId") == "null"
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=bucket, Key="k")


@cairn_only
def test_list_buckets_in_pages_and_by_prefix(s3):
    prefix = new_bucket_name("pages")[:20]
    names = sorted(f"{prefix}-{n}" for n in range(3))
    for name in names:
        s3.create_bucket(Bucket=name)
    first = s3.list_buckets(Prefix=prefix, MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    assert first["Prefix"] == prefix and first["ContinuationToken"]
    rest = s3.list_buckets(Prefix=prefix, MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == names[2:]
    assert "ContinuationToken" not in rest
    assert [b["Name"] for b in s3.list_buckets(Prefix=prefix)["Buckets"]] == names
    with s3_error("InvalidArgument", 400):
        s3.list_buckets(MaxBuckets=10001)


def test_versioning_on_missing_bucket(s3):
    with s3_error("NoSuchBucket", 404):
        s3.get_bucket_versioning(Bucket=new_bucket_name("missing"))


def test_lifecycle_round_trip(s3, bucket):
    rule = {
        "ID": "workspace-ttl",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Expiration": {"Days": 7},
    }
    r = s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    assert status_of(r) == 200
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert len(rules) == 1
    assert rules[0]["ID"] == "workspace-ttl"
    assert rules[0]["Status"] == "Enabled"
    assert rules[0]["Expiration"]["Days"] == 7

    assert status_of(s3.delete_bucket_lifecycle(Bucket=bucket)) == 204
    with s3_error("NoSuchLifecycleConfiguration", 404):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)


def test_lifecycle_missing_is_404(s3, bucket):
    with s3_error("NoSuchLifecycleConfiguration", 404):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)


def test_create_bucket_with_private_acl(s3, bucket_name):
    r = s3.create_bucket(Bucket=bucket_name, ACL="private")
    assert status_of(r) == 200
    assert status_of(s3.head_bucket(Bucket=bucket_name)) == 200


@cairn_only
def test_create_bucket_with_public_acl_not_implemented(s3, bucket_name):
    with s3_error("NotImplemented", 501):
        s3.create_bucket(Bucket=bucket_name, ACL="public-read")
    with s3_error("404", 404):
        s3.head_bucket(Bucket=bucket_name)


def test_acls_read_as_private_to_the_owner(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        owner = acl["Owner"]["ID"]
        assert owner
        assert [(g["Grantee"]["Type"], g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]] == [
            ("CanonicalUser", owner, "FULL_CONTROL")]
    # Setting what already holds is accepted, by canned ACL or by policy.
    assert status_of(s3.put_bucket_acl(Bucket=bucket, ACL="private")) == 200
    assert status_of(s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")) == 200
    policy = {"Owner": acl["Owner"],
              "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": owner}, "Permission": "FULL_CONTROL"}]}
    assert status_of(s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy=policy)) == 200
    with s3_error("NoSuchKey", 404):
        s3.get_object_acl(Bucket=bucket, Key="missing")


@cairn_only
def test_acls_granting_anyone_else_are_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    with s3_error("NotImplemented", 501):
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    everyone = {"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]}
    with s3_error("NotImplemented", 501):
        s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy=everyone)
    with s3_error("NotImplemented", 501):
        s3.put_object_acl(Bucket=bucket, Key="k", GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
