#!/usr/bin/env python3
"""Run the suite's parts side by side: most of the suite waits on real time
(jobs every second, daemons starting, a browser), so a few workers on two
cores finish it in about half the time without loading the machine.

    tools/test-parallel.py [-j N]

Each part runs as its own process group with its output kept; a part's
output is printed whole when it ends, with its time, so nothing interleaves.
Integration test modules are parts of their own, except those that use the
private Docker engine: they share one part, since label discovery sees every
container on the engine and the tests expect only their own. Exits 1 if any
part failed. OFELIA_TEST_JOBS sets the default of -j (3)."""
import argparse
import glob
import os
import subprocess
import sys
import time
import threading

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
PYTHON = os.environ.get("PYTHON", "python3")
BUILD = os.environ.get("BUILD", "build")

# Rough wall times (seconds) on the test machine: the longest start first,
# so the slowest part does not start last.
WEIGHTS = {"ui": 150, "docker": 150, "campaign": 60}


def uses_engine(path):
    with open(path) as f:
        text = f.read()
    return "OFELIA_TEST_DOCKER_HOST" in text or "test_docker import" in text


def parts():
    """(name, argv, weight) of every part of the suite."""
    unittest = [PYTHON, "-m", "unittest", "-v"]
    modules = sorted(glob.glob(os.path.join(ROOT, "tests", "integration", "test_*.py")))
    engine = [m for m in modules if uses_engine(m)]
    other = [m for m in modules if m not in engine]

    def dotted(m):
        return "tests.integration." + os.path.basename(m)[:-3]

    out = [("unit", [os.path.join(BUILD, "asan", "unit"), "-j2"], 40)]
    if engine:
        out.append(("docker: " + " ".join(os.path.basename(m)[5:-3] for m in engine),
                    unittest + [dotted(m) for m in engine], WEIGHTS["docker"]))
    for m in other:
        out.append((os.path.basename(m)[:-3], unittest + [dotted(m)],
                    os.path.getsize(m) / 1000))
    out.append(("http abuse (short)", [PYTHON, "tools/http-abuse.py"], 20))
    out.append(("web UI in Chromium", ["./tools/test-ui.sh"], WEIGHTS["ui"]))
    out.append(("campaigns (short)", ["./tools/campaign/run.sh", "short"], WEIGHTS["campaign"]))
    return sorted(out, key=lambda p: -p[2])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-j", type=int, default=int(os.environ.get("OFELIA_TEST_JOBS", "3")))
    args = ap.parse_args()
    todo = parts()
    lock = threading.Lock()
    failed = []
    started = time.monotonic()

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                name, argv, _ = todo.pop(0)
            t0 = time.monotonic()
            p = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
            took = time.monotonic() - t0
            with lock:
                verdict = "ok" if p.returncode == 0 else "FAILED (%d)" % p.returncode
                sys.stdout.write("== %s: %s in %.0f s\n" % (name, verdict, took))
                sys.stdout.write(p.stdout.decode(errors="replace"))
                sys.stdout.flush()
                if p.returncode != 0:
                    failed.append(name)

    threads = [threading.Thread(target=worker) for _ in range(max(1, args.j))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("== suite: %s in %.0f s%s" % ("FAILED" if failed else "ok", time.monotonic() - started,
                                         "".join("\n   failed: " + f for f in failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
