"""Notifications against real receivers on 127.0.0.1: an HTTP receiver that
records, fails, sleeps and goes away, and aiosmtpd with STARTTLS or implicit
TLS and AUTH on a certificate made for the test. Each channel's payload; a
receiver down, then back; kill -9 between an execution's end and its
delivery; a receiver that sleeps 10 s while slots keep their times;
only-on-error flags; cooldown; masking; the dead-man alert, also across a
time ofelia was down; interrupted, missed and expired slots; the API,
metrics and WebSocket events of the outbox."""
import email.policy
import json
import os
import re
import socket
import time
import unittest
import urllib.parse

from tests.integration.receivers import HAVE_AIOSMTPD, HttpReceiver, SmtpReceiver, free_port
from tests.integration.support import wait_for
from tests.integration.test_api import ApiCase, WebSocket
from tests.integration.test_docker import HOST, DockerCase

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
VERSION = open(os.path.join(ROOT, "VERSION")).read().strip()
ENV = {"TZ": "UTC"}


def go_duration(ns):
    """Go's time.Duration.String."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1000:
        return "%s%dns" % (sign, ns)
    if ns < 1000000:
        return sign + ("%.3f" % (ns / 1e3)).rstrip("0").rstrip(".") + "µs"
    if ns < 1000000000:
        return sign + ("%.6f" % (ns / 1e6)).rstrip("0").rstrip(".") + "ms"
    out = ""
    h, rest = divmod(ns, 3600 * 10**9)
    m, rest = divmod(rest, 60 * 10**9)
    s, frac = divmod(rest, 10**9)
    sec = str(s) + (("." + ("%09d" % frac).rstrip("0")) if frac else "") + "s"
    if h:
        out = "%dh%dm" % (h, m)
    elif m:
        out = "%dm" % m
    return sign + out + sec


def iso_ns(text):
    """ns of the store's ISO-8601 text."""
    base, frac = text[:-1].split(".")
    t = time.strptime(base, "%Y-%m-%dT%H:%M:%S")
    import calendar
    return calendar.timegm(t) * 10**9 + int(frac.ljust(9, "0"))


class NotifyCase(ApiCase):
    def start(self, config, web=True, env=None):
        e = dict(ENV, **(env or {}))
        if web:
            return self.start_web(config, env=e)
        d = self.daemon(config, env=e)
        d.start()
        return d

    def notices(self, where="1=1"):
        return self.query("SELECT id, execution_id, job_name, channel, target, event, state, "
                          "attempts, last_error, idempotency_key FROM notifications WHERE %s "
                          "ORDER BY id" % where)

    def execution(self, job):
        rows = self.query("SELECT id, status, start_time, end_time, duration_ns, error "
                          "FROM executions WHERE job_name = ? ORDER BY created_at", (job,))
        self.assertTrue(rows, "no execution of %s" % job)
        return rows[0]

    def wait_requests(self, receiver, path, n, timeout=30):
        return wait_for(lambda: len(receiver.received(path)) >= n and receiver.received(path),
                        timeout, what="%d requests at %s (got %s)" %
                        (n, path, receiver.received(path)))


class Payloads(NotifyCase):
    @unittest.skipUnless(HAVE_AIOSMTPD, "python3-aiosmtpd is not installed (tools/deps.sh)")
    def test_each_channel_payload(self):
        http = HttpReceiver().start()
        self.addCleanup(http.stop)
        starttls = SmtpReceiver(self.dir).start()
        self.addCleanup(starttls.stop)
        implicit = SmtpReceiver(self.dir, implicit=True).start()
        self.addCleanup(implicit.stop)
        saved = os.path.join(self.dir, "saved")
        self.start("""
global:
  slack-webhook: %(slack)s
  smtp-host: 127.0.0.1
  smtp-port: %(smtp)d
  smtp-user: ofelia
  smtp-password: s3cret-pass
  smtp-tls-skip-verify: true
  email-to: ops@example.com, dev@example.com
  email-from: "ofelia@%%s"
  save-folder: %(saved)s
  save-mode: "0640"
  webhook-webhooks: [json, discord]
webhooks:
  json:
    url: %(json)s
    trigger: always
  discord:
    preset: discord
    id: "123"
    secret: discord-secret
    url: %(discord)s
jobs:
  fails:
    type: local
    schedule: "@every 1h"
    run-on-startup: true
    command: sh -c 'echo out-line; echo err-line >&2; exit 3'
  tls:
    type: local
    schedule: "@every 1h"
    run-on-startup: true
    command: "true"
    smtp-port: %(implicit)d
    smtp-tls-policy: implicit
""" % dict(slack=http.url("/services/T0/B0/slack-secret"), smtp=starttls.port,
           implicit=implicit.port, saved=saved, json=http.url("/json"),
           discord=http.url("/discord")))
        self.wait_requests(http, "/services/T0/B0/slack-secret", 2)
        self.wait_requests(http, "/json", 2)
        self.wait_requests(http, "/discord", 1)
        wait_for(lambda: starttls.messages and implicit.messages, 30, what="mails")
        wait_for(lambda: len(self.notices("state = 'delivered'")) == 9, 30,
                 what="9 notices delivered: %s" % (self.notices(),))
        exec_id, status, start, end, duration_ns, error = self.execution("fails")
        self.assertEqual((status, error), ("failed", "exit status 3"))
        dur = go_duration(duration_ns)
        command = "sh -c 'echo out-line; echo err-line >&2; exit 3'"

        # Slack: Ofelia's form field "payload" holding its JSON
        slack = [r for r in http.received("/services/T0/B0/slack-secret")
                 if exec_id in r.header("Idempotency-Key")][0]
        self.assertEqual(slack.header("Content-Type"), "application/x-www-form-urlencoded")
        self.assertEqual(slack.header("Idempotency-Key"), exec_id + ":slack")
        form = urllib.parse.parse_qs(slack.body.decode(), strict_parsing=True)
        self.assertEqual(list(form), ["payload"])
        self.assertEqual(json.loads(form["payload"][0]), {
            "text": 'Job *"fails"* finished in *%s*, command `%s`' % (dur, command),
            "username": "Ofelia",
            "attachments": [{"color": "#F35A00", "title": "Execution failed",
                             "text": "exit status 3"}],
            "icon_url": "https://raw.githubusercontent.com/netresearch/ofelia/master/static/"
                        "avatar.png"})
        # Go's encoding/json escapes > and & as \u003e and \u0026
        self.assertIn("\\u003e\\u00262", form["payload"][0])

        # the json-post preset (a webhook with only a url)
        post = [r for r in http.received("/json") if exec_id in r.header("Idempotency-Key")][0]
        self.assertEqual(post.header("Content-Type"), "application/json; charset=utf-8")
        self.assertEqual(post.header("Idempotency-Key"), exec_id + ":webhook:json")
        body = json.loads(post.body)
        start_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(iso_ns(start) // 10**9))
        end_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(iso_ns(end) // 10**9))
        host_ts = body["host"].pop("timestamp")
        self.assertRegex(host_ts, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(body, {
            "job": {"name": "fails", "command": command, "schedule": "@every 1h",
                    "type": "local"},
            "execution": {"id": exec_id, "status": "failed", "failed": True, "skipped": False,
                          "duration": dur, "duration_ns": duration_ns, "start_time": start_text,
                          "end_time": end_text, "error": "exit status 3",
                          "output": "out-line\n", "stderr": "err-line\n"},
            "host": {"hostname": socket.gethostname()},
            "ofelia": {"version": VERSION}})

        # a bundled preset: discord, its url overridden, on errors only
        discord = self.wait_requests(http, "/discord", 1)
        self.assertEqual(len(discord), 1)
        embed = json.loads(discord[0].body)["embeds"][0]
        self.assertEqual(embed["title"], ":red_circle: Job: fails")
        self.assertEqual(embed["color"], 15940352)
        self.assertEqual(embed["fields"][2], {"name": "Status", "value": "failed",
                                              "inline": True})

        # mail over STARTTLS with AUTH: Ofelia's subject, body, attachments
        mail_from, rcpt, msg, authenticated = starttls.messages[0]
        self.assertTrue(authenticated)
        self.assertEqual(mail_from, "ofelia@" + socket.gethostname())
        self.assertEqual(rcpt, ["ops@example.com", "dev@example.com"])
        self.assertEqual(msg["Subject"], "[Execution failed] Job fails finished in %s" % dur)
        self.assertEqual(msg["To"], "ops@example.com, dev@example.com")
        self.assertEqual(msg["Message-ID"], "<%s-mail@ofelia>" % exec_id)
        # quoted-printable line breaks are CRLF on the wire, as gomail writes them
        html = msg.get_body(("html",)).get_content().replace("\r\n", "\n")
        self.assertIn("Job <b>fails</b>,\n\t\t\tExecution <b>failed</b> in <b>%s</b>" % dur, html)
        self.assertIn("<pre>sh -c &#39;echo out-line; echo err-line &gt;&amp;2; exit 3&#39;</pre>",
                      html)
        files = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
        base = "fails_" + exec_id
        self.assertEqual(sorted(files), [base + ".stderr.json", base + ".stderr.log",
                                         base + ".stdout.log"])
        self.assertEqual(files[base + ".stdout.log"], "out-line\n")
        self.assertEqual(files[base + ".stderr.log"], "err-line\n")
        context = json.loads(files[base + ".stderr.json"])
        self.assertEqual(context["Execution"]["ID"], exec_id)
        self.assertEqual(context["Execution"]["Failed"], True)
        self.assertEqual(context["Job"]["Name"], "fails")

        # implicit TLS on the other server, for the job that set it
        _, _, msg, authenticated = implicit.messages[0]
        self.assertTrue(authenticated)
        self.assertRegex(msg["Subject"], r"^\[Execution successful\] Job tls finished in ")
        tls_id = self.execution("tls")[0]
        self.assertEqual([p.get_filename() for p in msg.iter_attachments()],
                         ["tls_%s.stderr.json" % tls_id], "empty streams are not attached")

        # the save folder: three files per notice, mode 0640
        stamp = time.strftime("%Y%m%d_%H%M%S", time.gmtime(iso_ns(start) // 10**9))
        for suffix, content in ((".stdout.log", "out-line\n"), (".stderr.log", "err-line\n")):
            path = os.path.join(saved, stamp + "_fails" + suffix)
            with open(path) as f:
                self.assertEqual(f.read(), content)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o640)
        with open(os.path.join(saved, stamp + "_fails.json")) as f:
            self.assertEqual(json.load(f)["Execution"]["Error"], "exit status 3")
        self.assertFalse([n for n in os.listdir(saved) if ".tmp-" in n], "no temporary left")


class Delivery(NotifyCase):
    CONFIG = """
global:
  notification-retry-delay: 100ms
  notification-max-attempts: 50
  webhook-webhooks: [json]
webhooks:
  json:
    url: %(url)s
    trigger: always
jobs:
  once:
    type: local
    schedule: "@every 1h"
    run-on-startup: %(startup)s
    command: "true"
"""

    def test_receiver_down_retries_then_delivered_once(self):
        http = HttpReceiver()  # not started: the port refuses
        self.start(self.CONFIG % dict(url=http.url("/json"), startup="true"))
        wait_for(lambda: self.notices("attempts >= 2"), 30, what="two failed attempts")
        row = self.notices()[0]
        self.assertEqual(row[6], "pending")
        self.assertRegex(row[8], r"(?i)connect")
        failed = self.ok("GET", "/api/notifications?status=pending")["notifications"]
        self.assertEqual(failed[0]["status"], "pending")
        self.assertGreaterEqual(failed[0]["attempts"], 2)
        self.assertIsNotNone(failed[0]["nextAttempt"])

        ws = WebSocket(self.port)
        self.addCleanup(ws.close)
        ws.message("connected")
        http.start()
        self.addCleanup(http.stop)
        ev = ws.message("notification.delivered", timeout=30)["payload"]
        self.assertEqual((ev["job"], ev["channel"], ev["target"], ev["state"]),
                         ("once", "webhook", "json", "delivered"))
        self.assertEqual(len(http.received()), 1, "delivered once")
        exec_id = self.execution("once")[0]
        self.assertEqual(http.received()[0].header("Idempotency-Key"), exec_id + ":webhook:json")

        e = self.ok("GET", "/api/execution/" + exec_id)
        self.assertEqual([(n["channel"], n["target"], n["status"]) for n in e["notifications"]],
                         [("webhook", "json", "delivered")])
        self.assertGreaterEqual(e["notifications"][0]["attempts"], 3)
        self.assertEqual(self.ok("GET", "/api/notifications?status=dead")["notifications"], [])
        r = self.req("GET", "/api/notifications?status=lost")
        self.assertError(r, 400, "VALIDATION_ERROR")
        metrics = self.req("GET", "/metrics").body.decode()
        self.assertIn('ofelia_notifications_total{channel="webhook",state="delivered"} 1\n',
                      metrics)
        retried = re.search(r'ofelia_notifications_total\{channel="webhook",state="retried"\} '
                            r'(\d+)', metrics)
        self.assertGreaterEqual(int(retried.group(1)), 2)
        self.assertIn("ofelia_notifications_pending 0\n", metrics)

    def test_libcurl_is_loaded_with_the_first_notice(self):
        """libcurl and its libraries are mapped only once a notice is sent
        (src/lazycurl); the notice itself goes out as usual."""
        def curl_mapped():
            with open("/proc/%d/maps" % d.proc.pid) as f:
                return "libcurl" in f.read()
        http = HttpReceiver()
        http.start()
        self.addCleanup(http.stop)
        d = self.start(self.CONFIG % dict(url=http.url("/json"), startup="false"))
        self.ok("GET", "/api/jobs")
        self.assertFalse(curl_mapped(), "libcurl is loaded before any notice")
        self.ok("POST", "/api/job/once/run")
        self.wait_requests(http, "/json", 1)
        self.assertTrue(curl_mapped(), "the notice went out without libcurl")
        self.assertEqual(json.loads(http.received("/json")[0].body)["job"]["name"], "once")

    def test_without_a_loadable_libcurl_notices_wait_and_say_why(self):
        """A broken libcurl fails the notices that need it, with the loader's
        reason; jobs still run and the notices stay pending, not lost."""
        libdir = os.path.join(self.dir, "badlib")
        os.makedirs(libdir)
        with open(os.path.join(libdir, "libcurl.so.4"), "w") as f:
            f.write("not a library\n")
        http = HttpReceiver()
        http.start()
        self.addCleanup(http.stop)
        self.start(self.CONFIG % dict(url=http.url("/json"), startup="true"),
                   env={"LD_LIBRARY_PATH": libdir})
        wait_for(lambda: self.query("SELECT status FROM executions WHERE job_name = 'once'")
                 == [("success",)], 20, what="the job's run")
        row = wait_for(lambda: self.notices("attempts >= 2"), 30, what="two failed attempts")[0]
        self.assertEqual(row[6], "pending")
        self.assertIn("cannot load libcurl.so.4", row[8])
        self.assertEqual(http.received(), [])

    def test_kill9_between_end_and_delivery(self):
        http = HttpReceiver()
        d = self.start(self.CONFIG % dict(url=http.url("/json"), startup="true"), web=False)
        wait_for(lambda: self.notices("attempts >= 1"), 30, what="a failed attempt")
        d.kill9()
        self.assertEqual([r[6] for r in self.notices()], ["pending"])
        self.assertIntegrity()
        exec_id = self.execution("once")[0]

        http.start()
        self.addCleanup(http.stop)
        with open(d.config, "w") as f:
            f.write(self.CONFIG % dict(url=http.url("/json"), startup="false"))
        d.start()
        wait_for(lambda: self.notices("state = 'delivered'"), 30, what="delivery after restart")
        keys = [r.header("Idempotency-Key") for r in http.received()]
        self.assertEqual(keys, [exec_id + ":webhook:json"], "one delivery per key")
        self.assertCleanExit(d)

    def test_slow_receiver_delays_no_slot(self):
        http = HttpReceiver().start()
        self.addCleanup(http.stop)
        http.delay = 10.0
        d = self.start("""
global:
  notification-workers: 1
webhooks:
  slow:
    url: %s
    trigger: always
    timeout: 30s
jobs:
  tick:
    type: local
    schedule: "* * * * * *"
    command: "true"
    webhooks: slow
""" % http.url("/slow"), web=False)
        wait_for(lambda: len(self.query("SELECT 1 FROM executions WHERE job_name = 'tick' "
                                        "AND status = 'success'")) >= 5, 30,
                 what="five slots")
        self.assertCleanExit(d)
        rows = self.query("SELECT scheduled_time, start_time, status FROM executions "
                          "WHERE job_name = 'tick' ORDER BY scheduled_time")
        slots = [iso_ns(r[0]) for r in rows]
        self.assertEqual([r[2] for r in rows], ["success"] * len(rows), "no slot missed or "
                         "skipped")
        self.assertEqual(slots, [slots[0] + i * 10**9 for i in range(len(slots))],
                         "every second has its run")
        lateness = [iso_ns(r[1]) - iso_ns(r[0]) for r in rows]
        self.assertLess(max(lateness), 10**9, "each started within its second: %s" % lateness)
        # the receiver was busy the whole time: one request, the rest waits
        self.assertEqual(len(http.received()), 1)
        self.assertGreaterEqual(len(self.notices("state = 'pending'")), 4)


class Rules(NotifyCase):
    def test_only_on_error_and_cooldown(self):
        http = HttpReceiver().start()
        self.addCleanup(http.stop)
        saved = os.path.join(self.dir, "saved")
        d = self.start("""
global:
  slack-webhook: %(slack)s
  slack-only-on-error: true
  save-folder: %(saved)s
  save-only-on-error: true
  notification-cooldown: 1h
jobs:
  ok:
    type: local
    schedule: "@every 1h"
    run-on-startup: true
    command: "true"
  chatty:
    type: local
    schedule: "@every 1h"
    run-on-startup: true
    command: "true"
    slack-only-on-error: false
  bad:
    type: local
    schedule: "* * * * * *"
    command: sh -c 'exit 1'
""" % dict(slack=http.url("/slack"), saved=saved), web=False)
        wait_for(lambda: len(self.query("SELECT 1 FROM executions WHERE job_name = 'bad'")) >= 3,
                 30, what="three failures")
        wait_for(lambda: len(http.received("/slack")) >= 2 and
                 len(self.notices("channel = 'save' AND state = 'delivered'")) >= 3, 30,
                 what="slack and three saves")
        self.assertCleanExit(d)
        texts = sorted(json.loads(urllib.parse.parse_qs(r.body.decode())["payload"][0])["text"]
                       .split("*")[1] for r in http.received("/slack"))
        self.assertEqual(texts, ['"bad"', '"chatty"'], "ok is quiet, bad once (cooldown)")
        states = self.query("SELECT job_name, channel, state, count(*) FROM notifications "
                            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
        bad = {(c, s): n for j, c, s, n in states if j == "bad"}
        self.assertEqual(bad[("slack", "delivered")], 1)
        self.assertGreaterEqual(bad[("slack", "suppressed")], 2)
        self.assertGreaterEqual(bad[("save", "delivered")], 3, "save has no cooldown")
        self.assertEqual([r for r in states if r[0] == "ok"], [])
        self.assertEqual({(c, s) for j, c, s, n in states if j == "chatty"},
                         {("slack", "delivered")})
        self.assertTrue(all("_bad." in n for n in os.listdir(saved)), os.listdir(saved))

    def test_masking(self):
        http = HttpReceiver().start()
        self.addCleanup(http.stop)
        http.answers["/hook/hook-secret-1234"] = (401, b"token hook-secret-1234 refused")
        secrets = ["slack-secret-5678", "hook-secret-1234", "id-secret-4321", "mail-pass-8765",
                   "job-slack-0987", "job-pass-6543"]
        self.start("""
global:
  slack-webhook: %(slack)s
  smtp-host: 127.0.0.1
  smtp-port: %(smtp)d
  smtp-user: u
  smtp-password: mail-pass-8765
  smtp-tls-policy: none
  email-to: a@example.com
  mail-only-on-error: true
webhooks:
  hook:
    preset: slack
    id: id-secret-4321
    secret: hook-secret-1234
    url: %(hook)s
    trigger: always
jobs:
  secretive:
    type: local
    schedule: "@every 1h"
    run-on-startup: true
    command: "true"
    webhooks: hook
    slack-webhook: %(job_slack)s
    smtp-password: job-pass-6543
""" % dict(slack=http.url("/services/slack-secret-5678"), smtp=free_port(),
           hook=http.url("/hook/hook-secret-1234"), job_slack=http.url("/s/job-slack-0987")))
        wait_for(lambda: self.notices("state = 'dead'") and
                 self.notices("channel = 'slack' AND state = 'delivered'"), 30,
                 what="the webhook refused (401), Slack delivered")
        cfg = self.req("GET", "/api/config").body.decode()
        job = self.req("GET", "/api/job/secretive").body.decode()
        notices = self.req("GET", "/api/notifications").body.decode()
        stored = json.dumps(self.notices())
        for s in secrets:
            self.assertNotIn(s, cfg)
            self.assertNotIn(s, job)
            self.assertNotIn(s, notices)
            self.assertNotIn(s, stored)
        c = json.loads(cfg)
        self.assertEqual(c["global"]["smtpPassword"], "********")
        self.assertEqual(c["global"]["slackURL"], "http://127.0.0.1:%d/..." % http.port)
        self.assertEqual({k: c["webhooks"][0][k] for k in ("name", "id", "secret", "url")},
                         {"name": "hook", "id": "********", "secret": "********",
                          "url": "http://127.0.0.1:%d/..." % http.port})
        self.assertEqual(json.loads(job)["slackWebhook"], "********")
        self.assertEqual(json.loads(job)["smtpPassword"], "********")
        dead = self.ok("GET", "/api/notifications?status=dead")["notifications"][0]
        self.assertEqual(dead["lastError"], "HTTP 401: token ******** refused")
        # the receiver did get the real values
        self.assertTrue(http.received("/hook/hook-secret-1234"))
        self.assertTrue(http.received("/s/job-slack-0987"))
        for d in self.daemons:
            for s in secrets:
                self.assertNotIn(s, d.log())


class DeadMan(NotifyCase):
    CONFIG = """
webhooks:
  json:
    url: %s
    trigger: error
jobs:
  nightly:
    type: local
    schedule: "@yearly"
    command: "true"
    webhooks: json
    alert-if-no-success-within: 1h
  beat:
    type: local
    schedule: "@every 1h"
    run-on-startup: true
    command: "true"
    webhooks: json
    alert-if-no-success-within: 1h
"""

    def test_alert_counts_the_time_ofelia_was_down(self):
        http = HttpReceiver().start()
        self.addCleanup(http.stop)
        d = self.start(self.CONFIG % http.url("/json"), web=False)
        wait_for(lambda: self.query("SELECT 1 FROM executions WHERE job_name = 'beat' AND "
                                    "status = 'success'"), 30, what="beat's run")
        self.assertCleanExit(d)
        self.assertEqual(self.notices(), [], "nothing due within the hour")
        # Two hours pass while ofelia is down.
        self.query("UPDATE jobs SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', "
                   "'-2 hours')")
        self.query("UPDATE job_metrics SET last_success = strftime('%Y-%m-%dT%H:%M:%fZ', "
                   "'now', '-90 minutes')")
        d.start()
        wait_for(lambda: len(http.received("/json")) >= 2, 30, what="two alerts")
        bodies = sorted((json.loads(r.body) for r in http.received("/json")),
                        key=lambda b: b["job"]["name"])
        self.assertEqual([(b["job"]["name"], b["execution"]["status"], b["execution"]["failed"])
                          for b in bodies],
                         [("beat", "no success", True), ("nightly", "no success", True)])
        self.assertRegex(bodies[0]["execution"]["error"],
                         r"^no successful run within 1h0m0s \(last success: \d{4}-")
        self.assertRegex(bodies[1]["execution"]["error"],
                         r"^no successful run within 1h0m0s \(never succeeded; watched since ")
        keys = self.query("SELECT idempotency_key FROM notifications ORDER BY job_name")
        self.assertRegex(keys[0][0], r"^no-success:beat:\d{4}-.*:webhook:json$")
        # beat ran again at this start and succeeded: its window moved on.
        self.assertCleanExit(d)
        d.start()
        wait_for(lambda: len(self.query("SELECT 1 FROM executions WHERE job_name = 'beat'")) >= 3,
                 30, what="beat's third run")
        self.assertCleanExit(d)
        self.assertEqual(len(self.query("SELECT 1 FROM notifications WHERE event = "
                                        "'no-success'")), 2, "one alert per silence")


class Outcomes(NotifyCase):
    CONFIG = """
webhooks:
  json:
    url: %(url)s
    trigger: always
jobs:
  long:
    type: local
    schedule: "@every 1h"
    run-on-startup: %(startup)s
    command: sleep 30
    webhooks: json
    notify-on: interrupted
  skipper:
    type: local
    schedule: "* * * * * *"
    command: "true"
    catch-up: skip
    webhooks: json
    notify-on: missed
  late:
    type: local
    schedule: "* * * * * *"
    command: "true"
    catch-up: once
    catch-up-deadline: 1ms
    webhooks: json
    notify-on: expired
"""

    def test_interrupted_missed_expired(self):
        http = HttpReceiver().start()
        self.addCleanup(http.stop)
        d = self.start(self.CONFIG % dict(url=http.url("/json"), startup="true"), web=False)
        wait_for(lambda: self.query("SELECT 1 FROM executions WHERE job_name = 'long' AND "
                                    "status = 'running'") and
                 self.query("SELECT 1 FROM executions WHERE job_name = 'late'") and
                 self.query("SELECT 1 FROM executions WHERE job_name = 'skipper'"),
                 30, what="long running, ticks recorded")
        d.kill9()
        with open(d.config, "w") as f:
            f.write(self.CONFIG % dict(url=http.url("/json"), startup="false"))
        time.sleep(2.5)  # slots fall while ofelia is down
        d.start()
        wait_for(lambda: self.notices("event = 'interrupted' AND state = 'delivered'") and
                 self.notices("event = 'missed' AND state = 'delivered'") and
                 self.notices("event = 'expired' AND state = 'delivered'"),
                 30, what="interrupted, missed and expired notices: %s" % (self.notices(),))
        self.assertCleanExit(d)
        events = {(r[2], r[5]) for r in self.notices()}
        self.assertEqual({e for e in events if e[1] != "success"},
                         {("long", "interrupted"), ("skipper", "missed"), ("late", "expired")})
        bodies = [json.loads(r.body) for r in http.received("/json")]
        long = [b for b in bodies if b["job"]["name"] == "long"][0]
        self.assertEqual((long["execution"]["status"], long["execution"]["failed"]),
                         ("interrupted", True))
        self.assertIn("ofelia stopped while this execution was running",
                      long["execution"]["error"])
        missed = [b for b in bodies if b["execution"]["status"] == "missed"]
        self.assertTrue(all(b["job"]["name"] == "skipper" for b in missed))
        self.assertTrue(all(b["execution"]["failed"] for b in missed))


@unittest.skipUnless(HOST, "OFELIA_TEST_DOCKER_HOST is not set: the Docker tests need the "
                     "private engine tools/test.sh starts (as root, with dockerd)")
class FromLabels(DockerCase):
    def test_global_and_job_labels(self):
        http = HttpReceiver().start()
        self.addCleanup(http.stop)
        d = self.daemon(self.config("", docker_extra="  poll-interval: 0\n"), env=ENV)
        d.start()
        # Ofelia's global keys and webhook sections, on the service container only.
        self.container("ofelia", labels=[
            ("ofelia.enabled", "true"), ("ofelia.service", "true"),
            ("ofelia.webhook-webhooks", "alerts"),
            ("ofelia.webhook.alerts.url", http.url("/label-hook")),
            ("ofelia.webhook.alerts.trigger", "always")])
        c = self.container("app", labels=[
            ("ofelia.enabled", "true"),
            ("ofelia.job-exec.hi.schedule", "@every 1s"),
            ("ofelia.job-exec.hi.command", "echo hi"),
            ("ofelia.job-exec.hi.slack-webhook", http.url("/job-slack")),
            # webhook sections on another container are not read
            ("ofelia.webhook.sneaky.url", http.url("/sneaky"))])
        self.wait_requests(http, "/label-hook", 1)
        self.wait_requests(http, "/job-slack", 1)
        body = json.loads(http.received("/label-hook")[0].body)
        self.assertEqual(body["job"]["name"], c + ".hi")
        self.assertEqual(body["execution"]["output"], "hi\n")
        self.assertEqual(http.received("/sneaky"), [])
        d.wait_log("notification settings from labels applied")
        self.assertCleanExit(d)

    wait_requests = NotifyCase.wait_requests
