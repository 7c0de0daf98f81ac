"""Job processes across a kill -9 of the daemon: the next start kills what a
killed daemon left running (only when the recorded pid still names the same
process), no-overlap holds across the restart, and an execution that a live
`ofelia run` owns is left to it."""
import os
import sqlite3
import subprocess
import time

from tests.integration.support import BIN, DaemonTest, wait_for


def alive(pid):
    """A live process (not a zombie) has this pid."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class Orphans(DaemonTest):
    def config(self):
        self.overlaps = os.path.join(self.dir, "overlaps")
        lock = os.path.join(self.dir, "job.lock")
        # flock fails when another run of the job still holds the lock.
        return """
jobs:
  long:
    type: local
    schedule: "@every 1s"
    no-overlap: true
    command: sh -c 'flock -n %s sleep 30 || echo overlap >> %s'
""" % (lock, self.overlaps)

    def running_process(self):
        rows = self.query("SELECT id, process_id, process_start FROM executions "
                          "WHERE status = 'running' AND process_id IS NOT NULL")
        return rows[0] if rows else None

    def test_kill9_then_restart_kills_the_orphans_and_keeps_no_overlap(self):
        d = self.daemon(self.config()).start()
        exec_id, pid, key = wait_for(self.running_process, what="a running job with its pid")
        self.assertRegex(key, r"^[0-9a-f-]{36}:\d+$")
        d.kill9()
        # The job's process group outlives the daemon: that is the problem.
        self.assertTrue(alive(pid))
        time.sleep(1.5)
        d.start()
        d.wait_log("execution interrupted by a restart")
        self.assertFalse(alive(pid), "the orphaned job still runs after the restart")
        row = self.query("SELECT status, error FROM executions WHERE id = ?", (exec_id,))[0]
        self.assertEqual(row[0], "interrupted")
        self.assertIn("process group %d was killed" % pid, row[1])
        wait_for(self.running_process, what="the next run")
        time.sleep(1.5)
        self.assertCleanExit(d)
        self.assertFalse(os.path.exists(self.overlaps), "no-overlap was violated")
        self.assertIntegrity()

    def test_processes_are_found_when_the_pid_was_never_recorded(self):
        d = self.daemon(self.config()).start()
        exec_id, pid, key = wait_for(self.running_process, what="a running job")
        d.kill9()
        # As when the daemon dies between the spawn and the commit of its pid.
        self.query("UPDATE executions SET process_id = NULL, process_start = NULL "
                   "WHERE id = ?", (exec_id,))
        d.start()
        d.wait_log("execution interrupted by a restart")
        self.assertFalse(alive(pid))
        row = self.query("SELECT error FROM executions WHERE id = ?", (exec_id,))[0]
        self.assertIn("of its processes were killed", row[0])
        self.assertCleanExit(d)

    def test_a_reused_pid_is_never_killed(self):
        d = self.daemon(self.config()).start()
        exec_id, pid, key = wait_for(self.running_process, what="a running job")
        d.kill9()
        os.killpg(pid, 9)
        # Another process now has the pid the store names (as after a reuse).
        other = subprocess.Popen(["sleep", "60"])
        self.addCleanup(other.wait)
        self.addCleanup(other.kill)
        self.query("UPDATE executions SET process_id = ? WHERE id = ?", (other.pid, exec_id))
        d.start()
        d.wait_log("execution interrupted by a restart")
        self.assertTrue(alive(other.pid), "an unrelated process was killed")
        row = self.query("SELECT error FROM executions WHERE id = ?", (exec_id,))[0]
        self.assertIn("had already ended", row[0])
        self.assertCleanExit(d)

    def test_an_execution_a_live_ofelia_run_owns_is_left_to_it(self):
        cfg = os.path.join(self.dir, "run.yaml")
        with open(cfg, "w") as f:
            f.write("""
jobs:
  slow:
    type: local
    schedule: "@every 1h"
    command: sh -c 'sleep 3; echo done'
""")
        db = os.path.join(self.dir, "ofelia.db")
        run = subprocess.Popen([BIN, "run", "--db", db, "--config", cfg, "slow"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: run.poll() is None and (run.kill(), run.communicate()))

        def running():
            try:
                return self.query("SELECT count(*) FROM executions "
                                  "WHERE status = 'running'")[0][0] == 1
            except sqlite3.OperationalError:
                return False  # not made yet
        wait_for(running, what="the run's execution")
        d = self.daemon(config_path=cfg).start()
        d.wait_log("execution left to the ofelia process running it")
        out, err = run.communicate(timeout=30)
        self.assertEqual(run.returncode, 0, err)
        self.assertEqual(self.query("SELECT status FROM executions WHERE job_name = 'slow'"),
                         [("success",)])
        self.assertCleanExit(d)
