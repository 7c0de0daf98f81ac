#!/usr/bin/env python3
"""Fault matrix: the real daemon under load (jobs every second, a flood of
output, a long no-overlap job) through each fault, then the invariants of
common.invariants: the file is sound, no command ran without its row, no
slot has two rows or none, no-overlap held, no process left behind, and the
daemon neither crashed nor stalled (the API answered throughout).

    tools/campaign/faults.py [--long] [--only NAME ...]

Faults: locked (another process holds the write lock), full-disk (a small
tmpfs fills up), deleted (the database is unlinked under the daemon),
read-only (an immutable -shm), fds (a file descriptor limit the jobs run
into), engine (the Docker engine stops and starts again; needs root and
dockerd, in --long only). --long holds each fault longer. Root-only faults
are skipped (and said so) without root. Exit 0 when every run fault held."""
import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402

ROOT = common.ROOT


class Skip(Exception):
    pass


class Probe(threading.Thread):
    """Asks /health/liveness and /health/readiness every 100 ms: the worst
    answer time (a stalled loop answers late or not at all) and the
    readiness codes seen."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.d, self.worst, self.ready, self.failures = d, 0.0, set(), 0
        self.stopping = False

    def run(self):
        while not self.stopping:
            t = time.monotonic()
            try:
                if self.d.http("/health/liveness", timeout=3) != 200:
                    self.failures += 1
                self.ready.add(self.d.http("/health/readiness", timeout=3))
            except OSError:
                self.failures += 1
            self.worst = max(self.worst, time.monotonic() - t)
            time.sleep(0.1)

    def stop(self):
        self.stopping = True
        self.join(10)


def under_load(work, fault, hold, allow_gaps=False, db=None, extra=""):
    """Runs the daemon under load, calls fault(d, hold) while it works, stops
    it, checks the invariants. Returns (problems, figures)."""
    marks = os.path.join(work, "marks")
    d = common.Daemon(work, common.load_config(work, marks, extra_jobs=extra), db=db)
    d.start(web=True)
    probe = Probe(d)
    probe.start()
    time.sleep(2)
    figures = fault(d, hold) or {}
    time.sleep(2)
    probe.stop()
    problems = []
    if not d.alive():
        problems.append("the daemon died (%s)" % d.proc.returncode)
    code = d.stop()
    if code != 0:
        problems.append("stop exited %s" % code)
    inv = common.invariants(d, marks)
    problems += common.violations(inv, allow_gaps)
    strays = common.stray_processes(d.tag)
    if strays:
        problems.append("processes left behind: %s" % strays)
    if probe.failures:
        problems.append("%d liveness requests failed" % probe.failures)
    figures.update(starts=inv["starts"], executions=inv["executions"],
                   worst_liveness_ms=int(probe.worst * 1000),
                   readiness="/".join(str(c) for c in sorted(probe.ready)))
    if problems or os.environ.get("CAMPAIGN_LOG"):
        figures["log"] = d.log()[-2500:] if problems else d.log()
    return problems, figures


def missed_for(d, text):
    return d.query("SELECT count(*) FROM executions WHERE status = 'missed' AND "
                   "error LIKE ?", ("%" + text + "%",))[0][0]


def fault_locked(work, hold):
    def hold_lock(d, hold):
        con = sqlite3.connect(d.db, isolation_level=None, timeout=10)
        con.execute("BEGIN EXCLUSIVE")
        time.sleep(hold)
        con.execute("COMMIT")
        con.close()
        common.wait_for(lambda: d.http("/health/readiness") == 200, 10, what="ready again")
        return {"held_s": hold}
    problems, fig = under_load(work, hold_lock, hold)
    return problems, fig


def fault_full_disk(work, hold):
    if os.geteuid() != 0:
        raise Skip("needs root for a tmpfs")
    disk = os.path.join(work, "disk")
    os.mkdir(disk)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", disk],
                      capture_output=True).returncode != 0:
        raise Skip("cannot mount a tmpfs")
    try:
        def fill(d, hold):
            filler = os.path.join(disk, "filler")
            subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=64k"],
                           capture_output=True)
            time.sleep(hold)
            os.remove(filler)
            common.wait_for(lambda: d.http("/health/readiness") == 200, 15,
                            what="ready again")
            return {"held_s": hold}
        problems, fig = under_load(work, fill, hold, db=os.path.join(disk, "ofelia.db"))
        return problems, fig
    finally:
        subprocess.run(["umount", "-l", disk], capture_output=True)


def fault_deleted(work, hold):
    marks = os.path.join(work, "marks")
    d = common.Daemon(work, common.load_config(work, marks))
    d.start(web=True)
    time.sleep(1.5)
    os.unlink(d.db)
    problems = []
    try:
        d.wait_log("DELETED or MOVED", timeout=5)
    except AssertionError as e:
        problems.append(str(e)[:200])
    if d.http("/health/readiness") != 503:
        problems.append("readiness stayed 200 with the database deleted")
    time.sleep(hold)
    if d.stop() != 0:
        problems.append("stop failed")
    p = subprocess.run([common.BIN, "daemon", "--db", d.db, "--config", d.config],
                       capture_output=True, text=True, timeout=60, env=d.env)
    if p.returncode != 1 or "--init-db" not in p.stderr or os.path.exists(d.db):
        problems.append("a deleted database was made again at start: %s" % p.stderr[-300:])
    d.args.append("--init-db")
    d.start()
    if d.stop() != 0 or d.query("PRAGMA integrity_check") != [("ok",)]:
        problems.append("--init-db did not make a sound database")
    strays = common.stray_processes(d.tag)
    if strays:
        problems.append("processes left behind: %s" % strays)
    return problems, {"held_s": hold}


def fault_read_only(work, hold):
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        raise Skip("needs root and chattr")
    marks = os.path.join(work, "marks")
    d = common.Daemon(work, common.load_config(work, marks))
    d.start()
    time.sleep(1)
    d.kill9()
    shm = d.db + "-shm"
    if subprocess.run(["chattr", "+i", shm], capture_output=True).returncode != 0:
        raise Skip("the file system has no immutable flag")
    problems = []
    try:
        p = subprocess.run([common.BIN, "daemon", "--db", d.db, "--config", d.config],
                           capture_output=True, text=True, timeout=60, env=d.env)
        if p.returncode != 1 or "cannot write the database" not in p.stderr:
            problems.append("an immutable -shm: exit %s, %s" % (p.returncode, p.stderr[-300:]))
    finally:
        subprocess.run(["chattr", "-i", shm], capture_output=True)
    time.sleep(hold)
    d.start()
    time.sleep(2)
    if d.stop() != 0:
        problems.append("no clean start after the fault")
    inv = common.invariants(d, marks)
    problems += common.violations(inv)
    return problems, {"starts": inv["starts"], "executions": inv["executions"]}


def fault_fds(work, hold):
    if shutil.which("prlimit") is None:
        raise Skip("needs prlimit")
    marks = os.path.join(work, "marks")
    # Enough to start, too few for eight jobs' pipes at once.
    extra = "".join("""  burst%d:
    type: local
    schedule: "@every 1s"
    command: sh -c 'sleep 0.5'
""" % i for i in range(8))
    d = common.Daemon(work, common.load_config(work, marks, extra_jobs=extra))
    d.start(prefix=["prlimit", "--nofile=48"])
    time.sleep(hold + 2)
    problems = []
    if not d.alive():
        problems.append("the daemon died (%s)" % d.proc.returncode)
    if d.stop() != 0:
        problems.append("stop failed")
    emfile = d.query("SELECT count(*) FROM executions WHERE error LIKE "
                     "'%Too many open files%'")[0][0]
    inv = common.invariants(d, marks)
    problems += common.violations(inv)
    strays = common.stray_processes(d.tag)
    if strays:
        problems.append("processes left behind: %s" % strays)
    return problems, {"starts": inv["starts"], "executions": inv["executions"],
                      "failed_emfile": emfile}


def fault_engine(work, hold):
    if os.geteuid() != 0 or shutil.which("dockerd") is None:
        raise Skip("needs root and dockerd")
    engine = tempfile.mkdtemp(prefix="ofelia-eng-", dir="/tmp")
    tool = os.path.join(ROOT, "tools", "docker-engine.sh")

    def start_engine():
        out = subprocess.run([tool, "start", engine], capture_output=True, text=True,
                             timeout=180)
        if out.returncode != 0:
            raise Skip("cannot start a Docker engine: " + out.stderr[-300:])
        return out.stdout.split("DOCKER_HOST=")[1].split()[0]
    try:
        host = start_engine()
        extra = """  container:
    type: run
    schedule: "@every 2s"
    image: busybox:local
    network: none
    command: echo from-a-container
"""

        def restart(d, hold):
            subprocess.run([tool, "stop", engine], capture_output=True, timeout=120)
            common.wait_for(lambda: d.http("/health/readiness") == 503, 30,
                            what="not ready without the engine")
            time.sleep(hold)
            start_engine()
            common.wait_for(lambda: d.http("/health/readiness") == 200, 60,
                            what="ready with the engine back")
            t = time.time()
            common.wait_for(lambda: d.query(
                "SELECT count(*) FROM executions WHERE job_name = 'container' AND "
                "status = 'success' AND start_time > strftime('%Y-%m-%dT%H:%M:%fZ', ?, "
                "'unixepoch')", (t,))[0][0] > 0, 60, what="a container run after it")
            return {"held_s": hold}
        os.environ["DOCKER_HOST"] = host
        try:
            return under_load(work, restart, hold, extra=extra)
        finally:
            del os.environ["DOCKER_HOST"]
    finally:
        subprocess.run([tool, "stop", engine], capture_output=True, timeout=120)
        shutil.rmtree(engine, ignore_errors=True)


FAULTS = [("locked", fault_locked), ("full-disk", fault_full_disk), ("deleted", fault_deleted),
          ("read-only", fault_read_only), ("fds", fault_fds), ("engine", fault_engine)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--long", action="store_true")
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    hold = 12 if a.long else 3
    failed = 0
    for name, fn in FAULTS:
        if a.only and name not in a.only:
            continue
        if name == "engine" and not a.long and not a.only:
            print("faults: %-10s skipped (the engine restart runs with --long)" % name)
            continue
        t = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="ofelia-fault-") as work:
            try:
                problems, fig = fn(work, hold)
            except Skip as e:
                print("faults: %-10s skipped (%s)" % (name, e))
                continue
        log = fig.pop("log", "")
        figs = " ".join("%s=%s" % kv for kv in fig.items())
        print("faults: %-10s %s %s time=%.0fs" % (name, "FAILED" if problems else "ok", figs,
                                                   time.monotonic() - t))
        for p in problems:
            print("faults:   " + p)
        if log:
            print(log)
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
