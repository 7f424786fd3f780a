"""The AWS CLI (`aws s3 ...`) against the S3 listener; skipped when `aws` is not on PATH."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import pytest

from s3compat import MIB, REGION, get

AWS = shutil.which("aws")
pytestmark = pytest.mark.skipif(AWS is None, reason="the aws CLI is not on PATH")


@pytest.fixture
def aws(server, creds, tmp_path):
    """aws(*args) -> CompletedProcess, with this tenant's keys and the S3 endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": creds[0],
        "AWS_SECRET_ACCESS_KEY": creds[1],
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
    })

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([AWS, "--endpoint-url", server.s3_url, *args], env=env,
                              capture_output=True, text=True, timeout=300)
        if check:
            assert done.returncode == 0, f"aws {' '.join(args)}: {done.stderr}"
        return done

    return run


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_aws_s3_cp_up_and_down(aws, s3, bucket, tmp_path):
    src = tmp_path / "up.bin"
    src.write_bytes(os.urandom(MIB + 123))
    aws("s3", "cp", str(src), f"s3://{bucket}/dir/up.bin")
    assert hashlib.sha256(get(s3, bucket, "dir/up.bin")).hexdigest() == _sha(src)
    dst = tmp_path / "down.bin"
    aws("s3", "cp", f"s3://{bucket}/dir/up.bin", str(dst))
    assert _sha(dst) == _sha(src)


def test_aws_s3_cp_multipart(aws, s3, bucket, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(12 * MIB))  # above the CLI's 8 MiB multipart threshold
    aws("s3", "cp", str(src), f"s3://{bucket}/big.bin")
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"].endswith('-2"')
    dst = tmp_path / "big.out"
    aws("s3", "cp", f"s3://{bucket}/big.bin", str(dst))
    assert _sha(dst) == _sha(src)


def test_aws_s3_sync_directory(aws, s3, bucket, tmp_path):
    up = tmp_path / "up"
    (up / "sub").mkdir(parents=True)
    files = {"a.txt": b"alpha", "b.txt": b"bravo", "sub/c with space.txt": b"charlie"}
    for name, data in files.items():
        (up / name).write_bytes(data)
    aws("s3", "sync", str(up), f"s3://{bucket}/synced")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted(f"synced/{n}" for n in files)

    down = tmp_path / "down"
    aws("s3", "sync", f"s3://{bucket}/synced", str(down))
    for name, data in files.items():
        assert (down / name).read_bytes() == data

    # A second sync has nothing to do.
    again = aws("s3", "sync", str(up), f"s3://{bucket}/synced")
    assert "upload:" not in again.stdout


def test_aws_s3_ls_and_rm(aws, s3, bucket):
    s3.put_object(Bucket=bucket, Key="dir/one.txt", Body=b"1")
    s3.put_object(Bucket=bucket, Key="two.txt", Body=b"22")
    listed = aws("s3", "ls", f"s3://{bucket}/").stdout
    assert "PRE dir/" in listed and "two.txt" in listed
    assert bucket in aws("s3", "ls").stdout
    aws("s3", "rm", "--recursive", f"s3://{bucket}/")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
