#!/usr/bin/env python3
"""Benchmarks of retries and workflows, on the release binary, with 1,000
idle jobs in the heap:

  retry lateness      a retry's start minus (the failed attempt's end + its
                      configured delay), for a fixed 200ms delay and for an
                      exponential one (100ms doubling, bounded at 800ms)
  trigger latency     an on-success run's start minus its cause's end
  dependency latency  a waiting slot's start minus its dependency's end

Times are read from the database (millisecond resolution, so a figure of 0
to 1 ms is "at once"). Usage: tools/bench/workflows.py BIN [--quick]."""
import datetime as dt
import sys
import tempfile
import time

from benchlib import Daemon, percentile, report

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/release/ofelia"
QUICK = "--quick" in sys.argv


def ms(text):
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.timezone.utc).timestamp() * 1000


def idle_jobs(n):
    return "".join("  idle-%d:\n    type: local\n    schedule: \"%d %d %d %d *\"\n"
                   "    command: \"true\"\n" % (i, i % 60, i // 60 % 24, 1 + i % 28,
                                                  1 + (i // 1440) % 12) for i in range(n))


def figures(name, values):
    report(name + "_p50", "%.1f" % percentile(values, 50), "ms")
    report(name + "_p99", "%.1f" % percentile(values, 99), "ms")
    report(name + "_max", "%.1f" % max(values), "ms")


def wait(d, sql, want, timeout):
    deadline = time.monotonic() + timeout
    while d.query(sql)[0][0] < want:
        if time.monotonic() > deadline:
            raise RuntimeError("timed out: %s < %d" % (sql, want))
        time.sleep(0.2)


def bench_retries(retries):
    """Two jobs that always fail, started at once (run-on-startup)."""
    config = """global:
  max-concurrent: 8
jobs:
  fixed:
    type: local
    schedule: "@every 24h"
    run-on-startup: true
    command: "false"
    max-retries: %d
    retry-delay: 200ms
    retry-exponential: false
  doubling:
    type: local
    schedule: "@every 24h"
    run-on-startup: true
    command: "false"
    max-retries: %d
    retry-delay: 100ms
    retry-max-delay: 800ms
%s""" % (retries, retries, idle_jobs(1000))
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(BIN, tmp, config)
        wait(d, "SELECT count(*) FROM executions WHERE trigger = 'retry' AND status <> "
             "'running'", 2 * retries, 120 + retries)
        d.stop()
        for job, delay in (("fixed", lambda n: 200),
                           ("doubling", lambda n: min(100 * 2 ** (n - 1), 800))):
            rows = d.query("SELECT attempt, start_time, end_time FROM executions "
                           "WHERE job_name = ? ORDER BY attempt", (job,))
            late = [ms(nxt[1]) - ms(prev[2]) - delay(prev[0])
                    for prev, nxt in zip(rows, rows[1:])]
            figures("retry_lateness_%s" % job, late)


def bench_chains(n):
    """A job that succeeds and triggers another, n times; and a slot that
    waits for its dependency's run of the same second."""
    config = """jobs:
  cause:
    type: local
    schedule: "* * * * * *"
    command: sleep 0.3
    no-overlap: true
    on-success: [effect]
  effect:
    type: local
    schedule: "@triggered"
    command: "true"
  waiter:
    type: local
    schedule: "* * * * * *"
    command: "true"
    depends-on: cause
%s""" % idle_jobs(1000)
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(BIN, tmp, config)
        wait(d, "SELECT count(*) FROM executions WHERE job_name = 'effect' AND status = "
             "'success'", n, n + 30)
        wait(d, "SELECT count(*) FROM executions WHERE job_name = 'waiter' AND status = "
             "'success'", n, n + 30)
        d.stop()
        trig = d.query("SELECT c.end_time, e.start_time FROM executions e JOIN executions c "
                       "ON c.id = e.cause_id WHERE e.job_name = 'effect'")
        figures("trigger_latency", [ms(s) - ms(e) for e, s in trig])
        dep = d.query("SELECT c.end_time, w.start_time FROM executions w JOIN executions c "
                      "ON c.job_name = 'cause' AND c.scheduled_time = w.scheduled_time "
                      "WHERE w.job_name = 'waiter' AND w.status = 'success'")
        figures("dependency_latency", [ms(s) - ms(e) for e, s in dep])


def main():
    bench_retries(10 if QUICK else 40)
    bench_chains(10 if QUICK else 40)


if __name__ == "__main__":
    main()
