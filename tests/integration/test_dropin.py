"""What a user migrating from mcuadros/ofelia or netresearch/ofelia meets
first: their daemon flags, the default config path, start-up failures that
exit at once with the reason, and `validate` applying the daemon's flags and
OFELIA_* variables.

Run: OFELIA_BIN=build/asan/ofelia python3 -m unittest tests.integration.test_dropin -v
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

from tests.integration.support import BIN, wait_for

LOCAL_INI = """[global]
log-level = info

[job-local "hello"]
schedule = @every 1h
command = echo hello
"""


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFELIA_")}
    env.update(extra)
    return env


def ofelia(*args, env=None, timeout=60):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                          env=env if env is not None else clean_env())


class Flags(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ofelia-dropin-")
        self.addCleanup(self.tmp.cleanup)
        self.ini = os.path.join(self.tmp.name, "config.ini")
        with open(self.ini, "w") as f:
            f.write(LOCAL_INI)

    def test_mcuadros_daemon_flags_are_accepted(self):
        for args in (["--config=" + self.ini, "--docker"],
                     ["--config", self.ini, "-d", "-f", "label=com.docker.compose.project=x",
                      "--docker-filter=name=web"],
                     ["-c", self.ini, "-d"]):
            r = ofelia("validate", *args)
            self.assertEqual(r.returncode, 0, (args, r.stderr))
            self.assertEqual(r.stderr, "", args)

    def test_netresearch_flags_work_or_warn(self):
        r = ofelia("validate", self.ini, "--docker-poll-interval=30s", "--docker-events=false",
                   "--docker-no-poll", "--docker-include-stopped", "--log-level", "debug",
                   "--web-max-login-attempts", "3", "--web-trusted-proxies", "10.0.0.0/8")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        r = ofelia("validate", self.ini, "--enable-pprof", "--pprof-address", "127.0.0.1:6060",
                   "--state-file", "/tmp/x.json", "--docker-startup-retry-count", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        warnings = r.stderr.splitlines()
        self.assertEqual(len(warnings), 4, r.stderr)
        self.assertIn("warning: --enable-pprof has no effect (ofelia has no pprof server)",
                      warnings[0])
        self.assertIn("--state-file has no effect (API changes are kept in the database)",
                      r.stderr)

    def test_positional_file_and_strict(self):
        with open(self.ini, "a") as f:
            f.write("shedule = @daily\n")
        r = ofelia("validate", self.ini)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("unknown key \"shedule\"", r.stderr)
        r = ofelia("validate", "--strict", self.ini)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("invalid, 0 errors and warnings (--strict)", r.stderr)

    def test_validate_catches_what_stops_the_daemon(self):
        cases = (
            (["--enable-web", "--web-auth-enabled"], {}, "auth is enabled but no user"),
            ([], {"OFELIA_ENABLE_WEB": "true", "OFELIA_WEB_AUTH_ENABLED": "true"},
             "auth is enabled but no user"),
            (["--log-level=verbose"], {}, "--log-level: global: log-level: \"verbose\" is not"),
            (["--web-address", "nowhere"], {}, "\"nowhere\" is not host:port"),
            (["--docker-poll-interval", "soon"], {}, "--docker-poll-interval"),
            (["--web-username", "admin"], {}, "web-username and web-password-hash go together"),
        )
        for args, env, message in cases:
            r = ofelia("validate", self.ini, *args, env=clean_env(**env))
            self.assertEqual(r.returncode, 1, (args, env, r.stderr))
            self.assertIn(message, r.stderr, (args, env))

    def test_warnings_follow_log_format_json(self):
        with open(self.ini, "a") as f:
            f.write("shedule = @daily\n")
        r = ofelia("validate", self.ini, "--log-format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        line = json.loads(r.stderr.splitlines()[0])
        self.assertEqual(line["level"], "warn")
        self.assertIn("unknown key \"shedule\"", line["msg"])

    def test_help_columns_are_aligned(self):
        r = ofelia("daemon", "--help")
        self.assertEqual(r.returncode, 0)
        starts = [m.start(1) for m in (re.match(r"  +-.*?  +(\S)", l)
                                       for l in r.stdout.splitlines()) if m]
        self.assertGreater(len(starts), 20)
        self.assertEqual(len(set(starts)), 1, r.stdout)


def can_unshare():
    return os.geteuid() == 0 and shutil.which("unshare") is not None


@unittest.skipUnless(can_unshare(), "needs root and unshare(1) for a private /etc/ofelia")
class DefaultConfig(unittest.TestCase):
    """With a private mount namespace, /etc/ofelia is a tmpfs of the test's."""

    def in_private_etc(self, script, config=None):
        os.makedirs("/etc/ofelia", exist_ok=True)
        setup = "mount -t tmpfs tmpfs /etc/ofelia && "
        if config is not None:
            setup += "printf '%s' \"$CONFIG\" > /etc/ofelia/config.ini && "
        env = clean_env(CONFIG=config or "", BIN=BIN)
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                               setup + script], capture_output=True, text=True, timeout=60,
                              env=env)

    def test_etc_ofelia_config_ini_is_the_default(self):
        r = self.in_private_etc('"$BIN" validate', LOCAL_INI)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("/etc/ofelia/config.ini: valid, 1 job", r.stdout)

    def test_no_config_means_label_jobs_only(self):
        tmp = tempfile.mkdtemp(prefix="ofelia-dropin-")
        self.addCleanup(shutil.rmtree, tmp)
        r = self.in_private_etc(
            '"$BIN" daemon --db %s/o.db --log-format json & p=$!; sleep 2; kill -TERM $p; '
            'wait $p' % tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("running jobs from Docker labels only", r.stderr)
        self.assertNotIn("demo", r.stderr)

    def test_named_missing_config_is_an_error_unless_docker(self):
        r = self.in_private_etc('"$BIN" validate --config /etc/ofelia/config.ini')
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot open", r.stderr)
        r = self.in_private_etc('"$BIN" validate --docker --config /etc/ofelia/config.ini')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("running jobs from Docker labels only", r.stderr)


class StartUpFailures(unittest.TestCase):
    """A daemon that cannot start exits 1 at once with the reason."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ofelia-dropin-")
        self.addCleanup(self.tmp.cleanup)
        self.ini = os.path.join(self.tmp.name, "config.ini")
        with open(self.ini, "w") as f:
            f.write(LOCAL_INI)

    def start(self, *args, env=None):
        return subprocess.Popen([BIN, "daemon", "--db", os.path.join(self.tmp.name, "o.db"),
                                 "--config", self.ini, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                env=clean_env(**(env or {})))

    def assertExits(self, proc, message):
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            self.fail("the daemon did not exit by itself; log:\n" + out)
        self.assertEqual(proc.returncode, 1, out)
        self.assertIn(message, out)
        self.assertNotIn("scheduler started", out)

    def test_port_in_use(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            proc = self.start("--enable-web", "--web-address", "127.0.0.1:%d" % port)
            self.assertExits(proc, "Address already in use")

    def test_auth_without_users_from_a_variable(self):
        proc = self.start(env={"OFELIA_ENABLE_WEB": "true", "OFELIA_WEB_AUTH_ENABLED": "true"})
        self.assertExits(proc, "auth is enabled but no user is configured")

    def test_bad_flag_value(self):
        self.assertExits(self.start("--docker-poll-interval", "soon"), "--docker-poll-interval")


if __name__ == "__main__":
    unittest.main()


class Health(unittest.TestCase):
    """`ofelia health`: the heartbeat the daemon records after each database
    write, and readiness when the web server is on."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ofelia-dropin-")
        self.addCleanup(self.tmp.cleanup)
        self.db = os.path.join(self.tmp.name, "o.db")
        self.ini = os.path.join(self.tmp.name, "config.ini")
        with open(self.ini, "w") as f:
            f.write(LOCAL_INI)
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def health(self, *args):
        return ofelia("health", "--db", self.db, *args)

    def start(self, *args):
        self.proc = subprocess.Popen([BIN, "daemon", "--db", self.db, "--config", self.ini,
                                      *args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, env=clean_env())
        wait_for(lambda: self.health().returncode == 0, 20, what="healthy")

    def test_healthy_then_wedged_then_stopped(self):
        r = self.health()
        self.assertEqual(r.returncode, 1)
        self.assertIn("no heartbeat", r.stdout)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.start("--enable-web", "--web-address", "127.0.0.1:%d" % port)
        self.assertIn("readiness 200", self.health().stdout)
        self.proc.send_signal(signal.SIGSTOP)
        wait_for(lambda: self.health("--max-age", "1s").returncode == 1, 20, what="unhealthy")
        self.assertIn("unhealthy", self.health("--max-age", "1s").stdout)
        self.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: self.health("--max-age", "1s").returncode == 0, 20, what="healthy")
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(30), 0)
        self.assertIn("no heartbeat", self.health().stdout)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("chattr"),
                         "needs root and chattr to make the database unwritable")
    def test_unwritable_database_is_unhealthy(self):
        self.start()
        wal = self.db + "-wal"
        wait_for(lambda: os.path.exists(wal), 10, what="the WAL")
        r = subprocess.run(["chattr", "+i", wal, self.db], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("chattr +i failed: " + r.stderr)
        try:
            wait_for(lambda: self.health("--max-age", "6s").returncode == 1, 30,
                     what="unhealthy")
        finally:
            subprocess.run(["chattr", "-i", wal, self.db])
        wait_for(lambda: self.health("--max-age", "6s").returncode == 0, 30, what="healthy")
