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

    def test_the_database_file_grows_while_a_job_runs_every_second(self):
        d = self.daemon("""
jobs:
  tick:
    type: local
    schedule: "@every 1s"
    command: sh -c 'echo tick-out; echo tick-err >&2'
""").start()
        wait_for(lambda: self.query("SELECT count(*) FROM executions")[0][0] >= 3,
                 what="three runs")
        # Before the fix the main file stayed at its first 4096 bytes until
        # shutdown: every page lived in the WAL.
        wait_for(lambda: os.path.getsize(d.db) > 4096, timeout=5, what="a checkpoint")
        self.assertCleanExit(d)

if __name__ == "__main__":
    unittest.main()
