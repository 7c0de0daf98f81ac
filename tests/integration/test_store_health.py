"""The store under stress and faults, end to end with the real daemon: the
WAL stays bounded, a second daemon is refused, an external write lock or a
failing disk never commits half a tick and every slot gets its row once the
store is back, a deleted database is noticed, the database is checked at
start and on demand."""
import os
import sqlite3
import subprocess
import threading
import time
import unittest

from tests.integration.support import BIN, DaemonTest, wait_for
from tests.integration.test_api import ApiCase

LINE = "0123456789" * 7

FLOOD = """
global:
  max-log-lines: 10000000
jobs:
  flood:
    type: local
    schedule: "@manual"
    run-on-startup: true
    command: sh -c 'yes %s | head -n 250000'
  tick:
    type: local
    schedule: "@every 1s"
    command: "true"
""" % LINE


class Wal(DaemonTest):
    def test_wal_stays_bounded_under_load_and_when_idle(self):
        d = self.daemon(FLOOD).start()
        wal = d.db + "-wal"
        sizes, db_sizes = [], []

        def flood_done():
            sizes.append(os.path.getsize(wal) if os.path.exists(wal) else 0)
            db_sizes.append(os.path.getsize(d.db))
            return self.query("SELECT count(*) FROM executions WHERE job_name = 'flood' "
                              "AND status = 'success'")[0][0] == 1
        wait_for(flood_done, timeout=120, interval=0.02, what="the flood to be stored")
        self.assertLessEqual(max(sizes), 4 << 20, "the WAL grew past 4 MiB under load")
        # The data reached the database file while the daemon ran.
        self.assertGreater(max(db_sizes), 16 << 20)
        # Idle: the next runs of `tick` keep the WAL small, the file keeps growing.
        ticks = self.query("SELECT count(*) FROM executions WHERE job_name = 'tick'")[0][0]
        wait_for(lambda: self.query("SELECT count(*) FROM executions WHERE job_name = 'tick'"
                                    )[0][0] >= ticks + 2, what="idle ticks")
        self.assertLessEqual(os.path.getsize(wal), 4 << 20)
        self.assertEqual(self.query("SELECT sum(log_lines) FROM executions "
                                    "WHERE job_name = 'flood'")[0][0], 250000)
        self.assertCleanExit(d)
        self.assertIntegrity()


def slots_without_gaps(rows):
    """The scheduled times of an @every 1s job, each one second after the last."""
    import datetime as dt
    times = [dt.datetime.strptime(r, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() for r in rows]
    return all(b - a == 1 for a, b in zip(times, times[1:]))


class ExternalWriteLock(ApiCase):
    """Another process holds the database's write lock for 6 s (the
    campaign's long fault matrix holds it 12 s)."""

    def test_a_held_lock_loses_no_slot_and_never_stalls_the_loop(self):
        marks = os.path.join(self.dir, "marks")
        d = self.start_web("""
jobs:
  tick:
    type: local
    schedule: "@every 1s"
    command: sh -c 'echo started >> %s'
  tock:
    type: local
    schedule: "@every 1s"
    command: "true"
""" % marks)
        wait_for(lambda: self.query("SELECT count(*) FROM executions WHERE status = 'success'"
                                    )[0][0] >= 4, what="runs before the lock")
        con = sqlite3.connect(d.db, isolation_level=None, timeout=10)
        con.execute("BEGIN EXCLUSIVE")
        held = time.monotonic()
        worst, readiness = 0.0, set()
        try:
            while time.monotonic() - held < 6:
                t = time.monotonic()
                # A loop blocked on the lock (5 s per write before) does not answer.
                r = self.req_timeout("GET", "/health/liveness", 3)
                self.assertEqual(r.status, 200)
                worst = max(worst, time.monotonic() - t)
                if time.monotonic() - held > 2:
                    readiness.add(self.req_timeout("GET", "/health/readiness", 3).status)
                time.sleep(0.1)
        finally:
            con.execute("COMMIT")
            con.close()
        print("\n  liveness under a held write lock: worst %.0f ms" % (worst * 1000))
        self.assertIn(503, readiness, "readiness must show a store that cannot write")
        wait_for(lambda: self.req("GET", "/health/readiness").status == 200, timeout=10,
                 what="ready again")
        wait_for(lambda: self.query("SELECT count(*) FROM executions WHERE status = 'success' "
                                    "AND created_at > (SELECT max(created_at) FROM executions "
                                    "WHERE status = 'missed')")[0][0] >= 4,
                 what="runs after the lock")
        self.assertCleanExit(d)
        self.assertIntegrity()
        for job in ("tick", "tock"):
            rows = self.query("SELECT scheduled_time FROM executions WHERE job_name = ? "
                              "ORDER BY scheduled_time", (job,))
            self.assertTrue(slots_without_gaps([r[0] for r in rows]), (job, rows))
            missed = self.query("SELECT error FROM executions WHERE job_name = ? AND "
                                "status = 'missed'", (job,))
            self.assertGreaterEqual(len(missed), 4, job)
            for (error,) in missed:
                self.assertIn("database could not be written", error)
                self.assertIn("locked", error)
        self.assertEqual(self.query("SELECT status, count(*) FROM executions WHERE status "
                                    "NOT IN ('success', 'missed') GROUP BY status"), [])
        with open(marks) as f:
            started = len(f.read().splitlines())
        self.assertEqual(started, self.query("SELECT count(*) FROM executions WHERE "
                                             "job_name = 'tick' AND status = 'success'")[0][0])

    def req_timeout(self, method, path, timeout):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path)
            r = conn.getresponse()
            r.read()
            return r
        finally:
            conn.close()



EVERY_SECOND = """
jobs:
  tick:
    type: local
    schedule: "@every 1s"
    command: sh -c 'echo tick'
"""


class OneDaemonPerDatabase(DaemonTest):
    def test_a_second_daemon_is_refused_and_harms_nothing(self):
        d = self.daemon("""
jobs:
  long:
    type: local
    schedule: "@every 1s"
    no-overlap: true
    command: sleep 4
""").start()
        wait_for(lambda: self.query("SELECT count(*) FROM executions WHERE status = 'running'"
                                    )[0][0] == 1, what="a running execution")
        t = time.monotonic()
        proc = subprocess.run([BIN, "daemon", "--db", d.db, "--config", d.config],
                              capture_output=True, text=True, timeout=30)
        print("\n  second daemon refused in %.0f ms" % ((time.monotonic() - t) * 1000))
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("another ofelia daemon (pid %d)" % d.proc.pid, proc.stderr)
        # The first daemon's running execution was left alone.
        self.assertEqual(self.query("SELECT count(*) FROM executions WHERE status = "
                                    "'interrupted'"), [(0,)])
        wait_for(lambda: self.query("SELECT count(*) FROM executions WHERE status = 'success'"
                                    )[0][0] >= 1, timeout=10, what="the first run to end")
        self.assertCleanExit(d)
        self.assertEqual(self.query("SELECT count(*) FROM executions WHERE status NOT IN "
                                    "('success', 'skipped', 'stopped')"), [(0,)])
        # Once the first has stopped, a daemon starts again on the same file.
        d.start()
        self.assertCleanExit(d)


class DeletedDatabase(ApiCase):
    def test_deleted_while_running_is_not_ready_and_not_recreated_at_start(self):
        d = self.start_web(EVERY_SECOND)
        wait_for(lambda: self.query("SELECT count(*) FROM executions")[0][0] >= 1,
                 what="a run")
        self.assertEqual(self.req("GET", "/health/readiness").status, 200)
        os.unlink(d.db)
        d.wait_log("DELETED or MOVED", timeout=5)
        r = self.req("GET", "/health/readiness")
        self.assertEqual(r.status, 503)
        self.assertEqual(r.json["database"], "error")
        self.assertCleanExit(d)
        self.assertFalse(os.path.exists(d.db))

        # The next start refuses to make a fresh, empty database there.
        proc = subprocess.run([BIN, "daemon", "--db", d.db, "--config", d.config],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("deleted or moved", proc.stderr)
        self.assertIn("--init-db", proc.stderr)
        self.assertFalse(os.path.exists(d.db))
        proc = subprocess.run([BIN, "run", "--db", d.db, "--config", d.config, "tick"],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 1)
        self.assertFalse(os.path.exists(d.db))
        # Unless asked.
        d.args += ["--init-db"]
        d.start(wait_started=False)
        d.wait_log("scheduler started")
        self.assertCleanExit(d)
        self.assertTrue(os.path.exists(d.db))
        self.assertIntegrity()


class UnwritableFiles(DaemonTest):
    def test_an_immutable_shm_is_a_clear_start_up_error(self):
        d = self.daemon(EVERY_SECOND).start()
        wait_for(lambda: self.query("SELECT count(*) FROM executions")[0][0] >= 1,
                 what="a run")
        d.kill9()
        shm = d.db + "-shm"
        if subprocess.run(["chattr", "+i", shm], capture_output=True).returncode != 0:
            self.skipTest("needs root and a file system with chattr")
        self.addCleanup(subprocess.run, ["chattr", "-i", shm], capture_output=True)
        proc = subprocess.run([BIN, "daemon", "--db", d.db, "--config", d.config],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("cannot write the database", proc.stderr)
        self.assertIn("-shm", proc.stderr)
        subprocess.run(["chattr", "-i", shm], check=True)
        d.start()
        self.assertCleanExit(d)
        self.assertIntegrity()


class FullDisk(ApiCase):
    def test_slots_in_the_outage_are_recorded_missed_once_there_is_room(self):
        disk = os.path.join(self.dir, "disk")
        os.mkdir(disk)
        if os.geteuid() != 0 or subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", disk],
                capture_output=True).returncode != 0:
            self.skipTest("needs root and tmpfs mounts to make a small disk")
        self.addCleanup(subprocess.run, ["umount", "-l", disk])
        db = os.path.join(disk, "ofelia.db")
        d = self.start_web("""
jobs:
  tick:
    type: local
    schedule: "@every 1s"
    command: sh -c 'for i in $(seq 1 200); do echo line $i of this tick; done'
""", args=["--db", db])
        d.db = db

        def count(sql):
            con = sqlite3.connect(db, timeout=10)
            try:
                return con.execute(sql).fetchone()[0]
            finally:
                con.close()
        wait_for(lambda: count("SELECT count(*) FROM executions") >= 2, what="runs")
        filler = os.path.join(disk, "filler")
        subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=64k"], capture_output=True)
        d.wait_log("database cannot be written", timeout=15)
        wait_for(lambda: self.req("GET", "/health/readiness").status == 503, timeout=5,
                 what="not ready on a full disk")
        time.sleep(3)
        os.remove(filler)
        wait_for(lambda: self.req("GET", "/health/readiness").status == 200, timeout=10,
                 what="ready again")
        wait_for(lambda: count("SELECT count(*) FROM executions WHERE status = 'missed'") >= 2,
                 timeout=10, what="the outage's slots")
        self.assertCleanExit(d)
        con = sqlite3.connect(db)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            rows = con.execute("SELECT scheduled_time, status, error FROM executions "
                               "ORDER BY scheduled_time").fetchall()
        finally:
            con.close()
        self.assertTrue(slots_without_gaps([r[0] for r in rows]), rows)
        self.assertEqual({r[1] for r in rows}, {"success", "missed"}, rows)
        for r in rows:
            if r[1] == "missed":
                self.assertIn("database could not be written", r[2])



class Integrity(DaemonTest):
    def damage_a_page(self, db):
        """Breaks the header of the executions table's root page, as a bad
        sector or a stray write would; the rest of the file stays readable."""
        con = sqlite3.connect(db)
        try:
            root = con.execute("SELECT rootpage FROM sqlite_schema "
                               "WHERE name = 'executions'").fetchone()[0]
            page = con.execute("PRAGMA page_size").fetchone()[0]
        finally:
            con.close()
        with open(db, "r+b") as f:
            f.seek((root - 1) * page)
            f.write(b"\x01\xff\xff\xff")

    def test_a_damaged_page_is_noticed_at_start_and_by_ofelia_check(self):
        d = self.daemon(EVERY_SECOND).start()
        wait_for(lambda: self.query("SELECT count(*) FROM executions")[0][0] >= 2,
                 what="runs")
        self.assertCleanExit(d)
        p = subprocess.run([BIN, "check", "--db", d.db], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual((p.returncode, p.stdout.strip()), (0, d.db + ": ok"), p.stderr)

        self.damage_a_page(d.db)
        with open(d.db, "rb") as f:
            damaged = f.read()
        p = subprocess.run([BIN, "daemon", "--db", d.db, "--config", d.config],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("the database is damaged", p.stderr)
        self.assertIn("ofelia check", p.stderr)
        with open(d.db, "rb") as f:
            self.assertEqual(f.read(), damaged, "a refused start changed the file")
        p = subprocess.run([BIN, "check", "--db", d.db], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn("damaged", p.stderr)
        self.assertTrue(p.stdout.strip(), "the problems are listed")

    def test_the_start_check_is_skipped_only_for_a_file_a_clean_stop_left_untouched(self):
        skipped, checked = "no start-up check", "checking it before the start"
        d = self.daemon(EVERY_SECOND).start()
        wait_for(lambda: self.query("SELECT count(*) FROM executions")[0][0] >= 1,
                 what="a run")
        self.assertCleanExit(d)
        # Reading it meanwhile, as reports do, leaves the file as it was.
        self.assertGreater(self.query("SELECT count(*) FROM executions")[0][0], 0)
        d.start()
        self.assertIn(skipped, d.log())
        self.assertNotIn(checked, d.log())
        d.kill9()
        d.start()
        self.assertIn(checked, d.log(), "a crash leaves no mark")
        self.assertCleanExit(d)
        # A stray write that even puts the modification time back still
        # changes the inode's ctime: the file is checked, and refused.
        before = os.stat(d.db)
        self.damage_a_page(d.db)
        os.utime(d.db, ns=(before.st_atime_ns, before.st_mtime_ns))
        self.assertEqual(os.stat(d.db).st_mtime_ns, before.st_mtime_ns)
        p = subprocess.run([BIN, "daemon", "--db", d.db, "--config", d.config],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(checked, p.stderr)
        self.assertIn("the database is damaged", p.stderr)


if __name__ == "__main__":
    unittest.main()
