"""`cairn workspaces`: the CLI over the S3 listener, checked with boto3.

Create (TTL, scoped keys), ls, snapshot, fork, restore, rm (revoking keys), and cp of files
and directories both ways, including a resumed multipart upload and keys that must not be
written outside the destination directory.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from cairncompat import cairn_bin
from s3compat import MIB, cairn_only, get, new_bucket_name, put, s3_client

pytestmark = cairn_only


def cli(server, creds, *args, cwd=None, env_creds=False):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base = [str(cairn_bin()), "workspaces", *args, "--s3-url", server.s3_url]
    if env_creds:
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = creds
    elif creds is not None:
        base += ["--access-key-id", creds[0], "--secret-access-key", creds[1]]
    return subprocess.run(base, capture_output=True, timeout=120, cwd=cwd, env=env)


def ok(done) -> str:
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_create_with_ttl_and_an_editor_key_then_rm_revokes_it(server, creds, s3):
    name = new_bucket_name("cli")
    other = new_bucket_name("cli-other")
    s3.create_bucket(Bucket=other)
    made = json.loads(ok(cli(server, creds, "create", name, "--ttl-days", "2", "--credentials", "editor", "--json")))
    assert made["name"] == name
    rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert [r["Expiration"]["Days"] for r in rules] == [2]
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPHeaders"].get("x-tigris-enable-snapshot") == "true"

    key = made["credentials"]
    assert key["role"] == "Editor"
    editor = s3_client(server, key["accessKeyId"], key["secretAccessKey"])
    put(editor, name, "mine.txt", b"mine")
    with pytest.raises(ClientError) as refused:
        put(editor, other, "theirs.txt", b"no")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"

    assert name in ok(cli(server, creds, "ls")).split()
    ok(cli(server, creds, "rm", name))
    with pytest.raises(ClientError) as gone:
        editor.list_objects_v2(Bucket=other)
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert name not in ok(cli(server, creds, "ls")).split()


def test_cp_files_and_directories_both_ways_with_snapshots_forks_and_restore(server, creds, s3, tmp_path):
    name = new_bucket_name("cli-cp")
    ok(cli(server, creds, "create", name, env_creds=True))
    src = tmp_path / "src"
    (src / "nested" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"alpha")
    (src / "nested" / "b.txt").write_bytes(b"beta")
    big = os.urandom(3 * MIB) * 7  # 21 MiB: a multipart upload
    (src / "nested" / "deeper" / "big.bin").write_bytes(big)

    ok(cli(server, creds, "cp", str(src), f"ws://{name}/work/"))
    ok(cli(server, creds, "cp", str(src / "a.txt"), f"ws://{name}/"))
    assert get(s3, name, "work/nested/deeper/big.bin") == big
    assert get(s3, name, "a.txt") == b"alpha"
    listed = ok(cli(server, creds, "ls", f"{name}/work/nested")).splitlines()
    assert [line.split("\t")[0] for line in listed[1:]] == ["work/nested/b.txt", "work/nested/deeper/big.bin"]

    version = ok(cli(server, creds, "snapshot", name, "--name", "v1")).strip()
    put(s3, name, "work/a.txt", b"changed")
    s3.delete_object(Bucket=name, Key="work/nested/b.txt")
    at = [json.loads(line)["key"] for line in ok(cli(server, creds, "ls", f"{name}/work", "--at", version, "--json")).splitlines()]
    assert at == ["work/a.txt", "work/nested/b.txt", "work/nested/deeper/big.bin"]
    assert "v1" in ok(cli(server, creds, "snapshots", name))

    # Out again: one object, an object as of the snapshot, a whole prefix.
    out = tmp_path / "out"
    out.mkdir()
    ok(cli(server, creds, "cp", f"ws://{name}/work/a.txt", str(out)))
    assert (out / "a.txt").read_bytes() == b"changed"
    ok(cli(server, creds, "cp", f"ws://{name}/work/a.txt", str(out / "old.txt"), "--at", version))
    assert (out / "old.txt").read_bytes() == b"alpha"
    ok(cli(server, creds, "cp", f"ws://{name}/work", str(out / "tree"), "--recursive", "--at", version))
    assert (out / "tree" / "nested" / "b.txt").read_bytes() == b"beta"
    assert (out / "tree" / "nested" / "deeper" / "big.bin").read_bytes() == big

    fork = new_bucket_name("cli-fork")
    ok(cli(server, creds, "fork", name, fork))
    assert get(s3, fork, "work/a.txt") == b"changed"
    restored = new_bucket_name("cli-restored")
    ok(cli(server, creds, "restore", name, "v1", restored))
    assert get(s3, restored, "work/a.txt") == b"alpha"
    assert get(s3, name, "work/a.txt") == b"changed"
    ok(cli(server, creds, "rm", fork, restored, name))


def test_an_interrupted_upload_is_resumed(server, creds, s3, tmp_path):
    name = new_bucket_name("cli-resume")
    s3.create_bucket(Bucket=name)
    data = os.urandom(MIB) * 20
    started = s3.create_multipart_upload(Bucket=name, Key="big.bin")["UploadId"]
    s3.upload_part(Bucket=name, Key="big.bin", UploadId=started, PartNumber=1, Body=data[: 8 * MIB])
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    ok(cli(server, creds, "cp", str(path), f"ws://{name}/big.bin"))
    assert get(s3, name, "big.bin") == data
    # The interrupted upload is the one that completed.
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []


def test_keys_that_would_leave_the_destination_are_refused(server, creds, s3, tmp_path):
    name = new_bucket_name("cli-escape")
    s3.create_bucket(Bucket=name)
    put(s3, name, "p/fine.txt", b"fine")
    put(s3, name, "p/../escape.txt", b"escape")
    out = tmp_path / "out"
    out.mkdir()
    done = cli(server, creds, "cp", f"ws://{name}/p/", str(out / "dest"))
    assert done.returncode != 0
    assert b"cannot be written below" in done.stderr
    assert not (tmp_path / "escape.txt").exists() and not (out / "escape.txt").exists()
    assert not (out / "dest").exists()


def test_usage_errors_are_sentences(server, creds):
    done = cli(server, None, "ls")
    assert done.returncode != 0 and b"no S3 key" in done.stderr
    done = cli(server, creds, "cp", "ws://a/b", "ws://c/d")
    assert done.returncode != 0 and b"between workspaces" in done.stderr
    done = cli(server, creds, "create", new_bucket_name("cli-ttl"), "--ttl-days", "0")
    assert done.returncode != 0 and b"--ttl-days" in done.stderr
    done = cli(server, creds, "snapshot", "no-such-bucket-here")
    assert done.returncode != 0 and b"NoSuchBucket" in done.stderr
    assert b"Fatal" not in done.stderr
