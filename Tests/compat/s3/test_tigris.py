"""Tigris extensions through tigris-boto3-ext 0.8.0 (contract: shared/contracts/tigris-s3.md
§2 and §5): snapshot-enabled buckets, snapshots and point-in-time reads, forks, bucket info,
rename, snapshot deletion and force delete. Cairn only (moto has none of it)."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("tigris_boto3_ext", reason="the S3 suite needs tigris-boto3-ext==0.8.0")

from botocore.exceptions import ClientError  # noqa: E402
from tigris_boto3_ext import (  # noqa: E402
    TigrisSnapshot,
    create_bucket,
    create_fork,
    create_snapshot,
    create_snapshot_bucket,
    create_soft_delete_bucket,
    delete_snapshot,
    force_delete_bucket,
    get_bucket_info,
    get_object_from_snapshot,
    get_snapshot_version,
    has_snapshot_enabled,
    head_object_from_snapshot,
    is_object_migrated,
    list_deleted_object_versions,
    list_deleted_objects,
    list_objects_from_snapshot,
    list_objects_from_source,
    list_snapshots,
    migrate_object,
    purge_deleted_object,
    rename_object,
)

from s3compat import get, md5hex, new_bucket_name, put, s3_error, status_of  # noqa: E402

pytestmark = pytest.mark.cairn_only

VERSION_RE = re.compile(r"^\d{1,19}$")


@pytest.fixture
def snap_bucket(s3):
    """A fresh snapshot-enabled bucket."""
    name = new_bucket_name("snap")
    create_snapshot_bucket(s3, name)
    return name


def snapshot(s3, bucket, name=None) -> str:
    r = create_snapshot(s3, bucket, snapshot_name=name)
    version = get_snapshot_version(r)
    assert version, f"no x-tigris-snapshot-version in {r['ResponseMetadata']['HTTPHeaders']}"
    return version


def keys_of(listing: dict) -> list:
    return [o["Key"] for o in listing.get("Contents", [])]


def fork(s3, source, version=None) -> str:
    name = new_bucket_name("fork")
    r = create_fork(s3, name, source, snapshot_version=version)
    assert status_of(r) == 200
    assert r["Location"] == f"/{name}"
    return name


# --- snapshot-enabled buckets ------------------------------------------------


def test_create_snapshot_bucket(s3):
    name = new_bucket_name("snap")
    r = create_snapshot_bucket(s3, name)
    assert status_of(r) == 200
    assert r["Location"] == f"/{name}"
    assert has_snapshot_enabled(s3, name) is True


def test_regular_bucket_has_no_snapshots(s3, bucket):
    assert has_snapshot_enabled(s3, bucket) is False


def test_put_on_snapshot_bucket_returns_version_id(s3, snap_bucket):
    r1 = put(s3, snap_bucket, "k", b"one")
    r2 = put(s3, snap_bucket, "k", b"two")
    assert r1.get("VersionId") and r2.get("VersionId")
    assert r1["VersionId"] != r2["VersionId"]
    assert get(s3, snap_bucket, "k", VersionId=r1["VersionId"]) == b"one"
    assert s3.head_object(Bucket=snap_bucket, Key="k")["VersionId"] == r2["VersionId"]


def test_recreate_snapshot_bucket_conflicts(s3, snap_bucket):
    with s3_error("BucketAlreadyOwnedByYou", 409):
        create_snapshot_bucket(s3, snap_bucket)


# --- snapshots ---------------------------------------------------------------


def test_snapshot_version_format(s3, snap_bucket):
    put(s3, snap_bucket, "k", b"x")
    v = snapshot(s3, snap_bucket)
    assert VERSION_RE.match(v), v


def test_snapshot_versions_increase(s3, snap_bucket):
    versions = [snapshot(s3, snap_bucket) for _ in range(3)]
    assert len(set(versions)) == 3
    assert [int(v) for v in versions] == sorted(int(v) for v in versions)


def test_three_snapshots_listed_exactly(s3, snap_bucket):
    put(s3, snap_bucket, "k", b"x")
    v1 = snapshot(s3, snap_bucket)
    v2 = snapshot(s3, snap_bucket, "nightly-2")
    v3 = snapshot(s3, snap_bucket, "release v3")  # names may contain spaces
    r = list_snapshots(s3, snap_bucket)
    names = sorted(b["Name"] for b in r["Buckets"])
    assert names == sorted([v1, f"{v2}; name=nightly-2", f"{v3}; name=release v3"])
    assert all(b.get("CreationDate") is not None for b in r["Buckets"])


def test_list_snapshots_of_fresh_snapshot_bucket_is_empty(s3, snap_bucket):
    r = list_snapshots(s3, snap_bucket)
    assert r["Buckets"] == []


def test_list_snapshots_of_regular_bucket_has_buckets_key(s3, bucket):
    r = list_snapshots(s3, bucket)
    assert "Buckets" in r
    assert r["Buckets"] == []


def test_plain_list_buckets_does_not_show_snapshots(s3, snap_bucket):
    v = snapshot(s3, snap_bucket)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert snap_bucket in names
    assert not any(v in n for n in names)


def test_snapshot_of_missing_bucket(s3):
    with s3_error("NoSuchBucket", 404):
        create_snapshot(s3, new_bucket_name("missing"))


def test_delete_snapshot(s3, snap_bucket):
    put(s3, snap_bucket, "k", b"x")
    v1 = snapshot(s3, snap_bucket)
    v2 = snapshot(s3, snap_bucket)
    r = delete_snapshot(s3, snap_bucket, v1)
    assert status_of(r) in (200, 204)
    assert [b["Name"] for b in list_snapshots(s3, snap_bucket)["Buckets"]] == [v2]
    # The bucket and its data are untouched.
    assert get(s3, snap_bucket, "k") == b"x"
    assert status_of(s3.head_bucket(Bucket=snap_bucket)) == 200


def test_delete_unknown_snapshot(s3, snap_bucket):
    snapshot(s3, snap_bucket)
    with pytest.raises(ClientError) as info:
        delete_snapshot(s3, snap_bucket, "1234567890123456789")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert len(list_snapshots(s3, snap_bucket)["Buckets"]) == 1
    assert status_of(s3.head_bucket(Bucket=snap_bucket)) == 200


# --- point-in-time reads (contract §5 timeline) -----------------------------


def test_point_in_time_timeline(s3, snap_bucket):
    b = snap_bucket
    put(s3, b, "o1", b"foo")
    put(s3, b, "o2", b"bar")
    s1 = snapshot(s3, b)
    put(s3, b, "o2", b"quux")
    s2 = snapshot(s3, b)
    put(s3, b, "o3", b"baz")
    s3_ = snapshot(s3, b)
    s3.delete_object(Bucket=b, Key="o1")
    s4 = snapshot(s3, b)

    expected = {
        s1: {"o1": b"foo", "o2": b"bar"},
        s2: {"o1": b"foo", "o2": b"quux"},
        s3_: {"o1": b"foo", "o2": b"quux", "o3": b"baz"},
        s4: {"o2": b"quux", "o3": b"baz"},
    }
    for version, state in expected.items():
        assert keys_of(list_objects_from_snapshot(s3, b, version)) == sorted(state), version
        for key, data in state.items():
            got = get_object_from_snapshot(s3, b, key, version)["Body"].read()
            assert got == data, (version, key)
            h = head_object_from_snapshot(s3, b, key, version)
            assert h["ContentLength"] == len(data)
        for key in {"o1", "o2", "o3"} - set(state):
            with s3_error("NoSuchKey", 404):
                get_object_from_snapshot(s3, b, key, version)
            with s3_error("404", 404):
                head_object_from_snapshot(s3, b, key, version)
    # The live bucket is the latest state.
    assert keys_of(s3.list_objects_v2(Bucket=b)) == ["o2", "o3"]


def test_snapshot_head_reports_object_version(s3, snap_bucket):
    b = snap_bucket
    v_old = put(s3, b, "k", b"old")["VersionId"]
    snap = snapshot(s3, b)
    put(s3, b, "k", b"newer")
    h = head_object_from_snapshot(s3, b, "k", snap)
    assert h["VersionId"] == v_old
    assert h["ContentLength"] == 3
    g = get_object_from_snapshot(s3, b, "k", snap)
    assert g["Body"].read() == b"old"
    assert g["ETag"] == h["ETag"] == f'"{md5hex(b"old")}"'


def test_snapshot_list_with_prefix_and_v1(s3, snap_bucket):
    b = snap_bucket
    for k in ("data/a", "data/b", "other/c"):
        put(s3, b, k, b"1")
    snap = snapshot(s3, b)
    put(s3, b, "data/late", b"2")
    assert keys_of(list_objects_from_snapshot(s3, b, snap, Prefix="data/")) == ["data/a", "data/b"]
    with TigrisSnapshot(s3, b, snap):
        v1 = s3.list_objects(Bucket=b)
    assert keys_of(v1) == ["data/a", "data/b", "other/c"]
    # Outside the context reads are live again.
    assert "data/late" in keys_of(s3.list_objects_v2(Bucket=b))


def test_writes_in_snapshot_context_go_to_live_bucket(s3, snap_bucket):
    b = snap_bucket
    put(s3, b, "k", b"before")
    snap = snapshot(s3, b)
    with TigrisSnapshot(s3, b, snap):
        s3.put_object(Bucket=b, Key="k", Body=b"after")
    assert get(s3, b, "k") == b"after"
    assert get_object_from_snapshot(s3, b, "k", snap)["Body"].read() == b"before"


# --- forks ------------------------------------------------------------------


def test_fork_from_current_state(s3, snap_bucket):
    parent = snap_bucket
    put(s3, parent, "shared", b"from parent")
    put(s3, parent, "doomed", b"delete me in fork")
    f = fork(s3, parent)
    assert get(s3, f, "shared") == b"from parent"
    assert keys_of(s3.list_objects_v2(Bucket=f)) == ["doomed", "shared"]

    # Later parent writes are invisible to the fork.
    put(s3, parent, "shared", b"parent changed")
    put(s3, parent, "parent-new", b"p")
    assert get(s3, f, "shared") == b"from parent"
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=f, Key="parent-new")

    # Fork writes and deletes are invisible to the parent.
    put(s3, f, "fork-new", b"f")
    s3.delete_object(Bucket=f, Key="doomed")
    assert keys_of(s3.list_objects_v2(Bucket=f)) == ["fork-new", "shared"]
    assert keys_of(s3.list_objects_v2(Bucket=parent)) == ["doomed", "parent-new", "shared"]
    assert get(s3, parent, "doomed") == b"delete me in fork"
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=parent, Key="fork-new")


def test_sibling_forks_are_isolated(s3, snap_bucket):
    parent = snap_bucket
    put(s3, parent, "k", b"base")
    f1 = fork(s3, parent)
    f2 = fork(s3, parent)
    put(s3, f1, "k", b"f1")
    put(s3, f1, "only-f1", b"1")
    s3.delete_object(Bucket=f2, Key="k")
    assert get(s3, f1, "k") == b"f1"
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=f2, Key="k")
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=f2, Key="only-f1")
    assert get(s3, parent, "k") == b"base"


def test_fork_from_snapshot(s3, snap_bucket):
    parent = snap_bucket
    put(s3, parent, "k", b"at snapshot")
    put(s3, parent, "gone-later", b"g")
    snap = snapshot(s3, parent, "pre-change")
    put(s3, parent, "k", b"after snapshot")
    put(s3, parent, "added-later", b"a")
    s3.delete_object(Bucket=parent, Key="gone-later")
    f = fork(s3, parent, snap)
    assert get(s3, f, "k") == b"at snapshot"
    assert get(s3, f, "gone-later") == b"g"
    assert keys_of(s3.list_objects_v2(Bucket=f)) == ["gone-later", "k"]


def test_fork_of_fork_reads_through(s3, snap_bucket):
    root = snap_bucket
    put(s3, root, "from-root", b"r")
    put(s3, root, "overridden", b"root version")
    mid = fork(s3, root)
    put(s3, mid, "from-mid", b"m")
    put(s3, mid, "overridden", b"mid version")
    leaf = fork(s3, mid)
    assert get(s3, leaf, "from-root") == b"r"
    assert get(s3, leaf, "from-mid") == b"m"
    assert get(s3, leaf, "overridden") == b"mid version"
    assert keys_of(s3.list_objects_v2(Bucket=leaf)) == ["from-mid", "from-root", "overridden"]
    put(s3, leaf, "from-leaf", b"l")
    with s3_error("NoSuchKey", 404):
        s3.get_object(Bucket=mid, Key="from-leaf")
    info = get_bucket_info(s3, leaf)
    assert info["fork_source_bucket"] == mid


def test_fork_is_snapshot_enabled_and_snapshottable(s3, snap_bucket):
    put(s3, snap_bucket, "k", b"1")
    f = fork(s3, snap_bucket)
    assert has_snapshot_enabled(s3, f) is True
    snap = snapshot(s3, f)
    put(s3, f, "k", b"2")
    assert get_object_from_snapshot(s3, f, "k", snap)["Body"].read() == b"1"
    assert [b["Name"] for b in list_snapshots(s3, f)["Buckets"]] == [snap]


def test_a_fork_without_versions_of_its_own_deletes_like_an_empty_bucket(s3, snap_bucket):
    put(s3, snap_bucket, "inherited", b"source's")
    untouched, written = fork(s3, snap_bucket), fork(s3, snap_bucket)
    put(s3, written, "own", b"fork's")
    with s3_error("BucketNotEmpty", 409):
        s3.delete_bucket(Bucket=written)
    # The usual cleanup of a versioned bucket: every version and marker ListObjectVersions shows.
    listed = s3.list_object_versions(Bucket=written)
    s3.delete_objects(Bucket=written, Delete={"Objects": [
        {"Key": v["Key"], "VersionId": v["VersionId"]}
        for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]})
    for name in (untouched, written):
        assert get(s3, name, "inherited") == b"source's"
        assert status_of(s3.delete_bucket(Bucket=name)) == 204
    assert get(s3, snap_bucket, "inherited") == b"source's"


def test_fork_of_missing_bucket_fails(s3):
    name = new_bucket_name("fork")
    with pytest.raises(ClientError) as info:
        create_fork(s3, name, new_bucket_name("missing"))
    assert 400 <= info.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    with s3_error("404", 404):
        s3.head_bucket(Bucket=name)


def test_fork_of_missing_snapshot_fails(s3, snap_bucket):
    put(s3, snap_bucket, "k", b"x")
    name = new_bucket_name("fork")
    with pytest.raises(ClientError) as info:
        create_fork(s3, name, snap_bucket, snapshot_version="1234567890123456789")
    assert 400 <= info.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    with s3_error("404", 404):
        s3.head_bucket(Bucket=name)


def test_fork_onto_existing_bucket_conflicts(s3, snap_bucket, bucket):
    with s3_error(None, 409):
        create_fork(s3, bucket, snap_bucket)


# --- bucket info (contract §2.5) ---------------------------------------------


def test_bucket_info_regular(s3, bucket):
    info = get_bucket_info(s3, bucket)
    assert info["snapshot_enabled"] is False
    assert info["fork_source_bucket"] is None
    assert info["fork_source_snapshot"] is None


def test_bucket_info_snapshot_bucket(s3, snap_bucket):
    for _ in range(3):
        snapshot(s3, snap_bucket)
    info = get_bucket_info(s3, snap_bucket)
    assert info["snapshot_enabled"] is True
    assert info["fork_source_bucket"] is None
    assert info["fork_source_snapshot"] is None


def test_bucket_info_fork_from_snapshot_and_parent(s3, snap_bucket):
    put(s3, snap_bucket, "k", b"x")
    snap = snapshot(s3, snap_bucket, "named")
    f = fork(s3, snap_bucket, snap)
    info = get_bucket_info(s3, f)
    assert info["snapshot_enabled"] is True
    assert info["fork_source_bucket"] == snap_bucket
    assert info["fork_source_snapshot"] == snap  # the bare version, even for a named snapshot
    parent = get_bucket_info(s3, snap_bucket)
    assert parent["snapshot_enabled"] is True
    assert parent["fork_source_bucket"] is None
    assert parent["fork_source_snapshot"] is None


def test_bucket_info_fork_from_current_state(s3, snap_bucket):
    f = fork(s3, snap_bucket)
    info = get_bucket_info(s3, f)
    assert info["snapshot_enabled"] is True
    assert info["fork_source_bucket"] == snap_bucket
    assert info["fork_source_snapshot"]
    assert VERSION_RE.match(info["fork_source_snapshot"])


# --- rename -------------------------------------------------------------------


def test_rename_object_moves(s3, bucket):
    src = "dir/weird name + #.txt"
    put(s3, bucket, src, b"moving", Metadata={"m": "1"})
    r = rename_object(s3, bucket, src, "renamed.txt")
    assert status_of(r) == 200
    assert r["CopyObjectResult"]["ETag"]
    assert get(s3, bucket, "renamed.txt") == b"moving"
    assert s3.head_object(Bucket=bucket, Key="renamed.txt")["Metadata"] == {"m": "1"}
    with s3_error("404", 404):
        s3.head_object(Bucket=bucket, Key=src)
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == ["renamed.txt"]


def test_copy_after_rename_keeps_source(s3, bucket):
    put(s3, bucket, "a", b"1")
    rename_object(s3, bucket, "a", "b")
    s3.copy_object(Bucket=bucket, Key="c", CopySource={"Bucket": bucket, "Key": "b"})
    assert get(s3, bucket, "b") == b"1"  # the rename header is gone after the helper
    assert get(s3, bucket, "c") == b"1"


def test_rename_missing_source(s3, bucket):
    with s3_error("NoSuchKey", 404):
        rename_object(s3, bucket, "nope", "dst")


# --- force delete ------------------------------------------------------------


def test_force_delete_bucket_0_8_spelling(s3, bucket):
    for k in ("a", "b/c", "d"):
        put(s3, bucket, k)
    r = force_delete_bucket(s3, bucket)
    assert status_of(r) == 204
    with s3_error("404", 404):
        s3.head_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_force_delete_agent_kit_spelling(s3, bucket):
    put(s3, bucket, "a")

    def add_header(request, **kwargs):
        request.headers["Tigris-Force-Delete"] = "true"

    s3.meta.events.register("before-sign.s3.DeleteBucket", add_header)
    try:
        r = s3.delete_bucket(Bucket=bucket)
    finally:
        s3.meta.events.unregister("before-sign.s3.DeleteBucket", add_header)
    assert status_of(r) == 204
    with s3_error("404", 404):
        s3.head_bucket(Bucket=bucket)


def test_force_delete_snapshot_bucket_with_versions(s3, snap_bucket):
    put(s3, snap_bucket, "k", b"1")
    put(s3, snap_bucket, "k", b"2")
    snapshot(s3, snap_bucket)
    s3.delete_object(Bucket=snap_bucket, Key="k")
    force_delete_bucket(s3, snap_bucket)
    with s3_error("404", 404):
        s3.head_bucket(Bucket=snap_bucket)
    # The name is free again.
    s3.create_bucket(Bucket=snap_bucket)
    assert s3.list_objects_v2(Bucket=snap_bucket)["KeyCount"] == 0


def test_force_delete_parent_keeps_fork_readable(s3, snap_bucket):
    put(s3, snap_bucket, "inherited", b"from the parent")
    f = fork(s3, snap_bucket)
    put(s3, snap_bucket, "later", b"x")
    force_delete_bucket(s3, snap_bucket)
    with s3_error("404", 404):
        s3.head_bucket(Bucket=snap_bucket)
    assert get(s3, f, "inherited") == b"from the parent"
    assert keys_of(s3.list_objects_v2(Bucket=f)) == ["inherited"]
    put(s3, f, "new", b"n")
    assert get(s3, f, "new") == b"n"


def test_plain_delete_of_non_empty_snapshot_bucket_refused(s3, snap_bucket):
    put(s3, snap_bucket, "k")
    with s3_error("BucketNotEmpty", 409):
        s3.delete_bucket(Bucket=snap_bucket)


# --- Tigris features Cairn does not have: refused, never accepted without effect ---


@pytest.mark.parametrize("create", [
    pytest.param(lambda s3, name: create_soft_delete_bucket(s3, name), id="soft-delete"),
    pytest.param(lambda s3, name: create_soft_delete_bucket(s3, name, retention_days=30), id="soft-delete-30-days"),
    pytest.param(lambda s3, name: create_bucket(s3, name, default_storage_class="GLACIER"), id="storage-class"),
    pytest.param(lambda s3, name: create_bucket(s3, name, regions="iad"), id="regions"),
    pytest.param(lambda s3, name: create_bucket(s3, name, regions=["iad", "sjc"]), id="dual-region"),
])
def test_bucket_options_without_effect_create_nothing(s3, create):
    name = new_bucket_name("opts")
    with s3_error("NotImplemented", 501):
        create(s3, name)
    with s3_error(None, 404):
        s3.head_bucket(Bucket=name)


def test_public_listing_header_is_refused(s3):
    name = new_bucket_name("publist")

    def header(request, **_):
        request.headers["X-Amz-Acl-Public-List-Objects-Enabled"] = "true"

    s3.meta.events.register_first("before-sign.s3.CreateBucket", header)
    try:
        with s3_error("NotImplemented", 501):
            s3.create_bucket(Bucket=name)
    finally:
        s3.meta.events.unregister("before-sign.s3.CreateBucket", header)
    with s3_error(None, 404):
        s3.head_bucket(Bucket=name)


def test_soft_delete_view_is_refused_and_purge_deletes_nothing(s3, snap_bucket):
    version = put(s3, snap_bucket, "file.txt", b"live")["VersionId"]
    with s3_error("NotImplemented", 501):
        list_deleted_objects(s3, snap_bucket)
    with s3_error("NotImplemented", 501):
        list_deleted_object_versions(s3, snap_bucket)
    with s3_error("NotImplemented", 501):
        purge_deleted_object(s3, snap_bucket, "file.txt", version)
    assert get(s3, snap_bucket, "file.txt", VersionId=version) == b"live"


def test_object_storage_classes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="standard", Body=b"x", StorageClass="STANDARD")
    with s3_error("NotImplemented", 501):
        s3.put_object(Bucket=bucket, Key="cold", Body=b"x", StorageClass="GLACIER")
    with s3_error("InvalidStorageClass", 400):
        s3.put_object(Bucket=bucket, Key="odd", Body=b"x", StorageClass="LUKEWARM")
    with s3_error("NotImplemented", 501):
        s3.create_multipart_upload(Bucket=bucket, Key="cold", StorageClass="STANDARD_IA")
    with s3_error("NotImplemented", 501):
        s3.copy_object(Bucket=bucket, Key="cold", CopySource={"Bucket": bucket, "Key": "standard"},
                       StorageClass="DEEP_ARCHIVE")
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == ["standard"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_migration_helpers_see_buckets_without_a_shadow_source(s3, bucket):
    put(s3, bucket, "k", b"v")
    # No bucket here has a shadow source: Tigris answers a scheduled migration as a plain HEAD.
    assert status_of(migrate_object(s3, bucket, "k")) == 200
    assert is_object_migrated(s3, bucket, "k") is True
    assert keys_of(list_objects_from_source(s3, bucket, "tigris")) == ["k"]
    with s3_error("NotImplemented", 501):
        list_objects_from_source(s3, bucket, "shadow")
