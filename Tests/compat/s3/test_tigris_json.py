"""Tigris' JSON endpoints through tigris-boto3-ext 0.8.0 (contract: shared/contracts/tigris-s3.md
§2.8 bucket metadata, §2.9 JSON bucket listings, §2.10 PATCH settings, §5 type toggling):
`GET /{bucket}?metadata[&with-size=true]`, `GET /` with `Accept: application/json` (paging,
OnlyForked, IncludeStats, `X-Tigris-Fork`) and `PATCH /{bucket}` (`type` only; every other
setting is refused with 501, never stored). Cairn only (moto has none of it)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

pytest.importorskip("tigris_boto3_ext", reason="the S3 suite needs tigris-boto3-ext==0.8.0")

from tigris_boto3_ext import (  # noqa: E402
    TigrisAPIError,
    create_fork,
    create_snapshot,
    create_snapshot_bucket,
    get_bucket_metadata,
    get_snapshot_version,
    get_stats,
    has_snapshot_enabled,
    list_buckets,
    list_deleted_buckets,
    list_forks,
    list_snapshots,
    set_bucket_migration,
    set_bucket_soft_delete,
    update_bucket,
)
from tigris_boto3_ext._transport import signed_request  # noqa: E402

from s3compat import new_bucket_name, new_tenant, put, s3_client, s3_error, s3_keys, tenant_client  # noqa: E402

pytestmark = pytest.mark.cairn_only


# --- helpers -------------------------------------------------------------------


@pytest.fixture
def snap_bucket(s3):
    name = new_bucket_name("snap")
    create_snapshot_bucket(s3, name)
    return name


@pytest.fixture
def fresh(server):
    """(client, tenant) of a brand-new tenant: listings and stats see only its buckets."""
    tenant = new_tenant()
    return tenant_client(server, tenant), tenant


def snapshot(s3, bucket, name=None) -> str:
    version = get_snapshot_version(create_snapshot(s3, bucket, snapshot_name=name))
    assert version
    return version


def fork(s3, source, version=None, prefix="fork") -> str:
    name = new_bucket_name(prefix)
    create_fork(s3, name, source, snapshot_version=version)
    return name


def fork_version(s3, fork_name) -> str:
    headers = s3.head_bucket(Bucket=fork_name)["ResponseMetadata"]["HTTPHeaders"]
    return headers["x-tigris-fork-source-bucket-snapshot"]


class api_error:
    """`with api_error(404, "NoSuchBucket") as box:` — the block must raise TigrisAPIError."""

    def __init__(self, status, code=None):
        self.status, self.code, self.error = status, code, None

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        assert kind is not None, f"expected HTTP {self.status} {self.code}, got success"
        if not issubclass(kind, TigrisAPIError):
            return False
        self.error = value
        assert value.status_code == self.status, (value.status_code, value.code, value.message)
        if self.code is not None:
            assert value.code == self.code, (value.status_code, value.code, value.message)
        return True


def patch(s3, bucket, body, headers=None):
    """A raw PATCH /{bucket} with the given body (bytes or str) and JSON headers."""
    return signed_request(
        s3, "PATCH", bucket,
        headers={"Content-Type": "application/json", "Accept": "application/json", **(headers or {})},
        body=body,
    )


def near_now(ts: datetime) -> bool:
    return ts is not None and abs(datetime.now(timezone.utc) - ts) < timedelta(minutes=10)


# --- GET /{bucket}?metadata ----------------------------------------------------------


def test_metadata_regular_bucket(s3, bucket):
    m = get_bucket_metadata(s3, bucket)
    assert m["name"] == bucket
    assert near_now(m["created_at"])
    assert m["snapshot_enabled"] is False and m["raw"]["type"] == 0
    assert m["is_fork_parent"] is False
    assert m["fork_parents"] == []
    assert m["raw"]["ForkInfo"] == {"HasChildren": False, "Parents": None}
    assert m["soft_delete"] == {"enabled": False, "retention_days": None}
    assert m["size"] is None
    # Nothing Cairn has no notion of is invented.
    for absent in ("storage_class", "object_regions", "acl_settings", "website", "cache_control",
                   "object_notifications", "estimated_size", "estimated_rows", "estimated_unique_rows"):
        assert absent not in m["raw"], absent
    assert m["storage_class"] is None and m["regions"] == [] and m["custom_domain"] is None
    assert m["notifications"] == {"enabled": False, "url": None, "filter": None, "auth": None}


def test_metadata_snapshot_bucket_and_has_children(s3, snap_bucket):
    m = get_bucket_metadata(s3, snap_bucket)
    assert m["snapshot_enabled"] is True and m["raw"]["type"] == 1
    assert m["is_fork_parent"] is False
    child = fork(s3, snap_bucket)
    assert get_bucket_metadata(s3, snap_bucket)["is_fork_parent"] is True
    # Only live forks count as children.
    s3.delete_bucket(Bucket=child)
    assert get_bucket_metadata(s3, snap_bucket)["is_fork_parent"] is False


def test_metadata_fork_of_named_snapshot(s3, snap_bucket):
    version = snapshot(s3, snap_bucket, name="release-1")
    child = fork(s3, snap_bucket, version)
    m = get_bucket_metadata(s3, child)
    assert m["snapshot_enabled"] is True
    assert m["is_fork_parent"] is False
    assert len(m["fork_parents"]) == 1
    p = m["fork_parents"][0]
    assert p["bucket"] == snap_bucket
    assert p["snapshot"] == version
    assert p["snapshot_name"] == "release-1"
    assert m["raw"]["ForkInfo"]["Parents"][0]["Snapshot"] == f"{version}; name=release-1"
    assert near_now(p["forked_at"]) and near_now(p["snapshot_created_at"])
    assert p["forked_at"] == m["created_at"]
    assert p["snapshot_created_at"] <= p["forked_at"]


def test_metadata_fork_of_current_state(s3, snap_bucket):
    child = fork(s3, snap_bucket)
    p = get_bucket_metadata(s3, child)["fork_parents"]
    assert len(p) == 1
    assert p[0]["bucket"] == snap_bucket
    assert p[0]["snapshot"] == fork_version(s3, child)
    assert p[0]["snapshot_name"] is None
    assert p[0]["snapshot_created_at"] is not None


def test_metadata_fork_chain(s3, snap_bucket):
    middle = fork(s3, snap_bucket, snapshot(s3, snap_bucket, name="base"))
    leaf = fork(s3, middle)
    parents = get_bucket_metadata(s3, leaf)["fork_parents"]
    assert [p["bucket"] for p in parents] == [middle, snap_bucket]
    assert parents[0]["snapshot"] == fork_version(s3, leaf)
    assert parents[1]["snapshot"] == fork_version(s3, middle)
    assert parents[1]["snapshot_name"] == "base"
    assert parents[0]["forked_at"] == get_bucket_metadata(s3, leaf)["created_at"]
    assert parents[1]["forked_at"] == get_bucket_metadata(s3, middle)["created_at"]


def test_metadata_fork_shows_deleted_parent_by_recorded_name(s3, snap_bucket):
    child = fork(s3, snap_bucket)
    s3.delete_bucket(Bucket=snap_bucket)
    parents = get_bucket_metadata(s3, child)["fork_parents"]
    assert [p["bucket"] for p in parents] == [snap_bucket]


def test_metadata_with_size_regular(s3, bucket):
    assert get_bucket_metadata(s3, bucket, with_size=True)["size"] == {
        "objects": 0, "bytes": 0, "objects_all_versions": 0}
    put(s3, bucket, "a", b"abc")
    put(s3, bucket, "b", b"hello")
    put(s3, bucket, "a", b"abcd")  # replaces a's null version
    assert get_bucket_metadata(s3, bucket, with_size=True)["size"] == {
        "objects": 2, "bytes": 9, "objects_all_versions": 2}


def test_metadata_with_size_counts_versions_and_markers(s3, snap_bucket):
    put(s3, snap_bucket, "a", b"abc")
    put(s3, snap_bucket, "a", b"abcd")
    put(s3, snap_bucket, "b", b"hello")
    s3.delete_object(Bucket=snap_bucket, Key="b")  # a delete marker: b is no longer current
    size = get_bucket_metadata(s3, snap_bucket, with_size=True)["size"]
    assert size == {"objects": 1, "bytes": 12, "objects_all_versions": 3}


def test_metadata_with_size_counts_a_forks_own_versions_only(s3, snap_bucket):
    put(s3, snap_bucket, "inherited", b"0123456789")
    child = fork(s3, snap_bucket)
    assert get_bucket_metadata(s3, child, with_size=True)["size"] == {
        "objects": 0, "bytes": 0, "objects_all_versions": 0}
    put(s3, child, "own", b"xy")
    assert get_bucket_metadata(s3, child, with_size=True)["size"] == {
        "objects": 1, "bytes": 2, "objects_all_versions": 1}


def test_metadata_unknown_bucket(s3):
    with api_error(404, "NoSuchBucket"):
        get_bucket_metadata(s3, new_bucket_name("missing"))


def test_metadata_needs_only_read_scope(server, s3, bucket):
    reader = s3_client(server, *s3_keys(server, "s3-main", "read"))
    assert get_bucket_metadata(reader, bucket)["name"] == bucket


def test_metadata_on_object_or_with_other_methods(s3, bucket):
    with api_error(501, "NotImplemented"):
        signed_request(s3, "GET", f"{bucket}/key", query={"metadata": None})
    with api_error(405, "MethodNotAllowed"):
        signed_request(s3, "PUT", bucket, query={"metadata": None})
    # Still not a bucket created by accident.
    with api_error(404, "NoSuchBucket"):
        get_bucket_metadata(s3, new_bucket_name("never"))


# --- GET / as JSON ------------------------------------------------------------------


def test_json_listing_entries(fresh):
    c, tenant = fresh
    regular = new_bucket_name("a-reg")
    c.create_bucket(Bucket=regular)
    source = new_bucket_name("b-src")
    create_snapshot_bucket(c, source)
    child = fork(c, source, snapshot(c, source, name="n1"), prefix="c-fork")

    page = list_buckets(c, include_type=True, include_fork_info=True)
    assert page["owner"] == {"id": tenant, "display_name": tenant}
    assert page["continuation_token"] is None
    assert page["stats"] is None
    by_name = {b["name"]: b for b in page["buckets"]}
    assert [b["name"] for b in page["buckets"]] == sorted([regular, source, child])
    assert by_name[regular]["snapshot_enabled"] is False
    assert by_name[source]["snapshot_enabled"] is True
    assert by_name[child]["snapshot_enabled"] is True
    assert page["raw"]["Buckets"]["Bucket"][0]["Type"] == "Regular"
    assert by_name[regular]["is_fork_parent"] is False and by_name[regular]["fork_parents"] == []
    assert by_name[source]["is_fork_parent"] is True and by_name[source]["fork_parents"] == []
    assert by_name[child]["is_fork_parent"] is False
    assert [(p["bucket"], p["snapshot_name"]) for p in by_name[child]["fork_parents"]] == [(source, "n1")]
    for b in page["buckets"]:
        assert near_now(b["created_at"])


def test_json_listing_without_flags_has_no_type_or_fork_info(fresh):
    c, _ = fresh
    name = new_bucket_name()
    c.create_bucket(Bucket=name)
    page = list_buckets(c)
    assert [b["name"] for b in page["buckets"]] == [name]
    entry = page["raw"]["Buckets"]["Bucket"][0]
    assert set(entry) == {"Name", "CreationDate"}
    assert page["buckets"][0]["snapshot_enabled"] is None
    assert page["buckets"][0]["fork_parents"] is None


def test_json_listing_empty(fresh):
    c, _ = fresh
    page = list_buckets(c, include_stats=True)
    assert page["buckets"] == [] and page["continuation_token"] is None
    assert page["stats"] == {"active_buckets": 0, "total_objects": 0, "total_storage_bytes": 0,
                             "total_unique_objects": 0}


def test_json_listing_paging(fresh):
    c, _ = fresh
    names = sorted(new_bucket_name() for _ in range(5))
    for n in names:
        c.create_bucket(Bucket=n)
    seen, token, pages = [], None, 0
    while True:
        page = list_buckets(c, max_buckets=2, continuation_token=token)
        assert len(page["buckets"]) <= 2
        seen += [b["name"] for b in page["buckets"]]
        pages += 1
        token = page["continuation_token"]
        if not token:
            break
        assert base64.b64decode(token).decode() == seen[-1]
    assert seen == names and pages == 3
    # An exact fit leaves no token.
    assert list_buckets(c, max_buckets=5)["continuation_token"] is None


def test_json_listing_bad_paging(fresh):
    c, _ = fresh
    for value in ("0", "1001", "x"):
        with api_error(400, "InvalidArgument"):
            signed_request(c, "GET", "", query={"max-buckets": value}, headers={"Accept": "application/json"})
    with api_error(400, "InvalidArgument"):
        list_buckets(c, continuation_token="not base64!")


def test_json_listing_only_forked(fresh):
    c, _ = fresh
    source = new_bucket_name("src")
    create_snapshot_bucket(c, source)
    c.create_bucket(Bucket=new_bucket_name("plain"))
    forks = sorted([fork(c, source), fork(c, source)])
    page = list_buckets(c, only_forks=True)
    assert [b["name"] for b in page["buckets"]] == forks


def test_json_listing_stats(fresh):
    c, _ = fresh
    plain = new_bucket_name("a")
    c.create_bucket(Bucket=plain)
    put(c, plain, "x", b"12345")
    snap = new_bucket_name("b")
    create_snapshot_bucket(c, snap)
    put(c, snap, "y", b"abc")
    put(c, snap, "y", b"abcdef")
    stats = list_buckets(c, include_stats=True)["stats"]
    assert stats == {"active_buckets": 2, "total_objects": 3, "total_storage_bytes": 14,
                     "total_unique_objects": 2}
    # Stats cover the page; get_stats pages through the account and sums.
    assert list_buckets(c, include_stats=True, max_buckets=1)["stats"] == {
        "active_buckets": 1, "total_objects": 1, "total_storage_bytes": 5, "total_unique_objects": 1}
    assert get_stats(c) == stats


def test_json_listing_owned_by_is_refused(fresh):
    c, _ = fresh
    with api_error(501, "NotImplemented"):
        list_buckets(c, owned_by="someone@example.com")


def test_deleted_bucket_listing_is_empty(fresh):
    c, _ = fresh
    name = new_bucket_name()
    c.create_bucket(Bucket=name)
    c.delete_bucket(Bucket=name)
    assert list_deleted_buckets(c)["buckets"] == []


def test_plain_list_buckets_stays_xml(s3, bucket):
    r = s3.list_buckets()
    assert r["ResponseMetadata"]["HTTPHeaders"]["content-type"].startswith("application/xml")
    assert bucket in [b["Name"] for b in r["Buckets"]]


def test_snapshot_listing_stays_xml_with_accept_json(s3, snap_bucket):
    version = snapshot(s3, snap_bucket, name="keep")
    r = signed_request(s3, "GET", "", headers={"Accept": "application/json", "X-Tigris-Snapshot": snap_bucket})
    assert r.headers["content-type"].startswith("application/xml")
    assert f"<Name>{version}; name=keep</Name>".encode() in r.body


# --- list_forks (X-Tigris-Fork) ------------------------------------------------------------


def test_list_forks(s3, snap_bucket):
    version = snapshot(s3, snap_bucket, name="v")
    a = fork(s3, snap_bucket, version)
    b = fork(s3, snap_bucket)
    grandchild = fork(s3, a)  # a fork of a fork is not a fork of the source
    page = list_forks(s3, snap_bucket)
    assert [f["name"] for f in page["buckets"]] == sorted([a, b])
    assert page["continuation_token"] is None
    by_name = {f["name"]: f for f in page["buckets"]}
    assert by_name[a]["fork_parents"][0] == {**by_name[a]["fork_parents"][0], "bucket": snap_bucket,
                                             "snapshot": version, "snapshot_name": "v"}
    assert by_name[a]["is_fork_parent"] is True
    assert by_name[b]["is_fork_parent"] is False
    assert [f["name"] for f in list_forks(s3, a)["buckets"]] == [grandchild]
    first = list_forks(s3, snap_bucket, max_buckets=1)
    assert len(first["buckets"]) == 1 and first["continuation_token"]
    rest = list_forks(s3, snap_bucket, max_buckets=1, continuation_token=first["continuation_token"])
    assert [f["name"] for f in first["buckets"] + rest["buckets"]] == sorted([a, b])
    assert rest["continuation_token"] is None


def test_list_forks_without_forks_is_empty(s3, snap_bucket, bucket):
    assert list_forks(s3, snap_bucket)["buckets"] == []
    assert list_forks(s3, bucket)["buckets"] == []


def test_list_forks_of_missing_source_is_access_denied(s3):
    with api_error(403, "AccessDenied"):
        list_forks(s3, new_bucket_name("missing"))


# --- PATCH /{bucket} -----------------------------------------------------------------


def test_enable_snapshots_on_regular_bucket(s3, bucket):
    put(s3, bucket, "k", b"v1")
    r = update_bucket(s3, bucket, snapshot_enabled=True)
    assert r["raw"] == {"Bucket": bucket, "Update": "success"}
    assert r["request_id"]
    assert has_snapshot_enabled(s3, bucket) is True
    assert get_bucket_metadata(s3, bucket)["snapshot_enabled"] is True
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert s3.put_object(Bucket=bucket, Key="k", Body=b"v2").get("VersionId") not in (None, "null")
    version = snapshot(s3, bucket)
    put(s3, bucket, "k", b"v3")
    got = s3.get_object(Bucket=bucket, Key="k")["Body"].read()
    assert got == b"v3"
    assert [s["Name"] for s in list_snapshots(s3, bucket)["Buckets"]] == [version]
    # Enabling twice is fine.
    update_bucket(s3, bucket, snapshot_enabled=True)


def test_disable_snapshots_keeps_existing_snapshots(s3, snap_bucket):
    version = snapshot(s3, snap_bucket, name="kept")
    r = update_bucket(s3, snap_bucket, snapshot_enabled=False)
    assert r["raw"] == {"Bucket": snap_bucket, "Update": "success"}
    assert has_snapshot_enabled(s3, snap_bucket) is False
    assert get_bucket_metadata(s3, snap_bucket)["raw"]["type"] == 0
    with s3_error("InvalidRequest", 400):
        create_snapshot(s3, snap_bucket)
    assert [s["Name"] for s in list_snapshots(s3, snap_bucket)["Buckets"]] == [f"{version}; name=kept"]
    update_bucket(s3, snap_bucket, snapshot_enabled=True)
    assert has_snapshot_enabled(s3, snap_bucket) is True
    snapshot(s3, snap_bucket)


def test_disable_refused_on_fork(s3, snap_bucket):
    child = fork(s3, snap_bucket)
    with api_error(400, "InvalidArgument") as e:
        update_bucket(s3, child, snapshot_enabled=False)
    assert "fork" in e.error.message
    assert has_snapshot_enabled(s3, child) is True


def test_disable_refused_on_bucket_with_forks(s3, snap_bucket):
    fork(s3, snap_bucket)
    with api_error(400, "InvalidArgument") as e:
        update_bucket(s3, snap_bucket, snapshot_enabled=False)
    assert "forks" in e.error.message
    assert has_snapshot_enabled(s3, snap_bucket) is True


EXPIRING = {"Rules": [{"ID": "ttl", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 7}}]}


def test_enable_refused_with_lifecycle_expiration(s3, bucket):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration=EXPIRING)
    with api_error(400, "InvalidArgument") as e:
        update_bucket(s3, bucket, snapshot_enabled=True)
    assert "lifecycle" in e.error.message
    assert has_snapshot_enabled(s3, bucket) is False
    s3.delete_bucket_lifecycle(Bucket=bucket)
    update_bucket(s3, bucket, snapshot_enabled=True)
    assert has_snapshot_enabled(s3, bucket) is True


def test_enable_allowed_with_lifecycle_without_expiration(s3, bucket):
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [{
        "ID": "mpu", "Status": "Enabled", "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3}}]})
    update_bucket(s3, bucket, snapshot_enabled=True)
    assert has_snapshot_enabled(s3, bucket) is True


@pytest.mark.parametrize("call,key", [
    (lambda s3, b: update_bucket(s3, b, default_storage_class="STANDARD_IA"), "storage_class"),
    (lambda s3, b: update_bucket(s3, b, regions="iad"), "object_regions"),
    (lambda s3, b: update_bucket(s3, b, cache_control="max-age=60"), "cache_control"),
    (lambda s3, b: update_bucket(s3, b, custom_domain="assets.example.com"), "website"),
    (lambda s3, b: update_bucket(s3, b, allow_object_acl=True), "acl_settings"),
    (lambda s3, b: update_bucket(s3, b, nosniff=True), "additional_http_headers"),
    (lambda s3, b: set_bucket_soft_delete(s3, b, True, retention_days=7), "soft_delete"),
    (lambda s3, b: set_bucket_migration(s3, b, "old", endpoint="https://s3.example.com", region="us-east-1",
                                        access_key="a", secret_key="s"), "shadow_bucket"),
])
def test_unsupported_settings_are_refused_not_stored(s3, bucket, call, key):
    with api_error(501, "NotImplemented") as e:
        call(s3, bucket)
    assert key in e.error.message
    m = get_bucket_metadata(s3, bucket)
    if key == "soft_delete":
        assert m["raw"]["soft_delete"] == {"enabled": False}
    else:
        assert key not in m["raw"]
    assert m["notifications"]["enabled"] is False and m["storage_class"] is None and m["regions"] == []


def test_unsupported_setting_refuses_the_whole_patch(s3, bucket):
    with api_error(501, "NotImplemented"):
        update_bucket(s3, bucket, snapshot_enabled=True, cache_control="no-store")
    assert has_snapshot_enabled(s3, bucket) is False


def test_access_headers(s3, bucket):
    update_bucket(s3, bucket, access="private", public_list_objects=False)
    with api_error(501, "NotImplemented"):
        update_bucket(s3, bucket, access="public")
    with api_error(501, "NotImplemented"):
        update_bucket(s3, bucket, public_list_objects=True)


def test_empty_settings_document(s3, bucket):
    assert patch(s3, bucket, "{}").json() == {"Bucket": bucket, "Update": "success"}


@pytest.mark.parametrize("body", ["{not json", "", "[1]", '"type"', "null"])
def test_malformed_settings(s3, bucket, body):
    with api_error(400):
        patch(s3, bucket, body)


@pytest.mark.parametrize("value", [2, -1, "1", True, None, 1.5])
def test_bad_type_value(s3, bucket, value):
    with api_error(400, "InvalidArgument"):
        patch(s3, bucket, json.dumps({"type": value}))
    assert has_snapshot_enabled(s3, bucket) is False


def test_unknown_setting(s3, bucket):
    with api_error(400, "InvalidArgument") as e:
        patch(s3, bucket, json.dumps({"colour": "blue"}))
    assert "colour" in e.error.message


def test_settings_document_too_large(s3, bucket):
    body = json.dumps({"type": 1, "pad": "x" * (64 * 1024)})
    with api_error(400):
        patch(s3, bucket, body)
    assert has_snapshot_enabled(s3, bucket) is False


def test_patch_unknown_bucket(s3):
    with api_error(404, "NoSuchBucket"):
        update_bucket(s3, new_bucket_name("missing"), snapshot_enabled=True)


def test_patch_on_object_is_not_allowed(s3, bucket):
    with api_error(405, "MethodNotAllowed"):
        patch(s3, f"{bucket}/key", "{}")


def test_patch_needs_write_scope(server, bucket):
    reader = s3_client(server, *s3_keys(server, "s3-main", "read"))
    with api_error(403, "AccessDenied"):
        update_bucket(reader, bucket, snapshot_enabled=True)
    writer = s3_client(server, *s3_keys(server, "s3-main", "write"))
    update_bucket(writer, bucket, snapshot_enabled=True)
    assert has_snapshot_enabled(writer, bucket) is True


def test_patch_bad_payload_hash(s3, bucket):
    with api_error(400, "XAmzContentSHA256Mismatch"):
        signed_request(s3, "PATCH", bucket, body='{"type": 1}',
                       headers={"Content-Type": "application/json", "X-Amz-Content-Sha256": "0" * 64})


# --- tenants -------------------------------------------------------------------


def test_other_tenant_sees_none_of_it(server, s3, snap_bucket):
    child = fork(s3, snap_bucket)
    other = tenant_client(server)
    with api_error(404, "NoSuchBucket"):
        get_bucket_metadata(other, snap_bucket)
    with api_error(404, "NoSuchBucket"):
        get_bucket_metadata(other, child, with_size=True)
    with api_error(403, "AccessDenied"):
        list_forks(other, snap_bucket)
    with api_error(404, "NoSuchBucket"):
        update_bucket(other, child, snapshot_enabled=False)
    names = [b["name"] for b in list_buckets(other, include_fork_info=True, include_stats=True)["buckets"]]
    assert snap_bucket not in names and child not in names
    assert get_stats(other)["active_buckets"] == len(names)
    assert has_snapshot_enabled(s3, snap_bucket) is True


def test_same_name_in_another_tenant_is_its_own(server, s3, snap_bucket):
    other = tenant_client(server)
    other.create_bucket(Bucket=snap_bucket)
    put(other, snap_bucket, "k", b"abc")
    m = get_bucket_metadata(other, snap_bucket, with_size=True)
    assert m["snapshot_enabled"] is False and m["size"]["objects"] == 1
    assert get_bucket_metadata(s3, snap_bucket, with_size=True)["size"]["objects"] == 0
