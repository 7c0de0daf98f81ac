#!/usr/bin/env python3
"""The store's health under load (issue 8): the WAL file's size while
thousands of executions and a flood of output are recorded, the database
file growing meanwhile, and how long the API waits while another process
holds the database's write lock.

    tools/bench/store_health.py BIN [--quick]"""
import os
import sqlite3
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import Daemon, percentile, report  # noqa: E402


def sizes(db):
    wal = db + "-wal"
    return (os.path.getsize(wal) if os.path.exists(wal) else 0), os.path.getsize(db)


def executions(binary, seconds):
    jobs = "".join('  job-%02d:\n    type: local\n    schedule: "@every 1s"\n'
                   '    command: echo run\n' % i for i in range(50))
    with tempfile.TemporaryDirectory() as work:
        d = Daemon(binary, work, "jobs:\n" + jobs)
        wal_max, db_first = 0, sizes(d.db)[1]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            wal, _ = sizes(d.db)
            wal_max = max(wal_max, wal)
            time.sleep(0.1)
        n = d.query("SELECT count(*) FROM executions")[0][0]
        wal_end, db_end = sizes(d.db)
        d.stop()
    report("executions_recorded", n)
    report("wal_max_during_executions", "%.2f" % (wal_max / 1e6), "MB")
    report("wal_at_end_of_executions", "%.2f" % (wal_end / 1e6), "MB")
    report("db_file_growth_during_executions", "%.2f -> %.2f" % (db_first / 1e6, db_end / 1e6),
           "MB")


def flood(binary, lines):
    cfg = ("global:\n  max-log-lines: 100000000\n  max-log-bytes: 4GiB\njobs:\n  flood:\n"
           "    type: local\n    schedule: \"@manual\"\n    run-on-startup: true\n"
           "    command: sh -c 'yes 0123456789012345678901234567890123456789 | head -n %d'\n"
           % lines)
    with tempfile.TemporaryDirectory() as work:
        t = time.monotonic()
        d = Daemon(binary, work, cfg)
        wal_max = 0
        while d.query("SELECT count(*) FROM executions WHERE status = 'success'")[0][0] == 0:
            wal_max = max(wal_max, sizes(d.db)[0])
            time.sleep(0.02)
        took = time.monotonic() - t
        wal_end, db_end = sizes(d.db)
        d.stop()
    report("flood_lines", lines)
    report("flood_lines_per_second", int(lines / took))
    report("wal_max_during_flood", "%.2f" % (wal_max / 1e6), "MB")
    report("db_file_after_flood", "%.1f" % (db_end / 1e6), "MB")


def held_lock(binary, hold):
    cfg = "".join('  tick-%d:\n    type: local\n    schedule: "@every 1s"\n'
                  '    command: echo run\n' % i for i in range(5))
    with tempfile.TemporaryDirectory() as work:
        d = Daemon(binary, work, "jobs:\n" + cfg, web=True)
        time.sleep(2)
        waits, stop = [], threading.Event()

        def probe():
            while not stop.is_set():
                t = time.monotonic()
                d.api("GET", "/health/liveness")
                waits.append(time.monotonic() - t)
                time.sleep(0.05)
        th = threading.Thread(target=probe)
        con = sqlite3.connect(d.db, isolation_level=None, timeout=10)
        con.execute("BEGIN EXCLUSIVE")
        th.start()
        time.sleep(hold)
        stop.set()
        th.join()
        con.execute("COMMIT")
        con.close()
        time.sleep(2.5)
        missed = d.query("SELECT count(*) FROM executions WHERE status = 'missed'")[0][0]
        d.stop()
    ms = [w * 1000 for w in waits]
    report("lock_held", hold, "s")
    report("liveness_under_held_lock_p50_p99_max", "%.2f / %.2f / %.2f" % (
        percentile(ms, 50), percentile(ms, 99), max(ms)), "ms")
    report("slots_recorded_missed_after_the_lock", missed)


def main():
    binary = sys.argv[1]
    quick = "--quick" in sys.argv
    executions(binary, 20 if quick else 60)
    flood(binary, 500000 if quick else 2000000)
    held_lock(binary, 4 if quick else 12)


if __name__ == "__main__":
    main()
