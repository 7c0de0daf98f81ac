#!/usr/bin/env python3
"""Benchmarks of issue 13, on the release binary:

  disk writes     bytes the daemon writes to disk per execution of a one-line
                  local job (/proc/PID/io write_bytes, WAL and checkpoints
                  included: the final figure is read from the exited
                  process's rusage, so the checkpoint at shutdown counts)
  bursts          N local jobs due in the same slot (20, 100, 500), default
                  settings: each command's start minus the slot, p50 / max,
                  beside the floor: one thread posix_spawning N commands

Usage: tools/bench/perf.py BIN [--quick]. Prints `name: value unit` lines."""
import calendar
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import Daemon, percentile, report  # noqa: E402

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/release/ofelia"
QUICK = "--quick" in sys.argv
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe")


def write_bytes(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def finished(d):
    return d.query("SELECT count(*) FROM executions WHERE status <> 'running'")[0][0]


def disk(name, config, executions, seconds):
    """Bytes written from a settled start until the daemon has exited, over
    the executions recorded meanwhile: until `executions` are recorded, or
    for `seconds`."""
    with tempfile.TemporaryDirectory() as tmp:
        d = Daemon(BIN, tmp, config)
        while finished(d) < 1:
            time.sleep(0.05)
        c0, w0 = finished(d), write_bytes(d.proc.pid)
        end = time.monotonic() + seconds
        while time.monotonic() < end and finished(d) - c0 < executions:
            time.sleep(0.2)
        d.proc.terminate()
        _, _, usage = os.wait4(d.proc.pid, 0)
        d.proc.returncode = 0
        d.log.close()
        n = finished(d) - c0
    total = usage.ru_oublock * 512 - w0
    report("disk_%s_executions" % name, n)
    report("disk_%s_bytes_per_execution" % name, "%.0f" % (total / max(n, 1)), "B")


def one_line_jobs(n, schedule):
    return "".join("  line-%d:\n    type: local\n    schedule: \"%s\"\n"
                   "    command: echo one line\n" % (i, schedule) for i in range(n))


def bench_disk():
    target = 300 if QUICK else 1000
    disk("1000_executions", "jobs:\n" + one_line_jobs(10, "* * * * * *"), target, 150)
    disk("three_jobs_every_5s", "jobs:\n" + one_line_jobs(3, "@every 5s"), 10**9,
         30 if QUICK else 60)
    disk("one_job_every_second", "jobs:\n" + one_line_jobs(1, "* * * * * *"), 10**9,
         30 if QUICK else 60)


def build(tmp):
    stamp = os.path.join(tmp, "stamp")
    floor = os.path.join(tmp, "spawn_burst")
    subprocess.run(["cc", "-O2", "-static", "-o", stamp, os.path.join(HERE, "stamp.c")],
                   check=True)
    subprocess.run(["cc", "-O2", "-o", floor, os.path.join(HERE, "spawn_burst.c")], check=True)
    return stamp, floor


def floor_burst(floor, stamp, n):
    """One thread spawning n stamps: each child's delay in ms, sorted."""
    out = subprocess.run([floor, stamp, str(n), "1000"], capture_output=True, text=True,
                         check=True).stdout.split()
    return sorted(float(x) for x in out)


def burst(stamp, floor, n, slots=5):
    """n jobs due together, in `slots` slots 5 s apart; each command prints
    its start, then runs 1 s (so a limit on concurrency would show as a
    queue). This machine's speed drifts from one minute to the next, so the
    floor is measured between the slots, 2.5 s before and after each (its
    commands have ended by then), and each slot is compared with the mean of
    the two floors around it. Figures are medians over the slots."""
    period = 5
    with tempfile.TemporaryDirectory() as tmp:
        first = (int(time.time()) + 4 + n // 100 + period - 1) // period * period
        config = "jobs:\n" + "".join(
            "  burst-%d:\n    type: local\n    schedule: \"*/%d * * * * *\"\n"
            "    command: %s 1000\n" % (i, period, stamp) for i in range(n))
        d = Daemon(BIN, tmp, config)
        floors = []
        for k in range(slots + 1):
            at = first + k * period - period / 2
            time.sleep(max(0.0, at - time.time()))
            floors.append(floor_burst(floor, stamp, n))
        deadline = time.time() + 30
        while time.time() < deadline and finished(d) < n * slots:
            time.sleep(0.2)
        rows = d.query("SELECT scheduled_time, output FROM executions "
                       "WHERE status = 'success'")
        threads = 0
        with open("/proc/%d/status" % d.proc.pid) as f:
            for line in f:
                if line.startswith("Threads:"):
                    threads = int(line.split()[1])
        d.stop()
    by_slot = {}
    for sched, output in rows:
        at = calendar.timegm(time.strptime(sched[:19], "%Y-%m-%dT%H:%M:%S"))
        by_slot.setdefault(at, []).append((int(output.strip()) / 1e9 - at) * 1000)
    p50s, maxes, ratios, ratios_max, started = [], [], [], [], []
    for k in range(slots):
        delays = sorted(by_slot.get(first + k * period, []))
        started.append(len(delays))
        if not delays:
            continue
        before, after = floors[k], floors[k + 1]
        p50s.append(percentile(delays, 50))
        maxes.append(delays[-1])
        ratios.append(p50s[-1] / ((percentile(before, 50) + percentile(after, 50)) / 2))
        ratios_max.append(maxes[-1] / ((before[-1] + after[-1]) / 2))
    report("burst_%d_started_min" % n, min(started))
    if p50s:
        report("burst_%d_delay_p50" % n, "%.1f" % statistics.median(p50s), "ms")
        report("burst_%d_delay_max" % n, "%.1f" % statistics.median(maxes), "ms")
    report("burst_%d_floor_p50" % n,
           "%.1f" % statistics.median(percentile(f, 50) for f in floors), "ms")
    report("burst_%d_floor_max" % n, "%.1f" % statistics.median(f[-1] for f in floors), "ms")
    if ratios:
        report("burst_%d_ratio_p50" % n, "%.2f" % statistics.median(ratios))
        report("burst_%d_ratio_max" % n, "%.2f" % statistics.median(ratios_max))
        report("burst_%d_ratio_p50_slots" % n, " ".join("%.2f" % r for r in ratios))
    report("burst_%d_threads_after" % n, threads)


def bench_bursts():
    with tempfile.TemporaryDirectory() as tmp:
        stamp, floor = build(tmp)
        for n in (20, 100, 500):
            burst(stamp, floor, n)


def main():
    bench_disk()
    bench_bursts()


if __name__ == "__main__":
    main()
