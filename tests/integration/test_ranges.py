"""Durations out of range are refused everywhere with a clear error: the
config (`validate`, `daemon`), `next`, the API; and a job that reaches the
scheduler anyway (an older database) never overflows its clock."""
import json
import os
import subprocess
import time

from tests.integration.support import BIN, DaemonTest, wait_for
from tests.integration.test_api import ApiCase

# Mutations through the API need the security model's opt-in.
INSECURE = {"OFELIA_WEB_INSECURE": "true"}


class OutOfRange(ApiCase):
    def run_cli(self, *args):
        return subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=30)

    def test_validate_and_next_refuse_them(self):
        cfg = os.path.join(self.dir, "far.yaml")
        with open(cfg, "w") as f:
            f.write('jobs:\n  far:\n    type: local\n    schedule: "@every 2562047h"\n'
                    '    command: "true"\n')
        p = self.run_cli("validate", "--config", cfg)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("out of range", p.stderr)
        with open(cfg, "w") as f:
            f.write('jobs:\n  long:\n    type: local\n    schedule: "@daily"\n'
                    '    command: "true"\n    max-runtime: 2562047h47m16s\n')
        p = self.run_cli("validate", "--config", cfg)
        self.assertEqual(p.returncode, 1)
        self.assertIn("max-runtime", p.stderr)
        self.assertIn("out of range", p.stderr)
        p = self.run_cli("next", "@every 2562047h")
        self.assertEqual(p.returncode, 2, p.stdout)
        self.assertIn("out of range", p.stderr)
        self.assertEqual(self.run_cli("next", "@every 876000h").returncode, 0)

    def test_the_api_refuses_them(self):
        self.start_web("jobs:\n  hello:\n    type: local\n    schedule: \"@every 1h\"\n"
                       "    command: \"true\"\n", env=INSECURE)
        self.assertError(self.req("PUT", "/api/job/hello", {"schedule": "@every 2562047h"}),
                         400, "INVALID_SCHEDULE")
        self.assertError(self.req("PUT", "/api/job/hello",
                                  {"maxRuntime": 9223372036854775807}), 400, "VALIDATION_ERROR")
        self.assertError(self.req("PUT", "/api/job/hello", {"maxRuntime": "2562047h"}), 400,
                         "VALIDATION_ERROR")
        self.assertError(self.req("PUT", "/api/job/far", {
            "type": "local", "command": "true", "schedule": "@every 2562047h"}), 400,
            "INVALID_SCHEDULE")
        # The job is unchanged and the scheduler alive.
        job = self.ok("GET", "/api/job/hello")
        self.assertEqual(job["schedule"], "@every 1h")


class StoredOutOfRange(DaemonTest):
    def test_a_stored_schedule_past_the_clock_never_runs_and_never_spins(self):
        d = self.daemon("""
jobs:
  ok:
    type: local
    schedule: "@every 1s"
    command: "true"
""").start()
        wait_for(lambda: self.query("SELECT count(*) FROM executions")[0][0] >= 1, what="a run")
        self.assertCleanExit(d)
        # As an older ofelia could have stored it (the API took it then).
        definition = json.loads(self.query("SELECT definition FROM jobs WHERE name = 'ok'")[0][0])
        definition["schedule"] = "@every 2562047h"
        definition["name"] = "far"
        definition["maxRuntime"] = 9223372036854775000
        self.query("INSERT INTO jobs (name, type, schedule, command, origin, enabled, "
                   "definition, created_at, updated_at) VALUES ('far', 'local', "
                   "'@every 2562047h', 'true', 'api', 1, ?, '2026-01-01T00:00:00.000Z', "
                   "'2026-01-01T00:00:00.000Z')", (json.dumps(definition),))
        d.start()
        time.sleep(2)
        self.assertCleanExit(d)
        # Before, the overflowed next time was always due: 633,000 rows in 5 s.
        self.assertEqual(self.query("SELECT count(*) FROM executions WHERE job_name = 'far'"),
                         [(0,)])
        self.assertIntegrity()
