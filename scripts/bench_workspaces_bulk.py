#!/usr/bin/env python3
"""A large object through an S3 server with boto3, beside a plain `cp` on the same disk.

Uploads a file (1 GiB by default) with `upload_file` (multipart, 8 MiB parts) and downloads it
with `download_file`, printing MB/s each next to `cp` of the same file (and `cp` back), each copy
followed by an fsync; samples the server's VmRSS every 100 ms and prints the peak during the
upload and during the download. Deletes its files, the object and the bucket at the end.
Prints figures; not a test.

    bench_workspaces_bulk.py --endpoint http://127.0.0.1:PORT --dir DIR --server-pid PID
        [--access-key K --secret-key S] [--size-mib 1024]
"""

import argparse
import filecmp
import os
import resource
import subprocess
import sys
import threading
import time
import uuid

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

MIB = 1 << 20


def rss(pid):
    """The process's VmRSS in bytes (0 if unknown)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RSSSampler:
    """Samples VmRSS every 100 ms while running and keeps the peak."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self.running = False
        self.thread = None

    def start(self):
        self.peak = rss(self.pid)
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while self.running:
            self.peak = max(self.peak, rss(self.pid))
            time.sleep(0.1)

    def stop(self):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, rss(self.pid))
        return self.peak


def cpu_seconds(pid):
    """The process's user + system CPU seconds so far (from /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_random(path, size):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 8 * MIB)
            f.write(os.urandom(n))
            left -= n
        f.flush()
        os.fsync(f.fileno())


def timed_cp(source, target):
    """Seconds for `cp source target` plus an fsync of the target."""
    t0 = time.monotonic()
    subprocess.run(["cp", source, target], check=True)
    fsync_file(target)
    return time.monotonic() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID"))
    parser.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY"))
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--dir", required=True, help="where the file and the copies go (the server's disk)")
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--label", default="server")
    args = parser.parse_args()
    if not args.access_key or not args.secret_key:
        sys.exit("pass --access-key and --secret-key (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")

    work = os.path.join(args.dir, "bulk-" + uuid.uuid4().hex[:8])
    os.makedirs(work)
    source = os.path.join(work, "source.bin")
    copy = os.path.join(work, "copy.bin")
    back = os.path.join(work, "back.bin")
    download = os.path.join(work, "download.bin")
    size = args.size_mib * MIB
    mb = size / 1e6
    s3 = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        region_name=args.region,
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    bucket = "bulk-" + uuid.uuid4().hex[:8]
    key = "large.bin"
    transfer = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    try:
        write_random(source, size)
        cp_time = timed_cp(source, copy)
        cp_back_time = timed_cp(copy, back)
        os.remove(copy)
        os.remove(back)

        s3.create_bucket(Bucket=bucket)
        sampler = RSSSampler(args.server_pid)
        rss_before = rss(args.server_pid)
        sampler.start()
        cpu0 = (cpu_seconds(args.server_pid), own_cpu_seconds())
        t0 = time.monotonic()
        s3.upload_file(source, bucket, key, Config=transfer)
        upload_time = time.monotonic() - t0
        upload_cpu = (cpu_seconds(args.server_pid) - cpu0[0], own_cpu_seconds() - cpu0[1])
        upload_peak = sampler.stop()

        sampler.start()
        cpu0 = (cpu_seconds(args.server_pid), own_cpu_seconds())
        t0 = time.monotonic()
        s3.download_file(bucket, key, download, Config=transfer)
        fsync_file(download)
        download_time = time.monotonic() - t0
        download_cpu = (cpu_seconds(args.server_pid) - cpu0[0], own_cpu_seconds() - cpu0[1])
        download_peak = sampler.stop()
        if not filecmp.cmp(source, download, shallow=False):
            sys.exit("the downloaded file differs from the uploaded one")

        cp_rate, cp_back_rate = mb / cp_time, mb / cp_back_time
        up_rate, down_rate = mb / upload_time, mb / download_time
        print(f"[{args.label}] cp {args.size_mib} MiB (+ fsync, same disk): {cp_rate:.0f} MB/s; cp back: {cp_back_rate:.0f} MB/s")
        print(
            f"[{args.label}] upload_file {args.size_mib} MiB (8 MiB parts, boto3 default 10 threads): "
            f"{up_rate:.0f} MB/s ({up_rate / cp_rate * 100:.0f}% of cp)"
        )
        print(
            f"[{args.label}] download_file {args.size_mib} MiB (+ fsync): "
            f"{down_rate:.0f} MB/s ({down_rate / cp_back_rate * 100:.0f}% of cp back)"
        )
        print(
            f"[{args.label}] CPU seconds, server / boto3: upload {upload_cpu[0]:.1f} / {upload_cpu[1]:.1f}, "
            f"download {download_cpu[0]:.1f} / {download_cpu[1]:.1f} (in {upload_time:.1f} s / {download_time:.1f} s)"
        )
        print(
            f"[{args.label}] server RSS: {rss_before / 1e6:.1f} MB before, peak {upload_peak / 1e6:.1f} MB during "
            f"the upload, peak {download_peak / 1e6:.1f} MB during the download (sampled every 100 ms)"
        )
    finally:
        try:
            s3.delete_object(Bucket=bucket, Key=key)
            s3.delete_bucket(Bucket=bucket)
        except Exception:
            pass
        for path in (source, copy, back, download):
            if os.path.exists(path):
                os.remove(path)
        os.rmdir(work)


if __name__ == "__main__":
    main()
