"""The HTTP API of spec/API.md against the real daemon on 127.0.0.1: every
endpoint with auth off and on, every field of the spec's examples, the
error envelope of each error path, tokens (expired, other key, alg none,
HS512), roles, rate limits, CORS, WebSocket events and log lines, restart
and reload semantics. Python stdlib only; tokens and WebSocket frames are
made by hand."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time

from tests.integration.support import BIN, DaemonTest, wait_for

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
# Execution ids are UUIDv7 (time-ordered, issue 13).
UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SECRET = "test-secret-0123456789abcdef0123"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
                    "referrer-policy": "no-referrer"}
HIGH_LIMIT = """  rate-limit:
    requests-per-minute: 1000000
    burst: 100000
"""

JOBS = """jobs:
  hello:
    type: local
    schedule: "@every 1h"
    command: sh -c 'echo one; echo two; echo three >&2'
    environment: [BACKUP_DIR=/data, API_TOKEN=abc123]
  failing:
    type: local
    schedule: "@every 1h"
    command: sh -c 'echo bad >&2; exit 3'
  sleeper:
    type: local
    schedule: "@every 1h"
    command: sleep 30
"""

_hashes = {}


def password_hash(password, bcrypt=False):
    """A hash made by `ofelia hash-password`, cached per password."""
    key = (password, bcrypt)
    if key not in _hashes:
        cmd = [BIN, "hash-password"] + (["--bcrypt"] if bcrypt else [])
        out = subprocess.run(cmd, input=password + "\n", capture_output=True, text=True,
                             check=True, timeout=60)
        _hashes[key] = out.stdout.strip()
    return _hashes[key]


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(claims, secret=SECRET, alg="HS256", header=None):
    """A JWT made here, to feed the server tokens it did not issue."""
    head = b64u(json.dumps(dict({"alg": alg, "typ": "JWT"}, **(header or {}))).encode())
    body = b64u(json.dumps(claims).encode())
    signing = head + "." + body
    if alg == "none":
        return signing + "."
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    return signing + "." + b64u(hmac.new(secret.encode(), signing.encode(), digest).digest())


def token_claims(token):
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def parse_time(text):
    """Seconds since the epoch of an RFC 3339 UTC time."""
    m = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(\.\d+)?Z$", text)
    parts = [int(x) for x in m.groups()[:6]]
    return time.mktime(time.struct_time(parts + [0, 0, 0])) - time.timezone + \
        float(m.group(7) or 0)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:400])


class WebSocket:
    """A minimal RFC 6455 client: masked frames out, unmasked frames in."""

    def __init__(self, port, path="/api/ws", rcvbuf=None, host="127.0.0.1", origin=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", port))
        self.sock.settimeout(15)
        key = b64u(os.urandom(16)) + "=="
        extra = "Origin: %s\r\n" % origin if origin else ""
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n%s\r\n" % (path, host, key, extra)
                           ).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, v in
                        (line.split(":", 1) for line in lines[1:] if ":" in line)}
        self.accept = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
        self.accept = base64.b64encode(self.accept.digest()).decode()
        if self.status != 101:
            length = int(self.headers.get("content-length", "0"))
            while len(self.buf) < length:
                self.buf += self.sock.recv(4096)

    def send(self, payload, opcode=1):
        data = payload.encode() if isinstance(payload, str) else payload
        mask = os.urandom(4)
        head = bytes([0x80 | opcode])
        if len(data) < 126:
            head += bytes([0x80 | len(data)])
        else:
            head += bytes([0x80 | 126]) + struct.pack(">H", len(data))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self):
        b0, b1 = self._read(2)
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack(">H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack(">Q", self._read(8))[0]
        return b0 & 0x0F, self._read(length)

    def message(self, want=None, timeout=15):
        """The next JSON text message (of type want, when given)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            opcode, data = self.frame()
            if opcode == 1:
                msg = json.loads(data)
                if want is None or msg["type"] == want:
                    return msg
        raise AssertionError("no %s message" % want)

    def close(self):
        self.sock.close()


class ApiCase(DaemonTest):
    """Starts daemons with the web server on a free port and talks to them.
    Without auth the API is read-only unless --web-insecure: the cases that
    change things without logging in pass it (INSECURE)."""

    INSECURE = True

    def start_web(self, config_text, args=(), env=None, config_path=None, preexec_fn=None):
        flags = ["--enable-web", "--web-address", "127.0.0.1:0"]
        if self.INSECURE:
            flags.append("--web-insecure")
        d = self.daemon(config_text, config_path=config_path, args=flags + list(args),
                        env=env, preexec_fn=preexec_fn)
        d.start(wait_started=False)
        m = d.wait_log(r"msg=listening address=127\.0\.0\.1:(\d+)", timeout=20)
        self.port = int(m.group(1))
        return d

    def req(self, method, path, body=None, token=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def ok(self, method, path, body=None, token=None, status=200):
        r = self.req(method, path, body, token)
        self.assertEqual(r.status, status, r)
        return r.json

    def assertError(self, r, status, code, **details):
        """The spec's envelope: {"error": {"code", "message", "details"}}."""
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.headers["content-type"].startswith("application/json"), r.headers)
        body = r.json
        self.assertEqual(list(body), ["error"])
        err = body["error"]
        self.assertEqual(set(err), {"code", "message", "details"})
        self.assertEqual(err["code"], code, r)
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"])
        self.assertRegex(err["details"]["timestamp"], RFC3339)
        for k, v in details.items():
            self.assertEqual(err["details"][k], v, r)
        self.assertSecurityHeaders(r)
        return err

    def assertSecurityHeaders(self, r):
        for k, v in SECURITY_HEADERS.items():
            self.assertEqual(r.headers.get(k), v, (k, r.headers))

    def assertTime(self, value):
        self.assertIsInstance(value, str)
        self.assertRegex(value, RFC3339)

    def run_job(self, name, token=None):
        r = self.ok("POST", "/api/job/%s/run" % name, token=token)
        return r["executionId"]

    def wait_execution(self, exec_id, token=None, timeout=30):
        def done():
            e = self.ok("GET", "/api/execution/" + exec_id, token=token)
            return e if e["status"] != "running" else None
        return wait_for(done, timeout, 0.05, "execution %s to end" % exec_id)

    def login(self, username, password):
        return self.ok("POST", "/api/login", {"username": username, "password": password})


class ApiWithoutAuth(ApiCase):
    """Every endpoint with auth off, checking the spec's fields."""

    CONFIG = """global:
  slack-webhook: https://hooks.slack.com/services/T0/B0/XXXX
  smtp-password: hunter2
web:
  max-body: 65536
  cors:
    allowed-origins: [http://ui.example]
    max-age: 600
""" + HIGH_LIMIT + JOBS

    def setUp(self):
        super().setUp()
        self.d = self.start_web(self.CONFIG)

    def check_job_fields(self, job, name, type_, origin="config"):
        for key in ("name", "type", "schedule", "command", "lastRun", "nextRun", "status",
                    "origin", "enabled"):
            self.assertIn(key, job)
        self.assertEqual(job["name"], name)
        self.assertEqual(job["type"], type_)
        self.assertEqual(job["origin"], origin)
        self.assertIsInstance(job["enabled"], bool)
        if job["nextRun"] is not None:
            self.assertTime(job["nextRun"])
        if job["lastRun"] is not None:
            self.assertTime(job["lastRun"])

    def test_jobs_and_executions(self):
        r = self.req("GET", "/api/jobs")
        self.assertEqual(r.status, 200)
        self.assertSecurityHeaders(r)
        self.assertEqual(r.headers["x-ratelimit-limit"], "1000000")
        self.assertIn("x-ratelimit-remaining", r.headers)
        self.assertIn("x-ratelimit-reset", r.headers)
        body = r.json
        self.assertEqual(set(body), {"jobs", "total", "running"})
        self.assertEqual(body["total"], 3)
        self.assertEqual(body["running"], 0)
        names = [j["name"] for j in body["jobs"]]
        self.assertEqual(names, ["failing", "hello", "sleeper"])
        for j in body["jobs"]:
            self.check_job_fields(j, j["name"], "local")
            self.assertIsNone(j["lastRun"])
            self.assertIsNone(j["status"])

        job = self.ok("GET", "/api/job/hello")
        self.check_job_fields(job, "hello", "local")
        self.assertEqual(job["schedule"], "@every 1h")
        self.assertEqual(job["environment"], ["BACKUP_DIR=/data", "API_TOKEN=abc123"])
        self.assertEqual(job["history"], [])
        self.assertEqual(job["metrics"], {"totalRuns": 0, "successfulRuns": 0, "failedRuns": 0,
                                          "averageDuration": 0, "lastSuccess": None,
                                          "lastFailure": None})

        # POST run: the id at once, status running
        run = self.ok("POST", "/api/job/hello/run")
        self.assertEqual(set(run), {"executionId", "job", "startTime", "status"})
        self.assertRegex(run["executionId"], UUID7)
        self.assertEqual(run["job"], "hello")
        self.assertEqual(run["status"], "running")
        self.assertTime(run["startTime"])
        e = self.wait_execution(run["executionId"])
        for key in ("executionId", "job", "startTime", "endTime", "duration", "status", "output",
                    "error", "exitCode"):
            self.assertIn(key, e)
        self.assertEqual(e["executionId"], run["executionId"])
        self.assertEqual(e["status"], "success")
        self.assertEqual(e["exitCode"], 0)
        self.assertIsNone(e["error"])
        self.assertEqual(e["trigger"], "manual")
        self.assertIsInstance(e["duration"], int)
        self.assertGreater(e["duration"], 0)
        self.assertTime(e["endTime"])
        self.assertEqual(sorted(e["output"].split("\n")), ["one", "three", "two"])

        # logs: every line, paged by seq
        logs = self.ok("GET", "/api/execution/%s/logs" % e["executionId"])
        self.assertEqual(logs["executionId"], e["executionId"])
        self.assertEqual(len(logs["logs"]), 3)
        for line in logs["logs"]:
            self.assertEqual(set(line) >= {"timestamp", "level", "message"}, True)
            self.assertTime(line["timestamp"])
        by_msg = {line["message"]: line["level"] for line in logs["logs"]}
        self.assertEqual(by_msg, {"one": "info", "two": "info", "three": "error"})
        page = self.ok("GET", "/api/execution/%s/logs?limit=2" % e["executionId"])
        self.assertEqual(len(page["logs"]), 2)
        self.assertTrue(page["hasMore"])
        rest = self.ok("GET", "/api/execution/%s/logs?after=%d" % (e["executionId"],
                                                                     page["nextAfter"]))
        self.assertEqual(len(rest["logs"]), 1)
        self.assertFalse(rest["hasMore"])
        self.assertEqual([x["seq"] for x in page["logs"] + rest["logs"]], [1, 2, 3])

        job = self.ok("GET", "/api/job/hello")
        self.assertEqual(job["status"], "success")
        self.assertTime(job["lastRun"])
        self.assertEqual(len(job["history"]), 1)
        h = job["history"][0]
        for key in ("executionId", "startTime", "endTime", "duration", "status", "output",
                    "error"):
            self.assertIn(key, h)
        self.assertEqual(h["executionId"], e["executionId"])
        self.assertEqual(h["duration"], e["duration"])
        m = job["metrics"]
        self.assertEqual((m["totalRuns"], m["successfulRuns"], m["failedRuns"]), (1, 1, 0))
        self.assertEqual(m["averageDuration"], e["duration"])
        self.assertTime(m["lastSuccess"])
        self.assertIsNone(m["lastFailure"])

        # a failing job
        f = self.wait_execution(self.run_job("failing"))
        self.assertEqual((f["status"], f["exitCode"]), ("failed", 3))
        m = self.ok("GET", "/api/job/failing")["metrics"]
        self.assertEqual((m["totalRuns"], m["failedRuns"]), (1, 1))
        self.assertTime(m["lastFailure"])

        # history pages: ?limit= and ?before= (an execution id or a time)
        ids = [e["executionId"]]
        for _ in range(3):
            ids.append(self.wait_execution(self.run_job("hello"))["executionId"])
        ids.reverse()  # newest first
        first = self.ok("GET", "/api/job/hello?limit=2")["history"]
        self.assertEqual([x["executionId"] for x in first], ids[:2])
        second = self.ok("GET", "/api/job/hello?limit=2&before=" + ids[1])["history"]
        self.assertEqual([x["executionId"] for x in second], ids[2:4])
        by_time = self.ok("GET", "/api/job/hello?before=" + first[1]["startTime"])["history"]
        self.assertTrue(set(x["executionId"] for x in by_time) <= set(ids[1:]))
        self.assertEqual(len(self.ok("GET", "/api/job/hello?limit=1000")["history"]), 4)
        self.assertError(self.req("GET", "/api/job/hello?limit=0"), 400, "VALIDATION_ERROR")
        self.assertError(self.req("GET", "/api/job/hello?limit=1001"), 400, "VALIDATION_ERROR")
        self.assertError(self.req("GET", "/api/job/hello?limit=x"), 400, "VALIDATION_ERROR")
        self.assertError(self.req("GET", "/api/job/hello?before=nonsense"), 400,
                         "VALIDATION_ERROR", job="hello")
        self.assertError(self.req("GET", "/api/job/failing?before=" + ids[0]), 400,
                         "VALIDATION_ERROR", job="failing")

        # stop: really stopped, then an error for the finished one
        sid = self.run_job("sleeper")
        self.assertEqual(self.ok("GET", "/api/jobs")["running"], 1)
        stop = self.ok("POST", "/api/execution/%s/stop" % sid)
        self.assertEqual((stop["executionId"], stop["stopped"]), (sid, True))
        self.assertEqual(stop["message"], "Execution stopped")
        self.assertEqual(self.ok("GET", "/api/execution/" + sid)["status"], "stopped")
        self.assertError(self.req("POST", "/api/execution/%s/stop" % sid), 409,
                         "EXECUTION_NOT_RUNNING", executionId=sid)

        # unknown executions and jobs
        for method, path in (("GET", "/api/execution/" + UNKNOWN_ID),
                             ("GET", "/api/execution/%s/logs" % UNKNOWN_ID),
                             ("POST", "/api/execution/%s/stop" % UNKNOWN_ID)):
            self.assertError(self.req(method, path), 404, "EXECUTION_NOT_FOUND",
                             executionId=UNKNOWN_ID)
        self.assertError(self.req("GET", "/api/execution/not-an-id"), 404, "EXECUTION_NOT_FOUND")
        for method, path in (("GET", "/api/job/nope"), ("DELETE", "/api/job/nope"),
                             ("POST", "/api/job/nope/run"), ("PATCH", "/api/job/nope/toggle")):
            err = self.assertError(self.req(method, path), 404, "JOB_NOT_FOUND", job="nope")
            self.assertEqual(err["message"], "Job 'nope' not found")

    def test_job_changes(self):
        upd = self.ok("PUT", "/api/job/hello",
                      {"schedule": "0 3 * * *", "command": "backup.sh --verbose",
                       "environment": ["BACKUP_DIR=/data", "COMPRESSION=gzip"]})
        self.assertEqual(upd, {"name": "hello", "updated": True,
                               "message": "Job configuration updated successfully"})
        job = self.ok("GET", "/api/job/hello")
        self.assertEqual((job["schedule"], job["command"]), ("0 3 * * *", "backup.sh --verbose"))
        self.assertEqual(job["environment"], ["BACKUP_DIR=/data", "COMPRESSION=gzip"])
        self.assertTime(job["nextRun"])

        self.assertError(self.req("PUT", "/api/job/hello", {"schedule": "61 * * * *"}), 400,
                         "INVALID_SCHEDULE", job="hello")
        self.assertError(self.req("PUT", "/api/job/hello", "{not json"), 400, "VALIDATION_ERROR")
        self.assertError(self.req("PUT", "/api/job/hello", "[1, 2]"), 400, "VALIDATION_ERROR")
        self.assertError(self.req("PUT", "/api/job/hello", ""), 400, "VALIDATION_ERROR")
        self.assertError(self.req("PUT", "/api/job/hello", {"enabled": "yes"}), 400,
                         "VALIDATION_ERROR", job="hello")
        self.assertError(self.req("PUT", "/api/job/hello", {"environment": "A=1"}), 400,
                         "VALIDATION_ERROR", job="hello")
        self.assertError(self.req("PUT", "/api/job/hello", {"bogus": 1}), 400,
                         "VALIDATION_ERROR", job="hello")
        self.assertError(self.req("PUT", "/api/job/hello", {"type": "exec"}), 400,
                         "VALIDATION_ERROR", job="hello")
        # an unknown name: partial is 404, a full definition creates (201, origin api)
        self.assertError(self.req("PUT", "/api/job/fresh", {"schedule": "@every 1h"}), 404,
                         "JOB_NOT_FOUND", job="fresh")
        self.assertError(self.req("PUT", "/api/job/fresh",
                                  {"type": "local", "schedule": "nope", "command": "true"}),
                         400, "INVALID_SCHEDULE", job="fresh")
        created = self.req("PUT", "/api/job/fresh",
                           {"type": "local", "schedule": "@every 1h", "command": "echo fresh"})
        self.assertEqual(created.status, 201, created)
        self.assertEqual(created.json["name"], "fresh")
        self.assertTrue(created.json["created"])
        fresh = self.ok("GET", "/api/job/fresh")
        self.assertEqual(fresh["origin"], "api")
        self.assertEqual(self.ok("GET", "/api/jobs")["total"], 4)

        # toggle
        off = self.ok("PATCH", "/api/job/fresh/toggle")
        self.assertEqual(off, {"name": "fresh", "enabled": False, "message": "Job disabled"})
        self.assertIsNone(self.ok("GET", "/api/job/fresh")["nextRun"])
        on = self.ok("PATCH", "/api/job/fresh/toggle")
        self.assertEqual(on, {"name": "fresh", "enabled": True, "message": "Job enabled"})

        # delete: gone from the API, history kept in the store
        eid = self.wait_execution(self.run_job("fresh"))["executionId"]
        gone = self.ok("DELETE", "/api/job/fresh")
        self.assertEqual(gone, {"name": "fresh", "deleted": True,
                                "message": "Job deleted successfully"})
        self.assertError(self.req("GET", "/api/job/fresh"), 404, "JOB_NOT_FOUND", job="fresh")
        self.assertEqual(self.ok("GET", "/api/jobs")["total"], 3)
        self.assertEqual(self.query("SELECT job_name FROM executions WHERE id = ?", (eid,)),
                         [("fresh",)])
        self.assertEqual(self.ok("GET", "/api/execution/" + eid)["job"], "fresh")

    def test_routes_methods_limits(self):
        # wrong method, unknown route, HEAD, OPTIONS
        r = self.req("POST", "/api/jobs")
        self.assertError(r, 405, "METHOD_NOT_ALLOWED")
        self.assertIn("GET", r.headers["allow"])
        self.assertError(self.req("DELETE", "/api/scheduler/status"), 405, "METHOD_NOT_ALLOWED")
        self.assertError(self.req("GET", "/api/job/hello/run"), 405, "METHOD_NOT_ALLOWED")
        self.assertError(self.req("GET", "/api/nope"), 404, "NOT_FOUND")
        self.assertError(self.req("GET", "/nope/deeper"), 404, "NOT_FOUND")
        head = self.req("HEAD", "/api/jobs")
        self.assertEqual((head.status, head.body), (200, b""))
        self.assertEqual(self.req("OPTIONS", "/api/jobs").status, 204)

        # the session without auth: nobody, and (auth off) changes allowed
        self.assertEqual(self.ok("GET", "/api/session"),
                         {"authEnabled": False, "user": None, "role": None, "canWrite": True})

        # 413: announced too large, answered before the body is sent
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(b"PUT /api/job/hello HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: 10000000\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 413"), head)
        err = json.loads(body)["error"]
        self.assertEqual(err["code"], "PAYLOAD_TOO_LARGE")
        self.assertRegex(err["details"]["timestamp"], RFC3339)
        # a body under the limit but malformed is still a 400 envelope
        self.assertError(self.req("PUT", "/api/job/hello", "x" * 60000), 400, "VALIDATION_ERROR")

        # CORS: the allowed origin gets the headers, another gets none
        r = self.req("GET", "/api/jobs", headers={"Origin": "http://ui.example"})
        self.assertEqual(r.headers["access-control-allow-origin"], "http://ui.example")
        r = self.req("GET", "/api/jobs", headers={"Origin": "http://evil.example"})
        self.assertNotIn("access-control-allow-origin", r.headers)
        pre = self.req("OPTIONS", "/api/job/hello",
                       headers={"Origin": "http://ui.example",
                                "Access-Control-Request-Method": "PUT",
                                "Access-Control-Request-Headers": "authorization"})
        self.assertEqual(pre.status, 204)
        self.assertEqual(pre.headers["access-control-allow-origin"], "http://ui.example")
        self.assertIn("PUT", pre.headers["access-control-allow-methods"])
        self.assertIn("Authorization", pre.headers["access-control-allow-headers"])
        self.assertEqual(pre.headers["access-control-max-age"], "600")
        pre = self.req("OPTIONS", "/api/job/hello",
                       headers={"Origin": "http://evil.example",
                                "Access-Control-Request-Method": "PUT"})
        self.assertNotIn("access-control-allow-origin", pre.headers)
        self.assertNotIn("access-control-allow-methods", pre.headers)

        # the UI
        ui = self.req("GET", "/")
        self.assertEqual(ui.status, 200)
        self.assertTrue(ui.headers["content-type"].startswith("text/html"))
        self.assertIn(b"/app.js", ui.body)
        self.assertIn("default-src 'self'", ui.headers["content-security-policy"])
        self.assertEqual(self.req("GET", "/app.js").status, 200)
        self.assertEqual(self.req("GET", "/style.css").status, 200)

    def test_scheduler_monitoring_config(self):
        st = self.ok("GET", "/api/scheduler/status")
        self.assertEqual(set(st) >= {"running", "startTime", "uptime", "totalJobs", "activeJobs",
                                     "runningJobs", "nextJob"}, True)
        self.assertIs(st["running"], True)
        self.assertTime(st["startTime"])
        self.assertIsInstance(st["uptime"], int)
        self.assertEqual((st["totalJobs"], st["activeJobs"], st["runningJobs"]), (3, 3, 0))
        self.assertEqual(set(st["nextJob"]), {"name", "scheduledTime"})
        self.assertTime(st["nextJob"]["scheduledTime"])

        live = self.ok("GET", "/health/liveness")
        self.assertEqual(live["status"], "healthy")
        self.assertTime(live["timestamp"])
        # Docker is whatever this machine has: ready follows it
        r = self.req("GET", "/health/readiness")
        ready = r.json
        self.assertEqual(set(ready) >= {"ready", "scheduler", "docker", "database"}, True)
        self.assertEqual((ready["scheduler"], ready["database"]), ("running", "connected"))
        self.assertIn(ready["docker"], ("connected", "disconnected", "n/a"))
        docker_ok = ready["docker"] != "disconnected"
        self.assertEqual((r.status, ready["ready"]), (200 if docker_ok else 503, docker_ok))
        ready_status = r.status
        self.assertNotIn("x-ratelimit-limit", self.req("GET", "/health/liveness").headers)

        self.assertEqual(self.ok("POST", "/api/scheduler/stop"),
                         {"running": False, "message": "Scheduler stopped"})
        self.assertFalse(self.ok("GET", "/api/scheduler/status")["running"])
        r = self.req("GET", "/health/readiness")
        self.assertEqual(r.status, 503)
        self.assertEqual((r.json["ready"], r.json["scheduler"]), (False, "stopped"))
        self.assertEqual(self.ok("POST", "/api/scheduler/start"),
                         {"running": True, "message": "Scheduler started"})
        self.assertEqual(self.req("GET", "/health/readiness").status, ready_status)

        rel = self.ok("POST", "/api/scheduler/reload")
        self.assertEqual(rel, {"reloaded": True, "jobsAdded": 0, "jobsUpdated": 0,
                               "jobsRemoved": 0,
                               "message": "Configuration reloaded successfully"})
        with open(self.d.config, "a") as f:
            f.write("  added:\n    type: local\n    schedule: '@every 1h'\n    command: 'true'\n")
        rel = self.ok("POST", "/api/scheduler/reload")
        self.assertEqual((rel["jobsAdded"], rel["jobsUpdated"], rel["jobsRemoved"]), (1, 0, 0))
        self.assertEqual(self.ok("GET", "/api/job/added")["origin"], "config")

        # metrics: the spec's four, per-job series, build info, HTTP counters
        self.wait_execution(self.run_job("hello"))
        self.wait_execution(self.run_job("failing"))
        r = self.req("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/plain"))
        text = r.body.decode()
        for line in ("# TYPE ofelia_jobs_total counter", "ofelia_jobs_total 2",
                     "ofelia_jobs_failed_total 1", "# TYPE ofelia_jobs_running gauge",
                     "ofelia_jobs_running 0", "# TYPE ofelia_job_duration_seconds histogram",
                     'ofelia_job_duration_seconds_bucket{le="+Inf"} 2',
                     'ofelia_job_runs_total{job="hello",status="success"} 1',
                     'ofelia_job_runs_total{job="failing",status="failed"} 1',
                     'ofelia_job_run_duration_seconds_count{job="hello"} 1',
                     "# TYPE ofelia_job_last_success_timestamp_seconds gauge",
                     'ofelia_http_requests_total{method="GET",route="/api/job/{}",code="200"}'):
            self.assertIn(line, text)
        self.assertRegex(text, r'ofelia_build_info\{version="[^"]+",commit="[^"]+"\} 1')
        check = subprocess.run(["promtool", "check", "metrics"], input=r.body,
                               capture_output=True, timeout=60)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)

        # config: masked secrets, jobs by type
        cfg = self.ok("GET", "/api/config")
        self.assertEqual(set(cfg), {"global", "web", "jobs", "webhooks"})
        g = cfg["global"]
        for key in ("dockerHost", "dockerPollInterval", "dockerEvents", "slackURL", "emailFrom",
                    "emailTo"):
            self.assertIn(key, g)
        self.assertEqual(g["slackURL"], "https://hooks.slack.com/...")
        self.assertEqual(g["smtpPassword"], "********")
        self.assertEqual(set(cfg["jobs"]), {"exec", "run", "local", "service"})
        hello = [j for j in cfg["jobs"]["local"] if j["name"] == "hello"][0]
        self.assertEqual(hello["environment"], ["BACKUP_DIR=/data", "API_TOKEN=********"])
        self.assertNotIn(b"hunter2", self.req("GET", "/api/config").body)
        self.assertNotIn(b"abc123", self.req("GET", "/api/config").body)

        patched = self.ok("PATCH", "/api/config/global",
                          {"dockerPollInterval": 60, "slackChannel": "#alerts",
                           "logLevel": "debug"})
        self.assertTrue(patched["updated"])
        self.assertEqual(patched["applied"], ["logLevel"])
        self.assertEqual(sorted(patched["restartRequired"]), ["dockerPollInterval",
                                                              "slackChannel"])
        g = self.ok("GET", "/api/config")["global"]
        self.assertEqual((g["dockerPollInterval"], g["slackChannel"], g["logLevel"]),
                         (60, "#alerts", "debug"))
        saved = json.loads(self.query("SELECT value FROM settings WHERE key = ?",
                                      ("api.config.global",))[0][0])
        self.assertEqual(saved, {"dockerPollInterval": 60, "logLevel": "debug",
                                 "slackChannel": "#alerts"})
        self.assertError(self.req("PATCH", "/api/config/global", {"nope": 1}), 400,
                         "VALIDATION_ERROR")
        self.assertError(self.req("PATCH", "/api/config/global", {"maxConcurrent": -1}), 400,
                         "VALIDATION_ERROR")
        self.assertError(self.req("PATCH", "/api/config/global", {"logLevel": 3}), 400,
                         "VALIDATION_ERROR")
        self.assertError(self.req("PATCH", "/api/config/global", "[]"), 400, "VALIDATION_ERROR")
        self.assertEqual(self.ok("PATCH", "/api/config/global", {"logLevel": None})["applied"],
                         ["logLevel"])
        self.assertEqual(self.ok("GET", "/api/config")["global"]["logLevel"], "info")
        self.assertCleanExit(self.d)


class ApiWithAuth(ApiCase):
    """Auth on: tokens, roles, failed logins; everything under /api/ needs a token."""

    INSECURE = False

    def config(self, extra=""):
        return """web:
  auth:
    enabled: true
    secret: %s
    max-login-attempts: 3
    users:
      - username: admin
        password-hash: '%s'
        role: admin
      - username: viewer
        password-hash: '%s'
        role: viewer
%s%s""" % (SECRET, password_hash("admin-pw"), password_hash("viewer-pw", bcrypt=True),
           HIGH_LIMIT, extra) + JOBS

    def test_tokens_and_roles(self):
        d = self.start_web(self.config())
        # public: health, metrics (no metrics-auth), the UI; everything else needs a token
        self.assertEqual(self.req("GET", "/health/liveness").status, 200)
        self.assertIn(self.req("GET", "/health/readiness").status, (200, 503))
        self.assertIn("ready", self.req("GET", "/health/readiness").json)
        self.assertEqual(self.req("GET", "/metrics").status, 200)
        self.assertEqual(self.req("GET", "/").status, 200)
        for method, path in (("GET", "/api/jobs"), ("GET", "/api/job/hello"),
                             ("POST", "/api/job/hello/run"), ("GET", "/api/scheduler/status"),
                             ("GET", "/api/config"), ("POST", "/api/refresh"),
                             ("GET", "/api/execution/" + UNKNOWN_ID)):
            r = self.req(method, path)
            self.assertError(r, 401, "UNAUTHORIZED")
        self.assertEqual(self.req("GET", "/api/jobs").headers["www-authenticate"], "Bearer")

        # login
        t0 = time.time()
        tok = self.login("admin", "admin-pw")
        self.assertEqual(set(tok), {"token", "expires"})
        self.assertTime(tok["expires"])
        self.assertAlmostEqual(parse_time(tok["expires"]), t0 + 24 * 3600, delta=30)
        claims = token_claims(tok["token"])
        self.assertEqual((claims["sub"], claims["role"]), ("admin", "admin"))
        self.assertEqual(set(claims), {"sub", "role", "iat", "exp", "sid", "auth_time"})
        self.assertEqual(json.loads(base64.urlsafe_b64decode(
            tok["token"].split(".")[0] + "==="))["alg"], "HS256")
        admin = tok["token"]
        # the session: public, and what the token allows
        self.assertEqual(self.ok("GET", "/api/session", token=admin),
                         {"authEnabled": True, "user": "admin", "role": "admin",
                          "canWrite": True})
        anonymous = {"authEnabled": True, "user": None, "role": None, "canWrite": False}
        self.assertEqual(self.ok("GET", "/api/session"), anonymous)
        self.assertEqual(self.ok("GET", "/api/session", token="not.a.token"), anonymous)
        self.assertIn("x-ratelimit-limit", self.req("GET", "/api/session").headers)
        jobs = self.ok("GET", "/api/jobs", token=admin)
        self.assertEqual(jobs["total"], 3)
        eid = self.run_job("hello", token=admin)
        self.assertEqual(self.wait_execution(eid, token=admin)["status"], "success")
        self.assertEqual(self.ok("GET", "/api/execution/%s/logs" % eid, token=admin)
                         ["executionId"], eid)

        # refresh gives another valid token
        time.sleep(1.1)
        new = self.ok("POST", "/api/refresh", token=admin)
        self.assertNotEqual(new["token"], admin)
        self.assertEqual(self.req("GET", "/api/jobs", token=new["token"]).status, 200)
        self.assertError(self.req("POST", "/api/refresh", token="garbage"), 401, "UNAUTHORIZED")

        # tokens ofelia did not issue
        now = int(time.time())
        good = {"sub": "admin", "role": "admin", "iat": now, "exp": now + 600}
        self.assertEqual(self.req("GET", "/api/jobs", token=make_token(good)).status, 200)
        for bad in (make_token(dict(good, exp=now - 10)),                     # expired
                    make_token(good, secret="another-key-0123456789abcdef"),  # other key
                    make_token(good, alg="none"),                             # alg none
                    make_token(good, alg="HS512"),                            # right key, HS512
                    make_token(dict(good, sub="mallory")),                    # unknown user
                    make_token({"sub": "admin", "role": "admin"}),            # no exp
                    admin[:-4] + ("AAAA" if not admin.endswith("AAAA") else "BBBB"),
                    "not.a.token"):
            self.assertError(self.req("GET", "/api/jobs", token=bad), 401, "UNAUTHORIZED")
        # the role comes from the config, not from the token
        forged_role = make_token({"sub": "viewer", "role": "admin", "iat": now,
                                  "exp": now + 600})
        self.assertError(self.req("POST", "/api/job/hello/run", token=forged_role), 403,
                         "FORBIDDEN")

        # viewer: reads, and 403 on every change
        viewer = self.login("viewer", "viewer-pw")["token"]
        self.assertEqual(self.ok("GET", "/api/session", token=viewer),
                         {"authEnabled": True, "user": "viewer", "role": "viewer",
                          "canWrite": False})
        self.assertEqual(self.req("GET", "/api/jobs", token=viewer).status, 200)
        self.assertEqual(self.req("GET", "/api/job/hello", token=viewer).status, 200)
        self.assertEqual(self.req("GET", "/api/config", token=viewer).status, 200)
        for method, path, body in (("POST", "/api/job/hello/run", None),
                                   ("PUT", "/api/job/hello", {"schedule": "@every 2h"}),
                                   ("DELETE", "/api/job/hello", None),
                                   ("PATCH", "/api/job/hello/toggle", None),
                                   ("POST", "/api/execution/%s/stop" % eid, None),
                                   ("POST", "/api/scheduler/stop", None),
                                   ("POST", "/api/scheduler/start", None),
                                   ("POST", "/api/scheduler/reload", None),
                                   ("PATCH", "/api/config/global", {"logLevel": "debug"})):
            self.assertError(self.req(method, path, body, token=viewer), 403, "FORBIDDEN")
        self.assertEqual(self.ok("GET", "/api/job/hello", token=admin)["schedule"], "@every 1h")

        # WebSocket: the token in the query
        ws = WebSocket(self.port)
        self.assertEqual(ws.status, 401)
        ws.close()
        ws = WebSocket(self.port, "/api/ws?token=" + viewer)
        self.assertEqual(ws.status, 101)
        self.assertEqual(ws.message()["type"], "connected")
        ws.close()

        # failed logins: slowed, then refused for the client
        self.assertError(self.req("POST", "/api/login", {"username": "admin"}), 400,
                         "VALIDATION_ERROR")
        self.assertError(self.req("POST", "/api/login", "nope"), 400, "VALIDATION_ERROR")
        for user in ("admin", "nobody", "viewer"):
            t = time.monotonic()
            self.assertError(self.req("POST", "/api/login",
                                      {"username": user, "password": "wrong"}),
                             401, "UNAUTHORIZED")
            self.assertGreater(time.monotonic() - t, 0.2)
        r = self.req("POST", "/api/login", {"username": "admin", "password": "admin-pw"})
        self.assertError(r, 429, "RATE_LIMITED")
        self.assertIn("retry-after", r.headers)
        self.assertCleanExit(d)

    def test_metrics_auth(self):
        d = self.start_web(self.config("  metrics-auth: true\n"))
        self.assertError(self.req("GET", "/metrics"), 401, "UNAUTHORIZED")
        tok = self.login("viewer", "viewer-pw")["token"]
        self.assertEqual(self.req("GET", "/metrics", token=tok).status, 200)
        self.assertEqual(self.req("GET", "/health/liveness").status, 200)
        self.assertCleanExit(d)

    def test_netresearch_names(self):
        """Ofelia's web-* names as flags, OFELIA_* variables and INI keys; a
        user given this way is an admin; web-token-expiry is in hours."""
        pw_hash = password_hash("flag-pw")
        d = self.start_web(JOBS, args=["--web-auth-enabled", "--web-username", "boss",
                                       "--web-password-hash", pw_hash,
                                       "--web-secret-key", SECRET, "--web-token-expiry", "2"])
        t0 = time.time()
        tok = self.login("boss", "flag-pw")
        self.assertAlmostEqual(parse_time(tok["expires"]), t0 + 2 * 3600, delta=30)
        self.assertEqual(token_claims(tok["token"])["role"], "admin")
        self.assertEqual(self.req("GET", "/api/jobs").status, 401)
        self.assertEqual(self.req("POST", "/api/job/hello/run", token=tok["token"]).status, 200)
        self.assertEqual(self.req("GET", "/api/jobs", token=make_token(
            {"sub": "boss", "role": "admin", "iat": int(t0), "exp": int(t0) + 60})).status, 200)
        self.assertCleanExit(d)

        env = {"OFELIA_ENABLE_WEB": "true", "OFELIA_WEB_ADDRESS": "127.0.0.1:0",
               "OFELIA_WEB_AUTH_ENABLED": "true", "OFELIA_WEB_USERNAME": "envboss",
               "OFELIA_WEB_PASSWORD_HASH": pw_hash, "OFELIA_WEB_TOKEN_EXPIRY": "3",
               "OFELIA_JWT_SECRET": SECRET}
        d = self.daemon(JOBS, env=env)
        d.start(wait_started=False)
        self.port = int(d.wait_log(r"msg=listening address=127\.0\.0\.1:(\d+)").group(1))
        t0 = time.time()
        tok = self.login("envboss", "flag-pw")
        self.assertAlmostEqual(parse_time(tok["expires"]), t0 + 3 * 3600, delta=30)
        # OFELIA_JWT_SECRET signs the tokens
        self.assertEqual(self.req("GET", "/api/jobs", token=make_token(
            {"sub": "envboss", "role": "admin", "iat": int(t0), "exp": int(t0) + 60})).status,
            200)
        self.assertCleanExit(d)

        # the config file wants a real port
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        ini = os.path.join(self.dir, "ofelia.ini")
        with open(ini, "w") as f:
            f.write("[global]\nenable-web = true\nweb-address = 127.0.0.1:%d\n"
                    "web-auth-enabled = true\nweb-username = iniboss\n"
                    "web-password-hash = %s\nweb-secret-key = %s\nweb-token-expiry = 5\n\n"
                    "[job-local \"tick\"]\nschedule = @every 1h\ncommand = echo tick\n"
                    % (port, pw_hash, SECRET))
        d = self.daemon(config_path=ini)
        d.start(wait_started=False)
        self.port = int(d.wait_log(r"msg=listening address=127\.0\.0\.1:(\d+)").group(1))
        t0 = time.time()
        tok = self.login("iniboss", "flag-pw")
        self.assertAlmostEqual(parse_time(tok["expires"]), t0 + 5 * 3600, delta=30)
        self.assertEqual(self.ok("GET", "/api/jobs", token=tok["token"])["jobs"][0]["name"],
                         "tick")
        self.assertCleanExit(d)


class ApiRateLimit(ApiCase):
    CONFIG = """web:
  rate-limit:
    requests-per-minute: 60
    burst: 5
%s""" + JOBS

    def test_rate_limit_and_proxies(self):
        d = self.start_web(self.CONFIG % "  trusted-proxies: [127.0.0.1/32]\n")
        remaining = []
        for _ in range(5):
            r = self.req("GET", "/api/jobs")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["x-ratelimit-limit"], "60")
            remaining.append(int(r.headers["x-ratelimit-remaining"]))
            self.assertGreaterEqual(int(r.headers["x-ratelimit-reset"]), int(time.time()))
        self.assertEqual(remaining, [4, 3, 2, 1, 0])
        r = self.req("GET", "/api/scheduler/status")
        self.assertError(r, 429, "RATE_LIMITED")
        self.assertEqual(r.headers["x-ratelimit-remaining"], "0")
        self.assertGreaterEqual(int(r.headers["retry-after"]), 1)
        self.assertError(self.req("GET", "/api/nope"), 429, "RATE_LIMITED")
        # health and metrics are not limited
        self.assertEqual(self.req("GET", "/health/liveness").status, 200)
        self.assertEqual(self.req("GET", "/metrics").status, 200)
        # behind a trusted proxy each forwarded client has its own allowance
        r = self.req("GET", "/api/jobs", headers={"X-Forwarded-For": "203.0.113.7"})
        self.assertEqual((r.status, r.headers["x-ratelimit-remaining"]), (200, "4"))
        r = self.req("GET", "/api/jobs", headers={"X-Forwarded-For": "198.51.100.1, 127.0.0.1"})
        self.assertEqual((r.status, r.headers["x-ratelimit-remaining"]), (200, "4"))
        # a second per second comes back
        time.sleep(1.1)
        self.assertEqual(self.req("GET", "/api/jobs").status, 200)
        self.assertCleanExit(d)

        # without trusted proxies X-Forwarded-For is ignored
        d = self.start_web(self.CONFIG % "")
        for _ in range(5):
            self.req("GET", "/api/jobs")
        r = self.req("GET", "/api/jobs", headers={"X-Forwarded-For": "203.0.113.7"})
        self.assertError(r, 429, "RATE_LIMITED")
        self.assertCleanExit(d)


class ApiRestart(ApiCase):
    """History, metrics and tokens survive kill -9."""

    def test_kill9_restart(self):
        config = """web:
  auth:
    enabled: true
    users:
      - username: admin
        password-hash: '%s'
        role: admin
%s""" % (password_hash("admin-pw"), HIGH_LIMIT) + JOBS
        d = self.start_web(config)
        token = self.login("admin", "admin-pw")["token"]
        for job in ("hello", "failing", "hello"):
            self.wait_execution(self.run_job(job, token=token), token=token)
        before = {j: self.ok("GET", "/api/job/" + j, token=token) for j in ("hello", "failing")}
        d.kill9()
        d = self.start_web(config)
        after = {j: self.ok("GET", "/api/job/" + j, token=token) for j in ("hello", "failing")}
        for j in ("hello", "failing"):
            self.assertEqual(after[j]["history"], before[j]["history"])
            self.assertEqual(after[j]["metrics"], before[j]["metrics"])
            self.assertEqual(after[j]["lastRun"], before[j]["lastRun"])
            self.assertEqual(after[j]["status"], before[j]["status"])
        self.assertEqual(len(after["hello"]["history"]), 2)
        self.assertEqual(after["hello"]["metrics"]["totalRuns"], 2)
        self.assertIn("ofelia_jobs_total 3", self.req("GET", "/metrics").body.decode())
        self.assertIntegrity()
        self.assertCleanExit(d)


class ApiGlobalSettings(ApiCase):
    """A setting PATCHed through the API is kept and read at the next start."""

    def test_max_log_bytes_applies_after_a_restart(self):
        config = """jobs:
  chatty:
    type: local
    schedule: "@manual"
    command: sh -c 'i=0; while [ $i -lt 40 ]; do printf "%01000d\\\\n" 0; i=$((i+1)); done'
"""
        d = self.start_web(config)
        first = self.wait_execution(self.run_job("chatty"))
        self.assertEqual(first["status"], "success")
        self.assertError(self.req("PATCH", "/api/config/global", {"maxLogBytes": -1}), 400,
                         "VALIDATION_ERROR")
        patched = self.ok("PATCH", "/api/config/global", {"maxLogBytes": 10240})
        self.assertEqual(patched["restartRequired"], ["maxLogBytes"])
        self.assertEqual(self.ok("GET", "/api/config")["global"]["maxLogBytes"], 10240)
        self.assertCleanExit(d)
        d = self.start_web(config)
        second = self.wait_execution(self.run_job("chatty"))
        rows = dict(self.query("SELECT id, dropped_lines FROM executions"))
        stored = dict(self.query("SELECT execution_id, sum(length(message)) FROM "
                                 "execution_logs GROUP BY execution_id"))
        self.assertEqual((rows[first["executionId"]], stored[first["executionId"]]), (0, 40 * 1000))
        self.assertLessEqual(stored[second["executionId"]], 10240)
        self.assertEqual(rows[second["executionId"]], 40 - stored[second["executionId"]] // 1000)
        self.assertCleanExit(d)


class ApiJobsLiveInTheDatabase(ApiCase):
    """A job created through the API survives a restart and `ofelia run`
    finds it in the database, without the config."""

    def test_api_job_survives_restart_and_runs_from_the_cli(self):
        config = "web:\n" + HIGH_LIMIT
        d = self.start_web(config)
        self.ok("PUT", "/api/job/api-made",
                {"type": "local", "schedule": "@manual", "command": "echo from-api"},
                status=201)
        self.assertCleanExit(d)
        d = self.start_web(config)
        job = self.ok("GET", "/api/job/api-made")
        self.assertEqual((job["origin"], job["command"]), ("api", "echo from-api"))
        self.assertCleanExit(d)
        proc = subprocess.run([BIN, "run", "--db", os.path.join(self.dir, "ofelia.db"),
                               "--config", d.config, "api-made"],
                              capture_output=True, timeout=60)
        self.assertEqual((proc.returncode, proc.stdout), (0, b"from-api\n"), proc.stderr)
        rows = self.query("SELECT status, trigger, output FROM executions "
                          "WHERE job_name = 'api-made'")
        self.assertEqual(rows, [("success", "manual", "from-api")])


class ApiConfigJobEdits(ApiCase):
    """An API edit of a config job is kept across reload and restart while
    the file's definition is unchanged, and dropped when the file changes it."""

    CONFIG = """web:
%s
jobs:
  backup:
    type: local
    schedule: "@every 1h"
    command: %s
  other:
    type: local
    schedule: "@every 1h"
    command: echo other
"""

    def write(self, d, command):
        with open(d.config, "w") as f:
            f.write(self.CONFIG % (HIGH_LIMIT, command))

    def test_override_semantics(self):
        d = self.start_web(self.CONFIG % (HIGH_LIMIT, "echo v1"))
        self.ok("PUT", "/api/job/backup", {"schedule": "@every 2h"})
        self.ok("PATCH", "/api/job/other/toggle")
        # SIGHUP with the file unchanged keeps the edits
        d.signal(signal.SIGHUP)
        d.wait_log("config reloaded")
        self.assertEqual(self.ok("GET", "/api/job/backup")["schedule"], "@every 2h")
        self.assertFalse(self.ok("GET", "/api/job/other")["enabled"])
        rel = self.ok("POST", "/api/scheduler/reload")
        self.assertEqual((rel["jobsAdded"], rel["jobsUpdated"], rel["jobsRemoved"]), (0, 0, 0))
        self.assertEqual(self.ok("GET", "/api/job/backup")["schedule"], "@every 2h")
        # a restart keeps them
        self.assertCleanExit(d)
        d = self.start_web(None, config_path=d.config)
        self.assertEqual(self.ok("GET", "/api/job/backup")["schedule"], "@every 2h")
        self.assertFalse(self.ok("GET", "/api/job/other")["enabled"])
        # a deleted config job stays deleted while the file is unchanged
        self.ok("DELETE", "/api/job/other")
        self.ok("POST", "/api/scheduler/reload")
        self.assertEqual(self.req("GET", "/api/job/other").status, 404)
        # the file changes backup's definition: the file wins
        self.write(d, "echo v2")
        rel = self.ok("POST", "/api/scheduler/reload")
        self.assertEqual(rel["jobsUpdated"], 1)
        job = self.ok("GET", "/api/job/backup")
        self.assertEqual((job["schedule"], job["command"]), ("@every 1h", "echo v2"))
        self.assertEqual(self.req("GET", "/api/job/other").status, 404)
        self.assertCleanExit(d)
        d = self.start_web(None, config_path=d.config)
        self.assertEqual(self.ok("GET", "/api/job/backup")["schedule"], "@every 1h")
        self.assertCleanExit(d)


class ApiWebSocket(ApiCase):
    CONFIG = """global:
  max-log-lines: 1000
web:
%s
jobs:
  hello:
    type: local
    schedule: "@every 1h"
    command: echo hi
  ticker:
    type: local
    schedule: "@every 1h"
    command: sh -c 'sleep 1; echo first; echo second >&2'
  flood:
    type: local
    schedule: "@every 1h"
    command: sh -c 'yes 0123456789012345678901234567890123456789012345678901234567890123456789 | head -n 400000'
""" % HIGH_LIMIT

    def test_events_logs_and_slow_clients(self):
        d = self.start_web(self.CONFIG)
        ws = WebSocket(self.port)
        self.assertEqual(ws.status, 101)
        self.assertEqual(ws.headers["sec-websocket-accept"], ws.accept)
        hello = ws.message()
        self.assertEqual(hello["type"], "connected")

        # events of a run: {type, payload, timestamp}
        eid = self.run_job("hello")
        started = ws.message("job.started")
        self.assertEqual(set(started), {"type", "payload", "timestamp"})
        self.assertTime(started["timestamp"])
        self.assertEqual((started["payload"]["executionId"], started["payload"]["job"]),
                         (eid, "hello"))
        done = ws.message("job.completed")
        self.assertEqual((done["payload"]["executionId"], done["payload"]["status"]),
                         (eid, "success"))
        # job changes and the scheduler
        self.ok("PATCH", "/api/job/hello/toggle")
        self.assertEqual(ws.message("job.updated")["payload"]["name"], "hello")
        self.ok("POST", "/api/scheduler/stop")
        self.assertEqual(ws.message("scheduler.stopped")["type"], "scheduler.stopped")
        self.ok("POST", "/api/scheduler/start")
        ws.message("scheduler.started")
        self.ok("PUT", "/api/job/made", {"type": "local", "schedule": "@every 1h",
                                         "command": "true"}, status=201)
        self.assertEqual(ws.message("job.added")["payload"]["name"], "made")
        self.ok("DELETE", "/api/job/made")
        self.assertEqual(ws.message("job.removed")["payload"]["name"], "made")
        self.ok("PATCH", "/api/config/global", {"slackChannel": "#ops"})
        self.assertEqual(ws.message("config.updated")["payload"]["global"],
                         {"slackChannel": "#ops"})

        # log lines only for a subscribed execution
        tid = self.run_job("ticker")
        ws.send(json.dumps({"subscribe": tid}))
        self.assertEqual(ws.message("subscribed")["payload"], {"executionId": tid})
        lines = [ws.message("log.line")["payload"] for _ in range(2)]
        self.assertEqual([(x["executionId"], x["seq"], x["message"]) for x in lines],
                         [(tid, 1, "first"), (tid, 2, "second")])
        self.assertEqual([x["level"] for x in lines], ["info", "error"])
        self.assertTime(lines[0]["timestamp"])
        ws.message("job.completed")
        ws.send(json.dumps({"unsubscribe": tid}))
        ws.message("unsubscribed")
        ws.send("not json")
        self.assertEqual(ws.message("error")["payload"]["code"], "VALIDATION_ERROR")
        ws.send(json.dumps({"subscribe": "nope"}))
        ws.message("error")
        # ping / pong
        ws.send(b"are you there", opcode=0x9)
        while True:
            opcode, data = ws.frame()
            if opcode == 0xA:
                self.assertEqual(data, b"are you there")
                break
        # a plain GET is not a handshake
        self.assertError(self.req("GET", "/api/ws"), 400, "VALIDATION_ERROR")

        # a client that never reads: the daemon keeps serving, then drops it
        slow = WebSocket(self.port, rcvbuf=4096)
        self.assertEqual(slow.status, 101)
        fid = self.run_job("flood")
        slow.send(json.dumps({"subscribe": fid}))
        d.wait_log(r"WebSocket client closed.*too slow", timeout=120)
        for _ in range(3):
            self.assertEqual(self.req("GET", "/api/jobs").status, 200)
        self.wait_execution(fid, timeout=120)

        def closed():
            try:
                while True:
                    slow.frame()
            except (EOFError, ConnectionError, socket.timeout):
                return True
        self.assertTrue(closed())
        slow.close()
        # the reading client still gets events
        self.assertEqual(ws.message("job.completed")["payload"]["executionId"], fid)
        # SIGTERM with a WebSocket client and an idle keep-alive connection
        # open: both are closed, nothing leaks, exit status 0
        idle = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        idle.request("GET", "/api/jobs")
        idle.getresponse().read()
        self.assertCleanExit(d)
        with self.assertRaises((EOFError, ConnectionError)):
            while True:
                ws.frame()
        ws.close()
        idle.close()


class ApiForTheUi(ApiCase):
    """What the web UI reads besides the spec: the strips of GET
    /api/jobs?recent=, a job's zone, next runs and override flag, and the
    jobs.changed events that carry every change of a job's summary, those of
    slots that announce nothing else (a stopped scheduler's skipped slots)
    included."""

    CONFIG = """global:
  timezone: Europe/Berlin
web:
%s
jobs:
  fast:
    type: local
    schedule: "@every 1s"
    command: sh -c 'exit 0'
  ny:
    type: local
    schedule: "CRON_TZ=America/New_York 30 2 * * *"
    command: echo ny
  idle:
    type: local
    schedule: "0 3 * * *"
    command: echo idle
    enabled: false
""" % HIGH_LIMIT

    def test_strips_schedule_and_changes(self):
        d = self.start_web(self.CONFIG)
        ws = WebSocket(self.port)
        self.assertEqual(ws.message()["type"], "connected")
        wait_for(lambda: self.ok("GET", "/api/job/fast?limit=3")["metrics"]["totalRuns"] >= 3,
                 20, 0.2, "three runs of fast")

        # the strips: statuses only, newest first, as many as asked
        body = self.ok("GET", "/api/jobs?recent=2")
        jobs = {j["name"]: j for j in body["jobs"]}
        # The newest may be a slot claimed ahead, or an end not yet committed.
        self.assertIn(jobs["fast"]["recent"], (["success", "success"], ["running", "success"]))
        self.assertEqual(jobs["idle"]["recent"], [])
        plain = self.ok("GET", "/api/jobs")
        self.assertNotIn("recent", plain["jobs"][0])
        for bad in ("51", "-1", "x"):
            self.assertError(self.req("GET", "/api/jobs?recent=" + bad), 400, "VALIDATION_ERROR")

        # a job's zone, next runs and override flag
        ny = self.ok("GET", "/api/job/ny")
        self.assertEqual(ny["zone"], "America/New_York")
        self.assertEqual(len(ny["nextRuns"]), 5)
        self.assertEqual(ny["nextRuns"][0], ny["nextRun"])
        times = [parse_time(t) for t in ny["nextRuns"]]
        self.assertTrue(all(86400 - 3600 <= b - a <= 86400 + 3600 for a, b in zip(times, times[1:])),
                        ny["nextRuns"])
        self.assertEqual(time.gmtime(times[0]).tm_min, 30)
        self.assertFalse(ny["overridden"])
        self.assertEqual(self.ok("GET", "/api/job/fast")["zone"], "Europe/Berlin")
        self.assertEqual(self.ok("GET", "/api/job/idle")["nextRuns"], [])
        # what GET gave can be sent back; the change is an override
        self.ok("PUT", "/api/job/ny", dict(ny, command="echo changed"))
        ny2 = self.ok("GET", "/api/job/ny")
        self.assertTrue(ny2["overridden"])
        self.assertEqual(ny2["command"], "echo changed")

        # jobs.changed: the summary of each job that changed, with its strip
        # and the scheduler's status
        ev = ws.message("jobs.changed")["payload"]
        self.assertEqual(set(ev), {"jobs", "removed", "scheduler"})
        fast = [j for j in ev["jobs"] if j["name"] == "fast"]
        self.assertTrue(fast, ev)
        self.assertEqual(len(fast[0]["recent"]) > 0, True)
        self.assertEqual(set(ev["scheduler"]) >= {"running", "totalJobs", "runningJobs"}, True)
        # a stopped scheduler records skipped slots: nextRun moves, and says so
        self.ok("POST", "/api/scheduler/stop")
        wait_for(lambda: self.ok("GET", "/api/job/fast?limit=1")["history"][0]["status"] ==
                 "skipped", 20, 0.2, "a skipped slot")
        seen = None
        for _ in range(20):
            ev = ws.message("jobs.changed")["payload"]
            fast = [j for j in ev["jobs"] if j["name"] == "fast"]
            if fast and fast[0]["recent"][0] == "skipped":
                seen = fast[0]
                break
        self.assertIsNotNone(seen, "no jobs.changed for a skipped slot")
        self.assertFalse(ev["scheduler"]["running"])
        self.ok("POST", "/api/scheduler/start")
        # a job that goes is named in removed
        self.ok("DELETE", "/api/job/idle")
        for _ in range(20):
            ev = ws.message("jobs.changed")["payload"]
            if ev["removed"]:
                break
        self.assertEqual(ev["removed"], ["idle"])
        ws.close()
        self.assertCleanExit(d)
