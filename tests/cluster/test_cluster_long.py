"""The longer cluster scenarios (make test-cluster; docs/cluster.md): an etcd
member down, etcd's quorum lost and back, a leader handing over at SIGTERM.
Each runs a real 3-member etcd cluster and 3 ofelia daemons on 127.0.0.1
with a job every second that writes its execution id to a shared file."""
import calendar
import os
import time
import unittest

from tests.integration.cluster import (ETCD, Etcd, Node, free_ports, leader_of, slots_of,
                                       started_ids, stop_quietly)
from tests.integration.support import DaemonTest, wait_for

TTL = 3


def epoch(text):
    return calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))


@unittest.skipUnless(ETCD, "needs Debian's etcd-server (tools/deps.sh)")
class ClusterLongTest(DaemonTest):

    def setUp(self):
        super().setUp()
        self.etcd = Etcd(self.dir)
        self.addCleanup(self.etcd.stop_all)
        self.starts = os.path.join(self.dir, "starts")
        job = """[job-local "tick"]
schedule = @every 1s
command = `sh -c 'echo $OFELIA_EXECUTION_ID >> %s'`
""" % self.starts
        self.etcd.start_all()
        self.nodes = []
        for name, port in zip("abc", free_ports(3)):
            n = Node(self.dir, name, self.etcd, port, job, ttl="%ds" % TTL)
            self.daemons.append(n)
            self.nodes.append(n)
            n.start()

    def leader(self, among=None):
        return wait_for(lambda: leader_of(among or self.nodes), 8 * TTL, 0.1, "a leader")

    def wait_runs(self, more, what):
        """more starts, cluster-wide (whichever node leads)."""
        n = len(started_ids(self.starts))
        wait_for(lambda: len(started_ids(self.starts)) >= n + more, 30, 0.2, what)

    def settle_and_check(self):
        """Stop the job, let every node converge, stop them; then: no slot
        started twice, every slot between the first and the last has an
        outcome on some node. Returns slot -> outcomes."""
        leader = self.leader()
        leader.send("PATCH", "/api/job/tick/toggle")

        def same():
            views = []
            for n in self.nodes:
                status, body = n.get("/api/job/tick?limit=1000")
                if status != 200:
                    return False
                views.append({h["executionId"]: h["status"] for h in body["history"]})
            return all(v == views[0] for v in views) and "running" not in views[0].values()
        wait_for(same, 30, 0.5, "every node with the same history")
        for n in self.nodes:
            self.assertEqual(stop_quietly(n), 0, n.log()[-3000:])
        by_id, by_slot = slots_of(self.nodes)
        seen = {}
        for eid in started_ids(self.starts):
            slot = by_id[eid][0]
            self.assertNotIn(slot, seen, "slot %s started twice" % slot)
            seen[slot] = eid
        recorded = sorted(epoch(s) for s in by_slot)
        missing = [t for t in range(recorded[0], recorded[-1] + 1) if t not in recorded]
        self.assertEqual(missing, [], "slots without an outcome on any node")
        return by_slot

    def test_one_etcd_member_down_changes_nothing(self):
        leader = self.leader()
        self.wait_runs(3, "runs")
        # The member the leader talks to first goes: it moves to the next.
        self.etcd.kill(0)
        self.wait_runs(3 * TTL, "runs go on")
        self.assertIs(leader_of(self.nodes), leader)
        self.assertNotIn("not leading", leader.log())
        self.etcd.start(0)
        by_slot = self.settle_and_check()
        statuses = {st for rows in by_slot.values() for st, _, _ in rows}
        self.assertEqual(statuses, {"success"})

    def test_quorum_lost_nothing_runs_then_catch_up(self):
        leader = self.leader()
        self.wait_runs(3, "runs")
        self.etcd.kill(1)
        self.etcd.kill(2)
        leader.wait_log("not leading any more", 4 * TTL)
        lost = time.time()
        time.sleep(2 * TTL)
        # No node leads, none starts anything.
        self.assertIsNone(leader_of(self.nodes))
        for n in self.nodes:
            status, body = n.get("/health/readiness")
            self.assertEqual(status, 503, body)
            self.assertEqual(body["cluster"]["etcd"], "unreachable")
        back = time.time()
        self.etcd.start(1)
        self.etcd.start(2)
        leader = self.leader()
        self.wait_runs(3, "runs again")
        by_slot = self.settle_and_check()
        for n in self.nodes:
            late = n.rows("SELECT id FROM executions WHERE start_time > ? AND start_time < ?",
                          (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(lost + 1)),
                           time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(back))))
            self.assertEqual(late, [], "an execution started without quorum")
        # Catch-up: the slots of the outage are missed, the latest of them
        # ran once (catch-up: once, within the deadline).
        outage = [s for s in by_slot if lost + 1 < epoch(s) < back]
        self.assertGreater(len(outage), TTL)
        statuses = {st for s in outage for st, _, _ in by_slot[s]}
        self.assertIn("missed", statuses)
        triggers = leader.rows("SELECT count(*) FROM executions WHERE trigger = 'catch-up'")
        self.assertGreaterEqual(triggers[0][0], 1)

    def test_a_leader_stopping_hands_over(self):
        leader = self.leader()
        self.wait_runs(3, "runs")
        t0 = time.monotonic()
        self.assertEqual(stop_quietly(leader), 0)
        rest = [n for n in self.nodes if n is not leader]
        wait_for(lambda: leader_of(rest), 4 * TTL, 0.05, "the next leader")
        print("\nhandover at SIGTERM: %.2fs (lease-ttl %ds)" % (time.monotonic() - t0, TTL))
        self.wait_runs(3, "runs go on")
        leader.start()
        self.settle_and_check()


if __name__ == "__main__":
    unittest.main()
