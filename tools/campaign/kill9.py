#!/usr/bin/env python3
"""kill -9 loop under load: start the daemon on one database, let it work for
a random while (jobs every second, a flood of output, a long no-overlap job),
kill -9 it, check the file, start again; at the end stop it cleanly and check
that nothing was lost or doubled, no-overlap held, every slot has its one
outcome, and no job process was left behind.

    tools/campaign/kill9.py [--rounds N] [--seed S]

OFELIA_BIN picks the binary (default build/asan/ofelia). Exit 0 when every
invariant held; the summary line has the figures."""
import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import common  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    t0 = time.monotonic()
    problems = []
    integrity_fail = 0
    with tempfile.TemporaryDirectory(prefix="ofelia-kill9-") as work:
        marks = os.path.join(work, "marks")
        d = common.Daemon(work, common.load_config(work, marks))
        for i in range(a.rounds):
            d.start()
            time.sleep(rng.uniform(0.3, 3.0))
            d.kill9()
            if d.query("PRAGMA integrity_check") != [("ok",)]:
                integrity_fail += 1
                problems.append("round %d: integrity_check failed" % i)
        # The last start resolves what the last kill left, then runs a while.
        d.start()
        d.wait_log("scheduler started")
        time.sleep(2)
        code = d.stop()
        if code != 0:
            problems.append("clean stop exited %s" % code)
        inv = common.invariants(d, marks)
        problems += common.violations(inv)
        strays = common.stray_processes(d.tag)
        if strays:
            problems.append("processes left behind: %s" % strays)
        if integrity_fail:
            inv["integrity"] = False
        print("kill9: rounds=%d starts=%d executions=%d lost=%d duplicates=%d ran_twice=%d "
              "integrity=%s overlaps=%d gaps=%d orphans=%d time=%.0fs" %
              (a.rounds, inv["starts"], inv["executions"], inv["lost"], inv["duplicates"],
               inv["ran_twice"], "ok" if inv["integrity"] else "FAILED", inv["overlaps"],
               inv["gaps"], len(strays), time.monotonic() - t0))
        for p in problems:
            print("kill9: FAILED: " + p)
        if problems:
            print("kill9: logs in %s were:\n%s" % (work, d.log()[-3000:]))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
