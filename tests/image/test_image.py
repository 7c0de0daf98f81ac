"""The container image as a user deploys it (make test-image builds it and
runs these): the engine's socket and a named volume mounted, an INI at
/etc/ofelia/config.ini with a local and an exec job, a labelled container.
Killed and started again it keeps its history and plans, resolves what was
running, runs no slot twice; `docker stop` exits 0; the healthcheck follows
a wedged daemon and an unwritable database; `daemon --docker -f` filters.

Run: OFELIA_TEST_IMAGE=ofelia:test OFELIA_TEST_DOCKER_HOST=unix://... \
     python3 -m unittest discover -s tests/image -t . -v
"""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest
import uuid

from tests.integration.support import wait_for

IMAGE = os.environ.get("OFELIA_TEST_IMAGE")
HOST = os.environ.get("OFELIA_TEST_DOCKER_HOST")
SOCKET = HOST[len("unix://"):] if HOST and HOST.startswith("unix://") else None

CONFIG = """[global]
shutdown-grace = 4s

[job-local "local-tick"]
schedule = @every 2s
command = echo local

[job-local "slow"]
schedule = @every 3s
command = sleep 5
no-overlap

[job-exec "exec-tick"]
schedule = @every 2s
container = {target}
command = echo exec
"""


def docker(*args, check=True, timeout=120):
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, DOCKER_HOST=HOST))
    if check and r.returncode != 0:
        raise AssertionError("docker %s: %s" % (" ".join(args), r.stderr))
    return r.stdout.strip()


def inspect(name, fmt):
    return docker("inspect", "-f", fmt, name, check=False)


@unittest.skipUnless(IMAGE and SOCKET, "make test-image sets OFELIA_TEST_IMAGE and a unix "
                     "OFELIA_TEST_DOCKER_HOST")
class Image(unittest.TestCase):
    def setUp(self):
        self.tag = "oimg" + uuid.uuid4().hex[:8]
        self.tmp = tempfile.mkdtemp(prefix="ofelia-image-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.names, self.volumes, self.immutable = [], [], []

    def tearDown(self):
        for path in self.immutable:
            subprocess.run(["chattr", "-i", path], capture_output=True)
        for name in self.names:
            pid = inspect(name, "{{.State.Pid}}")
            if pid.isdigit() and int(pid) > 0:
                for child in children(int(pid)):
                    os.kill(child, signal.SIGCONT)
            docker("rm", "-f", name, check=False)
        for v in self.volumes:
            docker("volume", "rm", "-f", v, check=False)

    def volume(self):
        v = self.tag + "-state"
        docker("volume", "create", v)
        self.volumes.append(v)
        return v, docker("volume", "inspect", "-f", "{{.Mountpoint}}", v)

    def target(self, suffix, labels=()):
        name = "%s-%s" % (self.tag, suffix)
        argv = ["run", "-d", "--name", name, "--network", "none"]
        for k, v in labels:
            argv += ["--label", "%s=%s" % (k, v)]
        docker(*argv, "busybox:local", "sleep", "600")
        self.names.append(name)
        return name

    def ofelia(self, volume, config=None, cmd=(), env=()):
        name = self.tag + "-ofelia"
        argv = ["run", "-d", "--name", name, "--network", "none",
                "-v", "%s:/var/run/docker.sock" % SOCKET, "-v", "%s:/var/lib/ofelia" % volume,
                "--health-interval", "1s", "--health-retries", "2", "--health-timeout", "10s"]
        if config:
            path = os.path.join(self.tmp, "config.ini")
            with open(path, "w") as f:
                f.write(config)
            argv += ["-v", "%s:/etc/ofelia/config.ini:ro" % path]
        for e in env:
            argv += ["-e", e]
        docker(*argv, IMAGE, *cmd)
        self.names.append(name)
        return name

    def query(self, mount, sql, args=()):
        con = sqlite3.connect("file:%s/ofelia.db?mode=ro" % mount, uri=True, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def successes(self, mount, job):
        try:
            return self.query(mount, "SELECT count(*) FROM executions WHERE job_name = ? AND "
                              "status = 'success'", (job,))[0][0]
        except sqlite3.Error:
            return 0

    def health(self, name):
        return inspect(name, "{{.State.Health.Status}}")

    def daemon_pid(self, name):
        """The host pid of ofelia itself (tini is the container's pid 1)."""
        kids = children(int(inspect(name, "{{.State.Pid}}")))
        self.assertEqual(len(kids), 1, kids)
        return kids[0]

    def test_restart_safe_deployment(self):
        target = self.target("target")
        labelled = self.target("labelled", [("ofelia.enabled", "true"),
                                            ("ofelia.job-exec.lbl.schedule", "@every 2s"),
                                            ("ofelia.job-exec.lbl.command", "echo label")])
        label_job = labelled + ".lbl"
        volume, mount = self.volume()
        c = self.ofelia(volume, CONFIG.format(target=target), env=["OFELIA_HEALTH_MAX_AGE=8s"])
        for job in ("local-tick", "exec-tick", label_job):
            wait_for(lambda: self.successes(mount, job) > 0, 60, what=job + " to succeed")
        wait_for(lambda: self.health(c) == "healthy", 60, what="healthy")
        self.assertEqual(self.query(mount, "SELECT origin FROM jobs WHERE name = ?",
                                    (label_job,)), [("docker-label",)])

        # docker kill while `slow` runs; docker start brings everything back.
        wait_for(lambda: self.query(mount, "SELECT count(*) FROM executions WHERE "
                                    "job_name = 'slow' AND status = 'running'")[0][0], 30,
                 what="slow to be running")
        docker("kill", c)
        before = {job: self.successes(mount, job) for job in ("local-tick", "exec-tick",
                                                              label_job)}
        history = self.query(mount, "SELECT count(*) FROM executions")[0][0]
        docker("start", c)
        for job, n in before.items():
            wait_for(lambda: self.successes(mount, job) > n, 60, what=job + " after start")
        wait_for(lambda: self.health(c) == "healthy", 60, what="healthy after start")
        self.assertGreater(self.query(mount, "SELECT count(*) FROM executions")[0][0], history)
        interrupted = self.query(mount, "SELECT count(*) FROM executions WHERE "
                                 "job_name = 'slow' AND status = 'interrupted'")[0][0]
        self.assertEqual(interrupted, 1)
        self.assertEqual(self.query(
            mount, "SELECT job_name, scheduled_time, count(*) FROM executions WHERE "
            "scheduled_time IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1"), [])
        self.assertEqual(self.query(
            mount, "SELECT count(*) FROM jobs WHERE deleted_at IS NULL AND next_run IS NULL "
            "AND name IN ('local-tick', 'exec-tick', 'slow', ?)", (label_job,))[0][0], 0)

        # Wedged: the heartbeat stops, the healthcheck says so, and recovers.
        pid = self.daemon_pid(c)
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_for(lambda: self.health(c) == "unhealthy", 60, what="unhealthy (wedged)")
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: self.health(c) == "healthy", 60, what="healthy again")

        # An unwritable database: the heartbeat cannot be recorded.
        files = [os.path.join(mount, f) for f in ("ofelia.db", "ofelia.db-wal")]
        if subprocess.run(["chattr", "+i", *files], capture_output=True).returncode == 0:
            self.immutable = files
            wait_for(lambda: self.health(c) == "unhealthy", 60, what="unhealthy (database)")
            subprocess.run(["chattr", "-i", *files], check=True)
            self.immutable = []
            wait_for(lambda: self.health(c) == "healthy", 60, what="healthy again")

        # docker stop with its default 10 s, while `slow` runs: exit 0.
        wait_for(lambda: self.query(mount, "SELECT count(*) FROM executions WHERE "
                                    "job_name = 'slow' AND status = 'running'")[0][0], 30,
                 what="slow to be running")
        docker("stop", c)
        self.assertEqual(inspect(c, "{{.State.ExitCode}}"), "0", docker("logs", "--tail", "20",
                                                                         c))
        self.assertEqual(self.query(mount, "SELECT count(*) FROM executions WHERE "
                                    "status = 'running'")[0][0], 0)

    def test_defaults_and_files(self):
        cfg = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", IMAGE))
        self.assertEqual(cfg["Entrypoint"], ["/usr/bin/tini", "--", "/usr/bin/ofelia"])
        self.assertEqual(cfg["Cmd"], ["daemon", "--config", "/etc/ofelia/config.ini"])
        self.assertIn("/var/lib/ofelia", cfg["Volumes"])
        self.assertEqual(cfg["Labels"]["ofelia.service"], "true")
        self.assertIn("ofelia", cfg["Healthcheck"]["Test"][1])
        for path in ("/usr/bin/ofelia", "/usr/local/bin/ofelia"):
            out = docker("run", "--rm", "--network", "none", "--entrypoint", path, IMAGE,
                         "version")
            self.assertIn("ofelia", out)

    def test_docker_filter_selects_containers(self):
        a = self.target("proj-a", [("ofelia.enabled", "true"), (self.tag, "a"),
                                   ("ofelia.job-exec.j.schedule", "@every 1s"),
                                   ("ofelia.job-exec.j.command", "echo a")])
        b = self.target("proj-b", [("ofelia.enabled", "true"), (self.tag, "b"),
                                   ("ofelia.job-exec.j.schedule", "@every 1s"),
                                   ("ofelia.job-exec.j.command", "echo b")])
        volume, mount = self.volume()
        # No config file at all: with --docker that is label jobs only.
        c = self.ofelia(volume, cmd=("daemon", "--docker", "-f", "label=%s=a" % self.tag))
        wait_for(lambda: self.successes(mount, a + ".j") > 1, 60, what="a's job")
        names = [r[0] for r in self.query(mount, "SELECT name FROM jobs")]
        self.assertIn(a + ".j", names)
        self.assertNotIn(b + ".j", names)
        docker("stop", c)
        self.assertEqual(inspect(c, "{{.State.ExitCode}}"), "0")


def children(pid):
    """The pids of pid's children on the host."""
    out = []
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                out += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return out


if __name__ == "__main__":
    unittest.main()
