"""Helpers for the integration tests: run the real ofelia binary (OFELIA_BIN,
the sanitizer build under `make test`) against a real SQLite file in a
temporary folder, and read what it wrote."""
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("OFELIA_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "asan", "ofelia")


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Poll predicate until it returns a true value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class Daemon:
    """One `ofelia daemon` process with its log collected in a file."""

    def __init__(self, workdir, config_text=None, config_path=None, args=(), env=None,
                 preexec_fn=None):
        self.workdir = workdir
        self.db = os.path.join(workdir, "ofelia.db")
        self.config = config_path
        if config_text is not None:
            self.config = os.path.join(workdir, "ofelia.yaml")
            with open(self.config, "w") as f:
                f.write(config_text)
        self.args = list(args)
        self.env = dict(os.environ, **(env or {}))
        self.preexec_fn = preexec_fn  # e.g. to set resource limits
        self.proc = None
        self.log_path = None
        self.starts = 0

    def start(self, wait_started=True):
        self.starts += 1
        self.log_path = os.path.join(self.workdir, "daemon-%d.log" % self.starts)
        cmd = [BIN, "daemon", "--db", self.db] + self.args
        if self.config:
            cmd += ["--config", self.config]
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log_file, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=self.workdir,
                                     preexec_fn=self.preexec_fn)
        if wait_started:
            self.wait_log("scheduler started")
        return self

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern)

        def found():
            if self.proc.poll() is not None and not rx.search(self.log()):
                raise AssertionError("daemon exited (%s) before /%s/:\n%s" %
                                     (self.proc.returncode, pattern, self.log()))
            return rx.search(self.log())
        try:
            return wait_for(found, timeout, what="log /%s/" % pattern)
        except AssertionError as e:
            raise AssertionError("%s; the log:\n%s" % (e, self.log()[-3000:])) from None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30.0):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log_file.close()

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.log_file.close()

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None and not self.log_file.closed:
            self.log_file.close()


class DaemonTest(unittest.TestCase):
    """A test case with a temporary folder and daemons killed at the end."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ofelia-test-")
        self.addCleanup(self.tmp.cleanup)  # cleanups run last, after tearDown
        self.dir = self.tmp.name
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.cleanup()

    def daemon(self, config_text=None, **kw):
        d = Daemon(self.dir, config_text, **kw)
        self.daemons.append(d)
        return d

    def query(self, sql, args=()):
        con = sqlite3.connect(os.path.join(self.dir, "ofelia.db"), timeout=10)
        try:
            rows = con.execute(sql, args).fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def assertIntegrity(self):
        self.assertEqual(self.query("PRAGMA integrity_check"), [("ok",)])

    def assertCleanExit(self, daemon):
        code = daemon.stop()
        self.assertEqual(code, 0, "daemon exit status %s; log:\n%s" % (code, daemon.log()))
