"""The queue and reloads under load: manual runs wait in the bounded queue
(shown queued, refused with 429 when it is full, never recorded stopped when
they never started); a reload reads the config off the loop thread (the API
answers while it loads); a reload under overload never takes queued slots
for slots missed while ofelia was down."""
import os
import signal
import threading
import time

from tests.integration.support import wait_for
from tests.integration.test_api import ApiCase

INSECURE = {"OFELIA_WEB_INSECURE": "true"}

SLOW = """
global:
  max-concurrent: 1
  max-queue: 3
jobs:
  slow:
    type: local
    schedule: "@manual"
    command: sleep 2
"""


class ManualRuns(ApiCase):
    def test_runs_wait_queued_in_a_bounded_queue(self):
        self.start_web(SLOW, env=INSECURE)
        first = self.req("POST", "/api/job/slow/run")
        self.assertEqual(first.status, 200, first)
        self.assertEqual(first.json["status"], "running")
        queued = []
        for _ in range(3):
            r = self.req("POST", "/api/job/slow/run")
            self.assertEqual(r.status, 202, r)
            self.assertEqual(r.json["status"], "queued")
            self.assertIsNone(r.json["startTime"])
            queued.append(r.json["executionId"])
        self.assertError(self.req("POST", "/api/job/slow/run"), 429, "QUEUE_FULL", job="slow")
        shown = self.ok("GET", "/api/execution/" + queued[-1])
        self.assertEqual((shown["status"], shown["job"]), ("queued", "slow"))
        # They run one after the other, under the ids given out.
        for id in queued:
            wait_for(lambda: self.query("SELECT status FROM executions WHERE id = ?",
                                        (id,)) == [("success",)], timeout=30,
                     what="queued run %s" % id)
        starts = [self.query("SELECT start_time, end_time FROM executions WHERE id = ?",
                             (id,))[0] for id in [first.json["executionId"]] + queued]
        for (_, end), (start, _) in zip(starts, starts[1:]):
            self.assertGreaterEqual(start, end, "queued runs overlapped")

    def test_queued_runs_that_never_start_are_skipped_not_stopped(self):
        d = self.start_web(SLOW, env=INSECURE)
        self.assertEqual(self.req("POST", "/api/job/slow/run").status, 200)
        ids = [self.req("POST", "/api/job/slow/run").json["executionId"] for _ in range(2)]
        self.assertCleanExit(d)
        for id in ids:
            row = self.query("SELECT status, trigger, start_time, error FROM executions "
                             "WHERE id = ?", (id,))
            self.assertEqual(len(row), 1, id)
            status, trigger, start, error = row[0]
            self.assertEqual((status, trigger, start), ("skipped", "manual", None))
            self.assertIn("shutting down before it could run", error)
        self.assertEqual(self.query("SELECT count(*) FROM executions WHERE status = 'stopped'"),
                         [(0,)])


class Reload(ApiCase):
    def test_the_api_answers_while_a_reload_reads_the_config(self):
        # The config is a FIFO: the reload's read blocks until this test
        # writes it, as a huge file would keep a parser busy.
        fifo = os.path.join(self.dir, "ofelia.yaml")
        os.mkfifo(fifo)
        text = "jobs:\n  tick:\n    type: local\n    schedule: \"@every 1h\"\n" \
               "    command: \"true\"\n"

        def feed(body):
            with open(fifo, "w") as f:
                f.write(body)
        writer = threading.Thread(target=feed, args=(text,))
        writer.start()
        self.start_web(None, config_path=fifo, env=INSECURE)
        writer.join()

        result = {}

        def reload():
            result["r"] = self.req("POST", "/api/scheduler/reload")
        t = threading.Thread(target=reload)
        t.start()
        time.sleep(0.5)
        # Before, the loop itself sat in the read: nothing was answered.
        for _ in range(5):
            r = self.req_timeout("/health/liveness", 3)
            self.assertEqual(r.status, 200)
        self.assertNotIn("r", result, "the reload ended without its config")
        feed(text.replace("@every 1h", "@every 2h"))
        t.join(30)
        self.assertEqual(result["r"].status, 200, result["r"])
        self.assertEqual(result["r"].json["jobsUpdated"], 1)

    def req_timeout(self, path, timeout):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            return r
        finally:
            conn.close()

    def test_a_sighup_storm_under_overload_misses_nothing(self):
        cfg = os.path.join(self.dir, "storm.yaml")

        def write(word):
            with open(cfg, "w") as f:
                f.write("""
global:
  max-concurrent: 1
  max-queue: 100
jobs:
  blocker:
    type: local
    schedule: "@every 4s"
    no-overlap: true
    command: sleep 8
  tick:
    type: local
    schedule: "@every 1s"
    command: echo %s
""" % word)
        write("v1")
        d = self.daemon(config_path=cfg).start()
        # The blocker holds the only runner thread: tick's slots queue up.
        wait_for(lambda: self.query("SELECT count(*) FROM executions WHERE job_name = "
                                    "'blocker' AND status = 'running'")[0][0] == 1,
                 timeout=15, what="the blocker")
        time.sleep(2.5)
        write("v2")
        for _ in range(30):
            d.signal(signal.SIGHUP)
            time.sleep(0.02)
        d.wait_log("config reloaded")
        time.sleep(1)
        self.assertCleanExit(d)
        missed = self.query("SELECT scheduled_time, error FROM executions WHERE "
                            "status IN ('missed', 'expired')")
        self.assertEqual(missed, [], "queued slots were recorded as missed")
        self.assertIntegrity()


BURST = "jobs:\n" + "".join("  burst-%d:\n    type: local\n    schedule: \"@manual\"\n"
                            "    command: sleep 1\n" % i for i in range(8))


def runner_threads(daemon):
    tasks = "/proc/%d/task" % daemon.proc.pid
    names = []
    for t in os.listdir(tasks):
        try:
            with open(os.path.join(tasks, t, "comm")) as f:
                names.append(f.read().strip())
        except FileNotFoundError:  # a thread that just ended
            pass
    return names.count("ofelia-runner")


class RunnerThreads(ApiCase):
    def test_a_burst_gets_a_thread_each_and_they_end_when_idle(self):
        """Without max-concurrent (the default) eight runs at once start at
        once, each on a thread made for it; 30 s after the burst only the two
        idle threads the pool keeps are left."""
        d = self.start_web(BURST, env=INSECURE)
        self.assertEqual(runner_threads(d), 0)
        ids = []
        for i in range(8):
            r = self.ok("POST", "/api/job/burst-%d/run" % i)
            self.assertEqual(r["status"], "running", r)
            ids.append(r["executionId"])
        peak = wait_for(lambda: runner_threads(d) >= 8 and runner_threads(d), timeout=10,
                        what="a runner thread for each of the 8 runs")
        for id in ids:
            wait_for(lambda: self.query("SELECT status FROM executions WHERE id = ?",
                                        (id,)) == [("success",)], timeout=30,
                     what="burst run %s" % id)
        wait_for(lambda: runner_threads(d) <= 2, timeout=60,
                 what="idle runner threads to end (peak %d)" % peak)
        self.assertEqual(runner_threads(d), 2)
        self.assertCleanExit(d)
