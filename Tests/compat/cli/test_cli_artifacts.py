"""`cairn artifacts get` writes where it is told: short names, nested names, standard output."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from cairncompat import cairn_bin, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "cli_artifacts")
    yield srv
    srv.stop()


def cli(server, *args, cwd=None):
    return subprocess.run(
        [str(cairn_bin()), "artifacts", *args, "--url", server.url],
        capture_output=True, timeout=60, cwd=cwd,
    )


def put(server, tmp_path, name: str, data: bytes) -> str:
    src = tmp_path / "upload.bin"
    src.write_bytes(data)
    done = cli(server, "put", str(src), "--name", name)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


def test_get_to_a_one_character_name(server, tmp_path):
    data = b"one character names used to crash the CLI"
    artifact = put(server, tmp_path, "report.txt", data)
    out = tmp_path / "out"
    out.mkdir()
    done = cli(server, "get", artifact, "-o", "x", cwd=out)
    assert done.returncode == 0, done.stderr.decode()
    assert (out / "x").read_bytes() == data
    assert sorted(p.name for p in out.iterdir()) == ["x"]


def test_get_defaults_to_the_last_part_of_a_nested_name(server, tmp_path):
    data = b"nested"
    artifact = put(server, tmp_path, "r/a", data)
    out = tmp_path / "out2"
    out.mkdir()
    done = cli(server, "get", artifact, cwd=out)
    assert done.returncode == 0, done.stderr.decode()
    assert (out / "a").read_bytes() == data


def test_get_to_standard_output(server, tmp_path):
    data = bytes(range(256)) * 4096  # 1 MiB, binary
    artifact = put(server, tmp_path, "blob.bin", data)
    done = cli(server, "get", artifact, "-o", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert hashlib.sha256(done.stdout).hexdigest() == hashlib.sha256(data).hexdigest()
    assert done.stdout == data
