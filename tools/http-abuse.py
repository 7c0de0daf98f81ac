#!/usr/bin/env python3
"""The HTTP abuse suite: each attack issue 8 found, made again against the
real daemon on 127.0.0.1, with what must hold afterwards.

  DNS rebinding   a foreign Host reads nothing and changes nothing
  CSRF            text/plain and form bodies, foreign Origins, no-cors POSTs
  WebSocket       foreign Origin; no token with auth on
  read-only       changes without auth and without web.insecure
  flood           idle connections past the descriptor limit: jobs still
                  run, health answers, the CPU stays low (printed)
  logins          wrong passwords in parallel: at most max-login-attempts
                  are tried
  tokens          forged with the key: iat/nbf ahead, crit, alg none, HS512,
                  expired, past max-session-age, refresh past it
  names           %00, bytes that are not UTF-8, unterminated quotes
  h2o edges       NUL in the URL, a 1 MB URL, 10k headers, HTTP/0.9,
                  pipelined garbage, a slow head; random garbage (long)

Every answer must be the JSON envelope with the right status; the daemon
must stay up and exit cleanly (under ASan: no leak, no error).

  tools/http-abuse.py [--long]     OFELIA_BIN (default build/asan/ofelia)

`make test` runs the short form; `make abuse` the long one (more
connections, more rounds, random garbage). Prints one line per check and
figures as `name: value`; exits 1 when a check fails."""
import concurrent.futures
import http.client
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
from tests.integration.test_api import WebSocket, make_token, password_hash  # noqa: E402

BIN = os.environ.get("OFELIA_BIN") or os.path.join(ROOT, "build", "asan", "ofelia")
LONG = "--long" in sys.argv
SECRET = "abuse-secret-0123456789abcdef012345"
MAX_REQLEN = 8192 + 4096 * 100  # h2o's H2O_MAX_REQLEN
LIMIT = "  rate-limit: {requests-per-minute: 100000000, burst: 100000000}\n"
JOBS = """jobs:
  hello: {type: local, schedule: "@every 1h", command: "echo hello"}
"""
failures = []
daemons = []


def check(ok, what, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", what, (": " + str(detail)[:300]) if not ok
                       else ""), flush=True)
    if not ok:
        failures.append(what)


def figure(name, value, unit=""):
    print("%s: %s %s" % (name, value, unit), flush=True)


class Daemon:
    def __init__(self, workdir, config, args=(), nofile=None):
        self.workdir = workdir
        path = os.path.join(workdir, "abuse.yaml")
        with open(path, "w") as f:
            f.write(config)
        self.log_path = os.path.join(workdir, "daemon.log")
        self.log_file = open(self.log_path, "w")
        db = os.path.join(workdir, "abuse.db")

        def limits():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        daemons.append(self)
        self.proc = subprocess.Popen(
            [BIN, "daemon", "--config", path, "--db", db, "--enable-web",
             "--web-address", "127.0.0.1:0"] + list(args),
            stdout=self.log_file, stderr=subprocess.STDOUT, preexec_fn=limits)
        deadline = time.monotonic() + 30
        while True:
            m = re.search(r"msg=listening address=127\.0\.0\.1:(\d+)", self.log())
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the daemon did not start:\n" + self.log())
            time.sleep(0.05)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def req(self, method, path, body=None, headers=None, token=None):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def stop(self):
        """SIGTERM; True when it exits 0 within 30 s with a clean log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.log_file.close()
        log = self.log()
        clean = code == 0 and "ERROR: AddressSanitizer" not in log and \
            "runtime error" not in log and "LeakSanitizer" not in log
        check(clean, "daemon exits cleanly", "exit %s; %s" % (code, log[-1500:]))


def envelope(answer, status, code=None):
    """Whether (status, headers, body) is the JSON error envelope."""
    got, headers, body = answer
    try:
        err = json.loads(body)["error"]
        return got == status and headers.get("content-type", "").startswith(
            "application/json") and set(err) == {"code", "message", "details"} and \
            (code is None or err["code"] == code)
    except (ValueError, KeyError, TypeError):
        return False


def raw(port, data, timeout=10, half_close=False):
    """Bytes on a fresh connection (then the end of what the client sends,
    with half_close); the answers as (status, headers, body), and whether
    the server reset the connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got, reset = b"", False
    try:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except (ConnectionResetError, BrokenPipeError):
        reset = True
    except socket.timeout:
        pass
    finally:
        s.close()
    answers = []
    while got.startswith(b"HTTP/"):
        head, _, rest = got.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in
                   (line.split(":", 1) for line in lines[1:] if ":" in line)}
        n = int(headers.get("content-length", "0"))
        answers.append((int(lines[0].split()[1]), headers, rest[:n]))
        got = rest[n:]
    return answers, reset


def executions(d):
    import sqlite3
    con = sqlite3.connect(os.path.join(d.workdir, "abuse.db"), timeout=10)
    try:
        return con.execute("SELECT count(*) FROM executions").fetchone()[0]
    finally:
        con.close()


# ---- attacks on the security model ----

def attack_read_only(work):
    d = Daemon(work, "web:\n" + LIMIT + JOBS)
    for method, path, body in (("POST", "/api/job/hello/run", None),
                               ("PUT", "/api/job/pwn", {"type": "local", "schedule": "@every 1s",
                                                        "command": "id"}),
                               ("DELETE", "/api/job/hello", None),
                               ("POST", "/api/scheduler/stop", None),
                               ("PATCH", "/api/config/global", {"logLevel": "debug"})):
        check(envelope(d.req(method, path, body), 403, "FORBIDDEN"),
              "read-only without auth: %s %s is 403" % (method, path))
    check(executions(d) == 0 and d.req("GET", "/api/job/pwn")[0] == 404,
          "read-only: nothing ran or was created")
    d.stop()


def attack_browser(work):
    d = Daemon(work, "web:\n" + LIMIT + JOBS, ["--web-insecure"])
    port = d.port
    job = '{"type": "local", "schedule": "@every 1s", "command": "touch /tmp/pwned"}'
    # DNS rebinding: the page's name now points at 127.0.0.1
    for host in ("attacker.example:%d" % port, "attacker.example",
                 "127.0.0.1.attacker.example:%d" % port, "localhost.attacker.example"):
        h = {"Host": host}
        ok = all(envelope(d.req(m, p, b, dict(h, **{"Content-Type": "application/json"})), 403,
                          "FORBIDDEN")
                 for m, p, b in (("GET", "/api/jobs", None), ("PUT", "/api/job/pwn", job),
                                 ("POST", "/api/job/hello/run", None), ("GET", "/", None)))
        ws = WebSocket(port, host=host)
        ok = ok and ws.status == 403
        ws.close()
        check(ok, "DNS rebinding Host %s: 403 everywhere" % host)
    # simple-request CSRF: text/plain, forms, no-cors without a body
    for ctype in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                  "multipart/form-data; boundary=x"):
        check(envelope(d.req("PUT", "/api/job/pwn", job, {"Content-Type": ctype}), 415,
                       "UNSUPPORTED_MEDIA_TYPE"),
              "CSRF PUT with %s: 415" % ctype)
    for origin in ("http://attacker.example", "null", "http://127.0.0.1:1"):
        h = {"Origin": origin}
        ok = all(envelope(d.req(m, p, None, h), 403, "FORBIDDEN")
                 for m, p in (("POST", "/api/job/hello/run"), ("POST", "/api/scheduler/reload"),
                              ("PATCH", "/api/job/hello/toggle"), ("DELETE", "/api/job/hello")))
        ws = WebSocket(port, host="127.0.0.1:%d" % port, origin=origin)
        ok = ok and ws.status == 403
        ws.close()
        check(ok, "foreign Origin %s: changes and the WebSocket are 403" % origin)
    check(executions(d) == 0 and d.req("GET", "/api/job/pwn")[0] == 404 and
          not os.path.exists("/tmp/pwned"), "browser attacks: nothing ran or was created")
    # this server's own page still works
    own = {"Origin": "http://127.0.0.1:%d" % port}
    check(d.req("PATCH", "/api/job/hello/toggle", None, own)[0] == 200,
          "same-origin change still works")
    d.stop()


def attack_auth(work):
    pw = password_hash("admin-pw")
    old = password_hash("old-pw", bcrypt=True)
    d = Daemon(work, "web:\n  auth:\n    enabled: true\n    secret: %s\n"
               "    max-session-age: 3s\n    max-login-attempts: 5\n    users:\n"
               "      - {username: admin, password-hash: '%s', role: admin}\n"
               "      - {username: old, password-hash: '%s', role: viewer}\n"
               % (SECRET, pw, old) + LIMIT + JOBS)
    port = d.port
    # the WebSocket without a token
    ws = WebSocket(port, host="127.0.0.1:%d" % port)
    check(ws.status == 401, "WebSocket without a token: 401", ws.status)
    ws.close()
    # tokens forged with the key
    now = int(time.time())
    good = {"sub": "admin", "role": "admin", "iat": now, "exp": now + 600}
    check(d.req("GET", "/api/jobs", token=make_token(good, secret=SECRET))[0] == 200,
          "a well-formed token works")
    for what, claims, header, alg in (
            ("iat an hour ahead", dict(good, iat=now + 3600), None, "HS256"),
            ("nbf an hour ahead", dict(good, nbf=now + 3600), None, "HS256"),
            ("crit header", good, {"crit": ["exp"]}, "HS256"),
            ("alg none", good, None, "none"),
            ("HS512", good, None, "HS512"),
            ("expired", dict(good, exp=now - 5), None, "HS256"),
            ("session older than max-session-age", dict(good, auth_time=now - 10), None,
             "HS256"),
            ("exp as text", dict(good, exp=str(now + 600)), None, "HS256")):
        tok = make_token(claims, secret=SECRET, alg=alg, header=header)
        ok = envelope(d.req("GET", "/api/jobs", token=tok), 401, "UNAUTHORIZED") and \
            envelope(d.req("POST", "/api/refresh", token=tok), 401, "UNAUTHORIZED")
        check(ok, "forged token (%s): 401, refresh too" % what)
    # refresh cannot outlive the session
    status, _, body = d.req("POST", "/api/login", {"username": "admin", "password": "admin-pw"})
    tok = json.loads(body)["token"] if status == 200 else None
    deadline = time.time() + 6
    while tok and time.time() < deadline:
        status, _, body = d.req("POST", "/api/refresh", token=tok)
        if status != 200:
            break
        tok = json.loads(body)["token"]
        time.sleep(0.5)
    check(tok is not None and status == 401, "refreshing past max-session-age: 401", status)
    # wrong passwords in parallel, from one client
    n = 500 if LONG else 150

    def attempt(i):
        user = ("admin", "old", "nobody")[i % 3]
        return d.req("POST", "/api/login", {"username": user, "password": "wrong"})[0]
    t = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(150) as pool:
        statuses = list(pool.map(attempt, range(n)))
    figure("parallel_logins", n)
    figure("parallel_logins_tried", statuses.count(401))
    figure("parallel_logins_refused_429", statuses.count(429))
    figure("parallel_logins_seconds", "%.2f" % (time.monotonic() - t))
    # the login above and the one of the refresh loop were refunded
    check(statuses.count(401) <= 5 and statuses.count(401) + statuses.count(429) == n,
          "parallel wrong passwords: at most 5 tried", statuses.count(401))
    d.stop()


def attack_names(work):
    d = Daemon(work, "web:\n" + LIMIT + JOBS, ["--web-insecure"])
    job = {"type": "local", "schedule": "@every 1h", "command": "echo hi"}
    ok = True
    for path in ("/api/job/hello%00x", "/api/job/%00", "/api/job/b%FFad", "/api/job/caf%C3",
                 "/api/job/%C0%AF", "/api/job/a%09b", "/api/execution/%00"):
        for method, body in (("GET", None), ("PUT", job), ("DELETE", None)):
            ok = ok and envelope(d.req(method, path, body), 400, "VALIDATION_ERROR")
    check(ok, "bad names in paths: 400")
    for cmd in ("sh -c 'echo unterminated", 'echo "half', "a 'b \"c"):
        check(envelope(d.req("PUT", "/api/job/quoted", dict(job, command=cmd)), 400,
                       "VALIDATION_ERROR"), "command %r: 400" % cmd)
    jobs = json.loads(d.req("GET", "/api/jobs")[2])["jobs"]
    check([j["name"] for j in jobs] == ["hello"], "no job cut short, deleted or created", jobs)
    d.stop()


def attack_h2o_edges(work):
    d = Daemon(work, "web:\n" + LIMIT + JOBS)
    port = d.port
    for what, data, status, code in (
            ("NUL in the URL", b"GET /a\x00b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400,
             "VALIDATION_ERROR"),
            ("HTTP/0.9", b"GET /\r\n\r\n", 400, "VALIDATION_ERROR"),
            ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "VALIDATION_ERROR"),
            ("10k headers", b"GET / HTTP/1.1\r\n" + b"a: b\r\n" * 10000 + b"\r\n", 431,
             "HEADERS_TOO_LARGE"),
            ("a URL as long as h2o reads", b"GET /" + b"a" * (MAX_REQLEN - 5), 414,
             "URI_TOO_LONG"),
            ("pipelined garbage after a good request",
             b"GET /health/liveness HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /\x01\r\n\r\n", 400,
             "VALIDATION_ERROR")):
        answers, _ = raw(port, data)
        check(bool(answers) and envelope(answers[-1], status, code),
              "h2o edge, %s: %d in the envelope" % (what, status), answers[-1:])
    # a 1 MB URL: the answer is the envelope, unless the reset of the unread
    # rest overtakes it (h2o does not linger), which is reported, not failed
    answers, reset = raw(port, b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\n\r\n")
    got = "envelope 414" if answers and envelope(answers[0], 414, "URI_TOO_LONG") else \
        "reset before the answer" if reset and not answers else repr(answers[:1])
    figure("one_mb_url", got)
    check(not answers or envelope(answers[0], 414, "URI_TOO_LONG"), "1 MB URL: no plain text")
    rounds = 20000 if LONG else 100
    rnd = random.Random(8)
    plain = answered = 0
    t = time.monotonic()
    for i in range(rounds):
        data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300)))
        if i % 2:
            data = b"GET /" + data + b" HTTP/1.1\r\n\r\n"
        answers, _ = raw(port, data, timeout=15, half_close=True)
        answered += len(answers)
        plain += sum(1 for a in answers if not a[1].get("content-type", "").startswith(
            "application/json"))
    figure("garbage_requests", rounds)
    figure("garbage_requests_answered", answered)
    figure("garbage_requests_seconds", "%.1f" % (time.monotonic() - t))
    check(plain == 0, "random garbage: every answer is JSON", plain)
    check(d.req("GET", "/health/liveness")[0] == 200, "still serving after the edges")
    d.stop()


def attack_flood(work):
    """Idle connections past the descriptor limit (1024, hard)."""
    n = 5000 if LONG else 1100
    d = Daemon(work, "web:\n" + LIMIT + JOBS, ["--web-insecure"], nofile=1024)
    port = d.port
    m = re.search(r'msg="HTTP connections" max=(\d+)', d.log())
    figure("flood_connection_cap", m.group(1) if m else "?")
    held = []
    refused = 0
    try:
        for _ in range(n):
            try:
                held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                refused += 1
        figure("flood_connections_opened", len(held))
        time.sleep(1.5)
        cpu0, t0 = d.cpu_seconds(), time.monotonic()
        time.sleep(3)
        figure("flood_daemon_cpu_idle_flood", "%.1f" % ((d.cpu_seconds() - cpu0) /
                                                        (time.monotonic() - t0) * 100), "%")
        t = time.monotonic()
        status = d.req("GET", "/health/liveness")[0]
        figure("flood_health_ms", "%.0f" % ((time.monotonic() - t) * 1000))
        check(status == 200, "flood: health answers", status)
        status, _, body = d.req("POST", "/api/job/hello/run")
        eid = json.loads(body).get("executionId") if status == 200 else None
        result = None
        deadline = time.monotonic() + 20
        while eid and time.monotonic() < deadline:
            result = json.loads(d.req("GET", "/api/execution/" + eid)[2])["status"]
            if result != "running":
                break
            time.sleep(0.1)
        check(result == "success", "flood: a job still runs", result)
        if LONG:
            # churn: connections opened and dropped while a client polls
            cpu0, t0 = d.cpu_seconds(), time.monotonic()
            answered = 0
            for i in range(400):
                for s in held[i * 10:(i + 1) * 10]:
                    s.close()
                for _ in range(10):
                    try:
                        held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
                    except OSError:
                        pass
                answered += d.req("GET", "/health/liveness")[0] == 200
            figure("flood_churn_health_answered", "%d/400" % answered)
            figure("flood_daemon_cpu_churn", "%.1f" % ((d.cpu_seconds() - cpu0) /
                                                       (time.monotonic() - t0) * 100), "%")
            check(answered == 400, "flood with churn: health answers every time", answered)
    finally:
        for s in held:
            s.close()
    check("Too many open files" not in d.log(), "flood: no job or store ran out of descriptors")
    metrics = d.req("GET", "/metrics")[2].decode()
    m = re.search(r"ofelia_http_connections_evicted_total (\d+)", metrics)
    figure("flood_evicted", m.group(1) if m else "?")
    d.stop()


def main():
    random.seed(8)
    t = time.monotonic()
    for attack in (attack_read_only, attack_browser, attack_auth, attack_names,
                   attack_h2o_edges, attack_flood):
        with tempfile.TemporaryDirectory(prefix="ofelia-abuse-") as work:
            print("== %s" % attack.__name__[len("attack_"):], flush=True)
            try:
                attack(work)
            except Exception as e:  # a crash of the suite is a failure too
                check(False, attack.__name__, repr(e))
            finally:
                for d in daemons:
                    if d.proc.poll() is None:
                        d.proc.kill()
                        d.proc.wait()
                daemons.clear()
    figure("abuse_seconds", "%.0f" % (time.monotonic() - t))
    if failures:
        print("%d check(s) failed: %s" % (len(failures), ", ".join(failures)))
        sys.exit(1)


if __name__ == "__main__":
    main()
