"""A full disk: uploads are refused with 507 Insufficient Storage (nothing half-stored), the
episode is logged once, deleting an artifact still works and frees space for new uploads, and
everything acknowledged survives a restart. Runs on a small file system of its own: an ext4
image on a loop device, else a size-limited tmpfs (both need root)."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cairncompat import CairnServer, cairn_bin

FS_MIB = 64
BIG = 12 * 1024 * 1024  # deleted later: frees more than the reserve and as much again
FILL = 2 * 1024 * 1024


def _run(*args: str) -> bool:
    return subprocess.run(args, capture_output=True).returncode == 0


@pytest.fixture
def small_fs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small file system")
    mount_point = tmp_path / "mnt"
    mount_point.mkdir()
    image = tmp_path / "fs.img"
    with open(image, "wb") as f:
        f.truncate(FS_MIB * 1024 * 1024)
    mounted = (
        shutil.which("mkfs.ext4") is not None
        and _run("mkfs.ext4", "-q", "-F", "-m", "0", str(image))
        and _run("mount", "-o", "loop", str(image), str(mount_point))
    )
    if not mounted:
        mounted = _run("mount", "-t", "tmpfs", "-o", f"size={FS_MIB}m", "tmpfs", str(mount_point))
    if not mounted:
        pytest.skip("cannot mount a small file system here (neither a loop device nor tmpfs)")
    try:
        yield mount_point
    finally:
        if not _run("umount", str(mount_point)):
            _run("umount", "-l", str(mount_point))


def _upload(srv: CairnServer, name: str, body: bytes) -> tuple:
    """POST /artifacts; (status, json) or (None, error) when the server ended the connection
    before its answer could be read (it stops reading a body it cannot store)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.request("POST", f"/artifacts?name={name}", body=body,
                     headers={"content-type": "application/octet-stream"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    except (ConnectionError, http.client.HTTPException) as exc:
        return None, repr(exc)
    finally:
        conn.close()


def _pattern(seed: int, size: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB, distinct per seed
    return (block * (size // len(block) + 1))[:size]


def test_full_disk_is_507_deletes_still_work_and_nothing_acknowledged_is_lost(small_fs, tmp_path):
    import json

    if not cairn_bin().exists():
        pytest.fail(f"cairn binary not found at {cairn_bin()}", pytrace=False)
    srv = CairnServer(tmp_path / "server", name="disk-full", allow_loopback_outbound=False)
    srv.data_dir = small_fs / "data"  # the store on the small file system, the log elsewhere
    srv.data_dir.mkdir()
    srv.start()
    try:
        stored = {}  # artifact id -> sha256 of everything acknowledged

        def keep(status, body):
            assert status == 201, (status, body)
            artifact = json.loads(body)["artifact"]
            stored[artifact["id"]] = artifact["sha256"]
            return artifact["id"]

        big_id = keep(*_upload(srv, "big.bin", _pattern(0, BIG)))
        run_id = srv.ok("POST", "/runs/before-full", {"input": {"n": 1}})["run"]["id"]

        refused = None
        for seed in range(1, 200):
            status, body = _upload(srv, f"fill-{seed}.bin", _pattern(seed, FILL))
            if status == 201:
                keep(status, body)
                continue
            refused = (status, body)
            break
        assert refused is not None, "the file system never filled up"
        assert refused[0] in (507, None), refused

        # While the disk is full, uploads are refused before their body is read.
        for attempt in range(3):
            status, body = _upload(srv, f"more-{attempt}.bin", b"x")
            assert status == 507, (status, body)
            error = json.loads(body)
            assert error["code"] == "storage_full" and "disk is full" in error["error"], error
        log = srv.log_path.read_text("utf-8", "replace")
        assert log.count("disk full:") == 1, "the episode is logged once, not per request"

        # Deleting works on the full disk, and frees room for new uploads.
        deleted = srv.http("DELETE", f"/artifacts/{big_id}")
        assert deleted.status == 200, deleted
        del stored[big_id]
        keep(*_upload(srv, "after-delete.bin", _pattern(999, 1024 * 1024)))
        assert "disk space available again" in srv.log_path.read_text("utf-8", "replace")

        # Nothing acknowledged was lost, and no upload left a temporary file behind.
        srv.stop()
        srv.restart()
        assert srv.ok("GET", f"/runs/{run_id}")["run"]["id"] == run_id
        for artifact_id, sha in stored.items():
            got = srv.http("GET", f"/artifacts/{artifact_id}")
            assert got.status == 200, (artifact_id, got.status)
            assert hashlib.sha256(got.body).hexdigest() == sha, artifact_id
        assert srv.http("GET", f"/artifacts/{big_id}").status == 404
        leftovers = list(Path(srv.data_dir, "blobs", "tmp").glob("*.part"))
        assert leftovers == [], leftovers
    finally:
        srv.stop()
