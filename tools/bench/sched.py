#!/usr/bin/env python3
"""Benchmarks of the scheduler and the stateful core, on the release binary:

  scheduling delay   actual start of the command minus its slot time, p50/p99,
                     with 1,000 and 10,000 jobs in the heap, beside the floor:
                     the same measure for a bare posix_spawn of the command
  executions/s       local executions begun, run and recorded per second
  log lines/s        output lines of one chatty job stored per second
  RSS and CPU        idle with 100 jobs, with three jobs every 5 s, idle with
                     10,000 jobs
  cold start         start-up time with 1,000,000 executions in the database

Usage: tools/bench/sched.py BIN [--quick]. Prints `name: value unit` lines."""
import calendar
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from benchlib import Daemon, percentile, report

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/release/ofelia"
QUICK = "--quick" in sys.argv
# Seconds after the daemon's start before the delay is measured.
SETTLE_S = 5


def start_daemon(workdir, config, web=False):
    return Daemon(BIN, workdir, config, web)


def idle_jobs(n, start=0):
    """n jobs that do not fire during a benchmark: yearly, spread over the year."""
    out = []
    for i in range(start, start + n):
        out.append("  idle-%d:\n    type: local\n    schedule: \"%d %d %d %d *\"\n"
                   "    command: \"true\"\n" % (i, i % 60, i // 60 % 24, 1 + i % 28,
                                                  1 + (i // 1440) % 12))
    return "".join(out)


def build_probes(tmp):
    """Compile the probe programs: a static stamp command and the spawn floor."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe")
    stamp = os.path.join(tmp, "stamp")
    floor = os.path.join(tmp, "spawn_floor")
    rate = os.path.join(tmp, "spawn_rate")
    subprocess.run(["cc", "-O2", "-static", "-o", stamp, os.path.join(here, "stamp.c")],
                   check=True)
    subprocess.run(["cc", "-O2", "-o", floor, os.path.join(here, "spawn_floor.c")], check=True)
    subprocess.run(["cc", "-O2", "-pthread", "-o", rate, os.path.join(here, "spawn_rate.c")],
                   check=True)
    return stamp, floor, rate


def bench_spawn_floor(probes):
    out = subprocess.run([probes[1], probes[0], "300"], capture_output=True, text=True,
                         check=True).stdout.split()
    delays = [float(x) for x in out]
    report("spawn_floor_p50", "%.2f" % percentile(delays, 50), "ms")
    report("spawn_floor_p99", "%.2f" % percentile(delays, 99), "ms")


def bench_delay(probes, njobs, seconds):
    """Slot to the start of the command: the command prints the time it began.
    One probe fires each second, so the figure is one start's delay, not the
    queueing of several commands that share a second on two cores. The spawn
    floor is measured over the same seconds, once a second half-way between
    the probe's starts, and ofelia's own share is the difference: the floor
    moves with the machine's load, and a p99 of 30 samples is the worst one,
    so both must see the same stretch of the machine's life, as many times."""
    nprobes = 1
    config = "global:\n  max-concurrent: 16\njobs:\n" + idle_jobs(njobs - nprobes)
    for i in range(nprobes):
        config += ("  probe-%d:\n    type: local\n    schedule: \"* * * * * *\"\n"
                   "    command: %s\n" % (i, probes[0]))
    with tempfile.TemporaryDirectory() as tmp:
        d = start_daemon(tmp, config)
        # Slots of the first seconds measure the start-up (10,000 job rows
        # written at the first start), not the steady state: left out.
        settled = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + SETTLE_S))
        time.sleep(SETTLE_S)
        out = subprocess.run([probes[1], probes[0], str(seconds), "1000"],
                             capture_output=True, text=True, check=True).stdout.split()
        floor = [float(x) for x in out]
        d.stop()
        rows = d.query("SELECT scheduled_time, output FROM executions "
                       "WHERE status = 'success' AND job_name LIKE 'probe-%' "
                       "AND scheduled_time >= ?", (settled,))
    delays = []
    for sched, out in rows:
        slot = calendar.timegm(time.strptime(sched[:19], "%Y-%m-%dT%H:%M:%S"))
        delays.append((int(out.strip()) / 1e9 - slot) * 1000)
    report("delay_%d_jobs_p50" % njobs, "%.2f" % percentile(delays, 50), "ms")
    report("delay_%d_jobs_p99" % njobs, "%.2f" % percentile(delays, 99), "ms")
    report("delay_%d_jobs_samples" % njobs, len(delays))
    report("delay_%d_jobs_floor_p50" % njobs, "%.2f" % percentile(floor, 50), "ms")
    report("delay_%d_jobs_floor_p99" % njobs, "%.2f" % percentile(floor, 99), "ms")
    report("delay_%d_jobs_share_p50" % njobs,
           "%.2f" % (percentile(delays, 50) - percentile(floor, 50)), "ms")
    report("delay_%d_jobs_share_p99" % njobs,
           "%.2f" % (percentile(delays, 99) - percentile(floor, 99)), "ms")


def bench_executions(probes, seconds):
    """Local executions begun, run and recorded per second, offered more work
    than the machine can start; beside it the machine's own ceiling: bare
    posix_spawn + waitpid of the same command from 32 threads."""
    ceiling = subprocess.run([probes[2], "/bin/true", "32", str(seconds)], capture_output=True,
                             text=True, check=True).stdout.strip()
    report("spawn_ceiling_per_second", ceiling, "spawns/s")
    n = 2000
    config = "global:\n  max-concurrent: 32\n  max-queue: 4000\njobs:\n"
    for i in range(n):
        config += "  e-%d:\n    type: local\n    schedule: \"* * * * * *\"\n" \
                  "    command: /bin/true\n" % i
    with tempfile.TemporaryDirectory() as tmp:
        d = start_daemon(tmp, config)
        time.sleep(3)
        c0 = d.query("SELECT count(*) FROM executions WHERE status = 'success'")[0][0]
        t0 = time.monotonic()
        time.sleep(seconds)
        c1 = d.query("SELECT count(*) FROM executions WHERE status = 'success'")[0][0]
        t1 = time.monotonic()
        d.stop()
    report("executions_per_second", "%.0f" % ((c1 - c0) / (t1 - t0)), "exec/s")


def bench_log_lines():
    lines = 1000000 if QUICK else 3000000
    config = ("global:\n  max-log-lines: 10000000\njobs:\n  chatty:\n    type: local\n"
              "    schedule: \"@manual\"\n    run-on-startup: true\n"
              "    command: seq %d\n" % lines)
    with tempfile.TemporaryDirectory() as tmp:
        d = start_daemon(tmp, config)
        t0 = time.monotonic()
        while not d.query("SELECT 1 FROM executions WHERE status != 'running'"):
            time.sleep(0.05)
        rows = d.query("SELECT duration_ns, log_lines FROM executions")
        peak = d.rss_kb()
        d.stop()
    dur_ns, stored = rows[0]
    report("log_lines_stored", stored)
    report("log_lines_per_second", "%.0f" % (stored / (dur_ns / 1e9)), "lines/s")
    report("log_flood_rss_after", peak, "kB")


def bench_resources():
    with tempfile.TemporaryDirectory() as tmp:
        d = start_daemon(tmp, "jobs:\n" + idle_jobs(100))
        time.sleep(5)
        report("rss_idle_100_jobs", d.rss_kb(), "kB")
        report("rss_anon_idle_100_jobs", d.rss_kb("RssAnon:"), "kB")
        report("pss_idle_100_jobs", d.pss_kb(), "kB")
        d.stop()
    span = 30 if QUICK else 60
    config = "jobs:\n"
    for i in range(3):
        config += ("  busy-%d:\n    type: local\n    schedule: \"@every 5s\"\n"
                   "    command: sh -c 'echo working; date'\n" % i)
    with tempfile.TemporaryDirectory() as tmp:
        d = start_daemon(tmp, config)
        time.sleep(3)
        c0, t0 = d.cpu_seconds(), time.monotonic()
        time.sleep(span)
        c1, t1 = d.cpu_seconds(), time.monotonic()
        report("rss_three_jobs_every_5s", d.rss_kb(), "kB")
        report("rss_anon_three_jobs_every_5s", d.rss_kb("RssAnon:"), "kB")
        report("pss_three_jobs_every_5s", d.pss_kb(), "kB")
        report("cpu_three_jobs_every_5s", "%.3f" % (100 * (c1 - c0) / (t1 - t0)), "% of a core")
        d.stop()
    with tempfile.TemporaryDirectory() as tmp:
        d = start_daemon(tmp, "jobs:\n" + idle_jobs(10000))
        time.sleep(5)
        c0, t0 = d.cpu_seconds(), time.monotonic()
        time.sleep(span)
        c1, t1 = d.cpu_seconds(), time.monotonic()
        report("cpu_idle_10000_jobs", "%.3f" % (100 * (c1 - c0) / (t1 - t0)), "% of a core")
        report("rss_idle_10000_jobs", d.rss_kb(), "kB")
        d.stop()


def api_latency(port, seconds):
    """GET /api/job/job-000 about 200 times a second on one connection: the
    latency a user sees, not the throughput a flood measures."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port)
    lat = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        conn.request("GET", "/api/job/job-000")
        conn.getresponse().read()
        lat.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.004)
    return percentile(lat, 50), percentile(lat, 99)


def bench_api_latency(probes):
    """The API's latency while 100 jobs start every second, beside the same
    with an idle scheduler and a foreign process starting commands flat out:
    if the two busy figures match, the cost is the machine's, not ofelia's."""
    span = 10 if QUICK else 20
    web = ("global:\n  max-concurrent: 8\nweb:\n  enabled: true\n  address: 127.0.0.1:%d\n"
           "  rate-limit:\n    requests-per-minute: 100000000\n    burst: 1000000\njobs:\n")
    for name, jobs, foreign in (("idle", 1, False), ("100_jobs_per_second", 100, False),
                                ("foreign_spawns", 1, True)):
        port = 18000 + os.getpid() % 1000
        config = web % port
        for i in range(jobs):
            config += ("  job-%03d:\n    type: local\n    schedule: \"%s\"\n"
                       "    command: /bin/true\n" % (i, "@manual" if jobs == 1 else "* * * * * *"))
        with tempfile.TemporaryDirectory() as tmp:
            d = start_daemon(tmp, config)
            time.sleep(2)
            spawner = subprocess.Popen([probes[2], "/bin/true", "8", str(span + 2)],
                                       stdout=subprocess.DEVNULL) if foreign else None
            p50, p99 = api_latency(port, span)
            if spawner:
                spawner.wait()
            d.stop()
        report("api_latency_%s_p50" % name, "%.2f" % p50, "ms")
        report("api_latency_%s_p99" % name, "%.2f" % p99, "ms")


def bench_cold_start():
    n = 1000000
    config = "jobs:\n" + idle_jobs(100)
    with tempfile.TemporaryDirectory() as tmp:
        d = start_daemon(tmp, config)
        time.sleep(2)
        d.stop()
        con = sqlite3.connect(d.db)
        now = "2026-01-01T00:00:00.000Z"
        rows = ((str(uuid.UUID(int=i, version=4)), "idle-%d" % (i % 100), "local", "success",
                 "manual", now, now, 1000, 0, "out", now) for i in range(n))
        con.executemany("INSERT INTO executions (id, job_name, job_type, status, trigger, "
                        "start_time, end_time, duration_ns, exit_code, output, created_at) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        con.commit()
        con.close()
        clean = [cold_start(tmp, d.db, signal.SIGTERM) for _ in range(5)]
        crash = [cold_start(tmp, d.db, signal.SIGKILL) for _ in range(4)]
    # The first start after the inserts checks the file (it changed since the
    # last clean stop); the median is that of starts after a clean stop.
    report("cold_start_1m_executions_median", "%.1f" % statistics.median(clean), "ms")
    # After a kill -9 every start reads the whole file first (quick_check);
    # the first of these starts follows a clean stop.
    report("cold_start_1m_after_crash_median", "%.1f" % statistics.median(crash[1:]), "ms")


def cold_start(tmp, db, stop):
    """Milliseconds from exec to "scheduler started"; then stops with stop."""
    log = os.path.join(tmp, "cold.log")
    with open(log, "w") as f:
        t0 = time.monotonic()
        p = subprocess.Popen([BIN, "daemon", "--config", os.path.join(tmp, "bench.yaml"),
                              "--db", db, "--log-level", "info"],
                             stdout=f, stderr=subprocess.STDOUT)
        while "scheduler started" not in open(log).read():
            if p.poll() is not None:
                break
            time.sleep(0.002)
        took = (time.monotonic() - t0) * 1000
        p.send_signal(stop)
        p.wait()
    return took


def main():
    with tempfile.TemporaryDirectory() as tmp:
        probes = build_probes(tmp)
        bench_spawn_floor(probes)
        bench_delay(probes, 1, 15 if QUICK else 30)
        bench_delay(probes, 1000, 15 if QUICK else 30)
        bench_delay(probes, 10000, 15 if QUICK else 30)
        bench_executions(probes, 5 if QUICK else 10)
        bench_api_latency(probes)
    bench_log_lines()
    bench_resources()
    bench_cold_start()


if __name__ == "__main__":
    main()
