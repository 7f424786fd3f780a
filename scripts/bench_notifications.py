#!/usr/bin/env python3
"""Object notification latency: from a PutObject's response to the event's arrival at a webhook.

Sets a bucket's object notifications to a local receiver, then PUTs objects one at a time (each
waits for its event) and prints p50/p99 of (event arrival - PUT response). The PUT's response
comes after its commit, so this is commit-to-webhook latency plus one loopback hop. Prints
figures; not a test.

    bench_notifications.py --endpoint http://127.0.0.1:PORT --access-key K --secret-key S [--count 500]
"""

import argparse
import json
import statistics
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config
from tigris_boto3_ext._transport import signed_request


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()

    arrivals = {}
    arrived = threading.Condition()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            now = time.monotonic()
            with arrived:
                for event in json.loads(body)["events"]:
                    arrivals[event["object"]["key"]] = now
                arrived.notify_all()
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"

    s3 = boto3.client("s3", endpoint_url=args.endpoint, region_name="us-east-1",
                      aws_access_key_id=args.access_key, aws_secret_access_key=args.secret_key,
                      config=Config(s3={"addressing_style": "path"}))
    bucket = "notify-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    signed_request(s3, "PATCH", bucket, headers={"Content-Type": "application/json"},
                   body=json.dumps({"object_notifications": {"enabled": True, "web_hook": url}}))
    latencies = []
    for i in range(args.count):
        key = f"k{i:06d}"
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        done = time.monotonic()
        with arrived:
            if not arrived.wait_for(lambda: key in arrivals, timeout=10):
                raise SystemExit(f"no event for {key} within 10 s")
        latencies.append((arrivals[key] - done) * 1000)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    # An event can arrive before boto3 has parsed the PUT's response: a negative latency is real.
    print(f"notification latency, PUT response -> webhook, {args.count} events one at a time: "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {latencies[-1]:.2f} ms")
    for i in range(args.count):
        s3.delete_object(Bucket=bucket, Key=f"k{i:06d}")
    httpd.shutdown()


if __name__ == "__main__":
    main()
