"""`ofelia validate` through the real binary: exit codes (0 valid, 1 invalid
or unreadable, 2 usage), the summary on stdout, errors and warnings on
stderr, for ofelia.yaml and for Ofelia's INI files.

Run: OFELIA_BIN=build/asan/ofelia python3 -m unittest tests.integration.test_config -v
"""
import datetime as dt
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OFELIA = os.environ.get("OFELIA_BIN", str(ROOT / "build" / "asan" / "ofelia"))
EXAMPLE = ROOT / "ofelia.yaml.example"
FIXTURES = ROOT / "tests" / "data" / "config"


def validate(*args, env=None):
    return subprocess.run([OFELIA, "validate", *args], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, **(env or {})))


class ValidateTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_example_is_valid_and_quiet(self):
        r = validate("--config", str(EXAMPLE))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertIn("valid, 4 jobs (exec 1, run 1, local 1, service 1)", r.stdout)
        self.assertRegex(r.stdout, r"swarm-report +service +@manual +never \(manual\)")

    def test_config_option_forms(self):
        for args in (["-c", str(EXAMPLE)], ["--config=" + str(EXAMPLE)]):
            r = validate(*args)
            self.assertEqual(r.returncode, 0, (args, r.stderr))

    def test_help(self):
        for flag in ("--help", "-h"):
            r = validate(flag)
            self.assertEqual(r.returncode, 0)
            self.assertIn("usage: ofelia validate [options] [FILE]", r.stdout)

    def test_usage_errors_exit_2(self):
        for args in (["--bogus"], ["-c"], ["--config="], ["one", "two"]):
            r = validate(*args)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertIn("ofelia validate", r.stderr)

    def test_unreadable_file_exit_1(self):
        r = validate("-c", os.path.join(self.tmp.name, "missing.yaml"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing.yaml: cannot open: No such file or directory", r.stderr)
        r = validate("-c", self.tmp.name)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot read", r.stderr)

    def test_errors_exit_1_with_places(self):
        path = self.write("ofelia.yaml", (
            "jobs:\n"
            "  backup:\n"
            "    type: exec\n"
            "    container: db\n"
            "    command: pg_dump\n"
            "    schedule: 0 61 * * *\n"
            "  other:\n"
            "    type: local\n"
            "    schedule: \"@daily\"\n"
            "    command: x\n"
            "    command: y\n"))
        r = validate("-c", path)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("error: %s:6:5: job \"backup\": bad schedule \"0 61 * * *\": hour 61 "
                      "out of range (0-23) [INVALID_SCHEDULE]" % path, r.stderr)
        self.assertIn("error: %s:11:5: job \"other\": duplicate key \"command\" (first at "
                      "line 10)" % path, r.stderr)
        self.assertIn("%s: invalid, 2 errors" % path, r.stderr)

    def test_warnings_keep_exit_0(self):
        path = self.write("ofelia.yaml", (
            "jobs:\n"
            "  a:\n"
            "    type: local\n"
            "    schedule: \"@hourly\"\n"
            "    command: uptime\n"
            "    schedul: typo\n"))
        r = validate("-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: %s:6:5: job \"a\": unknown key \"schedul\" (did you mean "
                      "\"schedule\"?)" % path, r.stderr)

    def test_next_runs_in_the_configured_zone(self):
        path = self.write("ofelia.yaml", (
            "global:\n"
            "  timezone: Asia/Kolkata\n"
            "jobs:\n"
            "  new-year:\n"
            "    type: local\n"
            "    schedule: CRON_TZ=UTC 0 0 1 1 *\n"
            "    command: x\n"
            "  morning:\n"
            "    type: local\n"
            "    schedule: 30 5 * * *\n"
            "    command: x\n"
            "  off:\n"
            "    type: local\n"
            "    schedule: \"@daily\"\n"
            "    command: x\n"
            "    enabled: false\n"
            "  by-hand:\n"
            "    type: local\n"
            "    schedule: \"@manual\"\n"
            "    command: x\n"))
        r = validate("-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("valid, 4 jobs (exec 0, run 0, local 4, service 0)", r.stdout)
        self.assertIn("time zone: Asia/Kolkata", r.stdout)
        year = dt.datetime.now(dt.timezone.utc).year + 1
        # Midnight UTC on 1 January is 05:30 in Kolkata.
        self.assertRegex(r.stdout, r"new-year .* %d-01-01T05:30:00\+05:30\n" % year)
        self.assertRegex(r.stdout, r"morning .* \d{4}-\d\d-\d\dT05:30:00\+05:30\n")
        self.assertRegex(r.stdout, r"off .* never \(disabled\)\n")
        self.assertRegex(r.stdout, r"by-hand .* never \(manual\)\n")

    def test_ofelia_ini_file(self):
        r = validate("--config", str(FIXTURES / "ofelia.ini"), env={"DB_CONTAINER": "postgres"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertIn("valid, 6 jobs (exec 2, run 1, local 2, service 1)", r.stdout)
        self.assertRegex(r.stdout, r"db-backup +exec +0 30 2 \* \* \* ")

    def test_ini_errors_name_the_line(self):
        path = self.write("config.ini", (
            "[global]\n"
            "smtp-port = 99999\n"
            "[job-exec \"x\"]\n"
            "schedule = @every soon\n"
            "container = c\n"
            "command = x\n"))
        r = validate("-c", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn("error: %s:2:1: [global]: smtp-port: \"99999\" is not a whole number "
                      "from 1 to 65535" % path, r.stderr)
        self.assertIn("%s:4:1: job \"x\": bad schedule" % path, r.stderr)
        self.assertIn("[INVALID_SCHEDULE]", r.stderr)


if __name__ == "__main__":
    unittest.main()
