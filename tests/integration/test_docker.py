"""Docker jobs and label discovery end to end: the real daemon (and `ofelia
run`) against the private test engine that tools/test.sh starts
(OFELIA_TEST_DOCKER_HOST). Exec, run and the pull policies, stops for real
(max-runtime, shutdown), label jobs that follow their containers, bad labels,
name collisions, reload counts, an engine that goes away mid-run (on a second
engine of the test's own), the reattach after a kill -9, and retries of a
run job (each attempt in a container of its own).

Test containers use the image busybox:local (it has no default command) and
network mode none; their names carry a random tag and tearDown removes them.
Service-run (Swarm) tests are opt-in: OFELIA_TEST_SWARM=1 (see docs/docker.md)."""
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid

from tests.integration.support import BIN, DaemonTest, wait_for

HOST = os.environ.get("OFELIA_TEST_DOCKER_HOST")
SWARM = os.environ.get("OFELIA_TEST_SWARM") == "1"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ENGINE = os.path.join(ROOT, "tools", "docker-engine.sh")
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:")


def docker(*args, host=HOST, check=True, timeout=60):
    """The docker CLI against an engine; returns its stdout."""
    r = subprocess.run(["docker", "-H", host] + list(args), capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("docker %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout.strip()


def inspect(name, host=HOST):
    return json.loads(docker("inspect", name, host=host))[0]


@unittest.skipUnless(HOST, "OFELIA_TEST_DOCKER_HOST is not set: the Docker tests need the "
                     "private engine tools/test.sh starts (as root, with dockerd)")
class DockerCase(DaemonTest):
    def setUp(self):
        super().setUp()
        self.tag = "ofl" + uuid.uuid4().hex[:8]
        self.containers = []
        self.db = os.path.join(self.dir, "ofelia.db")

    def tearDown(self):
        try:
            for name in self.containers:
                docker("rm", "-f", name, check=False)
            # Containers ofelia created for this test's jobs.
            rows = docker("ps", "-a", "--filter", "label=ofelia.job",
                          "--format", '{{.ID}} {{.Label "ofelia.job"}}', check=False)
            for line in rows.splitlines():
                cid, _, job = line.partition(" ")
                if self.tag in job:
                    docker("rm", "-f", cid, check=False)
        finally:
            super().tearDown()

    def name(self, suffix):
        return "%s-%s" % (self.tag, suffix)

    def container(self, suffix, cmd=("sleep", "300"), labels=(), args=(), create=False,
                  host=HOST):
        """A test container (run -d, or only created), removed in tearDown."""
        name = self.name(suffix)
        argv = ["create"] if create else ["run", "-d"]
        argv += ["--name", name, "--network", "none"] + list(args)
        for k, v in labels:
            argv += ["--label", "%s=%s" % (k, v)]
        docker(*(argv + ["busybox:local"] + list(cmd)), host=host)
        if host == HOST:
            self.containers.append(name)
        return name

    def config(self, body, host=HOST, docker_extra=""):
        return "docker:\n  host: %s\n%s%s" % (host, docker_extra, body)

    def write_config(self, text):
        path = os.path.join(self.dir, "ofelia.yaml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_job(self, config_text, job, timeout=90):
        """`ofelia run JOB`; returns (exit status, stdout, stderr)."""
        path = self.write_config(config_text)
        r = subprocess.run([BIN, "run", "--config", path, "--db", self.db, job],
                           capture_output=True, text=True, timeout=timeout)
        self.assertNotRegex(r.stderr, SANITIZER, r.stderr)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        return r.returncode, r.stdout, r.stderr

    def last(self, job, finished=False):
        """The latest execution of job as a dict; finished: the latest that
        ended (the newest row of a job due every second is nearly always its
        next slot, claimed ahead, with the previous end committed beside it)."""
        rows = self.query("SELECT id, status, exit_code, output, error, container_id, "
                          "trigger FROM executions WHERE job_name = ? %s"
                          "ORDER BY created_at DESC, rowid DESC LIMIT 1"
                          % ("AND status <> 'running' " if finished else ""), (job,))
        if not rows:
            return None
        keys = ("id", "status", "exit_code", "output", "error", "container_id", "trigger")
        return dict(zip(keys, rows[0]))

    def logs(self, exec_id):
        return self.query("SELECT level, message FROM execution_logs WHERE execution_id = ? "
                          "ORDER BY seq", (exec_id,))

    def wait_status(self, job, statuses=("success", "failed", "stopped", "interrupted"),
                    timeout=30):
        def done():
            e = self.last(job, finished=True)
            return e if e and e["status"] in statuses else None
        return wait_for(done, timeout, 0.1, "an execution of %s in %s" % (job, statuses))

    def job_row(self, name):
        rows = self.query("SELECT origin, deleted_at, definition FROM jobs WHERE name = ?",
                          (name,))
        return rows[0] if rows else None

    def live_job(self, name):
        row = self.job_row(name)
        return row if row and row[1] is None else None

    def assertDockerError(self, error, *parts):
        self.assertTrue(error.endswith(" [DOCKER_ERROR]"), error)
        for p in parts:
            self.assertIn(p, error)

    def web_daemon(self, config_text):
        d = self.daemon(config_text, args=["--enable-web", "--web-address", "127.0.0.1:0",
                                           "--web-insecure"])
        d.start(wait_started=False)
        self.port = int(d.wait_log(r"msg=listening address=127\.0\.0\.1:(\d+)",
                                   timeout=20).group(1))
        return d

    def api(self, method, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path)
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            conn.close()


class ExecJobs(DockerCase):
    def test_output_exit_code_user_environment(self):
        c = self.container("target")
        cfg = self.config("""jobs:
  as-default:
    type: exec
    schedule: "@every 1h"
    container: %(c)s
    command: id -u
  as-root:
    type: exec
    schedule: "@every 1h"
    container: %(c)s
    user: root
    environment: ["GREETING=hi there"]
    working-dir: /etc
    command: sh -c 'echo "$GREETING"; pwd; id -u; echo to-stderr >&2; exit 3'
  as-image-user:
    type: exec
    schedule: "@every 1h"
    container: %(c)s
    user: default
    tty: true
    command: id -u
""" % {"c": c})
        rc, out, _ = self.run_job(cfg, "as-default")
        # default-user is root, as in mcuadros/ofelia.
        self.assertEqual((rc, out), (0, "0\n"))
        e = self.last("as-default")
        self.assertEqual((e["status"], e["exit_code"], e["output"]), ("success", 0, "0"))
        self.assertTrue(e["container_id"])  # the exec's id

        rc, out, err = self.run_job(cfg, "as-root")
        self.assertEqual(rc, 1)
        e = self.last("as-root")
        self.assertEqual((e["status"], e["exit_code"], e["error"]), ("failed", 3, "exit status 3"))
        logs = self.logs(e["id"])
        self.assertEqual([m for m in logs if m[0] == "info"],
                         [("info", "hi there"), ("info", "/etc"), ("info", "0")])
        self.assertIn(("error", "to-stderr"), logs)

        self.run_job(cfg, "as-image-user")
        e = self.last("as-image-user")
        self.assertEqual((e["status"], e["output"]), ("success", "0"))

    def test_unknown_and_stopped_container(self):
        stopped = self.container("stopped", create=True)
        cfg = self.config("""jobs:
  unknown:
    type: exec
    schedule: "@every 1h"
    container: %(tag)s-nope
    command: echo never
  stopped:
    type: exec
    schedule: "@every 1h"
    container: %(s)s
    command: echo never
""" % {"tag": self.tag, "s": stopped})
        self.assertEqual(self.run_job(cfg, "unknown")[0], 1)
        e = self.last("unknown")
        self.assertEqual(e["status"], "failed")
        self.assertDockerError(e["error"], "No such container: %s-nope" % self.tag)
        self.assertEqual(self.run_job(cfg, "stopped")[0], 1)
        e = self.last("stopped")
        self.assertEqual(e["status"], "failed")
        self.assertDockerError(e["error"], "is not running")

    def test_max_runtime_kills_the_exec(self):
        c = self.container("target", cmd=("sleep", "999"))
        cfg = self.config("""jobs:
  slow:
    type: exec
    schedule: "@every 1h"
    container: %s
    max-runtime: 1s
    command: sh -c 'echo begun; sleep 300; echo never'
""" % c)
        t0 = time.monotonic()
        self.assertEqual(self.run_job(cfg, "slow")[0], 1)
        self.assertLess(time.monotonic() - t0, 30)
        e = self.last("slow")
        self.assertEqual((e["status"], e["error"], e["output"]),
                         ("failed", "max-runtime of 1s exceeded; the job was stopped", "begun"))
        # The shell and its child are gone from the container.
        wait_for(lambda: "sleep 300" not in docker("exec", c, "ps", "-o", "args"),
                 what="the exec's sleep to end")


class RunJobs(DockerCase):
    def test_image_output_labels_settings_and_delete(self):
        cfg = self.config("""jobs:
  %(tag)s-keep:
    type: run
    schedule: "@every 1h"
    image: busybox:local
    network: none
    pull: never
    delete: false
    container-name: %(tag)s-kept
    hostname: %(tag)s-host
    working-dir: /tmp
    environment: [COLOR=blue]
    command: sh -c 'echo "$COLOR $(hostname) $(pwd) $(id -u)"; echo oops >&2; exit 2'
  %(tag)s-gone:
    type: run
    schedule: "@every 1h"
    image: busybox:local
    network: none
    pull: never
    user: root
    entrypoint: sh -c
    command: "'echo via-entrypoint; id -u'"
""" % {"tag": self.tag})
        keep, gone = self.tag + "-keep", self.tag + "-gone"
        self.assertEqual(self.run_job(cfg, keep)[0], 1)
        e = self.last(keep)
        self.assertEqual((e["status"], e["exit_code"], e["error"]), ("failed", 2, "exit status 2"))
        # stdout and stderr are separate pipes: their relative order is not kept.
        self.assertEqual(sorted(self.logs(e["id"])),
                         [("error", "oops"), ("info", "blue %s-host /tmp 0" % self.tag)])
        ct = inspect(self.tag + "-kept")
        self.containers.append(self.tag + "-kept")
        self.assertEqual(ct["Id"], e["container_id"])
        self.assertEqual(ct["Config"]["Labels"],
                         {"ofelia.job": keep, "ofelia.execution": e["id"]})
        self.assertFalse(ct["HostConfig"]["AutoRemove"])

        self.assertEqual(self.run_job(cfg, gone)[0], 0)
        e = self.last(gone)
        self.assertEqual((e["status"], e["output"]), ("success", "via-entrypoint\n0"))
        self.assertEqual(docker("ps", "-aq", "--filter", "label=ofelia.execution=" + e["id"]), "")

    def test_existing_stopped_container(self):
        c = self.container("existing", cmd=("sh", "-c", "echo run-of-$(hostname)"), create=True)
        cfg = self.config("""jobs:
  start-it:
    type: run
    schedule: "@every 1h"
    container: %s
""" % c)
        for _ in range(2):
            self.assertEqual(self.run_job(cfg, "start-it")[0], 0)
            e = self.last("start-it")
            # Only this run's output, not the earlier runs' still in its log.
            self.assertEqual((e["status"], e["exit_code"]), ("success", 0))
            self.assertEqual(len(e["output"].splitlines()), 1, e["output"])
            self.assertTrue(e["output"].startswith("run-of-"))
        self.assertEqual(inspect(c)["State"]["Status"], "exited")  # never removed

        docker("start", c)
        running = self.container("running")
        cfg = self.config("""jobs:
  busy:
    type: run
    schedule: "@every 1h"
    container: %s
""" % running)
        self.assertEqual(self.run_job(cfg, "busy")[0], 1)
        self.assertIn("is already running", self.last("busy")["error"])

    def test_pull_policies(self):
        missing = "%s/missing:1" % self.tag
        jobs = {"never-missing": (missing, "never"), "always-local": ("busybox:local", "always"),
                "ifnp-local": ("busybox:local", "if-not-present"),
                "ifnp-missing": (missing, "if-not-present"), "always-missing": (missing, "always"),
                "ofelia-true": ("busybox:local", "true")}
        body = "jobs:\n"
        for job, (image, pull) in jobs.items():
            body += ("  %s:\n    type: run\n    schedule: \"@every 1h\"\n    image: %s\n"
                     "    pull: \"%s\"\n    network: none\n    command: echo pulled-ok\n"
                     % (job, image, pull))
        cfg = self.config(body)
        for job in ("always-local", "ifnp-local", "ofelia-true"):
            rc, _, err = self.run_job(cfg, job)
            self.assertEqual((rc, self.last(job)["output"]), (0, "pulled-ok"), job)
        # Offline, the pull of pull=always fails and the local image is used.
        self.assertIn("image pull failed; using the local image", err)

        self.run_job(cfg, "never-missing")
        self.assertEqual(self.last("never-missing")["error"],
                         "image %s is not present and pull is never [DOCKER_ERROR]" % missing)
        self.run_job(cfg, "ifnp-missing")
        self.assertDockerError(self.last("ifnp-missing")["error"],
                               "image %s is not present and the pull failed: " % missing)
        self.run_job(cfg, "always-missing")
        self.assertDockerError(self.last("always-missing")["error"],
                               "image %s: the pull failed and there is no local copy: " % missing)

    def test_image_that_does_not_exist_and_bad_command(self):
        cfg = self.config("""jobs:
  no-cmd:
    type: run
    schedule: "@every 1h"
    image: busybox:local
    network: none
    pull: never
  bad-exe:
    type: run
    schedule: "@every 1h"
    image: busybox:local
    network: none
    pull: never
    command: /no/such/program
""")
        self.run_job(cfg, "no-cmd")
        self.assertDockerError(self.last("no-cmd")["error"], "No command specified")
        self.run_job(cfg, "bad-exe")
        self.assertDockerError(self.last("bad-exe")["error"], "/no/such/program")

    def test_max_runtime_stops_the_container(self):
        cfg = self.config("""jobs:
  %(tag)s-slow:
    type: run
    schedule: "@every 1h"
    image: busybox:local
    network: none
    pull: never
    delete: false
    container-name: %(tag)s-slow
    max-runtime: 2s
    stop-timeout: 1s
    command: sh -c 'echo begun; sleep 300'
""" % {"tag": self.tag})
        self.containers.append(self.tag + "-slow")
        t0 = time.monotonic()
        self.assertEqual(self.run_job(cfg, self.tag + "-slow")[0], 1)
        self.assertLess(time.monotonic() - t0, 30)
        e = self.last(self.tag + "-slow")
        self.assertEqual((e["status"], e["error"], e["output"]),
                         ("failed", "max-runtime of 2s exceeded; the job was stopped", "begun"))
        self.assertFalse(inspect(self.tag + "-slow")["State"]["Running"])

    def test_sigterm_of_the_daemon_stops_the_container(self):
        d = self.daemon(self.config("""global:
  shutdown-grace: 1s
jobs:
  %(tag)s-long:
    type: run
    schedule: "@every 1h"
    run-on-startup: true
    image: busybox:local
    network: none
    pull: never
    delete: false
    container-name: %(tag)s-long
    command: sh -c 'echo up; sleep 300'
""" % {"tag": self.tag}))
        self.containers.append(self.tag + "-long")
        d.start()
        job = self.tag + "-long"
        wait_for(lambda: (self.last(job) or {}).get("output") is None and
                 self.query("SELECT count(*) FROM execution_logs")[0][0] == 1, 30, 0.1,
                 what="the container to print")
        self.assertTrue(inspect(self.tag + "-long")["State"]["Running"])
        self.assertCleanExit(d)
        e = self.last(job)
        self.assertEqual((e["status"], e["output"]), ("stopped", "up"))
        self.assertFalse(inspect(self.tag + "-long")["State"]["Running"])


class Labels(DockerCase):
    def exec_labels(self, job, command, schedule="@every 1s"):
        return [("ofelia.enabled", "true"),
                ("ofelia.job-exec.%s.schedule" % job, schedule),
                ("ofelia.job-exec.%s.command" % job, command)]

    def test_jobs_follow_their_containers(self):
        d = self.web_daemon(self.config("", docker_extra="  poll-interval: 0\n"))
        c = self.container("web", labels=self.exec_labels("hi", "echo hi-from-label"))
        job = c + ".hi"
        wait_for(lambda: self.live_job(job), 15, what="the label job to appear")
        self.assertEqual(self.job_row(job)[0], "docker-label")
        e = self.wait_status(job, ("success",))
        self.assertEqual(e["output"], "hi-from-label")
        status, ready = self.api("GET", "/health/readiness")
        self.assertEqual((status, ready["docker"]), (200, "connected"))
        # The engine is spoken to without libcurl (src/docker/wire.c), which
        # stays unloaded until a notification needs it.
        with open("/proc/%d/maps" % d.proc.pid) as f:
            self.assertNotIn("libcurl", f.read())

        docker("stop", "-t", "0", c)
        wait_for(lambda: self.job_row(job)[1] is not None, 15, what="the job to go")
        runs = self.query("SELECT count(*) FROM executions WHERE job_name = ?", (job,))[0][0]
        self.assertGreater(runs, 0)  # its history stays

        docker("start", c)
        wait_for(lambda: self.live_job(job), 15, what="the job to come back")
        self.assertCleanExit(d)

    def test_polling_without_events(self):
        d = self.daemon(self.config("", docker_extra="  events: false\n  poll-interval: 1s\n"))
        d.start()
        c = self.container("polled", labels=self.exec_labels("p", "echo polled"))
        wait_for(lambda: self.live_job(c + ".p"), 15, what="the polled job")
        self.assertCleanExit(d)

    def test_same_name_collision(self):
        svc = self.tag + "svc"
        d = self.daemon(self.config("", docker_extra="  poll-interval: 0\n"))
        d.start()
        labels = self.exec_labels("hi", "echo hi", "@every 1h") + [
            ("com.docker.compose.service", svc)]
        b = self.container("b", labels=labels)
        a = self.container("a", labels=labels)
        job = svc + ".hi"

        def container_of():
            row = self.live_job(job)
            return json.loads(row[2])["container"] if row else None
        wait_for(lambda: container_of() == a and a in d.log() and b in d.log(), 15,
                 what="the first container by name to win")
        self.assertRegex(d.log(), r'job \\"%s\\" is defined by containers \\"%s\\" and '
                         r'\\"%s\\"' % (re.escape(job), a, b))
        docker("stop", "-t", "0", a)
        wait_for(lambda: container_of() == b, 15, what="the running container to win")
        self.assertCleanExit(d)

    def test_bad_labels(self):
        d = self.daemon(self.config("", docker_extra="  poll-interval: 0\n"))
        d.start()
        c = self.container("bad", labels=[
            ("ofelia.enabled", "true"),
            ("ofelia.job-exec.ok.schedule", "@every 1h"),
            ("ofelia.job-exec.ok.command", "echo fine"),
            ("ofelia.job-exec.badjson.schedule", "@every 1h"),
            ("ofelia.job-exec.badjson.command", "echo x"),
            ("ofelia.job-exec.badjson.environment", '["A=1",'),
            ("ofelia.job-exec.badsched.schedule", "every day"),
            ("ofelia.job-exec.badsched.command", "echo x")])
        wait_for(lambda: self.live_job(c + ".ok"), 15, what="the good job")
        log = d.wait_log(r"ofelia\.job-exec\.badsched\.schedule")
        log = d.log()
        self.assertIn('container \\"%s\\": label \\"ofelia.job-exec.badjson.environment\\"'
                      % c, log)
        self.assertIn('container \\"%s\\": label \\"ofelia.job-exec.badsched.schedule\\"'
                      % c, log)
        self.assertIsNone(self.job_row(c + ".badjson"))
        self.assertIsNone(self.job_row(c + ".badsched"))
        # Logged once, not at every listing: another container's start
        # makes a new listing.
        other = self.container("other", labels=self.exec_labels("o", "echo o", "@every 1h"))
        wait_for(lambda: self.live_job(other + ".o"), 15, what="the other job")
        self.assertEqual(d.log().count("badjson.environment"), 1, d.log())
        self.assertCleanExit(d)

    def test_skipped_containers_and_service_claims_are_named(self):
        d = self.daemon(self.config("", docker_extra="  events: false\n  poll-interval: 1s\n"))
        d.start()
        c = self.container("noenable", labels=[("ofelia.job-exec.x.schedule", "@every 1h"),
                                               ("ofelia.job-exec.x.command", "echo x")])
        d.wait_log(r'container \\"%s\\" has ofelia\.job-\* labels but not '
                   r'ofelia\.enabled=true: its jobs are skipped' % c, 15)
        s1 = self.container("svc1", labels=[("ofelia.enabled", "true"),
                                            ("ofelia.service", "true")])
        s2 = self.container("svc2", labels=[("ofelia.enabled", "true"),
                                            ("ofelia.service", "true")])
        d.wait_log(r'2 containers claim ofelia\.service=true \(\\"%s\\", \\"%s\\"\)'
                   % (s1, s2), 15)
        time.sleep(2.5)  # two more listings: each message is logged once
        self.assertEqual(d.log().count("has ofelia.job-* labels"), 1, d.log())
        self.assertEqual(d.log().count("containers claim ofelia.service"), 1, d.log())
        self.assertIsNone(self.job_row(c + ".x"))
        self.assertCleanExit(d)

    def test_reload_counts_label_jobs(self):
        cfg = self.config("""jobs:
  local-one:
    type: local
    schedule: "@every 1h"
    command: "true"
""", docker_extra="  events: false\n  poll-interval: 0\n")
        d = self.web_daemon(cfg)
        wait_for(lambda: "label discovery: connected" in d.log(), 15, what="discovery")
        c = self.container("late", labels=self.exec_labels("late", "echo late", "@every 1h"))
        # Neither events nor polling: only the reload finds it.
        time.sleep(0.5)
        self.assertIsNone(self.job_row(c + ".late"))
        status, body = self.api("POST", "/api/scheduler/reload")
        self.assertEqual((status, body["jobsAdded"], body["jobsUpdated"], body["jobsRemoved"]),
                         (200, 1, 0, 0))
        self.assertTrue(self.live_job(c + ".late"))
        docker("rm", "-f", c)
        status, body = self.api("POST", "/api/scheduler/reload")
        self.assertEqual((body["jobsAdded"], body["jobsRemoved"]), (0, 1))
        self.assertCleanExit(d)


class EngineNameLookup(DaemonTest):
    """An engine named by tcp://name whose resolver never answers (a DNS
    server on loopback that takes the queries and stays silent, put in
    /etc/resolv.conf of a mount namespace of the run's own): the lookup is
    bounded by the connect limit and by max-runtime, as the connect is,
    rather than by the resolver's 2 x 30 s. Needs no engine."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0 or not shutil.which("unshare"):
            self.skipTest("needs root and unshare(1) to give the run its own resolv.conf")
        self.dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(self.dns.close)
        self.dns.bind(("127.0.0.77", 53))
        self.resolv = os.path.join(self.dir, "resolv.conf")
        with open(self.resolv, "w") as f:
            f.write("nameserver 127.0.0.77\noptions timeout:30 attempts:2\n")

    def run_exec(self, extra=""):
        path = os.path.join(self.dir, "run.yaml")
        with open(path, "w") as f:
            f.write("jobs:\n  j:\n    type: exec\n    schedule: '@manual'\n"
                    "    container: c\n    command: 'true'\n" + extra)
        cmd = ["unshare", "--mount", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && '
               'exec "$@"', self.resolv, BIN, "run", "--config", path, "--db",
               os.path.join(self.dir, "ofelia.db"), "j"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, DOCKER_HOST="tcp://engine.ofelia-test:2375"))
        row = self.query("SELECT status, error FROM executions")
        self.assertEqual(len(row), 1, p.stderr)
        self.assertNotRegex(p.stderr, SANITIZER)
        return row[0]

    def test_a_silent_resolver_meets_the_connect_limit(self):
        status, error = self.run_exec()
        self.assertEqual(status, "failed")
        self.assertIn("cannot connect to the Docker engine at tcp://engine.ofelia-test:2375 "
                      "within 10 s", error)

    def test_max_runtime_ends_a_lookup(self):
        status, error = self.run_exec("    max-runtime: 1s\n")
        self.assertEqual(status, "failed")
        self.assertIn("max-runtime of 1s exceeded", error)


class EngineFaults(DockerCase):
    def test_engine_gone_mid_run_then_back(self):
        e2 = tempfile.mkdtemp(prefix="ofelia-e2-")
        # Cleanups run last first: stop the engine, then remove its folder.
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", e2]))
        self.addCleanup(lambda: subprocess.run([ENGINE, "stop", e2], capture_output=True))

        # A plain engine, whatever options the shared one was started with
        # (one swarm engine per host at a time).
        env = {k: v for k, v in os.environ.items()
               if k not in ("OFELIA_TEST_SWARM", "OFELIA_TEST_DOCKER_TLS")}

        def start_engine():
            out = subprocess.run([ENGINE, "start", e2], capture_output=True, text=True,
                                 check=True, timeout=120, env=env).stdout
            return re.search(r"DOCKER_HOST=(\S+)", out).group(1)
        host = start_engine()
        labels = [("ofelia.enabled", "true"), ("ofelia.job-exec.tick.schedule", "@every 1s"),
                  ("ofelia.job-exec.tick.command", "echo tick")]
        lab = self.container("lab", labels=labels, host=host)
        tick = lab + ".tick"
        d = self.web_daemon(self.config("""jobs:
  long:
    type: run
    schedule: "@every 1h"
    run-on-startup: true
    image: busybox:local
    network: none
    pull: never
    command: sh -c 'echo up; sleep 120'
""", host=host, docker_extra="  poll-interval: 1s\n"))
        wait_for(lambda: self.query("SELECT count(*) FROM executions WHERE job_name = ? AND "
                                    "status = 'success'", (tick,))[0][0] > 0, 20,
                 what="label job runs")
        wait_for(lambda: self.query("SELECT count(*) FROM execution_logs l JOIN executions e "
                                    "ON e.id = l.execution_id WHERE e.job_name = 'long'")[0][0],
                 20, what="the run job's output")

        # The engine dies (SIGKILL: no orderly stop of its containers).
        with open(os.path.join(e2, "docker.pid")) as f:
            os.kill(int(f.read()), signal.SIGKILL)
        e = self.wait_status("long", ("failed",))
        self.assertDockerError(e["error"], "lost the connection to the Docker engine")
        wait_for(lambda: self.api("GET", "/health/readiness")[1]["docker"] == "disconnected",
                 15, what="readiness to say disconnected")
        self.assertEqual(self.api("GET", "/health/readiness")[0], 503)
        wait_for(lambda: "cannot connect" in ((self.last(tick, finished=True) or {})
                                              .get("error") or ""), 15,
                 what="a tick failing without the engine")
        self.assertTrue(self.live_job(tick))  # label jobs are kept meanwhile

        subprocess.run([ENGINE, "stop", e2], capture_output=True, check=True, timeout=120)
        self.assertEqual(start_engine(), host)
        self.container("lab", labels=labels, host=host)
        mark = self.query("SELECT max(created_at) FROM executions")[0][0]
        wait_for(lambda: self.query("SELECT count(*) FROM executions WHERE job_name = ? AND "
                                    "status = 'success' AND created_at > ?",
                                    (tick, mark))[0][0] > 0, 30,
                 what="label job runs after the engine is back")
        self.assertEqual(self.api("GET", "/health/readiness")[1]["docker"], "connected")
        self.assertCleanExit(d)
        self.assertIn("label discovery: lost the Docker engine", d.log())

    def test_kill9_then_reattach_run(self):
        body = """jobs:
  %(tag)s-work:
    type: run
    schedule: "@every 1h"
    run-on-startup: %(startup)s
    image: busybox:local
    network: none
    pull: never
    command: sh -c 'for i in 1 2 3 4 5 6; do echo line-$i; sleep 1; done; echo err-end >&2'
"""
        job = self.tag + "-work"
        d = self.daemon(self.config(body % {"tag": self.tag, "startup": "true"}))
        d.start()
        wait_for(lambda: self.query("SELECT count(*) FROM execution_logs")[0][0] >= 2, 20, 0.1,
                 what="two lines")
        first = self.last(job)
        self.assertTrue(first["container_id"])
        d.kill9()

        self.write_config(self.config(body % {"tag": self.tag, "startup": "false"}))
        d.start()
        d.wait_log("reattaching to an execution left running")
        e = self.wait_status(job)
        self.assertEqual(e["id"], first["id"])
        self.assertEqual((e["status"], e["exit_code"]), ("success", 0))
        lines = ["line-%d" % i for i in range(1, 7)]
        self.assertEqual(self.logs(e["id"]), [("info", l) for l in lines] + [("error", "err-end")])
        self.assertEqual(e["output"], "\n".join(lines + ["err-end"]))
        # delete (the default) removed it once its logs were read.
        self.assertEqual(docker("ps", "-aq", "--filter", "id=" + first["container_id"]), "")
        self.assertCleanExit(d)
        self.assertIntegrity()

    def test_kill9_then_exec_resolved(self):
        c = self.container("target")
        body = """jobs:
  quiet:
    type: exec
    schedule: "@every 1h"
    run-on-startup: %(startup)s
    container: %(c)s
    command: sh -c 'sleep 3; exit 4'
  chatty:
    type: exec
    schedule: "@every 1h"
    run-on-startup: %(startup)s
    container: %(c)s
    command: sh -c 'sleep 3; echo late; exit 4'
"""
        d = self.daemon(self.config(body % {"startup": "true", "c": c}))
        d.start()
        for job in ("quiet", "chatty"):
            wait_for(lambda: (self.last(job) or {}).get("container_id"), 20, 0.1,
                     what="the exec's id")
        first = {job: self.last(job)["id"] for job in ("quiet", "chatty")}
        d.kill9()
        self.write_config(self.config(body % {"startup": "false", "c": c}))
        d.start()
        # Resolved from the exec's inspect once it ends.
        e = self.wait_status("quiet")
        self.assertEqual((e["id"], e["status"], e["exit_code"]), (first["quiet"], "failed", 4))
        # Its output had nowhere to go: the engine ended it with 126.
        e = self.wait_status("chatty")
        self.assertEqual((e["id"], e["status"]), (first["chatty"], "interrupted"))
        self.assertIn("exit code 126", e["error"])
        self.assertCleanExit(d)

    def test_kill9_then_container_gone(self):
        body = """jobs:
  %(tag)s-gone:
    type: run
    schedule: "@every 1h"
    run-on-startup: %(startup)s
    image: busybox:local
    network: none
    pull: never
    command: sleep 300
"""
        job = self.tag + "-gone"
        d = self.daemon(self.config(body % {"tag": self.tag, "startup": "true"}))
        d.start()
        wait_for(lambda: (self.last(job) or {}).get("container_id"), 20, 0.1,
                 what="the container's id")
        first = self.last(job)
        d.kill9()
        docker("rm", "-f", first["container_id"])
        self.write_config(self.config(body % {"tag": self.tag, "startup": "false"}))
        d.start()
        e = self.wait_status(job)
        self.assertEqual(e["status"], "interrupted")
        self.assertDockerError(e["error"], "cannot find its container", "No such container")
        self.assertCleanExit(d)


@unittest.skipUnless(HOST and SWARM, "service-run tests are opt-in: OFELIA_TEST_SWARM=1 with a "
                     "swarm-mode test engine (docs/docker.md)")
class ServiceJobs(DockerCase):
    def test_service_run(self):
        shared = tempfile.mkdtemp(prefix="ofelia-svc-")
        self.addCleanup(shutil.rmtree, shared, True)
        with open(os.path.join(shared, "word"), "w") as f:
            f.write("mounted\n")
        os.chmod(shared, 0o755)  # the task runs as nobody (default-user)
        os.chmod(os.path.join(shared, "word"), 0o644)
        cfg = self.config("""jobs:
  %(tag)s-svc:
    type: service-run
    schedule: "@every 1h"
    image: busybox:local
    environment: [WORD=swarm]
    hostname: %(tag)s-host
    volume: [%(shared)s:/data:ro]
    command: sh -c 'echo "hello $WORD $(hostname) $(cat /data/word)"; exit 5'
  %(tag)s-slow:
    type: service-run
    schedule: "@every 1h"
    image: busybox:local
    max-runtime: 3s
    command: sleep 300
""" % {"tag": self.tag, "shared": shared})
        self.assertEqual(self.run_job(cfg, self.tag + "-svc", timeout=120)[0], 1)
        e = self.last(self.tag + "-svc")
        self.assertEqual((e["status"], e["exit_code"], e["output"]),
                         ("failed", 5, "hello swarm %s-host mounted" % self.tag))
        self.assertEqual(docker("service", "ls", "-q", "--filter", "id=" + e["container_id"]), "")
        self.assertEqual(self.run_job(cfg, self.tag + "-slow", timeout=120)[0], 1)
        e = self.last(self.tag + "-slow")
        self.assertEqual((e["status"], e["error"]),
                         ("failed", "max-runtime of 3s exceeded; the job was stopped"))
        self.assertEqual(docker("service", "ls", "-q", "--filter", "id=" + e["container_id"]), "")

    def test_service_reattach_after_kill9(self):
        body = """jobs:
  %(tag)s-svc:
    type: service-run
    schedule: "@every 1h"
    run-on-startup: %(startup)s
    image: busybox:local
    command: sh -c 'echo one; sleep 4; echo two'
"""
        job = self.tag + "-svc"
        d = self.daemon(self.config(body % {"tag": self.tag, "startup": "true"}))
        d.start()
        wait_for(lambda: (self.last(job) or {}).get("container_id"), 30, 0.1,
                 what="the service's id")
        first = self.last(job)
        d.kill9()
        self.write_config(self.config(body % {"tag": self.tag, "startup": "false"}))
        d.start()
        e = self.wait_status(job, timeout=60)
        self.assertEqual((e["id"], e["status"], e["output"]), (first["id"], "success", "one\ntwo"))
        self.assertCleanExit(d)


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(HOST and shutil.which("docker-registry"),
                     "needs the Docker engine and Debian's docker-registry")
class RegistryAuth(DockerCase):
    """Run jobs pull with the Docker CLI's credentials, as Ofelia does: a
    private registry (Debian's docker-registry with htpasswd) on 127.0.0.1,
    which the engine reaches over plain HTTP as it does any loopback one."""

    def setUp(self):
        super().setUp()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.registry = "127.0.0.1:%d" % s.getsockname()[1]
        hashed = subprocess.run([BIN, "hash-password", "--bcrypt"], input="secret-pw\n",
                                capture_output=True, text=True, check=True).stdout.strip()
        reg = os.path.join(self.dir, "registry")
        os.makedirs(reg)
        with open(os.path.join(reg, "htpasswd"), "w") as f:
            f.write("ofl:%s\n" % hashed)
        with open(os.path.join(reg, "config.yml"), "w") as f:
            f.write("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    "    rootdirectory: %s/data\nhttp:\n  addr: %s\nauth:\n  htpasswd:\n"
                    "    realm: ofelia-test\n    path: %s/htpasswd\n" % (reg, self.registry, reg))
        self.proc = subprocess.Popen(["docker-registry", "serve", os.path.join(reg, "config.yml")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_registry)

        def answers():
            try:
                urllib.request.urlopen("http://%s/v2/" % self.registry, timeout=2)
            except urllib.error.HTTPError as e:
                return e.code == 401
            except OSError:
                return False
            return False
        wait_for(answers, 20, what="the registry")
        self.login = os.path.join(self.dir, "login")
        os.makedirs(self.login)
        self.image = "%s/ofl/busybox:%s" % (self.registry, self.tag)
        env = dict(os.environ, DOCKER_CONFIG=self.login)
        subprocess.run(["docker", "-H", HOST, "login", self.registry, "-u", "ofl",
                        "--password-stdin"], input="secret-pw", env=env, check=True,
                       capture_output=True, text=True)
        docker("tag", "busybox:local", self.image)
        subprocess.run(["docker", "-H", HOST, "push", self.image], env=env, check=True,
                       capture_output=True, text=True, timeout=120)
        docker("rmi", self.image)

    def stop_registry(self):
        docker("rmi", "-f", self.image, check=False)
        self.proc.terminate()
        self.proc.wait(10)

    def run_pull(self, env):
        path = self.write_config(self.config("""jobs:
  pulled:
    type: run
    schedule: "@manual"
    image: %s
    command: echo pulled
    network: none
""" % self.image))
        r = subprocess.run([BIN, "run", "--config", path, "--db", self.db, "pulled"],
                           capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, **env))
        self.assertNotRegex(r.stderr, SANITIZER, r.stderr)
        docker("rmi", "-f", self.image, check=False)
        return r

    def test_config_json_credentials(self):
        with open(os.path.join(self.login, "config.json")) as f:
            self.assertIn('"auth"', f.read())
        r = self.run_pull({"DOCKER_CONFIG": self.login})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "pulled")
        empty = os.path.join(self.dir, "empty")
        os.makedirs(empty)
        r = self.run_pull({"DOCKER_CONFIG": empty})
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("no basic auth credentials", self.last("pulled")["error"])

    def test_credential_helper(self):
        bindir = os.path.join(self.dir, "bin")
        os.makedirs(bindir)
        helper = os.path.join(bindir, "docker-credential-ofltest")
        with open(helper, "w") as f:
            f.write('#!/bin/sh\n[ "$1" = get ] || exit 1\nread -r server\n'
                    '[ "$server" = "%s" ] || { echo "credentials not found"; exit 1; }\n'
                    'printf \'{"ServerURL":"%%s","Username":"ofl","Secret":"secret-pw"}\' '
                    '"$server"\n' % self.registry)
        os.chmod(helper, 0o755)
        cfg = os.path.join(self.dir, "helper")
        os.makedirs(cfg)
        with open(os.path.join(cfg, "config.json"), "w") as f:
            json.dump({"credHelpers": {self.registry: "ofltest"}}, f)
        r = self.run_pull({"DOCKER_CONFIG": cfg,
                           "PATH": bindir + os.pathsep + os.environ["PATH"]})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "pulled")
        with open(os.path.join(cfg, "config.json"), "w") as f:
            json.dump({"credsStore": "missing"}, f)
        r = self.run_pull({"DOCKER_CONFIG": cfg})
        self.assertEqual(r.returncode, 1)
        self.assertIn("registry credentials: docker-credential-missing",
                      self.last("pulled")["error"])


def stored_time(s):
    """Seconds of a time as the store writes it."""
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class RunRetries(DockerCase):
    """max-retries of a Docker job (docs/scheduling.md): each attempt is a
    container of its own."""

    def test_a_run_job_is_retried_in_a_new_container(self):
        job = self.tag + "-retry"
        self.web_daemon(self.config("""jobs:
  %s:
    type: run
    schedule: "@manual"
    image: busybox:local
    network: none
    pull: never
    command: sh -c 'echo attempt; exit 4'
    max-retries: 1
    retry-delay: 200ms
""" % job))
        status, body = self.api("POST", "/api/job/%s/run" % job)
        self.assertEqual(status, 200, body)
        wait_for(lambda: self.query("SELECT count(*) FROM executions WHERE job_name = ? AND "
                                    "status = 'failed'", (job,))[0][0] == 2,
                 timeout=60, what="both attempts")
        rows = self.query("SELECT id, trigger, attempt, first_attempt_id, exit_code, "
                          "container_id, start_time, end_time FROM executions "
                          "WHERE job_name = ? ORDER BY attempt", (job,))
        self.assertEqual([r[1:5] for r in rows],
                         [("manual", 1, None, 4), ("retry", 2, rows[0][0], 4)])
        self.assertNotEqual(rows[0][5], rows[1][5])
        gap = stored_time(rows[1][6]) - stored_time(rows[0][7])
        self.assertGreaterEqual(gap, 0.2 - 0.001)
        self.assertEqual(self.query("SELECT count(*) FROM pending_runs"), [(0,)])

