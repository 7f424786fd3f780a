"""`cairn backup` copies a running server's data consistently; `cairn restore` verifies it
completely before it makes a new data directory, and refuses damaged backups."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading

import pytest

from cairncompat import CairnServer, cairn_bin, start_server



def cli(*args):
    return subprocess.run([str(cairn_bin()), *args], capture_output=True, text=True, timeout=120)




def upload(server, name, data):
    r = server.succeeds("POST", f"/artifacts?name={name}", raw=data, headers={"content-type": "application/octet-stream"})
    assert r.status == 201
    return r.json["artifact"]


def test_backup_while_writing_then_restore(tmp_path_factory, tmp_path):
    server = start_server(tmp_path_factory, "backup_src")
    try:
        blobs = {}
        for i in range(5):
            data = os.urandom(200_000 + i)
            blobs[upload(server, f"blob-{i}", data)["id"]] = data
        for i in range(20):
            server.succeeds("POST", "/runs/backup-wf", {"input": {"i": i}})
        # Writes keep going while the backup runs: the copy is still one consistent snapshot.
        stop = threading.Event()

        def writer():
            n = 0
            while not stop.is_set():
                server.succeeds("POST", "/checkpoints", {"workflow_id": "bk", "step": n, "state": {"n": n}})
                n += 1

        t = threading.Thread(target=writer)
        t.start()
        try:
            dest = tmp_path / "backup"
            done = cli("backup", "--data-dir", str(server.data_dir), str(dest))
        finally:
            stop.set()
            t.join()
        assert done.returncode == 0, done.stderr
        assert "5 blobs" in done.stdout
        assert (dest / "cairn-backup.json").exists()

        verified = cli("restore", str(dest), "--verify-only")
        assert verified.returncode == 0, verified.stderr

        restored_dir = tmp_path / "restored"
        done = cli("restore", str(dest), "--data-dir", str(restored_dir))
        assert done.returncode == 0, done.stderr
    finally:
        server.stop()

    restored = CairnServer(tmp_path / "restored-server")
    restored.data_dir = restored_dir
    restored.start()
    try:
        for artifact_id, data in blobs.items():
            body = restored.succeeds("GET", f"/artifacts/{artifact_id}").body
            assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
        runs = restored.succeeds("GET", "/runs").json["runs"]
        assert len([r for r in runs if r["workflowName"] == "backup-wf"]) == 20
        replay = restored.succeeds("GET", "/workflows/bk/replay?limit=1000").json
        steps = [c["step"] for c in replay["checkpoints"]]
        assert steps == list(range(len(steps)))  # a prefix of the saves, no gap
    finally:
        restored.stop()


def test_restore_refuses_a_damaged_backup_and_a_used_directory(tmp_path_factory, tmp_path):
    server = start_server(tmp_path_factory, "backup_damaged")
    try:
        artifact = upload(server, "x", b"payload" * 1000)
        dest = tmp_path / "b"
        assert cli("backup", "--data-dir", str(server.data_dir), str(dest)).returncode == 0
        again = cli("backup", "--data-dir", str(server.data_dir), str(dest))
        assert again.returncode != 0 and "not empty" in again.stderr
    finally:
        server.stop()

    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("x")
    refused = cli("restore", str(dest), "--data-dir", str(used))
    assert refused.returncode != 0 and "not empty" in refused.stderr

    blob = dest / "blobs" / "sha256" / artifact["sha256"][:2] / artifact["sha256"]
    blob.write_bytes(b"tampered")
    target = tmp_path / "never"
    damaged = cli("restore", str(dest), "--data-dir", str(target))
    assert damaged.returncode != 0 and "damaged" in damaged.stderr
    assert not target.exists()

    missing = cli("restore", str(tmp_path / "nothing-here"), "--data-dir", str(target))
    assert missing.returncode != 0 and "not a Cairn backup" in missing.stderr
