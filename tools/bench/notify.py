#!/usr/bin/env python3
"""Benchmarks of notifications, on the release binary:

  delivered/s        webhook notices delivered per second to a receiver on
                     127.0.0.1 (an asyncio HTTP server that answers 200 at
                     once), from 5,000 notices pending in the outbox at start
  start delay        of a job firing every second (start_time minus its slot,
                     from the stored times), p50/p99/max, with no notice
                     pending, then with 1,000 notices queued for a dead
                     receiver (connection refused, retried with back-off),
                     then for a receiver that accepts and never answers

Usage: tools/bench/notify.py BIN [--quick]. Prints `name: value unit` lines."""
import asyncio
import calendar
import os
import socket
import sys
import tempfile
import threading
import time

from benchlib import Daemon, percentile, report

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/release/ofelia"
QUICK = "--quick" in sys.argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    """HTTP/1.1 on asyncio: reads each request and answers 200 (or never,
    when silent), counting requests."""

    def __init__(self, port, silent=False):
        self.port, self.silent, self.count = port, silent, 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait()

    async def _serve(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                n = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":")[1])
                if n:
                    await reader.readexactly(n)
                self.count += 1
                if self.silent:
                    await asyncio.sleep(3600)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port, backlog=1024))
        self.ready.set()
        self.loop.run_until_complete(server.serve_forever())


CONFIG = """
global:
  notification-retry-delay: %(delay)s
  notification-max-attempts: 1000
  notification-workers: %(workers)d
webhooks:
  bench:
    url: http://127.0.0.1:%(port)d/hook
    trigger: always
    timeout: 10s
jobs:
  seed:
    type: local
    schedule: "@yearly"
    run-on-startup: %(seed)s
    command: "true"
%(extra)s"""

TICK = """  tick:
    type: local
    schedule: "* * * * * *"
    command: "true"
"""


def iso_ns(text):
    base, frac = text[:-1].split(".")
    return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) * 10**9 + \
        int(frac.ljust(9, "0"))


def seed(tmp, port):
    """A database with one execution of job seed, and the daemon stopped."""
    d = Daemon(BIN, tmp, CONFIG % dict(delay="1s", workers=4, port=port, seed="true",
                                       extra=""))
    deadline = time.monotonic() + 30
    while not d.query("SELECT id FROM executions WHERE status = 'success'"):
        if time.monotonic() > deadline:
            raise RuntimeError("seed did not run")
        time.sleep(0.05)
    d.stop()
    return d


def add_notices(d, n, tag):
    """n pending webhook notices of the seed execution, due now."""
    exec_id = d.query("SELECT id FROM executions WHERE job_name = 'seed' LIMIT 1")[0][0]
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    import sqlite3
    con = sqlite3.connect(d.db, timeout=30)
    con.executemany("INSERT INTO notifications (idempotency_key, execution_id, job_name, "
                    "channel, target, event, state, next_attempt_at, created_at) VALUES "
                    "(?, ?, 'seed', 'webhook', 'bench', 'success', 'pending', ?, ?)",
                    [("%s-%d" % (tag, i), exec_id, now, now) for i in range(n)])
    con.commit()
    con.close()


def bench_throughput():
    n = 1000 if QUICK else 5000
    port = free_port()
    rx = Receiver(port)
    with tempfile.TemporaryDirectory() as tmp:
        d = seed(tmp, port)
        base = rx.count
        add_notices(d, n, "tp")
        t0 = time.monotonic()
        d = Daemon(BIN, tmp, CONFIG % dict(delay="1s", workers=4, port=port, seed="false",
                                           extra=""))
        try:
            while d.query("SELECT count(*) FROM notifications WHERE state = 'delivered'")[0][0] \
                    < n:
                if time.monotonic() - t0 > 300:
                    raise RuntimeError("not delivered in 300 s")
                time.sleep(0.02)
            elapsed = time.monotonic() - t0
            cpu = d.cpu_seconds()
        finally:
            d.stop()
        report("notify delivered/s (%d webhook notices, 4 senders)" % n,
               "%.0f" % (n / elapsed), "notices/s")
        report("notify daemon CPU per notice", "%.0f" % (cpu / n * 1e6), "us")
        report("notify requests received", rx.count - base, "")


def delays(d, since_ns):
    rows = d.query("SELECT scheduled_time, start_time FROM executions WHERE job_name = 'tick' "
                   "AND start_time IS NOT NULL")
    return [(iso_ns(s) - iso_ns(sch)) / 1e6 for sch, s in rows if iso_ns(sch) >= since_ns]


def bench_start_delay():
    seconds = 10 if QUICK else 30
    for label, pending, silent in (("no notice pending", 0, None),
                                   ("1,000 notices for a dead receiver", 1000, False),
                                   ("1,000 notices for a silent receiver", 1000, True)):
        port = free_port()
        if silent:
            Receiver(port, silent=True)
        with tempfile.TemporaryDirectory() as tmp:
            d = seed(tmp, port)
            if pending:
                add_notices(d, pending, "dl")
            d = Daemon(BIN, tmp, CONFIG % dict(delay="200ms", workers=4, port=port,
                                               seed="false", extra=TICK))
            since = time.time_ns() + 10**9
            time.sleep(seconds + 1)
            tried = d.query("SELECT sum(attempts) FROM notifications")[0][0] or 0
            d.stop()
            ms = delays(d, since)
            report("tick start delay p50, %s" % label, "%.1f" % percentile(ms, 50), "ms")
            report("tick start delay p99, %s" % label, "%.1f" % percentile(ms, 99), "ms")
            report("tick start delay max, %s (%d slots, %d delivery attempts)" %
                   (label, len(ms), tried), "%.1f" % max(ms), "ms")


bench_throughput()
bench_start_delay()
