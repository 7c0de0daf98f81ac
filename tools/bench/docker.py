#!/usr/bin/env python3
"""Benchmarks of the Docker job types, on the release binary and a private
engine (tools/bench/docker.sh starts it):

  exec start delay     slot time to the moment the exec'd command runs in the
                       container: the job `sh -c 'echo $EPOCHREALTIME'` runs
                       every second and prints the time (us) at which busybox
                       sh started; minus the slot (whole seconds). One host,
                       one clock. p50 and max.
  exec job overhead    an exec job of `true`, triggered through the API: its
                       recorded duration (execution begun -> its end
                       recorded), median; against `docker exec C true` (the
                       CLI, wall time) and the same three Engine API calls
                       made from Python (create, attached start, inspect).
                       The ratio is exec job / `docker exec` (medians).
  run containers/min   run jobs of `true` (image busybox:local, delete: true:
                       create, start, logs, wait, remove) triggered through
                       the API back to back, one at a time and four at a time;
                       against `docker run --rm` of the same, one at a time.

Usage: tools/bench/docker.py BIN DOCKER_HOST [--quick]. Prints `name: value
unit` lines."""
import calendar
import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from benchlib import Daemon, report

BIN = sys.argv[1]
HOST = sys.argv[2]
QUICK = "--quick" in sys.argv
SOCK = HOST[len("unix://"):]


def docker(*args):
    return subprocess.run(["docker", "-H", HOST] + list(args), check=True,
                          capture_output=True, text=True).stdout.strip()


class UnixConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(SOCK)


def engine(method, path, body=None):
    c = UnixConnection("localhost", timeout=60)
    try:
        c.request(method, "/v1.41" + path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def start_daemon(workdir, jobs, web=False):
    """The daemon on the bench's engine, with jobs (YAML under `jobs:`)."""
    return Daemon(BIN, workdir,
                  "docker:\n  host: %s\n  poll-interval: 0\n  events: false\n"
                  "global:\n  max-concurrent: 8\n"
                  "web:\n  insecure: true\n  rate-limit:\n    requests-per-minute: 10000000\n"
                  "    burst: 1000000\n"
                  "jobs:\n%s" % (HOST, jobs), web)


def run_and_wait(d, job):
    """Trigger job through the API; returns (status, duration_ns) at its end."""
    status, body = d.api("POST", "/api/job/%s/run" % job)
    if status != 200:
        raise RuntimeError("run %s: %s %s" % (job, status, body))
    eid = body["executionId"]
    while True:
        rows = d.query("SELECT status, duration_ns FROM executions WHERE id = ?", (eid,))
        if rows and rows[0][0] != "running":
            return rows[0]
        time.sleep(0.005)


def parse_iso(s):
    """The store's "2026-01-01T00:00:00.000Z" as Unix seconds."""
    return calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + s[19:-1])


def bench_exec_delay(container, samples):
    with tempfile.TemporaryDirectory(prefix="ofelia-bench-") as tmp:
        d = start_daemon(tmp, """  clock:
    type: exec
    schedule: "* * * * * *"
    container: %s
    command: sh -c 'echo $EPOCHREALTIME'
""" % container)
        try:
            deadline = time.monotonic() + samples + 30
            while time.monotonic() < deadline:
                rows = d.query("SELECT scheduled_time, output FROM executions "
                               "WHERE status = 'success'")
                if len(rows) >= samples + 1:
                    break
                time.sleep(0.5)
        finally:
            d.stop()
    # The first slot may fall while the daemon is still starting: drop it.
    delays = sorted((float(out) - parse_iso(slot)) * 1000 for slot, out in rows[1:samples + 1])
    report("exec start delay p50", "%.1f" % statistics.median(delays), "ms")
    report("exec start delay max", "%.1f" % delays[-1], "ms")


def bench_exec_overhead(container, n):
    with tempfile.TemporaryDirectory(prefix="ofelia-bench-") as tmp:
        d = start_daemon(tmp, """  nop:
    type: exec
    schedule: "@yearly"
    container: %s
    user: root
    command: "true"
""" % container, web=True)
        try:
            run_and_wait(d, "nop")  # warm up
            job = [run_and_wait(d, "nop")[1] / 1e6 for _ in range(n)]
        finally:
            d.stop()
    cli = []
    for _ in range(n):
        t0 = time.monotonic()
        docker("exec", "-u", "root", container, "true")
        cli.append((time.monotonic() - t0) * 1000)
    raw = []
    for _ in range(n):
        t0 = time.monotonic()
        _, body = engine("POST", "/containers/%s/exec" % container,
                         {"AttachStdout": True, "AttachStderr": True, "User": "root",
                          "Cmd": ["true"]})
        eid = json.loads(body)["Id"]
        engine("POST", "/exec/%s/start" % eid, {"Detach": False, "Tty": False})
        engine("GET", "/exec/%s/json" % eid)
        raw.append((time.monotonic() - t0) * 1000)
    m_job, m_cli, m_raw = statistics.median(job), statistics.median(cli), statistics.median(raw)
    report("exec job duration p50", "%.1f" % m_job, "ms")
    report("docker exec (CLI) p50", "%.1f" % m_cli, "ms")
    report("exec via Engine API (python) p50", "%.1f" % m_raw, "ms")
    report("exec job / docker exec", "%.2f" % (m_job / m_cli), "x")
    report("exec job / Engine API calls", "%.2f" % (m_job / m_raw), "x")


def bench_run_rate(seconds, parallel):
    jobs = "".join("""  run-%d:
    type: run
    schedule: "@yearly"
    image: busybox:local
    network: none
    pull: never
    command: "true"
""" % i for i in range(parallel))
    with tempfile.TemporaryDirectory(prefix="ofelia-bench-") as tmp:
        d = start_daemon(tmp, jobs, web=True)
        done = []
        stop_at = time.monotonic() + seconds

        def worker(i):
            while time.monotonic() < stop_at:
                status, _ = run_and_wait(d, "run-%d" % i)
                if status == "success":
                    done.append(time.monotonic())
        try:
            run_and_wait(d, "run-0")  # warm up
            t0 = time.monotonic()
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(parallel)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - t0
        finally:
            d.stop()
    report("run-job containers/min (%d at a time)" % parallel,
           "%.0f" % (len(done) / elapsed * 60), "containers/min")


def bench_cli_run_rate(n):
    t0 = time.monotonic()
    for _ in range(n):
        docker("run", "--rm", "--network", "none", "busybox:local", "true")
    report("docker run --rm (CLI, 1 at a time)", "%.0f" % (n / (time.monotonic() - t0) * 60),
           "containers/min")


def main():
    container = "ofelia-bench-" + uuid.uuid4().hex[:8]
    docker("run", "-d", "--name", container, "--network", "none", "busybox:local",
           "sleep", "100000")
    try:
        bench_exec_delay(container, 5 if QUICK else 20)
        bench_exec_overhead(container, 10 if QUICK else 30)
        bench_run_rate(5 if QUICK else 20, 1)
        bench_run_rate(5 if QUICK else 20, 4)
        bench_cli_run_rate(5 if QUICK else 15)
    finally:
        docker("rm", "-f", container)


if __name__ == "__main__":
    main()
