"""What a user sees over time: the daemon runs thousands of executions with
every part busy (jobs every second, their notices to a webhook, a WebSocket
client following the events, the API read), and its descriptors, threads,
memory and database files must stop growing once it has warmed up.

OFELIA_LONGRUN_SECONDS sets the run (default 75 s; `make campaign`-style
long runs can give it minutes)."""
import os
import threading
import time

from tests.integration.receivers import HttpReceiver
from tests.integration.support import wait_for
from tests.integration.test_api import ApiCase, WebSocket

SECONDS = float(os.environ.get("OFELIA_LONGRUN_SECONDS", "75"))
JOBS = 30

CONFIG = """global:
  webhook-webhooks: [sink]
webhooks:
  sink:
    url: %(url)s
    trigger: always
jobs:
%(jobs)s"""

JOB = """  tick%d:
    type: local
    schedule: "@every 1s"
    command: sh -c 'echo start; echo done >&2'
"""


def sample(pid, db):
    """The figures that must stop growing."""
    status = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.split()
    size = lambda p: os.path.getsize(p) if os.path.exists(p) else 0  # noqa: E731
    # Pipes, pidfds and sockets come and go with the executions and
    # deliveries in flight at the moment of the sample (30 jobs a second), and
    # so do the eventfd and timerfd of each run waiting for its instant (the
    # slot is claimed ahead): they are bounded, not compared between thirds;
    # the rest must not grow.
    steady = moving = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            what = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue  # closed since the listing
        if what.startswith(("pipe:", "socket:", "anon_inode:[pidfd]", "anon_inode:[eventfd]",
                            "anon_inode:[timerfd]")):
            moving += 1
        else:
            steady += 1
    return {
        "fds": steady,
        "fds_in_flight": moving,
        "threads": int(status["Threads"][0]),
        "rss_kb": int(status["VmRSS"][0]),
        "wal": size(db + "-wal"),
        "db": size(db),
    }


class LongRun(ApiCase):
    def test_resources_stop_growing(self):
        sink = HttpReceiver().start()
        self.addCleanup(sink.stop)
        config = CONFIG % {"url": sink.url("/sink"),
                           "jobs": "".join(JOB % i for i in range(JOBS))}
        # A small quarantine, so the sanitizer's freed-memory pool does not
        # pass for growth; leak checks stay on.
        env = {"ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:quarantine_size_mb=4"}
        d = self.start_web(config, env=env)
        pid = d.proc.pid

        ws = WebSocket(self.port)
        self.assertEqual(ws.status, 101)
        events = []
        stop = threading.Event()

        def follow():
            while not stop.is_set():
                try:
                    events.append(ws.message(timeout=5)["type"])
                except Exception:
                    if not stop.is_set():
                        raise
                    return
        reader = threading.Thread(target=follow, daemon=True)
        reader.start()

        samples = []
        start = time.monotonic()
        while time.monotonic() - start < SECONDS:
            self.assertEqual(self.req("GET", "/api/jobs").status, 200)
            self.assertEqual(self.req("GET", "/health/readiness").status, 200)
            samples.append(sample(pid, d.db))
            time.sleep(1)
        stop.set()
        ws.close()

        done = self.query("SELECT count(*) FROM executions WHERE status = 'success'")[0][0]
        wait_for(lambda: len(sink.received("/sink")) >= done * 0.9, 60,
                 what="the notices of %d executions" % done)
        self.assertCleanExit(d)

        # Warm-up is the first third: pools, caches and the WAL fill up.
        # The last third may not go past the middle third.
        third = len(samples) // 3
        middle, last = samples[third:2 * third], samples[2 * third:]
        peak = lambda part, key: max(s[key] for s in part)  # noqa: E731
        report = {k: (samples[0][k], peak(middle, k), peak(last, k)) for k in samples[0]}
        print("\nlongrun: %d executions, %d notices, %d events in %.0f s; "
              "first/middle peak/last peak: %s" % (
                  done, len(sink.received("/sink")), len(events), SECONDS, report))
        self.assertGreater(done, JOBS * SECONDS * 0.5, "the jobs ran about every second")
        self.assertGreater(len(events), done, "the WebSocket followed the events")
        self.assertLessEqual(peak(last, "fds"), peak(middle, "fds") + 4, report)
        # A leak per execution or per notice (thousands) goes far past this.
        self.assertLessEqual(peak(last, "fds_in_flight"), 4 * JOBS + 32, report)
        self.assertLessEqual(peak(last, "threads"), peak(middle, "threads") + 2, report)
        self.assertLessEqual(peak(last, "rss_kb"), peak(middle, "rss_kb") * 1.15 + 4096, report)
        self.assertLessEqual(peak(last, "wal"), 4 << 20, report)
        self.assertGreater(samples[-1]["db"], samples[0]["db"], "the database file grows")
        self.assertIntegrity()
