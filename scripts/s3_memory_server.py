#!/usr/bin/env python3
"""The least an S3 server can do for boto3's `upload_file` and `download_file`: a reference
point for what the client and the machine allow, not a server.

It keeps objects in memory, checks no signature, hashes nothing and writes nothing to disk; it
answers just what `bench_workspaces_bulk.py` sends (CreateBucket, multipart upload, PutObject,
HeadObject, ranged GetObject, DeleteObject, DeleteBucket). Reading a request body costs one
`readinto` per MiB, so nearly all the CPU a transfer takes through it is boto3's own, and the
rate it reaches is a ceiling for any server on the same machine.

    s3_memory_server.py --port PORT      # prints "listening PORT" once it accepts connections
"""

import argparse
import socketserver
import sys
import uuid
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

MIB = 1 << 20


class Store:
    def __init__(self):
        self.objects = {}  # (bucket, key) -> list of bytearrays
        self.uploads = {}  # upload id -> {part number: bytearray}


STORE = Store()


class Handler(socketserver.StreamRequestHandler):
    rbufsize = MIB

    def handle(self):
        while True:
            line = self.rfile.readline(65537)
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers = {}
            while True:
                line = self.rfile.readline(65537)
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if headers.get("expect", "").lower() == "100-continue":
                self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.wfile.flush()
            body = self.read_body(headers)
            url = urlsplit(target)
            query = parse_qs(url.query, keep_blank_values=True)
            path = unquote(url.path).lstrip("/")
            bucket, _, key = path.partition("/")
            self.answer(method, bucket, key, query, headers, body)
            if headers.get("connection", "").lower() == "close":
                return

    def read_body(self, headers):
        length = int(headers.get("content-length", "0") or 0)
        encoding = headers.get("content-encoding", "") + headers.get("transfer-encoding", "")
        if "chunked" in encoding.lower():
            return self.read_chunked()
        body = bytearray(length)
        view = memoryview(body)
        got = 0
        while got < length:
            n = self.rfile.readinto(view[got:])
            if not n:
                raise ConnectionError("body cut short")
            got += n
        return body

    def read_chunked(self):
        """aws-chunked or HTTP chunked: `<hex>[;ext]` lines, data, and trailers after size 0."""
        body = bytearray()
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return body
            start = len(body)
            body.extend(bytes(size))
            view = memoryview(body)[start:]
            got = 0
            while got < size:
                got += self.rfile.readinto(view[got:])
            self.rfile.readline(3)

    def send(self, status, headers=(), body=b"", length=None):
        head = [f"HTTP/1.1 {status}", f"Date: {formatdate(usegmt=True)}", "Server: s3-memory"]
        head += [f"{k}: {v}" for k, v in headers]
        head.append(f"Content-Length: {len(body) if length is None else length}")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if body:
            self.wfile.write(body)
        self.wfile.flush()

    def xml(self, body):
        self.send("200 OK", [("Content-Type", "application/xml")], body.encode())

    def answer(self, method, bucket, key, query, headers, body):
        if method == "PUT" and not key:
            return self.send("200 OK", [("Location", "/" + bucket)])
        if method == "DELETE":
            STORE.objects.pop((bucket, key), None)
            return self.send("204 No Content")
        if method == "POST" and "uploads" in query:
            upload = uuid.uuid4().hex
            STORE.uploads[upload] = {}
            return self.xml(
                f"<InitiateMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{key}</Key>"
                f"<UploadId>{upload}</UploadId></InitiateMultipartUploadResult>")
        if method == "PUT" and "uploadId" in query:
            part = int(query["partNumber"][0])
            STORE.uploads[query["uploadId"][0]][part] = body
            return self.send("200 OK", [("ETag", f'"{part:032x}"')])
        if method == "POST" and "uploadId" in query:
            parts = STORE.uploads.pop(query["uploadId"][0])
            STORE.objects[(bucket, key)] = [parts[n] for n in sorted(parts)]
            return self.xml(
                f"<CompleteMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{key}</Key>"
                f'<ETag>"{len(parts):032x}-{len(parts)}"</ETag></CompleteMultipartUploadResult>')
        if method == "PUT":
            STORE.objects[(bucket, key)] = [body]
            return self.send("200 OK", [("ETag", '"0"')])
        if method in ("GET", "HEAD"):
            chunks = STORE.objects.get((bucket, key))
            if chunks is None:
                return self.send("404 Not Found")
            size = sum(len(c) for c in chunks)
            first, last, status = 0, size - 1, "200 OK"
            if "range" in headers:
                spec = headers["range"].split("=", 1)[1]
                a, _, b = spec.partition("-")
                first, last = int(a), min(int(b) if b else size - 1, size - 1)
                status = "206 Partial Content"
            common = [("ETag", '"1"'), ("Last-Modified", formatdate(usegmt=True)), ("Accept-Ranges", "bytes"),
                      ("Content-Type", "application/octet-stream")]
            if status.startswith("206"):
                common.append(("Content-Range", f"bytes {first}-{last}/{size}"))
            self.send(status, common, length=last - first + 1)
            if method == "GET":
                offset = 0
                for chunk in chunks:
                    lo, hi = max(first - offset, 0), min(last + 1 - offset, len(chunk))
                    if lo < hi:
                        self.wfile.write(memoryview(chunk)[lo:hi])
                    offset += len(chunk)
                self.wfile.flush()
            return None
        return self.send("501 Not Implemented")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with Server(("127.0.0.1", args.port), Handler) as server:
        print("listening", server.server_address[1], flush=True)
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
