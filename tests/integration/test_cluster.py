"""High availability on etcd (docs/cluster.md, issue 14), for real: a
3-member etcd cluster and 3 ofelia daemons on 127.0.0.1, one job every
second that writes its execution id to a shared file when it starts.

One rich scenario here (make test); the longer ones (an etcd member down,
quorum lost and back) are in tests/cluster (make test-cluster)."""
import calendar
import os
import re
import signal
import time
import unittest

from tests.integration.cluster import (ETCD, Etcd, Node, free_ports, iso, leader_of, slots_of,
                                       started_ids, stop_quietly)
from tests.integration.support import DaemonTest, wait_for

TTL = 3


def epoch(text):
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))


@unittest.skipUnless(ETCD, "needs Debian's etcd-server (tools/deps.sh)")
class ClusterTest(DaemonTest):

    def setUp(self):
        super().setUp()
        self.etcd = Etcd(self.dir)
        self.addCleanup(self.etcd.stop_all)
        self.starts = os.path.join(self.dir, "starts")
        # Each run outlives the next slot: the leader is killed mid-run.
        self.attempts = os.path.join(self.dir, "attempts")
        # A job that always fails and retries once: its attempts run on the
        # leader only, each once cluster-wide, through the failovers.
        self.job = """[job-local "tick"]
schedule = @every 1s
command = `sh -c 'echo $OFELIA_EXECUTION_ID >> %s; sleep 1.5'`

[job-local "flaky"]
schedule = @every 2s
max-retries = 1
retry-delay = 1s
command = `sh -c 'echo $OFELIA_EXECUTION_ID >> %s; exit 3'`
""" % (self.starts, self.attempts)

    def make_nodes(self):
        ports = free_ports(3)
        nodes = []
        for name, port in zip("abc", ports):
            n = Node(self.dir, name, self.etcd, port, self.job, ttl="%ds" % TTL)
            self.daemons.append(n)
            nodes.append(n)
        return nodes

    def wait_leader(self, nodes, not_this=None):
        def found():
            n = leader_of(nodes)
            return n if n is not None and n is not not_this else None
        return wait_for(found, 6 * TTL, 0.1, "a leader")

    def history(self, node, limit=200):
        status, body = node.get("/api/job/tick?limit=%d" % limit)
        return body if status == 200 else None

    def starts_by(self, node):
        return node.rows("SELECT count(*) FROM executions WHERE node = ? AND "
                         "start_time IS NOT NULL", (node.name,))[0][0]

    def runs(self):
        """Starts so far, cluster-wide (whichever node leads)."""
        return len(started_ids(self.starts))

    def wait_runs(self, more, what):
        n = self.runs()
        wait_for(lambda: self.runs() >= n + more, 30, 0.2, what)

    def test_failover_without_a_slot_twice(self):
        self.etcd.start_all()
        nodes = self.make_nodes()
        for n in nodes:
            n.start()
        leader = self.wait_leader(nodes)
        followers = [n for n in nodes if n is not leader]
        self.wait_runs(3, "three starts")

        # Writes go to the leader: a follower says where it is.
        status, body = followers[0].send("PATCH", "/api/job/tick/toggle")
        self.assertEqual(status, 421, body)
        self.assertEqual(body["error"]["code"], "NOT_LEADER")
        self.assertEqual(body["error"]["details"]["leader"], leader.name)
        self.assertEqual(body["error"]["details"]["leaderUrl"], leader.url)
        status, body = leader.send("PATCH", "/api/job/tick/toggle")
        self.assertEqual((status, body["enabled"]), (200, False), body)
        off = time.time()

        # A follower's view of the job is the leader's once the runs are
        # over and replicated: definition, state, history, metrics.
        def same():
            views = [self.history(n) for n in nodes]
            if any(v is None or v["status"] == "running" for v in views):
                return False
            return all(v == views[0] for v in views) and views[0]
        view = wait_for(same, 20, 0.3, "the same job view on every node")
        self.assertGreaterEqual(view["metrics"]["totalRuns"], 3)
        self.assertTrue(all(h["node"] in "abc" for h in view["history"]), view["history"])
        status, body = followers[0].get("/api/scheduler/status")
        self.assertEqual(status, 200, body)
        self.assertIsNotNone(body["cluster"]["lastReplicated"], body["cluster"])
        leader = self.wait_leader(nodes)
        status, body = leader.send("PATCH", "/api/job/tick/toggle")
        self.assertEqual((status, body["enabled"]), (200, True), body)
        disabled = (off - 1, time.time() + 1)
        self.wait_runs(2, "runs again")

        # kill -9 of the leader mid-run: another node leads, and resolves
        # the executions the dead one left running.
        killed = self.wait_leader(nodes)
        killed.kill9()
        t0 = time.monotonic()
        self.wait_leader(nodes, not_this=killed)
        print("\nfailover after kill -9: %.2fs (lease-ttl %ds)" % (time.monotonic() - t0, TTL))
        self.wait_runs(3, "runs on the new leader")
        killed.start()

        # The leader paused past its lease: it steps down and starts nothing
        # once it runs again, even where its timers are long due.
        paused = self.wait_leader(nodes)
        paused.signal(signal.SIGSTOP)
        self.wait_leader([n for n in nodes if n is not paused])
        paused.signal(signal.SIGCONT)
        t_cont = time.time()
        paused.wait_log("not leading any more", 10)
        self.wait_runs(3, "runs go on")
        # Until it wins an election again (a busy machine may make it), the
        # node that was paused starts nothing.
        self.assertNotIn("leading again", paused.log())
        won = [w for w in re.findall(r'time=(\S+) level=info msg="cluster: leading"',
                                     paused.log()) if epoch(w) > t_cont]
        late = paused.rows("SELECT id, start_time FROM executions WHERE node = ? AND "
                           "start_time > ? AND start_time < ?",
                           (paused.name, iso(t_cont), won[0] if won else "9999"))
        self.assertEqual(late, [], "the paused leader started a slot after it lost its lease")

        # Every node converges; every slot has one outcome somewhere, and
        # no slot started twice across the cluster. A slot claimed ahead may
        # still start after the job is turned off: the views are compared
        # once nothing runs, or a node could stop before it pulls that end.
        def settled():
            views = [self.history(n, 1000) for n in nodes]
            if any(v is None for v in views):
                return False
            ids = [{h["executionId"]: h["status"] for h in v["history"]} for v in views]
            return "running" not in ids[0].values() and all(i == ids[0] for i in ids)
        self.wait_leader(nodes).send("PATCH", "/api/job/tick/toggle")
        wait_for(settled, 30, 0.5, "every node with the same history")
        for n in nodes:
            self.assertEqual(stop_quietly(n), 0, n.log()[-3000:])

        by_id, by_slot = slots_of(nodes)
        started = started_ids(self.starts)
        self.assertGreater(len(started), 10)
        slots = {}
        for eid in started:
            self.assertIn(eid, by_id, "a start no node recorded")
            slot, node = by_id[eid]
            self.assertNotIn(slot, slots, "slot %s started twice (%s and %s)" %
                             (slot, slots.get(slot), eid))
            slots[slot] = eid
        recorded = {epoch(s) for s in by_slot}
        # The job was off while the views were compared: no slots then.
        missing = [iso(t) for t in range(min(recorded), max(recorded) + 1)
                   if t not in recorded and not disabled[0] <= t <= disabled[1]]
        self.assertEqual(missing, [], "slots without an outcome on any node")
        for slot, rows in by_slot.items():
            self.assertNotIn("running", {r[0] for r in rows}, slot)
        # The nodes record who ran what.
        self.assertTrue({node for _, node in by_id.values()} >= {killed.name, paused.name})

        # Retries: each attempt started once cluster-wide and recorded; a
        # retry follows a first attempt; the attempt columns replicated.
        attempts = started_ids(self.attempts)
        self.assertEqual(len(attempts), len(set(attempts)), "an attempt started twice")
        rows = {}
        for n in nodes:
            for eid, attempt, first, node in n.rows(
                    "SELECT id, attempt, first_attempt_id, node FROM executions "
                    "WHERE job_name = 'flaky' AND start_time IS NOT NULL"):
                rows.setdefault(eid, set()).add((attempt, first, node))
        for eid in attempts:
            self.assertIn(eid, rows, "an attempt no node recorded")
        retries = {eid: v for eid, v in rows.items() if {a for a, _, _ in v} == {2}}
        self.assertGreater(len(retries), 2)
        firsts = [next(iter(v))[1] for v in retries.values()]
        self.assertEqual(len(firsts), len(set(firsts)), "a first attempt retried twice")
        for first in firsts:
            self.assertEqual({a for a, _, _ in rows[first]}, {1}, first)
        self.assertTrue(all(len(v) == 1 for v in rows.values()), "rows differ between nodes")
        replicated = [eid for eid, v in retries.items()
                      for n in nodes if n.name != next(iter(v))[2]
                      and n.rows("SELECT attempt FROM executions WHERE id = ?", (eid,)) == [(2,)]]
        self.assertTrue(replicated, "no retry reached another node with its attempt")


if __name__ == "__main__":
    unittest.main()
