"""The web security model against the real daemon on 127.0.0.1: read-only
without auth, no start on a non-loopback address without auth, the Host
check that defeats DNS rebinding, JSON bodies only as application/json,
Origin checks on changes and on the WebSocket."""
import subprocess
import time

from tests.integration.support import BIN
from tests.integration.test_api import HIGH_LIMIT, JOBS, ApiCase, WebSocket

LIMIT = "web:\n" + HIGH_LIMIT

CHANGES = (("POST", "/api/job/hello/run", None),
           ("PUT", "/api/job/hello", {"schedule": "@every 2h"}),
           ("PUT", "/api/job/fresh", {"type": "local", "schedule": "@every 1h",
                                      "command": "id"}),
           ("DELETE", "/api/job/hello", None),
           ("PATCH", "/api/job/hello/toggle", None),
           ("POST", "/api/execution/00000000-0000-4000-8000-000000000000/stop", None),
           ("POST", "/api/scheduler/stop", None),
           ("POST", "/api/scheduler/start", None),
           ("POST", "/api/scheduler/reload", None),
           ("PATCH", "/api/config/global", {"logLevel": "debug"}))


class ReadOnlyWithoutAuth(ApiCase):
    """No auth and no web.insecure: reads work, every change is 403."""

    INSECURE = False

    def test_changes_are_refused(self):
        d = self.start_web(LIMIT + JOBS)
        self.assertIn("api=read-only", d.log())
        self.assertEqual(self.ok("GET", "/api/jobs")["total"], 3)
        self.assertEqual(self.ok("GET", "/api/job/hello")["schedule"], "@every 1h")
        self.assertEqual(self.ok("GET", "/api/session"),
                         {"authEnabled": False, "user": None, "role": None,
                          "canWrite": False})
        for method, path, body in CHANGES:
            err = self.assertError(self.req(method, path, body), 403, "FORBIDDEN")
            self.assertIn("web.auth", err["message"])
            self.assertIn("web.insecure", err["message"])
        # nothing changed, nothing ran
        job = self.ok("GET", "/api/job/hello")
        self.assertEqual((job["schedule"], job["enabled"], job["history"]),
                         ("@every 1h", True, []))
        self.assertEqual(self.req("GET", "/api/job/fresh").status, 404)
        self.assertTrue(self.ok("GET", "/api/scheduler/status")["running"])
        self.assertEqual(self.query("SELECT count(*) FROM executions"), [(0,)])
        # the WebSocket is a read: it works
        ws = WebSocket(self.port)
        self.assertEqual(ws.status, 101)
        ws.close()
        self.assertCleanExit(d)

    def test_insecure_from_config_env_and_ini(self):
        """web.insecure in YAML, OFELIA_WEB_INSECURE and INI web-insecure."""
        d = self.start_web("web:\n  insecure: true\n" + JOBS)
        self.assertIn("api=read-write", d.log())
        self.assertTrue(self.ok("GET", "/api/session")["canWrite"])
        self.assertEqual(self.req("PATCH", "/api/job/hello/toggle").status, 200)
        self.assertCleanExit(d)

        d = self.start_web(JOBS, env={"OFELIA_WEB_INSECURE": "true"})
        self.assertEqual(self.req("PATCH", "/api/job/hello/toggle").status, 200)
        self.assertCleanExit(d)

        ini = self.dir + "/ofelia.ini"
        with open(ini, "w") as f:
            f.write("[global]\nweb-insecure = true\n\n"
                    "[job-local \"tick\"]\nschedule = @every 1h\ncommand = echo tick\n")
        d = self.start_web(None, config_path=ini)
        self.assertEqual(self.req("PATCH", "/api/job/tick/toggle").status, 200)
        self.assertCleanExit(d)


class NonLoopbackAddress(ApiCase):
    """Every interface without auth: refused before anything listens."""

    INSECURE = False

    def test_refused_without_auth(self):
        for address in ("0.0.0.0:0", ":0"):
            d = self.daemon(JOBS, args=["--enable-web", "--web-address", address])
            d.start(wait_started=False)
            self.assertEqual(d.proc.wait(10), 1)
            log = d.log()
            self.assertIn("cannot start the web server", log)
            self.assertIn("not a loopback address", log)
            self.assertIn("web.insecure", log)
            self.assertNotIn("msg=listening", log)
            out = subprocess.run([BIN, "validate", "--config", d.config, "--enable-web",
                                  "--web-address", address], capture_output=True, text=True)
            self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
            self.assertIn("not a loopback address", out.stderr)
            ok = subprocess.run([BIN, "validate", "--config", d.config, "--enable-web",
                                 "--web-address", address, "--web-insecure"],
                                capture_output=True, text=True)
            self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)


class HostCheck(ApiCase):
    """DNS rebinding: a page of attacker.example whose name now points at
    127.0.0.1 talks to the daemon as same-origin; its Host header gives it
    away."""

    def test_rebinding_host_is_refused(self):
        d = self.start_web("web:\n  allowed-hosts: [ofelia.example, '*.lan']\n" +
                           HIGH_LIMIT + JOBS)
        port = self.port
        for host in ("attacker.example:%d" % port, "attacker.example",
                     "localhost.attacker.example:%d" % port, "127.0.0.1.nip.io:%d" % port):
            h = {"Host": host}
            err = self.assertError(self.req("GET", "/api/jobs", headers=h), 403, "FORBIDDEN")
            self.assertIn("web.allowed-hosts", err["message"])
            self.assertError(self.req("PUT", "/api/job/pwned", {"type": "local",
                                      "schedule": "@every 1s", "command": "id"}, headers=h),
                             403, "FORBIDDEN")
            self.assertError(self.req("POST", "/api/job/hello/run", headers=h), 403,
                             "FORBIDDEN")
            self.assertError(self.req("GET", "/", headers=h), 403, "FORBIDDEN")
            ws = WebSocket(port, host=host)
            self.assertEqual(ws.status, 403)
            ws.close()
        self.assertEqual(self.req("GET", "/api/job/pwned").status, 404)
        self.assertEqual(self.query("SELECT count(*) FROM executions"), [(0,)])
        # the names that cannot be rebound, and the listed ones
        for host in ("127.0.0.1:%d" % port, "localhost:%d" % port, "LocalHost",
                     "ofelia.example:%d" % port, "box.lan", "[::1]:%d" % port, "10.0.0.7"):
            self.assertEqual(self.req("GET", "/api/jobs", headers={"Host": host}).status, 200,
                             host)
        self.assertCleanExit(d)


class CrossSiteRequests(ApiCase):
    """A page of another site can send simple requests (no preflight): a
    form or fetch(no-cors) POST with text/plain, form or no Content-Type,
    with its Origin; and open a WebSocket with its Origin."""

    CONFIG = "web:\n  cors:\n    allowed-origins: [http://ui.example]\n" + HIGH_LIMIT + JOBS

    def test_simple_requests_and_foreign_origins_are_refused(self):
        d = self.start_web(self.CONFIG)
        here = "http://127.0.0.1:%d" % self.port
        job = '{"type": "local", "schedule": "@every 1s", "command": "id"}'
        # text/plain CSRF: the body is JSON, the type is one a form can send
        for ctype in ("text/plain", "text/plain;charset=UTF-8",
                      "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                      "application/jsonx", "application/json-seq"):
            h = {"Content-Type": ctype}
            self.assertError(self.req("PUT", "/api/job/pwned", job, headers=h), 415,
                             "UNSUPPORTED_MEDIA_TYPE")
            self.assertError(self.req("POST", "/api/job/hello/run", "{}", headers=h), 415,
                             "UNSUPPORTED_MEDIA_TYPE")
            self.assertError(self.req("POST", "/api/scheduler/reload", "x=1", headers=h), 415,
                             "UNSUPPORTED_MEDIA_TYPE")
            self.assertError(self.req("POST", "/api/login", '{"username":"a","password":"b"}',
                                      headers=h), 415, "UNSUPPORTED_MEDIA_TYPE")
        # fetch(no-cors) from another page: no body, but its Origin
        for origin in ("http://attacker.example", "null", "http://127.0.0.1:1",
                       "https://127.0.0.1:%d.attacker.example" % self.port):
            h = {"Origin": origin}
            for method, path in (("POST", "/api/job/hello/run"), ("POST", "/api/scheduler/stop"),
                                 ("PATCH", "/api/job/hello/toggle"),
                                 ("DELETE", "/api/job/hello")):
                err = self.assertError(self.req(method, path, headers=h), 403, "FORBIDDEN")
                self.assertIn("web.cors.allowed-origins", err["message"])
            self.assertError(self.req("PUT", "/api/job/pwned", job,
                                      headers=dict(h, **{"Content-Type": "application/json"})),
                             403, "FORBIDDEN")
            # reads stay readable by CORS rules (no CORS headers: the page cannot read them)
            self.assertEqual(self.req("GET", "/api/jobs", headers=h).status, 200)
            ws = WebSocket(self.port, origin=origin)
            self.assertEqual(ws.status, 403)
            ws.close()
        self.assertEqual(self.req("GET", "/api/job/pwned").status, 404)
        self.assertTrue(self.ok("GET", "/api/job/hello")["enabled"])
        self.assertEqual(self.query("SELECT count(*) FROM executions"), [(0,)])
        self.assertTrue(self.ok("GET", "/api/scheduler/status")["running"])

        # this server's own pages, an allowed origin, and clients without Origin
        json_type = {"Content-Type": "application/json; charset=utf-8"}
        for h in ({"Origin": here}, {"Origin": "http://ui.example"}, {}):
            self.assertEqual(self.req("PATCH", "/api/job/hello/toggle", headers=h).status, 200)
            self.assertEqual(self.req("PUT", "/api/job/hello", '{"schedule": "@every 2h"}',
                                      headers=dict(h, **json_type)).status, 200)
            ws = WebSocket(self.port, host="127.0.0.1:%d" % self.port, origin=h.get("Origin"))
            self.assertEqual(ws.status, 101)
            ws.close()
        self.assertCleanExit(d)


class WebSocketWithAuth(ApiCase):
    """With auth the WebSocket needs a token, and a foreign page cannot use
    one it stole from nowhere: its Origin is refused first."""

    INSECURE = False

    def test_token_and_origin(self):
        from tests.integration.test_api import SECRET, make_token
        d = self.start_web("web:\n  auth:\n    enabled: true\n    secret: %s\n    users:\n"
                           "      - {username: v, password-hash: '$6$abcdefgh$x', role: viewer}\n"
                           % SECRET + HIGH_LIMIT + JOBS)
        now = int(time.time())
        tok = make_token({"sub": "v", "role": "viewer", "iat": now, "exp": now + 600})
        for path, origin, status in (("/api/ws", None, 401),
                                     ("/api/ws?token=garbage", None, 401),
                                     ("/api/ws?token=" + tok, "http://attacker.example", 403),
                                     ("/api/ws?token=" + tok, None, 101),
                                     ("/api/ws?token=" + tok, "http://127.0.0.1:%d" % self.port,
                                      101)):
            ws = WebSocket(self.port, path, host="127.0.0.1:%d" % self.port, origin=origin)
            self.assertEqual(ws.status, status, (path, origin))
            ws.close()
        self.assertCleanExit(d)


class JobNamesInUrls(ApiCase):
    """%00 in a path would cut the name short in C (DELETE hello%00x deleted
    hello); bytes that are not UTF-8 made names served without a "name".
    Both are 400 wherever a name enters; commands the config loader refuses
    are refused here too."""

    CONFIG = "web:\n" + HIGH_LIMIT + JOBS

    def test_bad_names_and_commands(self):
        d = self.start_web(self.CONFIG)
        job = {"type": "local", "schedule": "@every 1h", "command": "echo hi"}
        for path in ("/api/job/hello%00x", "/api/job/hello%00", "/api/job/%00",
                     "/api/execution/%00", "/api/jobs%00", "/%00"):
            for method in ("GET", "DELETE", "PUT"):
                body = job if method == "PUT" else None
                self.assertError(self.req(method, path, body), 400, "VALIDATION_ERROR")
        self.assertError(self.req("POST", "/api/job/hello%00x/run"), 400, "VALIDATION_ERROR")
        self.assertError(self.req("PATCH", "/api/job/hello%00x/toggle"), 400,
                         "VALIDATION_ERROR")
        for name in ("b%FFad", "caf%C3", "%C0%AFetc", "tab%09", "%ED%A0%80"):
            for method, path, body in (("GET", "/api/job/" + name, None),
                                       ("PUT", "/api/job/" + name, job),
                                       ("DELETE", "/api/job/" + name, None),
                                       ("POST", "/api/job/%s/run" % name, None),
                                       ("PATCH", "/api/job/%s/toggle" % name, None)):
                err = self.assertError(self.req(method, path, body), 400, "VALIDATION_ERROR")
                self.assertIn("job name", err["message"])
        # nothing was cut short or created
        jobs = self.ok("GET", "/api/jobs")["jobs"]
        self.assertEqual(sorted(j["name"] for j in jobs), ["failing", "hello", "sleeper"])
        self.assertTrue(all(isinstance(j["name"], str) for j in jobs))
        self.assertEqual(self.query("SELECT count(*) FROM executions"), [(0,)])
        # a UTF-8 name is fine
        self.assertEqual(self.req("PUT", "/api/job/caf%C3%A9", job).status, 201)
        self.assertEqual(self.ok("GET", "/api/job/caf%C3%A9")["name"], "caf\u00e9")

        # a command the config file would refuse
        for body in (dict(job, command="sh -c 'echo unterminated"),
                     dict(job, command='echo "half')):
            err = self.assertError(self.req("PUT", "/api/job/quoted", body), 400,
                                   "VALIDATION_ERROR")
            self.assertIn("bad command", err["message"])
            err = self.assertError(self.req("PUT", "/api/job/hello", {"command": body["command"]}),
                                   400, "VALIDATION_ERROR")
            self.assertIn("unterminated", err["message"])
        self.assertEqual(self.req("GET", "/api/job/quoted").status, 404)
        self.assertEqual(self.ok("GET", "/api/job/hello")["command"],
                         "sh -c 'echo one; echo two; echo three >&2'")
        self.assertCleanExit(d)


class Tokens(ApiCase):
    """Tokens made with the key but from the future or with a "crit"
    header are refused; /api/refresh cannot extend a session past
    web.auth.max-session-age."""

    INSECURE = False

    def config(self, extra=""):
        from tests.integration.test_api import SECRET, password_hash
        return ("web:\n  auth:\n    enabled: true\n    secret: %s\n%s    users:\n"
                "      - {username: admin, password-hash: '%s', role: admin}\n"
                % (SECRET, extra, password_hash("admin-pw")) + HIGH_LIMIT + JOBS)

    def test_forged_claims_and_headers(self):
        from tests.integration.test_api import make_token
        d = self.start_web(self.config())
        now = int(time.time())
        good = {"sub": "admin", "role": "admin", "iat": now, "exp": now + 600}
        self.assertEqual(self.req("GET", "/api/jobs", token=make_token(good)).status, 200)
        for claims, header in ((dict(good, iat=now + 3600), None),           # iat ahead
                               (dict(good, nbf=now + 3600), None),           # nbf ahead
                               (dict(good, nbf="0"), None),                  # nbf not a number
                               (dict(good, iat=str(now)), None),             # iat not a number
                               (dict(good, exp=now + 10.5), None),           # exp not whole
                               (dict(good, auth_time=now + 3600), None),     # session ahead
                               (dict(good, iat=now - 8 * 86400), None),      # older than 7 days
                               (good, {"crit": ["exp"]}),                    # crit extension
                               (good, {"crit": ["b64"], "b64": False})):
            tok = make_token(claims, header=header)
            self.assertError(self.req("GET", "/api/jobs", token=tok), 401, "UNAUTHORIZED")
            self.assertError(self.req("POST", "/api/refresh", token=tok), 401, "UNAUTHORIZED")
            self.assertEqual(self.ok("GET", "/api/session", token=tok)["user"], None)
        self.assertCleanExit(d)

    def test_sessions_have_an_absolute_lifetime(self):
        from tests.integration.test_api import token_claims
        d = self.start_web(self.config("    max-session-age: 3s\n"))
        first = self.login("admin", "admin-pw")["token"]
        c1 = token_claims(first)
        self.assertEqual(len(c1["sid"]), 32)
        # the token lasts until the session's end, not token-expiry's 24h
        self.assertLessEqual(c1["exp"], c1["auth_time"] + 3)
        time.sleep(1.1)
        second = self.ok("POST", "/api/refresh", token=first)["token"]
        c2 = token_claims(second)
        self.assertEqual((c2["sid"], c2["auth_time"]), (c1["sid"], c1["auth_time"]))
        self.assertLessEqual(c2["exp"], c1["auth_time"] + 3)
        self.assertEqual(self.req("GET", "/api/jobs", token=second).status, 200)
        # once the session is over, refreshing does not revive it
        wait = c1["auth_time"] + 3 - time.time() + 0.2
        time.sleep(max(wait, 0))
        self.assertError(self.req("POST", "/api/refresh", token=second), 401, "UNAUTHORIZED")
        self.assertError(self.req("GET", "/api/jobs", token=second), 401, "UNAUTHORIZED")
        # a new login is a new session
        third = token_claims(self.login("admin", "admin-pw")["token"])
        self.assertNotEqual(third["sid"], c1["sid"])
        self.assertIn("session=" + c1["sid"], d.log())
        self.assertCleanExit(d)


class LoginLimiter(ApiCase):
    """150 wrong passwords at once from one client: attempts count when
    they start, so no more than max-login-attempts reach the hasher; the
    rest are 429 at once. A success gives its attempt back."""

    INSECURE = False

    def test_parallel_wrong_passwords(self):
        import concurrent.futures
        from tests.integration.test_api import SECRET, password_hash
        d = self.start_web("web:\n  auth:\n    enabled: true\n    secret: %s\n"
                           "    max-login-attempts: 5\n    users:\n"
                           "      - {username: admin, password-hash: '%s', role: admin}\n"
                           "      - {username: old, password-hash: '%s', role: viewer}\n"
                           % (SECRET, password_hash("admin-pw"),
                              password_hash("old-pw", bcrypt=True)) + HIGH_LIMIT + JOBS)
        # two good logins first: refunded, they leave the allowance whole
        self.login("admin", "admin-pw")
        self.login("old", "old-pw")

        def attempt(i):
            user = ("admin", "old", "nobody")[i % 3]
            return self.req("POST", "/api/login", {"username": user, "password": "wrong"}).status

        with concurrent.futures.ThreadPoolExecutor(150) as pool:
            statuses = list(pool.map(attempt, range(150)))
        self.assertEqual(statuses.count(401), 5, statuses)
        self.assertEqual(statuses.count(429), 145, statuses)
        self.assertEqual(d.log().count("msg=\"login failed\""), 5)
        # and the right password is refused too for the rest of the minute
        self.assertError(self.req("POST", "/api/login",
                                  {"username": "admin", "password": "admin-pw"}),
                         429, "RATE_LIMITED")
        self.assertCleanExit(d)


def raw_exchange(port, data, timeout=10):
    """Sends bytes on a fresh connection and reads until the server closes
    (or timeout); returns [(status, headers, body), ...] of the answers."""
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
    finally:
        s.close()
    answers = []
    while got:
        head, _, rest = got.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in
                   (line.split(":", 1) for line in lines[1:] if ":" in line)}
        n = int(headers.get("content-length", "0"))
        answers.append((int(lines[0].split()[1]), headers, rest[:n]))
        got = rest[n:]
    return answers


class MalformedRequests(ApiCase):
    """Requests h2o refuses itself, before any handler, used to get a
    plain-text "Bad Request"; now the JSON envelope, also on a keep-alive
    connection after a good request."""

    def assertEnvelope(self, answer, status, code):
        import json
        got, headers, body = answer
        self.assertEqual(got, status, (headers, body))
        self.assertTrue(headers["content-type"].startswith("application/json"), headers)
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertEqual(json.loads(body)["error"]["code"], code)

    def test_h2o_refusals_use_the_envelope(self):
        from tests.integration.test_api import RFC3339
        d = self.start_web("web:\n" + HIGH_LIMIT + JOBS)
        port = self.port
        max_reqlen = 8192 + 4096 * 100  # h2o's H2O_MAX_REQLEN
        cases = (
            (b"GET /a\x00b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400, "VALIDATION_ERROR"),
            (b"GET /a\x01b HTTP/1.1\r\n\r\n", 400, "VALIDATION_ERROR"),
            (b"GET /\r\n\r\n", 400, "VALIDATION_ERROR"),                     # HTTP/0.9
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "VALIDATION_ERROR"),  # h2 preface
            (b"GET / HTTP/1.1\r\n" + b"a: b\r\n" * 10000 + b"\r\n", 431, "HEADERS_TOO_LARGE"),
            (b"GET / HTTP/1.1\r\nx: " + b"y" * max_reqlen, 431, "HEADERS_TOO_LARGE"),
            (b"GET /" + b"a" * (max_reqlen - 5), 414, "URI_TOO_LONG"),
        )
        for data, status, code in cases:
            answers = raw_exchange(port, data)
            self.assertEqual(len(answers), 1, (data[:40], answers))
            self.assertEnvelope(answers[0], status, code)
            self.assertEqual(answers[0][1].get("connection"), "close")
        # the same after a good request on a keep-alive connection, and pipelined
        good = b"GET /health/liveness HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        answers = raw_exchange(port, good + good + b"GET /\x01 HTTP/1.1\r\n\r\n")
        self.assertEqual([a[0] for a in answers], [200, 200, 400], answers)
        self.assertEnvelope(answers[2], 400, "VALIDATION_ERROR")
        import socket
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(good)
        first = s.recv(65536)
        self.assertTrue(first.startswith(b"HTTP/1.1 200"), first)
        s.sendall(b"GET /\r\n\r\n")
        rest = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        s.close()
        self.assertTrue(rest.startswith(b"HTTP/1.1 400"), rest)
        self.assertIn(b'"code":"VALIDATION_ERROR"', rest)
        # slow: a head in pieces, with a bad byte at the end
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        for piece in (b"GET /", b"health/", b"liveness HT", b"TP/1.1\r\nX: \x7f\r\n\r\n"):
            s.sendall(piece)
            time.sleep(0.05)
        out = s.recv(65536)
        s.close()
        self.assertTrue(out.startswith(b"HTTP/1.1 400"), out)
        # a body longer than a head may be is no head: a 600 KB PUT is read
        err = self.assertError(self.req("PUT", "/api/job/hello", {"command": "x" * 600000,
                                                                   "bogus": 1}),
                               400, "VALIDATION_ERROR")
        self.assertIn("bogus", err["message"])
        # the daemon serves on
        self.assertEqual(self.req("GET", "/health/liveness").status, 200)
        err = self.assertError(self.req("GET", "/api/nope"), 404, "NOT_FOUND")
        self.assertRegex(err["details"]["timestamp"], RFC3339)
        self.assertCleanExit(d)


def cpu_seconds(pid):
    import os
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ConnectionFlood(ApiCase):
    """1,100 idle TCP connections against a daemon whose descriptor limit
    is 1024 (hard, so it cannot raise it): jobs still get their pipes, a new
    client still gets an answer, and the accept loop does not spin on
    EMFILE. The CPU the daemon uses meanwhile is printed, not asserted."""

    def test_idle_connections_leave_room(self):
        import resource
        import socket
        import sys

        def low_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

        d = self.start_web("web:\n" + HIGH_LIMIT + JOBS, preexec_fn=low_limit)
        m = d.wait_log(r'msg="HTTP connections" max=(\d+) nofile=1024')
        cap = int(m.group(1))
        self.assertLess(cap, 1024 - 64)
        held = []
        try:
            for _ in range(1100):
                held.append(socket.create_connection(("127.0.0.1", self.port), timeout=10))
            time.sleep(1.5)  # they are idle for longer than a new client waits
            before, t0 = cpu_seconds(d.proc.pid), time.monotonic()
            time.sleep(3)
            cpu = (cpu_seconds(d.proc.pid) - before) / (time.monotonic() - t0)
            print("\nconnection flood: 1100 idle connections held, connection cap %d, daemon "
                  "CPU %.1f%% over 3 s" % (cap, cpu * 100), file=sys.stderr)
            # a new client gets answers, a job gets its pipes
            self.assertEqual(self.req("GET", "/health/liveness").status, 200)
            self.assertIn(self.req("GET", "/health/readiness").status, (200, 503))
            eid = self.run_job("hello")
            done = self.wait_execution(eid)
            self.assertEqual(done["status"], "success", done)
            self.assertNotIn("Too many open files", d.log())
        finally:
            for s in held:
                s.close()
        self.assertEqual(self.req("GET", "/health/liveness").status, 200)
        metrics = self.req("GET", "/metrics").body.decode()
        self.assertRegex(metrics, r"ofelia_http_connections_evicted_total [1-9]")
        self.assertCleanExit(d)
