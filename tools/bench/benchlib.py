"""What the Python benches share: figures printed as `name: value unit`
lines, percentiles, and the real daemon on a temporary config and database."""
import http.client
import json
import os
import sqlite3
import subprocess
import time

TICKS = os.sysconf("SC_CLK_TCK")


def report(name, value, unit=""):
    print("%s: %s %s" % (name, value, unit), flush=True)


def percentile(values, p):
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


class Daemon:
    """`BIN daemon` on config (YAML text) in workdir; with web, on a free port
    of 127.0.0.1 (self.port). Returns once the schema exists and, with web,
    the server listens."""

    def __init__(self, binary, workdir, config, web=False):
        self.db = os.path.join(workdir, "bench.db")
        path = os.path.join(workdir, "bench.yaml")
        with open(path, "w") as f:
            f.write(config)
        self.log_path = os.path.join(workdir, "daemon.log")
        self.log = open(self.log_path, "w")
        # Quiet logs, except that the listening address is an info line;
        # BENCH_LOG=debug shows everything when a bench needs looking into.
        args = [binary, "daemon", "--config", path, "--db", self.db,
                "--log-level", os.environ.get("BENCH_LOG", "info" if web else "warn")]
        if web:
            args += ["--enable-web", "--web-address", "127.0.0.1:0"]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = None
        deadline = time.monotonic() + 30
        while not self._ready(web):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the daemon did not start:\n" + open(self.log_path).read())
            time.sleep(0.01)

    def _ready(self, web):
        try:
            self.query("SELECT count(*) FROM jobs")
        except sqlite3.OperationalError:
            return False
        if not web:
            return True
        for line in open(self.log_path):
            if "msg=listening" in line:
                self.port = int(line.rsplit(":", 1)[1].split()[0])
                return True
        return False

    def query(self, sql, args=()):
        con = sqlite3.connect(self.db, timeout=30)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def api(self, method, path):
        """One request to the API; (status, decoded JSON body)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            c.request(method, path)
            r = c.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            c.close()

    def rss_kb(self, field="VmRSS:"):
        """Resident memory; field "RssAnon:" is the private part, without the
        pages of shared libraries."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
        return 0

    def pss_kb(self):
        """Proportional set size: shared pages divided among the processes
        mapping them (smaps_rollup)."""
        with open("/proc/%d/smaps_rollup" % self.proc.pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def stop(self):
        self.proc.terminate()
        self.proc.wait(60)
        self.log.close()
