#!/usr/bin/env python3
"""Benchmarks of a cluster (docs/cluster.md) on the release binary, against
a real 3-member etcd on 127.0.0.1 (Debian's etcd-server):

  start delay        slot to the start of a static probe command, p50/p99:
                     one node alone, the leader of three (claims made
                     claim-ahead before the slot, the default), and the
                     leader with claim-ahead 0 (the claim is made at the slot)
  claim latency      from a claim asked to etcd's answer, as the leader's
                     ofelia_cluster_claim_duration_seconds histogram has it
  etcd requests      per execution (the leader's claims), and per second per
                     node in the background (keepalives, elections, registry)
  failover           kill -9 of the leader until another node leads, and the
                     handover at SIGTERM (the lease is revoked), lease-ttl 3s

Usage: tools/bench/cluster.py BIN [--quick]. Prints `name: value unit` lines;
skips (says so) without etcd."""
import calendar
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
os.environ.setdefault("OFELIA_BIN", os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                                                    else "build/release/ofelia"))

from benchlib import percentile, report  # noqa: E402
from tests.integration.cluster import Etcd, Node, free_ports, leader_of  # noqa: E402
from tests.integration.support import wait_for  # noqa: E402

QUICK = "--quick" in sys.argv
TTL = 3


def build_stamp(tmp):
    stamp = os.path.join(tmp, "stamp")
    subprocess.run(["cc", "-O2", "-static", "-o", stamp, os.path.join(HERE, "probe", "stamp.c")],
                   check=True)
    return stamp


def probe_job(stamp):
    return '[job-local "probe"]\nschedule = * * * * * *\ncommand = %s\n' % stamp


def delays_of(node):
    rows = node.rows("SELECT scheduled_time, output FROM executions WHERE job_name = 'probe' "
                     "AND status = 'success' AND node = ?", (node.name,))
    out = []
    for sched, stamp in rows:
        slot = calendar.timegm(time.strptime(sched[:19], "%Y-%m-%dT%H:%M:%S"))
        out.append((int(stamp.strip()) / 1e9 - slot) * 1000)
    return out


def metric(node, name):
    """The sum of a metric's samples (name may carry labels), and the text."""
    with urllib.request.urlopen(node.url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total, text


def cluster(tmp, job, ahead0=False):
    etcd = Etcd(tmp)
    etcd.start_all()
    nodes = []
    for name, port in zip("abc", free_ports(3)):
        n = Node(tmp, name, etcd, port, job, ttl="%ds" % TTL)
        n.args = ["--log-level", "warn"] + (["--cluster-claim-ahead", "0s"] if ahead0 else [])
        nodes.append(n)
    for n in nodes:
        n.start(wait_started=False)
    return etcd, nodes


def stop(etcd, nodes):
    for n in nodes:
        if n.alive():
            n.stop()
        n.cleanup()
    etcd.stop_all()


def wait_leader(nodes):
    return wait_for(lambda: leader_of(nodes), 10 * TTL, 0.05, "a leader")


def bench_single(stamp, seconds):
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "one")
        os.makedirs(d)
        cfg = os.path.join(d, "ofelia.ini")
        with open(cfg, "w") as f:
            f.write("[global]\nlog-level = warn\n" + probe_job(stamp))
        db = os.path.join(d, "ofelia.db")
        p = subprocess.Popen([os.environ["OFELIA_BIN"], "daemon", "--config", cfg, "--db", db],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(seconds)
        p.terminate()
        p.wait(30)
        con = sqlite3.connect(db)
        rows = con.execute("SELECT scheduled_time, output FROM executions WHERE "
                           "status = 'success'").fetchall()
        con.close()
    delays = []
    for sched, stamp_out in rows:
        slot = calendar.timegm(time.strptime(sched[:19], "%Y-%m-%dT%H:%M:%S"))
        delays.append((int(stamp_out.strip()) / 1e9 - slot) * 1000)
    report("single_node_delay_p50", "%.2f" % percentile(delays, 50), "ms")
    report("single_node_delay_p99", "%.2f" % percentile(delays, 99), "ms")


def bench_leader(stamp, seconds, ahead0):
    tag = "leader_claim_at_slot" if ahead0 else "leader"
    with tempfile.TemporaryDirectory() as tmp:
        etcd, nodes = cluster(tmp, probe_job(stamp), ahead0)
        try:
            leader = wait_leader(nodes)
            time.sleep(2)
            req0, _ = metric(leader, "ofelia_cluster_etcd_requests_total")
            txn0, _ = metric(leader, 'ofelia_cluster_etcd_requests_total{op="txn"}')
            runs0 = len(delays_of(leader))
            bg0 = [metric(n, "ofelia_cluster_etcd_requests_total")[0] for n in nodes
                   if n is not leader]
            t0 = time.monotonic()
            time.sleep(seconds)
            dt = time.monotonic() - t0
            req1, text = metric(leader, "ofelia_cluster_etcd_requests_total")
            txn1, _ = metric(leader, 'ofelia_cluster_etcd_requests_total{op="txn"}')
            bg1 = [metric(n, "ofelia_cluster_etcd_requests_total")[0] for n in nodes
                   if n is not leader]
            delays = delays_of(leader)
            runs = len(delays) - runs0
        finally:
            stop(etcd, nodes)
    report(tag + "_delay_p50", "%.2f" % percentile(delays, 50), "ms")
    report(tag + "_delay_p99", "%.2f" % percentile(delays, 99), "ms")
    s = float(re.search(r"ofelia_cluster_claim_duration_seconds_sum (\S+)", text).group(1))
    c = float(re.search(r"ofelia_cluster_claim_duration_seconds_count (\S+)", text).group(1))
    report(tag + "_claim_latency_mean", "%.2f" % (s / c * 1000 if c else 0), "ms")
    buckets = re.findall(r'ofelia_cluster_claim_duration_seconds_bucket\{le="([^"]+)"\} (\S+)',
                         text)
    for le, n in buckets:
        if le != "+Inf" and c and float(n) >= 0.99 * c:
            report(tag + "_claim_latency_p99_under", "%g" % (float(le) * 1000), "ms")
            break
    if not ahead0:
        report("etcd_txn_per_execution", "%.2f" % ((txn1 - txn0) / max(runs, 1)), "req")
        report("etcd_requests_per_execution_leader", "%.2f" % ((req1 - req0) / max(runs, 1)),
               "req")
        report("etcd_requests_per_second_follower",
               "%.2f" % (sum(b - a for a, b in zip(bg0, bg1)) / len(bg0) / dt), "req/s")


def bench_failover(rounds):
    job = '[job-local "tick"]\nschedule = @every 1s\ncommand = true\n'
    kills, handovers = [], []
    with tempfile.TemporaryDirectory() as tmp:
        etcd, nodes = cluster(tmp, job)
        try:
            for _ in range(rounds):
                leader = wait_leader(nodes)
                time.sleep(1.5)
                leader.kill9()
                t0 = time.monotonic()
                wait_for(lambda: leader_of([n for n in nodes if n is not leader]), 10 * TTL,
                         0.02, "the next leader")
                kills.append(time.monotonic() - t0)
                leader.start(wait_started=False)
            for _ in range(rounds):
                leader = wait_leader(nodes)
                time.sleep(1.5)
                t0 = time.monotonic()
                leader.proc.terminate()
                wait_for(lambda: leader_of([n for n in nodes if n is not leader]), 10 * TTL,
                         0.02, "the next leader")
                handovers.append(time.monotonic() - t0)
                leader.proc.wait(30)
                leader.start(wait_started=False)
        finally:
            stop(etcd, nodes)
    report("failover_kill9_p50", "%.2f" % percentile(kills, 50), "s")
    report("failover_kill9_max", "%.2f" % max(kills), "s")
    report("handover_sigterm_p50", "%.2f" % percentile(handovers, 50), "s")
    report("handover_sigterm_max", "%.2f" % max(handovers), "s")


def main():
    if not shutil.which("etcd"):
        print("cluster: skipped (no etcd; tools/deps.sh installs etcd-server)")
        return
    seconds = 20 if QUICK else 60
    with tempfile.TemporaryDirectory() as tmp:
        stamp = build_stamp(tmp)
        bench_single(stamp, seconds)
        bench_leader(stamp, seconds, False)
        bench_leader(stamp, seconds, True)
    bench_failover(3 if QUICK else 8)


if __name__ == "__main__":
    main()
