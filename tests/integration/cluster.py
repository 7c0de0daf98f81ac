"""Helpers for the cluster tests (docs/cluster.md): a real 3-member etcd
cluster (Debian's etcd-server) and ofelia daemons on 127.0.0.1, ports
chosen free. No mock: the daemons talk to etcd through its v3 JSON gateway
and to each other through their API, as in production.

The job every node runs writes its execution id to a shared file at its
start; the tests read the nodes' databases to map ids to slots."""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request

from tests.integration.support import Daemon, wait_for

ETCD = shutil.which("etcd")
SECRET = "cluster-test-secret-0123456789"


def free_ports(n):
    """n distinct free ports on 127.0.0.1 (held open together, so they
    differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Etcd:
    """Three etcd members on 127.0.0.1; each can be killed, stopped and
    started again on its data."""

    NAMES = ("e0", "e1", "e2")

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "etcd")
        os.makedirs(self.dir)
        ports = free_ports(6)
        self.client = ports[:3]
        self.peer = ports[3:]
        self.procs = [None] * 3
        self.logs = [None] * 3
        self.initial = ",".join("%s=http://127.0.0.1:%d" % (n, p)
                                for n, p in zip(self.NAMES, self.peer))

    def endpoints(self):
        return ",".join("http://127.0.0.1:%d" % p for p in self.client)

    def start(self, i):
        name = self.NAMES[i]
        self.logs[i] = open(os.path.join(self.dir, name + ".log"), "a")
        cmd = [ETCD, "--name", name, "--data-dir", os.path.join(self.dir, name),
               "--listen-client-urls", "http://127.0.0.1:%d" % self.client[i],
               "--advertise-client-urls", "http://127.0.0.1:%d" % self.client[i],
               "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer[i],
               "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer[i],
               "--initial-cluster", self.initial, "--initial-cluster-state", "new",
               "--initial-cluster-token", "ofelia-test",
               # A test cluster keeps little history.
               "--auto-compaction-retention", "1", "--logger", "zap", "--log-level", "warn"]
        self.procs[i] = subprocess.Popen(cmd, stdout=self.logs[i], stderr=subprocess.STDOUT)

    def start_all(self):
        for i in range(3):
            self.start(i)
        for i in range(3):
            wait_for(lambda: self.healthy(i), 20, 0.1, "etcd member %d healthy" % i)

    def healthy(self, i):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % self.client[i],
                                        timeout=1) as r:
                return json.load(r).get("health") == "true"
        except (OSError, ValueError):
            return False

    def kill(self, i):
        p = self.procs[i]
        if p and p.poll() is None:
            p.kill()
            p.wait()
        if self.logs[i]:
            self.logs[i].close()
            self.logs[i] = None

    def stop_all(self):
        for i in range(3):
            self.kill(i)


class Node(Daemon):
    """An ofelia daemon of the cluster, with the bar config of issue 14."""

    def __init__(self, workdir, name, etcd, port, job, ttl="3s", extra=""):
        d = os.path.join(workdir, name)
        os.makedirs(d, exist_ok=True)
        self.name = name
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        text = """[global]
enable-web = true
web-address = 127.0.0.1:%d
web-insecure = true
%s
[cluster]
etcd-endpoints = %s
name = prod
node = %s
lease-ttl = %s
secret = %s

%s""" % (port, extra, etcd.endpoints(), name, ttl, SECRET, job)
        path = os.path.join(d, "ofelia.ini")
        with open(path, "w") as f:
            f.write(text)
        super().__init__(d, config_path=path)

    def get(self, path, timeout=5):
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)
        except (OSError, ValueError):
            return None, None

    def send(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else b"{}"
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def role(self):
        status, body = self.get("/api/scheduler/status", timeout=2)
        if status != 200:
            return None
        return body.get("cluster", {}).get("role")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rows(self, sql, args=()):
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()


def leader_of(nodes):
    """The node that says it leads, if exactly one does."""
    leaders = [n for n in nodes if n.alive() and n.role() == "leader"]
    return leaders[0] if len(leaders) == 1 else None


def slots_of(nodes):
    """execution id -> (slot, node) and slot -> [(status, node, id)] over
    every node's database."""
    by_id, by_slot = {}, {}
    for n in nodes:
        for eid, slot, status, node in n.rows(
                "SELECT id, scheduled_time, status, node FROM executions "
                "WHERE job_name = 'tick' AND scheduled_time IS NOT NULL"):
            by_id[eid] = (slot, node)
            by_slot.setdefault(slot, set()).add((status, node, eid))
    return by_id, by_slot


def started_ids(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def stop_quietly(node):
    """SIGCONT (it may be stopped) and SIGTERM; returns the exit status."""
    if node.alive():
        node.proc.send_signal(signal.SIGCONT)
    return node.stop()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
