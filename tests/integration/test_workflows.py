"""Retries and workflows end to end (docs/scheduling.md): the real daemon, a
real SQLite file. Backoff delays as configured, read from the stored times;
one notice per slot; on-failure and on-success triggers with their cause;
kill -9 during a backoff and during a chain (each runs exactly once after
the restart); depends-on that succeeds, fails and times out; loops and
unknown names refused with their place, at load, reload and through the
API. Retries of Docker jobs are in test_docker.py (RunRetries), beside the
other tests of the private test engine."""
import datetime as dt
import os
import subprocess
import time
import uuid

from tests.integration.support import BIN, DaemonTest, wait_for
from tests.integration.test_api import ApiCase, WebSocket


def parse_iso(s):
    """Seconds of a stored time, or of the API's (which drops .000)."""
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in s else "%Y-%m-%dT%H:%M:%SZ"
    return dt.datetime.strptime(s, fmt).replace(tzinfo=dt.timezone.utc).timestamp()


# Stored times have milliseconds: a gap read from them may be 1 ms short.
MS = 0.001


class Retries(ApiCase):
    def attempts(self, job):
        return self.query("SELECT id, status, trigger, attempt, first_attempt_id, cause_id, "
                          "start_time, end_time FROM executions WHERE job_name = ? "
                          "ORDER BY attempt, created_at", (job,))

    def test_backoff_one_notice_and_the_chain_it_triggers(self):
        saved = os.path.join(self.dir, "saved")
        self.start_web("""
global:
  retry-delay: 300ms
  retry-max-delay: 700ms
jobs:
  flaky:
    type: local
    schedule: "@manual"
    command: sh -c 'echo try; exit 3'
    max-retries: 3
    save-folder: %s
    on-failure: [alert]
  alert:
    type: local
    schedule: "@triggered"
    command: echo alert
  legacy:
    type: local
    schedule: "@manual"
    command: "false"
    MaxRetries: 1
    RetryDelayMs: 200
    RetryExponential: false
""" % saved)
        ws = WebSocket(self.port)
        self.addCleanup(ws.close)
        first = self.run_job("flaky")
        legacy = self.run_job("legacy")
        wait_for(lambda: self.query("SELECT count(*) FROM executions WHERE job_name = 'alert' "
                                    "AND status = 'success'")[0][0] == 1,
                 timeout=30, what="the on-failure run")
        wait_for(lambda: len(self.attempts("legacy")) == 2 and
                 self.attempts("legacy")[1][1] == "failed", what="legacy's retry")

        rows = self.attempts("flaky")
        self.assertEqual([(r[1], r[2], r[3]) for r in rows],
                         [("failed", "manual", 1), ("failed", "retry", 2),
                          ("failed", "retry", 3), ("failed", "retry", 4)])
        self.assertEqual(rows[0][0], first)
        self.assertEqual([r[4] for r in rows], [None, first, first, first])
        self.assertEqual([r[5] for r in rows], [None] + [r[0] for r in rows[:-1]])
        # retry-delay 300ms doubled each time, bounded by retry-max-delay.
        for (prev, nxt), delay in zip(zip(rows, rows[1:]), (0.3, 0.6, 0.7)):
            gap = parse_iso(nxt[6]) - parse_iso(prev[7])
            self.assertGreaterEqual(gap, delay - MS, (prev, nxt))
        legacy_rows = self.attempts("legacy")
        self.assertEqual(legacy_rows[0][0], legacy)
        self.assertGreaterEqual(parse_iso(legacy_rows[1][6]) - parse_iso(legacy_rows[0][7]),
                                0.2 - MS)

        # One notice for the slot: the last attempt's.
        wait_for(lambda: self.query("SELECT count(*) FROM notifications WHERE state <> "
                                    "'pending'")[0][0] >= 1, what="the notice")
        self.assertEqual(self.query("SELECT execution_id, channel FROM notifications "
                                    "WHERE job_name = 'flaky'"), [(rows[-1][0], "save")])

        alert = self.query("SELECT id, trigger, cause_id, attempt FROM executions "
                           "WHERE job_name = 'alert'")
        self.assertEqual(alert[0][1:], ("dependency", rows[-1][0], 1))

        # The API: links both ways, attempts, what an execution caused.
        job = self.ok("GET", "/api/job/flaky")
        self.assertEqual(job["dependencies"],
                         {"dependsOn": [], "onSuccess": [], "onFailure": ["alert"]})
        self.assertEqual(job["maxRetries"], 3)
        self.assertEqual(job["pending"], [])
        self.assertEqual(self.ok("GET", "/api/job/alert")["dependents"],
                         {"dependsOn": [], "onSuccess": [], "onFailure": ["flaky"]})
        hist = {h["executionId"]: h for h in job["history"]}
        self.assertEqual((hist[rows[2][0]]["attempt"], hist[rows[2][0]]["firstAttemptId"],
                          hist[rows[2][0]]["causeId"]), (3, first, rows[1][0]))
        e = self.ok("GET", "/api/execution/" + first)
        self.assertEqual((e["attempt"], e["firstAttemptId"], e["causeId"]), (1, None, None))
        self.assertEqual([(c["executionId"], c["trigger"], c["attempt"]) for c in e["caused"]],
                         [(rows[1][0], "retry", 2)])
        last = self.ok("GET", "/api/execution/" + rows[-1][0])
        self.assertEqual([(c["job"], c["trigger"], c["status"]) for c in last["caused"]],
                         [("alert", "dependency", "success")])

        # WebSocket events: each retry planned, then the triggered run.
        retrying = []
        while len(retrying) < 3:
            p = ws.message("job.retrying")["payload"]
            if p["job"] == "flaky":
                retrying.append((p["attempt"], p["executionId"], p["nextExecutionId"]))
        self.assertEqual(retrying, [(n, rows[n - 2][0], rows[n - 1][0]) for n in (2, 3, 4)])
        triggered = ws.message("job.triggered")["payload"]
        self.assertEqual((triggered["job"], triggered["executionId"], triggered["causeId"]),
                         ("alert", alert[0][0], rows[-1][0]))

    def test_kill9_during_a_backoff_and_a_chain_runs_each_once(self):
        ok = os.path.join(self.dir, "ok")
        cfg = """
jobs:
  slow-retry:
    type: local
    schedule: "@manual"
    command: sh -c 'test -e %s || { touch %s; exit 1; }'
    max-retries: 2
    retry-delay: 3s
  first:
    type: local
    schedule: "@manual"
    command: echo first
    on-success: [second]
  second:
    type: local
    schedule: "@triggered"
    command: echo second
""" % (ok, ok)
        d = self.start_web(cfg)
        failed = self.run_job("slow-retry")
        retry = wait_for(lambda: self.query("SELECT id, due_at, attempt, first_attempt_id, "
                                            "cause_id FROM pending_runs WHERE kind = 'retry'"),
                         what="the planned retry")[0]
        self.assertEqual(retry[2:], (2, failed, failed))
        shown = self.ok("GET", "/api/execution/" + retry[0])
        self.assertEqual((shown["status"], shown["kind"], shown["job"], shown["attempt"]),
                         ("pending", "retry", "slow-retry", 2))
        self.assertAlmostEqual(parse_iso(shown["dueTime"]), parse_iso(retry[1]), delta=MS)
        self.assertEqual([p["executionId"] for p in self.ok("GET", "/api/job/slow-retry")
                          ["pending"]], [retry[0]])

        # Paused, a manual run still runs; what it triggers waits for resume.
        self.ok("POST", "/api/scheduler/stop")
        cause = self.run_job("first")
        trig = wait_for(lambda: self.query("SELECT id, cause_id FROM pending_runs "
                                           "WHERE kind = 'trigger'"),
                        what="the triggered run")[0]
        self.assertEqual(trig[1], cause)
        d.kill9()
        self.assertIntegrity()
        self.assertEqual(self.query("SELECT count(*) FROM executions WHERE job_name = "
                                    "'second'"), [(0,)])

        d = self.start_web(cfg)
        d.wait_log("pending runs recovered")
        wait_for(lambda: self.query("SELECT status FROM executions WHERE id = ?",
                                    (retry[0],)) == [("success",)], timeout=15,
                 what="the retry after the restart")
        wait_for(lambda: self.query("SELECT status FROM executions WHERE id = ?",
                                    (trig[0],)) == [("success",)], what="the triggered run")
        got = self.query("SELECT trigger, attempt, first_attempt_id, cause_id, start_time "
                         "FROM executions WHERE id = ?", (retry[0],))[0]
        self.assertEqual(got[:4], ("retry", 2, failed, failed))
        self.assertGreaterEqual(parse_iso(got[4]), parse_iso(retry[1]) - MS)
        self.assertEqual(self.query("SELECT count(*) FROM pending_runs"), [(0,)])
        self.assertCleanExit(d)

        # Once: another start runs neither again.
        d = self.daemon(cfg).start()
        time.sleep(0.5)
        self.assertCleanExit(d)
        self.assertEqual(self.query("SELECT job_name, count(*) FROM executions "
                                    "GROUP BY job_name ORDER BY job_name"),
                         [("first", 1), ("second", 1), ("slow-retry", 2)])
        self.assertIntegrity()


    def test_retries_left_while_down_catch_up_and_a_removed_job_skips_its_own(self):
        cfg = """
jobs:
  late:
    type: local
    schedule: "@manual"
    command: echo late
    max-retries: 3
  gone:
    type: local
    schedule: "@manual"
    command: "false"
    max-retries: 1
    retry-delay: 1500ms
"""
        d = self.start_web(cfg)
        self.assertCleanExit(d)
        # Two retries fell due while ofelia was down: 2 h ago (past
        # catch-up-deadline, 1h) and 5 min ago.
        rows = []
        for ago in ("-2 hours", "-5 minutes"):
            rid = str(uuid.uuid4())
            rows.append(rid)
            self.query("INSERT INTO pending_runs (id, job_name, kind, trigger, due_at, attempt, "
                       "first_attempt_id, cause_id, created_at) VALUES (?, 'late', 'retry', "
                       "'retry', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?), 2, ?, ?, "
                       "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?))",
                       (rid, ago, str(uuid.uuid4()), str(uuid.uuid4()), ago))
        d = self.start_web(cfg)
        wait_for(lambda: self.query("SELECT status FROM executions WHERE id = ?",
                                    (rows[1],)) == [("success",)], what="the recent retry")
        self.assertEqual(self.query("SELECT status, trigger, attempt FROM executions WHERE id = ?",
                                    (rows[0],)), [("expired", "retry", 2)])
        self.assertIn("older than catch-up-deadline",
                      self.query("SELECT error FROM executions WHERE id = ?", (rows[0],))[0][0])

        # A job removed while its retry waits: the retry is recorded skipped.
        self.run_job("gone")
        retry = wait_for(lambda: self.query("SELECT id FROM pending_runs WHERE job_name = "
                                            "'gone'"), what="gone's retry")[0][0]
        self.ok("DELETE", "/api/job/gone")
        wait_for(lambda: self.query("SELECT status FROM executions WHERE id = ?", (retry,)),
                 what="the retry's outcome")
        self.assertEqual(self.query("SELECT status, error FROM executions WHERE id = ?",
                                    (retry,)),
                         [("skipped", "the job was removed or disabled before it could run")])
        self.assertEqual(self.query("SELECT count(*) FROM pending_runs"), [(0,)])
        self.assertCleanExit(d)


class DependsOn(DaemonTest):
    def test_dependency_success_failure_timeout_and_no_overlap(self):
        d = self.daemon("""
jobs:
  base:
    type: local
    schedule: "*/4 * * * * *"
    command: sleep 1
  child:
    type: local
    schedule: "*/4 * * * * *"
    command: echo child
    depends-on: [base]
  bad:
    type: local
    schedule: "*/4 * * * * *"
    command: "false"
  child-of-bad:
    type: local
    schedule: "*/4 * * * * *"
    command: echo never
    depends-on: bad
  slow:
    type: local
    schedule: "*/4 * * * * *"
    no-overlap: true
    command: sleep 6
  child-of-slow:
    type: local
    schedule: "*/4 * * * * *"
    command: echo never
    depends-on: slow
    dependency-timeout: 1s
  flap:
    type: local
    schedule: "* * * * * *"
    no-overlap: true
    command: "false"
    max-retries: 1
    retry-delay: 1500ms
""").start()

        def first(job):
            rows = self.query("SELECT status, trigger, scheduled_time, start_time, end_time, "
                              "error FROM executions WHERE job_name = ? AND status <> "
                              "'running' ORDER BY scheduled_time LIMIT 1", (job,))
            return rows[0] if rows else None
        wait_for(lambda: all(first(j) for j in ("child", "child-of-bad", "child-of-slow")),
                 timeout=20, what="the first slot of each dependent")
        # no-overlap counts a pending retry as the job still at work.
        wait_for(lambda: self.query("SELECT count(*) FROM executions WHERE job_name = 'flap' "
                                    "AND status = 'skipped' AND error = 'a retry of the "
                                    "previous run was pending (no-overlap)'")[0][0] >= 1,
                 what="a slot skipped while flap's retry was pending")
        d.wait_log("slot waits for its dependencies")
        self.assertCleanExit(d)

        child, base = first("child"), first("base")
        self.assertEqual((child[0], child[1]), ("success", "schedule"))
        self.assertEqual(child[2], base[2])
        # It waited for its dependency's run of the same slot to end.
        self.assertGreaterEqual(child[3], base[4])

        status, _, slot, start, _, error = first("child-of-bad")
        self.assertEqual((status, start), ("skipped", None))
        self.assertIn("dependency bad did not succeed", error)
        self.assertIn("ended failed", error)

        status, _, _, start, _, error = first("child-of-slow")
        self.assertEqual((status, start), ("skipped", None))
        self.assertIn("did not settle within dependency-timeout 1s", error)
        self.assertIn("slow", error)
        # Waits all settled; a retry of flap may wait for the next start.
        self.assertEqual(self.query("SELECT count(*) FROM pending_runs WHERE kind <> 'retry'"),
                         [(0,)])
        self.assertIntegrity()


LOOP = """jobs:
  a:
    type: local
    schedule: "@every 1h"
    command: "true"
    on-success: [b]
  b:
    type: local
    schedule: "@triggered"
    command: "true"
  c:
    type: local
    schedule: "@triggered"
    command: "true"
    depends-on: b
    on-failure:
      - a
"""

GOOD = """jobs:
  a:
    type: local
    schedule: "@every 1h"
    command: "true"
    on-success: [b]
  b:
    type: local
    schedule: "@triggered"
    command: "true"
"""


class Checks(ApiCase):
    def validate(self, text, name="ofelia.yaml"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([BIN, "validate", "--config", path], capture_output=True, text=True,
                           timeout=30)
        return r.returncode, r.stderr

    def test_loops_and_unknown_names_are_refused_with_their_place(self):
        rc, err = self.validate(LOOP)
        self.assertEqual(rc, 1, err)
        self.assertIn('ofelia.yaml:16:5: job "c": on-failure: the jobs form a loop: '
                      'a -> b -> c -> a', err)

        rc, err = self.validate(GOOD.replace("[b]", "[b, nope, web.backup]"))
        self.assertEqual(rc, 1, err)
        self.assertIn('ofelia.yaml:6:5: job "a": on-success: no job "nope" is defined', err)
        # A scoped name may come from container labels: a warning only.
        self.assertIn('ofelia.yaml:6:5: job "a": on-success: no job "web.backup" in '
                      'this file', err)

        rc, err = self.validate('[job-local "x"]\nschedule = @every 1h\ncommand = true\n'
                                'depends-on = y\n', "ofelia.ini")
        self.assertEqual(rc, 1, err)
        self.assertIn('ofelia.ini:4:1: job "x": depends-on: no job "y" is defined', err)

        # The daemon refuses to start on it, at once, with the reason.
        path = os.path.join(self.dir, "ofelia.yaml")
        with open(path, "w") as f:
            f.write(LOOP)
        r = subprocess.run([BIN, "daemon", "--config", path, "--db",
                            os.path.join(self.dir, "refused.db")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("the jobs form a loop", r.stderr)

    def test_reload_and_the_api_check_again(self):
        path = os.path.join(self.dir, "ofelia.yaml")
        with open(path, "w") as f:
            f.write(GOOD.replace("[b]", "[b, web.later]"))
        d = self.start_web(None, config_path=path)
        # A label job not seen yet may stay named; an edit of the job keeps it.
        self.ok("PUT", "/api/job/a", {"command": "echo edited"})
        with open(path, "w") as f:
            f.write(GOOD.replace('"@triggered"\n    command: "true"\n',
                                 '"@triggered"\n    command: "true"\n    on-failure: [a]\n'))
        with open(path) as f:
            self.assertIn("on-failure: [a]", f.read())
        r = self.req("POST", "/api/scheduler/reload")
        self.assertError(r, 400, "VALIDATION_ERROR")
        d.wait_log("the jobs form a loop: a -> b -> a")
        self.assertEqual(self.ok("GET", "/api/job/b")["onFailure"], [])

        r = self.req("PUT", "/api/job/b", {"onFailure": ["nope"]})
        err = self.assertError(r, 400, "VALIDATION_ERROR")
        self.assertIn('on-failure: no job "nope" is defined', err["message"])
        r = self.req("PUT", "/api/job/b", {"onSuccess": ["a"]})
        err = self.assertError(r, 400, "VALIDATION_ERROR")
        self.assertIn("the jobs form a loop", err["message"])
        r = self.req("PUT", "/api/job/api-job", {"type": "local", "schedule": "@manual",
                                                 "command": "true", "dependsOn": ["a"]})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.ok("GET", "/api/job/a")["dependents"]["dependsOn"], ["api-job"])
        self.assertCleanExit(d)
