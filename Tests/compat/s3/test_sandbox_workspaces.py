"""A workspace mounted at a sandbox's /work (issue 15): its objects are there when the sandbox
starts, what code writes in /work goes back into the bucket as a snapshot, a snapshot mounts
read-only, and a missing bucket or snapshot is a clear 4xx. Cairn only."""

from __future__ import annotations

import json

import pytest

from cairncompat import create_key, http_call
from s3compat import get

from tigris_boto3_ext import create_snapshot, create_snapshot_bucket, get_object_from_snapshot

pytestmark = pytest.mark.cairn_only


@pytest.fixture(scope="module")
def api(server):
    """An API key of the S3 key's tenant, and a caller of the main listener with it."""
    key = create_key(server, "s3-main")

    def call(method, path, body=None):
        return http_call(server.url, method, path, body, headers={"Authorization": f"Bearer {key}"})

    return call


def run(api, sandbox_id, code):
    r = api("POST", f"/sandboxes/{sandbox_id}/exec", {"code": code})
    assert r.status == 200, r.text()
    result = r.json
    assert result["error"] is None, result["error"]
    return result


def test_objects_are_in_work_and_a_snapshot_takes_back_what_code_wrote(api, s3, bucket_name):
    """The bucket's keys are files under /work; after code edits, adds and removes files, the
    snapshot route makes the bucket hold exactly /work and snapshots it."""
    create_snapshot_bucket(s3, bucket_name)
    s3.put_object(Bucket=bucket_name, Key="notes/plan.txt", Body=b"step one\n")
    s3.put_object(Bucket=bucket_name, Key="drop.txt", Body=b"old")
    created = api("POST", "/sandboxes", {"workspace": {"bucket": bucket_name, "mode": "rw"}})
    assert created.status == 201, created.text()
    sandbox = created.json
    assert sandbox["workspace"] == {"bucket": bucket_name, "snapshot": None, "mode": "rw"}
    seen = run(api, sandbox["id"], "open('/work/notes/plan.txt').read()")
    assert seen["value"] == repr("step one\n")
    run(api, sandbox["id"], "import os\n"
        "open('/work/notes/plan.txt', 'a').write('step two\\n')\n"
        "os.makedirs('/work/out', exist_ok=True)\n"
        "open('/work/out/result.json', 'w').write('{\"ok\": true}')\n"
        "os.remove('/work/drop.txt')\n"
        "os.symlink('/etc/passwd', '/work/link')")
    snap = api("POST", f"/sandboxes/{sandbox['id']}/snapshot")
    assert snap.status == 201, snap.text()
    version = snap.json["snapshot"]
    assert snap.json["bucket"] == bucket_name
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket_name).get("Contents", []))
    # The symlink is not followed or stored: only regular files go back.
    assert keys == ["notes/plan.txt", "out/result.json"]
    assert get(s3, bucket_name, "notes/plan.txt") == b"step one\nstep two\n"
    at = get_object_from_snapshot(s3, bucket_name, "out/result.json", version)
    assert json.loads(at["Body"].read()) == {"ok": True}
    assert api("DELETE", f"/sandboxes/{sandbox['id']}").status == 204


def test_a_snapshot_mounts_read_only_and_cannot_be_written_back(api, s3, bucket_name):
    """Mounting a snapshot shows the bucket as it was then; /work is read-only inside and the
    snapshot route refuses (409 read_only)."""
    create_snapshot_bucket(s3, bucket_name)
    s3.put_object(Bucket=bucket_name, Key="a.txt", Body=b"then")
    version = get_snapshot_version(create_snapshot(s3, bucket_name))
    s3.put_object(Bucket=bucket_name, Key="a.txt", Body=b"now")
    created = api("POST", "/sandboxes", {"workspace": {"bucket": bucket_name, "snapshot": version, "mode": "ro"}})
    assert created.status == 201, created.text()
    sandbox_id = created.json["id"]
    assert run(api, sandbox_id, "open('/work/a.txt').read()")["value"] == repr("then")
    refused = api("POST", f"/sandboxes/{sandbox_id}/exec", {"code": "open('/work/b.txt', 'w').write('x')"})
    assert refused.status == 200 and "Read-only file system" in (refused.json["error"] or ""), refused.text()
    snap = api("POST", f"/sandboxes/{sandbox_id}/snapshot")
    assert snap.status == 409 and snap.json["code"] == "read_only", snap.text()
    assert get(s3, bucket_name, "a.txt") == b"now"
    assert api("DELETE", f"/sandboxes/{sandbox_id}").status == 204


def test_missing_bucket_or_snapshot_is_refused_and_makes_no_sandbox(api, s3, bucket_name):
    """An unknown bucket is 404, an unknown snapshot a 4xx, a snapshot mounted rw a 400; no
    sandbox is left behind by any of them."""
    before = api("GET", "/sandboxes").json["sandboxes"]
    missing = api("POST", "/sandboxes", {"workspace": {"bucket": bucket_name}})
    assert missing.status == 404, missing.text()
    create_snapshot_bucket(s3, bucket_name)
    unknown = api("POST", "/sandboxes", {"workspace": {"bucket": bucket_name, "snapshot": "999999", "mode": "ro"}})
    assert 400 <= unknown.status < 500, unknown.text()
    rw = api("POST", "/sandboxes", {"workspace": {"bucket": bucket_name, "snapshot": "1", "mode": "rw"}})
    assert rw.status == 400, rw.text()
    assert api("GET", "/sandboxes").json["sandboxes"] == before


def get_snapshot_version(response) -> str:
    from tigris_boto3_ext import get_snapshot_version as version_of
    return version_of(response)
