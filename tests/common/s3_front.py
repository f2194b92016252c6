"""A test front for moto_server, for rewind's S3 store tests.

Starts `moto_server` on a free loopback port and serves, on another one, a
proxy to it that closes two gaps of moto's so the tests exercise rewind and
not moto's races:

* moto's If-None-Match / If-Match checks are not atomic under concurrent
  requests: the front serialises every write (PUT, POST, DELETE);
* moto accepts a put naming a KMS key that does not exist: the front asks
  moto's KMS and answers an unknown key as AWS does, 400 KMS.NotFoundException.

Listings come in pages of 3 keys, so rewind's paging through continuation
tokens is exercised by every history longer than that.

It also creates the buckets named on the command line and one KMS key, and
prints one JSON line: {"endpoint", "kms_key_id", "kms_key_arn"}.

Test controls (not S3), for requests whose path or query contains `match`:
POST /__front/fail?status=503&count=N&match=M makes the next N fail with that
status; POST /__front/stall?seconds=S&match=M makes them hang S seconds until
reset with seconds=0; GET /__front/access-keys lists the access key ids
requests were signed with; GET
/__front/objects?bucket=B lists B's objects with their SSE headers (from moto).
"""

import ctypes
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import boto3

WRITES = threading.Lock()
CONTROL = {"fail": [], "stall": 0.0, "match": ""}
CONTROL_LOCK = threading.Lock()
ACCESS_KEYS = set()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    # PR_SET_PDEATHSIG: moto_server goes when this front goes, even on SIGKILL.
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)


def start_moto():
    port = free_port()
    proc = subprocess.Popen(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    sys.exit("moto_server did not start within 30 s")


def exit_with_parent(moto):
    # The test process may be killed without a chance to stop us: go when it goes.
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    moto.kill()
    os._exit(0)


def client(kind, moto_port):
    return boto3.client(
        kind,
        endpoint_url=f"http://127.0.0.1:{moto_port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


class Front(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    moto_port = 0
    kms = None
    s3 = None

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/xml", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def aws_error(self, status, code, message):
        body = (
            f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
            f"<Message>{message}</Message><RequestId>front</RequestId></Error>"
        ).encode()
        self.reply(status, body)

    def control(self, path, query):
        with CONTROL_LOCK:
            if path == "/__front/fail":
                CONTROL["fail"] = [int(query.get("status", ["503"])[0])] * int(query.get("count", ["1"])[0])
                CONTROL["match"] = query.get("match", [""])[0]
            elif path == "/__front/stall":
                CONTROL["stall"] = float(query.get("seconds", ["0"])[0])
                CONTROL["match"] = query.get("match", [""])[0]
        if path == "/__front/access-keys":
            with CONTROL_LOCK:
                return self.reply(200, json.dumps(sorted(ACCESS_KEYS)).encode(), "application/json")
        if path == "/__front/objects":
            bucket = query["bucket"][0]
            out = []
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    head = self.s3.head_object(Bucket=bucket, Key=obj["Key"])
                    out.append({
                        "key": obj["Key"],
                        "sse": head.get("ServerSideEncryption"),
                        "kms_key_id": head.get("SSEKMSKeyId"),
                    })
            return self.reply(200, json.dumps(out).encode(), "application/json")
        self.reply(200, b"{}", "application/json")

    def kms_key_exists(self, key_id):
        try:
            self.kms.describe_key(KeyId=key_id)
            return True
        except self.kms.exceptions.NotFoundException:
            return False

    def forward(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/__front/"):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            return self.control(url.path, urllib.parse.parse_qs(url.query))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization") or ""
        with CONTROL_LOCK:
            if "Credential=" in auth:
                ACCESS_KEYS.add(auth.split("Credential=", 1)[1].split("/", 1)[0])
            # Only requests naming the test's prefix (in the path or the listing's query) are affected.
            mine = CONTROL["match"] in urllib.parse.unquote(self.path)
            fail = CONTROL["fail"].pop(0) if mine and CONTROL["fail"] else None
            stall = CONTROL["stall"] if mine else 0
        if stall:
            time.sleep(stall)
        if fail:
            return self.aws_error(fail, "SlowDown" if fail == 503 else "InternalError", "injected by the test front")
        kms_key = self.headers.get("x-amz-server-side-encryption-aws-kms-key-id")
        if self.command == "PUT" and kms_key and not self.kms_key_exists(kms_key):
            return self.aws_error(400, "KMS.NotFoundException", f"Invalid keyId {kms_key}")
        path = self.path
        if self.command == "GET" and "list-type=2" in url.query:
            # Pages of 3 keys (S3 may return fewer than asked): every listing of more pages through.
            query = [(k, v) for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True) if k != "max-keys"]
            path = url.path + "?" + urllib.parse.urlencode(query + [("max-keys", "3")])
        write = self.command in ("PUT", "POST", "DELETE")
        if write:
            WRITES.acquire()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.moto_port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "transfer-encoding")}
            conn.request(self.command, path, body=body if body else None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
        finally:
            if write:
                WRITES.release()
        skip = ("connection", "transfer-encoding", "content-length", "server", "date")
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in skip:
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_one_request(self):
        # A client that gave up (the timeout tests) is not an error of the front.
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


def main():
    buckets = sys.argv[1:]
    moto, moto_port = start_moto()
    s3 = client("s3", moto_port)
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    kms = client("kms", moto_port)
    key = kms.create_key(Description="rewind test key")["KeyMetadata"]
    Front.moto_port, Front.kms, Front.s3 = moto_port, kms, s3
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Front)
    server.daemon_threads = True
    port = server.server_address[1]
    print(json.dumps({
        "endpoint": f"http://127.0.0.1:{port}",
        "kms_key_id": key["KeyId"],
        "kms_key_arn": key["Arn"],
    }), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (moto.kill(), sys.exit(0)))
    threading.Thread(target=exit_with_parent, args=(moto,), daemon=True).start()
    try:
        server.serve_forever()
    finally:
        moto.kill()


if __name__ == "__main__":
    main()
