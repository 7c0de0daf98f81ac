"""Shared by the campaigns: the real daemon under load, the invariants that
must hold after any fault, and the processes a campaign must not leave
behind. Python 3 stdlib only."""
import datetime as dt
import os
import re
import signal
import sqlite3
import subprocess
import time
import uuid

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
BIN = os.environ.get("OFELIA_BIN") or os.path.join(ROOT, "build", "asan", "ofelia")


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def load_config(workdir, marks, extra_global="", extra_jobs=""):
    """Jobs that keep the daemon busy: five that run every second (each
    start is marked in a file with its execution id), a no-overlap job that
    holds a lock for 3 s (a second holder means two runs at once), and a job
    that floods its output."""
    lock = os.path.join(workdir, "overlap.lock")
    overlaps = os.path.join(workdir, "overlaps")
    jobs = "".join("""  tick%d:
    type: local
    schedule: "@every 1s"
    command: sh -c 'echo "$OFELIA_EXECUTION_ID" >> %s; echo tick'
""" % (i, marks) for i in range(5))
    return """global:
  max-concurrent: 8
  shutdown-grace: 2s
%s
jobs:
%s  long:
    type: local
    schedule: "@every 2s"
    no-overlap: true
    command: sh -c 'echo "$OFELIA_EXECUTION_ID" >> %s; flock -n %s sleep 3 || echo overlap >> %s'
  flood:
    type: local
    schedule: "@every 3s"
    no-overlap: true
    command: sh -c 'echo "$OFELIA_EXECUTION_ID" >> %s; yes 0123456789abcdefghij | head -n 20000'
%s""" % (extra_global, jobs, marks, lock, overlaps, marks, extra_jobs)


class Daemon:
    """One `ofelia daemon`, tagged so that every process it starts can be
    found (the tag is inherited by the jobs' environments)."""

    def __init__(self, workdir, config, db=None, args=(), env=None, tag=None):
        self.workdir = workdir
        self.db = db or os.path.join(workdir, "ofelia.db")
        self.config = os.path.join(workdir, "ofelia.yaml")
        with open(self.config, "w") as f:
            f.write(config)
        self.args = list(args)
        self.tag = tag or uuid.uuid4().hex
        self.env = dict(os.environ, OFELIA_CAMPAIGN_TAG=self.tag, **(env or {}))
        self.proc = None
        self.starts = 0
        self.port = None

    def start(self, wait=True, web=False, prefix=()):
        self.starts += 1
        self.log_path = os.path.join(self.workdir, "daemon-%d.log" % self.starts)
        cmd = list(prefix) + [BIN, "daemon", "--db", self.db, "--config", self.config]
        cmd += self.args
        if web:
            cmd += ["--enable-web", "--web-address", "127.0.0.1:0"]
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.workdir)
        if wait:
            self.wait_log("scheduler started")
        if web:
            m = self.wait_log(r"msg=listening address=127\.0\.0\.1:(\d+)", timeout=20)
            self.port = int(m.group(1))
        return self

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern, timeout=20.0):
        rx = re.compile(pattern)

        def found():
            m = rx.search(self.log())
            if m is None and self.proc.poll() is not None:
                raise AssertionError("daemon exited (%s) before /%s/:\n%s" %
                                     (self.proc.returncode, pattern, self.log()[-2000:]))
            return m
        return wait_for(found, timeout, what="log /%s/" % pattern)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.log_file.close()

    def stop(self, timeout=60):
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log_file.close()

    def http(self, path, timeout=5):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()

    def query(self, sql, args=()):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()


def stray_processes(tag):
    """Live processes (not zombies) carrying the campaign tag: jobs left
    behind by a killed daemon, or a daemon itself."""
    found = []
    needle = ("OFELIA_CAMPAIGN_TAG=" + tag).encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read()
            with open("/proc/%s/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle in env.split(b"\0") and state not in ("Z", "X"):
            found.append(int(pid))
    return found


def parse_iso(s):
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.timezone.utc).timestamp()


def invariants(d, marks, every_second=("tick0", "tick1", "tick2", "tick3", "tick4")):
    """What must hold after any fault, once the daemon has stopped: the file
    is sound, nothing is left running, no command started without its row
    (lost), no slot has two rows (duplicates), no-overlap held, and every
    slot of the @every 1s jobs has its one outcome (no gap)."""
    out = {}
    out["integrity"] = d.query("PRAGMA integrity_check") == [("ok",)]
    out["running"] = d.query("SELECT count(*) FROM executions WHERE status = 'running'")[0][0]
    started = []
    if os.path.exists(marks):
        with open(marks) as f:
            started = [line.strip() for line in f if line.strip()]
    ids = {r[0] for r in d.query("SELECT id FROM executions")}
    out["starts"] = len(started)
    out["lost"] = sum(1 for s in started if s not in ids)
    out["ran_twice"] = len(started) - len(set(started))
    out["duplicates"] = d.query(
        "SELECT count(*) FROM (SELECT 1 FROM executions WHERE scheduled_time IS NOT NULL "
        "GROUP BY job_name, scheduled_time HAVING count(*) > 1)")[0][0]
    overlaps = os.path.join(d.workdir, "overlaps")
    out["overlaps"] = 0
    if os.path.exists(overlaps):
        with open(overlaps) as f:
            out["overlaps"] = len(f.read().split())
    gaps = 0
    for job in every_second:
        times = [parse_iso(r[0]) for r in d.query(
            "SELECT scheduled_time FROM executions WHERE job_name = ? AND scheduled_time "
            "IS NOT NULL ORDER BY scheduled_time", (job,))]
        gaps += sum(1 for a, b in zip(times, times[1:]) if b - a != 1)
    out["gaps"] = gaps
    out["executions"] = d.query("SELECT count(*) FROM executions")[0][0]
    return out


def violations(inv, allow_gaps=False):
    bad = []
    if not inv["integrity"]:
        bad.append("integrity_check failed")
    for key in ("running", "lost", "ran_twice", "duplicates", "overlaps"):
        if inv[key]:
            bad.append("%s = %d" % (key, inv[key]))
    if inv["gaps"] and not allow_gaps:
        bad.append("gaps = %d" % inv["gaps"])
    return bad
