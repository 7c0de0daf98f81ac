"""The stateful core end to end: the real daemon, a real SQLite file, local
jobs. History survives clean restarts and kill -9, orphans become
interrupted, @every resumes from the last slot, catch-up skip/once/expired,
no slot runs twice, retention, reload, shutdown, bad input."""
import datetime as dt
import os
import signal
import subprocess
import time
import unittest

from tests.integration.support import BIN, DaemonTest, wait_for


def iso(t):
    """ISO-8601 UTC with milliseconds, as the store writes it."""
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        "%03dZ" % int((t % 1) * 1000)


def parse_iso(s):
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.timezone.utc).timestamp()


EVERY_SECOND = """
jobs:
  tick:
    type: local
    schedule: "@every 1s"
    command: sh -c 'echo tick-out; echo tick-err >&2'
"""


class Restart(DaemonTest):
    def count(self, status=None):
        if status:
            return self.query("SELECT count(*) FROM executions WHERE status = ?", (status,))[0][0]
        return self.query("SELECT count(*) FROM executions")[0][0]

    def test_history_and_logs_survive_a_clean_restart(self):
        d = self.daemon(EVERY_SECOND).start()
        wait_for(lambda: self.count("success") >= 2, what="two runs")
        self.assertCleanExit(d)
        self.assertIntegrity()
        before = self.query("SELECT id, status, output FROM executions ORDER BY created_at")
        lines = self.query("SELECT count(*) FROM execution_logs")[0][0]
        self.assertGreaterEqual(lines, 4)
        ok = [r for r in before if r[1] == "success"]
        self.assertTrue(all(r[2] == "tick-out\ntick-err" or r[2] == "tick-err\ntick-out"
                            for r in ok), before)

        d.start()
        wait_for(lambda: self.count("success") >= len(ok) + 2, what="runs after restart")
        self.assertCleanExit(d)
        self.assertIntegrity()
        after = self.query("SELECT id, status, output FROM executions ORDER BY created_at")
        self.assertEqual(after[:len(before)], before)
        self.assertGreaterEqual(self.query("SELECT count(*) FROM execution_logs")[0][0], lines)
        levels = dict(self.query("SELECT message, level FROM execution_logs GROUP BY message"))
        self.assertEqual(levels, {"tick-out": "info", "tick-err": "error"})

    def test_kill9_keeps_history_and_marks_orphans_interrupted(self):
        d = self.daemon("""
jobs:
  quick:
    type: local
    schedule: "@every 1s"
    command: echo quick
  long:
    type: local
    schedule: "@every 1s"
    no-overlap: true
    command: sh -c 'echo started; exec sleep 3'
""").start()
        wait_for(lambda: self.count("success") >= 2 and
                 self.query("SELECT count(*) FROM execution_logs l JOIN executions e "
                            "ON e.id = l.execution_id WHERE e.job_name = 'long'")[0][0] >= 1,
                 what="a finished quick run and a running long one")
        finished = self.query("SELECT id FROM executions WHERE status = 'success'")
        d.kill9()
        self.assertIntegrity()
        running = self.query("SELECT id FROM executions WHERE status = 'running' AND "
                             "job_name = 'long'")
        self.assertEqual(len(running), 1)
        time.sleep(3.2)  # the orphaned `sleep 3` ends on its own

        d.start()
        d.wait_log("execution interrupted by a restart")
        row = self.query("SELECT status, error, end_time FROM executions WHERE id = ?",
                         (running[0][0],))[0]
        self.assertEqual(row[0], "interrupted")
        self.assertIn("ofelia stopped while this execution was running", row[1])
        self.assertIsNotNone(row[2])
        still = self.query("SELECT id FROM executions WHERE status = 'success'")
        self.assertTrue(set(finished) <= set(still))
        self.assertCleanExit(d)
        self.assertIntegrity()

    def test_no_slot_runs_twice_across_restarts(self):
        d = self.daemon("""
jobs:
  every:
    type: local
    schedule: "* * * * * *"
    command: "true"
""").start()
        wait_for(lambda: self.count() >= 3, what="three slots")
        d.kill9()
        d.start()
        wait_for(lambda: self.count() >= 8, what="more slots")
        self.assertCleanExit(d)
        dup = self.query("SELECT job_name, scheduled_time, count(*) FROM executions "
                         "WHERE scheduled_time IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1")
        self.assertEqual(dup, [])
        self.assertIntegrity()


class Planning(DaemonTest):
    def prepare(self, config, last_slot_ago, schedule):
        """Create the job's row with a first start, then pretend its last slot
        was last_slot_ago seconds ago."""
        d = self.daemon(config).start()
        self.assertCleanExit(d)
        last = time.time() - last_slot_ago
        last -= last % 1
        self.query("UPDATE jobs SET last_slot = ?, slot_schedule = ?", (iso(last), schedule))
        con_rows = self.query("SELECT last_slot FROM jobs")
        self.assertEqual(con_rows[0][0], iso(last))
        return d, last

    def test_every_resumes_from_the_last_slot(self):
        cfg = """
jobs:
  six:
    type: local
    schedule: "@every 6h"
    command: "true"
"""
        d, last = self.prepare(cfg, 3600, "@every 6h")
        d.start()
        next_run = parse_iso(self.query("SELECT next_run FROM jobs WHERE name = 'six'")[0][0])
        self.assertEqual(next_run, last + 6 * 3600)
        self.assertCleanExit(d)

    def test_changed_schedule_plans_from_now(self):
        cfg = """
jobs:
  six:
    type: local
    schedule: "@every 6h"
    command: "true"
"""
        d, last = self.prepare(cfg, 3600, "@every 2h")
        start = time.time()
        d.start()
        next_run = parse_iso(self.query("SELECT next_run FROM jobs WHERE name = 'six'")[0][0])
        self.assertGreaterEqual(next_run, int(start) + 6 * 3600)
        self.assertEqual(self.query("SELECT count(*) FROM executions")[0][0], 0)
        self.assertCleanExit(d)

    def catch_up(self, policy, deadline="1h"):
        cfg = """
global:
  catch-up-deadline: %s
jobs:
  minutely:
    type: local
    schedule: "@every 1m"
    catch-up: %s
    command: echo caught
""" % (deadline, policy)
        d, last = self.prepare(cfg, 5 * 60 + 30, "@every 1m")
        d.start()
        return d, last

    def slots(self):
        return self.query("SELECT scheduled_time, status, trigger, error FROM executions "
                          "ORDER BY scheduled_time")

    def test_catch_up_skip_records_every_missed_slot(self):
        d, last = self.catch_up("skip")
        d.wait_log("missed slots")
        rows = self.slots()
        self.assertEqual([r[1] for r in rows], ["missed"] * 5)
        self.assertEqual([parse_iso(r[0]) for r in rows], [last + 60 * k for k in range(1, 6)])
        self.assertIn("not run at its time", rows[0][3])
        self.assertEqual(parse_iso(self.query("SELECT next_run FROM jobs")[0][0]), last + 360)
        self.assertCleanExit(d)

    def test_catch_up_once_runs_the_latest_and_records_the_rest(self):
        d, last = self.catch_up("once")
        wait_for(lambda: any(r[1] == "success" for r in self.slots()), what="the catch-up run")
        rows = self.slots()
        self.assertEqual([r[1] for r in rows], ["missed"] * 4 + ["success"])
        self.assertEqual(rows[-1][2], "catch-up")
        self.assertEqual(parse_iso(rows[-1][0]), last + 300)
        self.assertCleanExit(d)

    def test_catch_up_past_the_deadline_is_expired(self):
        d, last = self.catch_up("once", deadline="10s")
        d.wait_log("missed slots")
        rows = self.slots()
        self.assertEqual([r[1] for r in rows], ["missed"] * 4 + ["expired"])
        self.assertIn("catch-up-deadline 10s", rows[-1][3])
        self.assertCleanExit(d)


class Execution(DaemonTest):
    def run_job(self, job_yaml, global_yaml=""):
        cfg = "global:\n  shutdown-grace: 1s\n" + global_yaml + "jobs:\n  j:\n" + job_yaml
        path = os.path.join(self.dir, "run.yaml")
        with open(path, "w") as f:
            f.write(cfg)
        proc = subprocess.run([BIN, "run", "--config", path, "--db",
                               os.path.join(self.dir, "ofelia.db"), "j"],
                              capture_output=True, timeout=60)
        row = self.query("SELECT status, exit_code, error, output, log_lines, dropped_lines, "
                         "output_dropped, trigger FROM executions ORDER BY created_at DESC "
                         "LIMIT 1")[0]
        return proc, row

    def test_run_records_an_execution(self):
        proc, row = self.run_job("    type: local\n    schedule: '@manual'\n"
                                 "    command: sh -c 'echo out; echo err >&2; exit 0'\n")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, b"out\n")
        self.assertIn(b"err\n", proc.stderr)
        self.assertEqual(row[0], "success")
        self.assertEqual(row[1], 0)
        self.assertEqual(row[7], "manual")

    def test_nonzero_exit_is_failed_with_exit_status(self):
        proc, row = self.run_job("    type: local\n    schedule: '@manual'\n"
                                 "    command: sh -c 'exit 7'\n")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(row[:3], ("failed", 7, "exit status 7"))

    def test_missing_command_is_a_clear_failure(self):
        proc, row = self.run_job("    type: local\n    schedule: '@manual'\n"
                                 "    command: no-such-command-here --flag\n")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(row[0], "failed")
        self.assertEqual(row[2], 'exec: "no-such-command-here": executable file not found '
                                 'in $PATH')

    def test_dir_and_environment(self):
        os.mkdir(os.path.join(self.dir, "work"))
        proc, row = self.run_job(
            "    type: local\n    schedule: '@manual'\n    dir: %s\n"
            "    environment: [GREETING=hello world, HOME=/nowhere]\n"
            "    command: sh -c 'pwd; echo \"$GREETING\"; echo $HOME'\n"
            % os.path.join(self.dir, "work"))
        self.assertEqual(row[0], "success", row)
        self.assertEqual(row[3], "%s\nhello world\n/nowhere" % os.path.join(self.dir, "work"))

    def test_max_runtime_stops_the_job_and_fails_it(self):
        start = time.monotonic()
        proc, row = self.run_job("    type: local\n    schedule: '@manual'\n"
                                 "    max-runtime: 1s\n    command: sleep 30\n")
        self.assertLess(time.monotonic() - start, 20)
        self.assertEqual(row[0], "failed")
        self.assertEqual(row[2], "max-runtime of 1s exceeded; the job was stopped")

    def test_output_is_capped_and_lines_beyond_the_cap_counted(self):
        proc, row = self.run_job(
            "    type: local\n    schedule: '@manual'\n"
            "    command: sh -c 'i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done'\n",
            "  max-output: 1000\n  max-log-lines: 100\n")
        self.assertEqual(row[0], "success")
        self.assertEqual(row[4], 100)
        self.assertEqual(row[5], 2900)
        self.assertLessEqual(len(row[3]), 1000)
        self.assertTrue(row[3].endswith("line-2999"), row[3][-50:])
        self.assertGreater(row[6], 0)
        stored = self.query("SELECT min(seq), max(seq), count(*) FROM execution_logs")[0]
        self.assertEqual(stored, (1, 100, 100))

    def test_binary_and_unterminated_output(self):
        script = os.path.join(self.dir, "binary.sh")
        with open(script, "w") as f:
            f.write("printf 'a\\377b\\nno newline at end'\n")
        proc, row = self.run_job("    type: local\n    schedule: '@manual'\n"
                                 "    command: sh %s\n" % script)
        self.assertEqual(row[0], "success")
        self.assertEqual(row[3], "a\ufffdb\nno newline at end")
        msgs = [r[0] for r in self.query("SELECT message FROM execution_logs ORDER BY seq")]
        self.assertEqual(msgs, ["a\ufffdb", "no newline at end"])


class Lifecycle(DaemonTest):
    def test_sigterm_gives_grace_then_stops_and_records(self):
        d = self.daemon("""
global:
  shutdown-grace: 1s
jobs:
  sleepy:
    type: local
    schedule: "@manual"
    run-on-startup: true
    command: sleep 60
""").start()
        d.wait_log("execution started")
        start = time.monotonic()
        self.assertCleanExit(d)
        self.assertLess(time.monotonic() - start, 20)
        row = self.query("SELECT status, trigger, error FROM executions")[0]
        self.assertEqual(row[:2], ("stopped", "startup"))
        self.assertIn("shutting down", row[2])

    def test_sighup_reloads_and_a_bad_config_keeps_the_jobs(self):
        d = self.daemon("""
jobs:
  keep:
    type: local
    schedule: "@every 1h"
    command: "true"
  drop:
    type: local
    schedule: "@every 1h"
    command: "true"
""").start()
        with open(d.config, "w") as f:
            f.write("""
jobs:
  keep:
    type: local
    schedule: "@every 2h"
    command: "true"
  new:
    type: local
    schedule: "@every 1h"
    command: "true"
""")
        d.signal(signal.SIGHUP)
        d.wait_log('config reloaded" added=1 updated=1 removed=1')
        rows = dict(self.query("SELECT name, deleted_at IS NULL FROM jobs"))
        self.assertEqual(rows, {"keep": 1, "drop": 0, "new": 1})
        self.assertEqual(self.query("SELECT schedule FROM jobs WHERE name='keep'"),
                         [("@every 2h",)])

        with open(d.config, "w") as f:
            f.write("jobs:\n  broken:\n    type: local\n    schedule: '0 61 * * *'\n"
                    "    command: x\n")
        d.signal(signal.SIGHUP)
        d.wait_log("the jobs are unchanged")
        self.assertIn("hour 61 out of range", d.log())
        rows = dict(self.query("SELECT name, deleted_at IS NULL FROM jobs"))
        self.assertEqual(rows, {"keep": 1, "drop": 0, "new": 1})
        self.assertCleanExit(d)

    def test_retention_prunes_by_count_and_keeps_logs_consistent(self):
        d = self.daemon("""
global:
  history-limit: 3
jobs:
  chatty:
    type: local
    schedule: "@every 1s"
    command: echo hi
""").start()
        wait_for(lambda: self.query("SELECT count(*) FROM job_counters WHERE "
                                    "status='success'") and
                 (self.query("SELECT coalesce(sum(count),0) FROM job_counters WHERE "
                             "status='success'")[0][0] >= 6), timeout=15, what="six runs")
        wait_for(lambda: self.query("SELECT count(*) FROM executions WHERE "
                                    "status != 'running'")[0][0] <= 3,
                 timeout=10, what="pruning to 3")
        self.assertCleanExit(d)
        orphans = self.query("SELECT count(*) FROM execution_logs WHERE execution_id NOT IN "
                             "(SELECT id FROM executions)")[0][0]
        self.assertEqual(orphans, 0)
        total = self.query("SELECT total_runs FROM job_stats WHERE job_name='chatty'")[0][0]
        self.assertGreaterEqual(total, 6)


class BadInput(DaemonTest):
    def start_fails(self, db_bytes=None):
        db = os.path.join(self.dir, "ofelia.db")
        if db_bytes is not None:
            with open(db, "wb") as f:
                f.write(db_bytes)
        proc = subprocess.run([BIN, "daemon", "--db", db], capture_output=True, timeout=30)
        return proc

    def test_corrupt_database_is_refused_untouched(self):
        junk = os.urandom(8192)
        proc = self.start_fails(junk)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"database", proc.stderr)
        with open(os.path.join(self.dir, "ofelia.db"), "rb") as f:
            self.assertEqual(f.read(), junk)

    def test_foreign_database_is_refused_untouched(self):
        import sqlite3
        db = os.path.join(self.dir, "ofelia.db")
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        con.execute("INSERT INTO invoices VALUES (1, 9.5)")
        con.commit()
        con.close()
        with open(db, "rb") as f:
            before = f.read()
        proc = self.start_fails()
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"not an ofelia database", proc.stderr)
        with open(db, "rb") as f:
            self.assertEqual(f.read(), before)

    def test_full_disk_is_survived_and_nothing_stored_is_lost(self):
        disk = os.path.join(self.dir, "disk")
        os.mkdir(disk)
        if os.geteuid() != 0 or subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", disk],
                capture_output=True).returncode != 0:
            self.skipTest("needs root and tmpfs mounts to make a small disk")
        self.addCleanup(subprocess.run, ["umount", "-l", disk])
        db = os.path.join(disk, "ofelia.db")
        d = self.daemon("""
jobs:
  steady:
    type: local
    schedule: "@every 1s"
    command: sh -c 'for i in 1 2 3 4 5; do echo line $i; done'
""", args=["--db", db])
        d.db = db
        d.start()

        def done():
            con = __import__("sqlite3").connect(db, timeout=10)
            try:
                return con.execute("SELECT count(*) FROM executions WHERE status = 'success'"
                                   ).fetchone()[0]
            finally:
                con.close()
        wait_for(lambda: done() >= 2, what="runs before the disk fills")
        before = done()
        filler = os.path.join(disk, "filler")
        subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=64k"], capture_output=True)
        d.wait_log("full|disk I/O error", timeout=15)
        time.sleep(2)
        self.assertIsNone(d.proc.poll(), "the daemon died on a full disk:\n" + d.log())
        os.remove(filler)
        wait_for(lambda: done() >= before + 3, timeout=20, what="runs after space came back")
        self.assertCleanExit(d)
        con = __import__("sqlite3").connect(db)
        self.assertEqual(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
        self.assertEqual(con.execute("SELECT count(*) FROM executions WHERE status = 'running'"
                                     ).fetchone()[0], 0)
        con.close()

    def test_unwritable_database_folder_is_a_clear_error(self):
        if os.geteuid() == 0:
            # root ignores permissions: use a path under a file instead.
            db = os.path.join(self.dir, "file", "ofelia.db")
            open(os.path.join(self.dir, "file"), "w").close()
        else:
            os.chmod(self.dir, 0o500)
            db = os.path.join(self.dir, "ofelia.db")
        proc = subprocess.run([BIN, "daemon", "--db", db], capture_output=True, timeout=30)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"database", proc.stderr)


if __name__ == "__main__":
    unittest.main()
