"""kill -9 the server at random points of a PUT, a multipart completion, a copy and a fork:
after the restart each operation is either not visible at all or complete, whatever the
client was told, and once everything is deleted the blob sweeper leaves no bytes behind.

Random but seeded (CAIRN_CRASH_SEED replays one; the seed is named in every failure); the exact
kill points also depend on the machine's timing, so each operation is killed several times at
delays spread over its whole length, including before it starts and after it ends.
"""

from __future__ import annotations

import http.client
import os
import random
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from cairncompat import CairnServer, compat_blobs, wait_until
from s3compat import ROOT_KEY, new_bucket_name, s3_client, s3_keys

pytestmark = pytest.mark.cairn_only

# The checks of the blob directory need local blobs.
local_blobs_only = pytest.mark.skipif(bool(compat_blobs()), reason="blobs are in S3, not the data directory")
SEED = int(os.environ.get("CAIRN_CRASH_SEED") or random.SystemRandom().randrange(2**32))
CYCLES = int(os.environ.get("CAIRN_S3_CRASH_CYCLES", "6"))


@pytest.fixture(scope="module")
def crashy(tmp_path_factory):
    srv = CairnServer(
        tmp_path_factory.mktemp("s3-crash"), api_key=ROOT_KEY, s3=True, name="s3-crash",
        # Sweep often, so the test can wait for leftovers to go.
        args=["--artifact-sweep-ms", "200"])
    srv.start()
    yield srv
    srv.stop()


class Crasher:
    def __init__(self, srv: CairnServer, what: str):
        self.srv = srv
        self.rng = random.Random(f"{SEED}-{what}")
        self.akid, self.secret = s3_keys(srv, "crash", "admin")
        self.client = self.fresh_client()

    def fresh_client(self):
        return s3_client(self.srv, self.akid, self.secret, connect_timeout=2, read_timeout=20)

    def ready(self) -> None:
        """Wait until the restarted server's S3 listener answers."""
        self.client = self.fresh_client()

        def answers():
            try:
                self.client.list_buckets()
                return True
            except (BotoCoreError, ClientError, OSError):
                return False

        wait_until(answers, timeout=20, desc=f"the S3 listener did not come back (seed {SEED})")

    def kill_during(self, operation, max_delay: float) -> dict:
        """Runs `operation` in a thread, kills the server after a random delay, restarts it.
        Returns {"acked": bool, "result": ..., "error": ...}."""
        outcome: dict = {"acked": False}

        def run():
            try:
                outcome["result"] = operation(self.client)
                outcome["acked"] = True
            except Exception as e:  # the kill ends it with a connection error
                outcome["error"] = e

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        time.sleep(self.rng.uniform(0, max_delay))
        self.srv.kill9()
        thread.join(30)
        assert not thread.is_alive(), f"the client did not notice the kill (seed {SEED})"
        self.srv.restart()
        self.ready()
        return outcome

    def body(self, key: str):
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as e:
            assert e.response["Error"]["Code"] == "NoSuchKey", e.response
            return None


def test_kill_during_put_shows_nothing_or_the_whole_object(crashy):
    c = Crasher(crashy, "put")
    c.bucket = new_bucket_name("crash-put")
    c.client.create_bucket(Bucket=c.bucket)
    for cycle in range(CYCLES):
        data = os.urandom(c.rng.choice([1, 3, 8]) * 1024 * 1024)
        key = f"object-{cycle}"
        outcome = c.kill_during(lambda s3: s3.put_object(Bucket=c.bucket, Key=key, Body=data), 0.4)
        found = c.body(key)
        where = f"cycle {cycle}, seed {SEED}, acked {outcome['acked']}"
        if outcome["acked"]:
            assert found == data, f"an acknowledged PUT was lost or changed ({where})"
        else:
            assert found is None or found == data, f"a partial object is visible ({where})"


@local_blobs_only
def test_kill_in_the_middle_of_a_put_body(crashy):
    """The deterministic case: half the body sent, then the kill."""
    c = Crasher(crashy, "half")
    c.bucket = new_bucket_name("crash-half")
    c.client.create_bucket(Bucket=c.bucket)
    presigner = s3_client(crashy, c.akid, c.secret, signature_version="s3v4")
    url = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": c.bucket, "Key": "half"}, ExpiresIn=300)
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    size = 4 * 1024 * 1024
    conn.putrequest("PUT", parts.path + "?" + parts.query, skip_accept_encoding=True)
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    conn.send(os.urandom(size // 2))
    # The server has the first half (a blob write in progress) when it dies.
    wait_until(lambda: any((Path(crashy.data_dir) / "blobs" / "tmp").iterdir()), timeout=10,
               desc="the upload never reached the blob store")
    crashy.kill9()
    conn.close()
    crashy.restart()
    c.ready()
    assert c.body("half") is None
    # The unfinished write is gone at start-up.
    assert not any((Path(crashy.data_dir) / "blobs" / "tmp").iterdir())


def test_kill_during_multipart_completion(crashy):
    c = Crasher(crashy, "multipart")
    c.bucket = new_bucket_name("crash-mpu")
    c.client.create_bucket(Bucket=c.bucket)
    for cycle in range(CYCLES):
        key = f"mpu-{cycle}"
        first, last = os.urandom(5 * 1024 * 1024), os.urandom(1024 + cycle)
        upload = c.client.create_multipart_upload(Bucket=c.bucket, Key=key)["UploadId"]
        etags = [c.client.upload_part(Bucket=c.bucket, Key=key, UploadId=upload, PartNumber=n,
                                      Body=body)["ETag"] for n, body in ((1, first), (2, last))]
        listed = {"Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]}
        outcome = c.kill_during(
            lambda s3: s3.complete_multipart_upload(
                Bucket=c.bucket, Key=key, UploadId=upload, MultipartUpload=listed), 0.05)
        found = c.body(key)
        where = f"cycle {cycle}, seed {SEED}, acked {outcome['acked']}"
        if outcome["acked"]:
            assert found == first + last, f"an acknowledged completion was lost ({where})"
        elif found is None:
            # Not completed: the upload and its parts are intact and complete now.
            c.client.complete_multipart_upload(Bucket=c.bucket, Key=key, UploadId=upload,
                                               MultipartUpload=listed)
            assert c.body(key) == first + last, where
        else:
            assert found == first + last, f"a partial multipart object is visible ({where})"


def test_kill_during_copy(crashy):
    c = Crasher(crashy, "copy")
    c.bucket = new_bucket_name("crash-copy")
    c.client.create_bucket(Bucket=c.bucket)
    source = os.urandom(2 * 1024 * 1024)
    c.client.put_object(Bucket=c.bucket, Key="source", Body=source)
    for cycle in range(CYCLES):
        key = f"copy-{cycle}"
        outcome = c.kill_during(
            lambda s3: s3.copy_object(Bucket=c.bucket, Key=key,
                                      CopySource={"Bucket": c.bucket, "Key": "source"}), 0.05)
        found = c.body(key)
        where = f"cycle {cycle}, seed {SEED}, acked {outcome['acked']}"
        if outcome["acked"]:
            assert found == source, f"an acknowledged copy was lost ({where})"
        else:
            assert found is None or found == source, where
        assert c.body("source") == source, where


def test_kill_during_fork(crashy):
    c = Crasher(crashy, "fork")
    c.bucket = new_bucket_name("crash-src")

    # Snapshots on: a fork needs them.
    def enable(params, **_):
        params["headers"]["X-Tigris-Enable-Snapshot"] = "true"

    c.client.meta.events.register("before-call.s3.CreateBucket", enable)
    c.client.create_bucket(Bucket=c.bucket)
    contents = {f"k{i}": os.urandom(1000 + i) for i in range(20)}
    for key, data in contents.items():
        c.client.put_object(Bucket=c.bucket, Key=key, Body=data)
    for cycle in range(CYCLES):
        fork = f"{c.bucket}-f{cycle}"

        def make_fork(s3):
            def header(params, **_):
                params["headers"]["X-Tigris-Fork-Source-Bucket"] = c.bucket

            s3.meta.events.register("before-call.s3.CreateBucket", header)
            return s3.create_bucket(Bucket=fork)

        outcome = c.kill_during(make_fork, 0.05)
        where = f"cycle {cycle}, seed {SEED}, acked {outcome['acked']}"
        try:
            c.client.head_bucket(Bucket=fork)
            exists = True
        except ClientError:
            exists = False
        assert exists or not outcome["acked"], f"an acknowledged fork was lost ({where})"
        if exists:
            listed = c.client.list_objects_v2(Bucket=fork).get("Contents", [])
            assert sorted(o["Key"] for o in listed) == sorted(contents), where
            for key in ("k0", "k19"):
                assert c.client.get_object(Bucket=fork, Key=key)["Body"].read() == contents[key], where


@local_blobs_only
def test_after_the_crashes_the_sweeper_leaves_no_bytes_behind(crashy):
    c = Crasher(crashy, "cleanup")
    c.ready()

    def force(params, **_):
        params["headers"]["X-Tigris-Force-Delete"] = "true"

    c.client.meta.events.register("before-call.s3.DeleteBucket", force)
    # Forks first: a deleted parent stays until its forks are gone, then goes with the last.
    names = sorted((b["Name"] for b in c.client.list_buckets()["Buckets"]), key=len, reverse=True)
    for name in names:
        for upload in c.client.list_multipart_uploads(Bucket=name).get("Uploads", []):
            c.client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
        c.client.delete_bucket(Bucket=name)
    assert c.client.list_buckets()["Buckets"] == []
    blobs = Path(crashy.data_dir) / "blobs"

    def empty():
        return not any(p.is_file() for p in (blobs / "sha256").rglob("*")) and not any((blobs / "tmp").iterdir())

    wait_until(empty, timeout=20, desc=f"blobs were left behind (seed {SEED}): "
               f"{[p.name for p in (blobs / 'sha256').rglob('*') if p.is_file()][:5]}")
