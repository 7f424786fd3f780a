"""Examples/AgentWorkspaces: three agents in forks of one workspace, embedded and over S3."""

from __future__ import annotations

import os
import subprocess

import pytest

from cairncompat import cairn_bin
from s3compat import cairn_only

pytestmark = cairn_only


def example():
    path = cairn_bin().parent / "example-workspaces"
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with `swift build`")
    return path


def check(done):
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert out.count(" wrote draft.md in ") == 3
    assert "kept agent-" in out
    assert "OBJECT_CREATED_PUT result.md" in out
    assert out.rstrip().endswith("holds result.md, task.md")


def test_embedded(tmp_path):
    check(subprocess.run([str(example())], capture_output=True, timeout=120, cwd=tmp_path))


def test_over_s3_with_a_scoped_key_per_agent(server, creds, s3, tmp_path):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=creds[0], AWS_SECRET_ACCESS_KEY=creds[1])
    before = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    check(subprocess.run([str(example()), "--s3-url", server.s3_url], capture_output=True, timeout=120,
                         cwd=tmp_path, env=env))
    # Everything it made was torn down again.
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == before
