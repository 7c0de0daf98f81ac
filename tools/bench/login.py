#!/usr/bin/env python3
"""How long a failed login takes, by the kind of user it names: a yescrypt
user, a bcrypt (cost 12) user and a name no user has. A login must not tell
an attacker which names exist or how their passwords are hashed, so the
three should take the same time. Each attempt comes from a fresh client
address (X-Forwarded-For from a trusted 127.0.0.1), so every answer carries
the same failure delay (250 ms, the first failure of a client).

Usage: tools/bench/login.py BIN [--quick]. Prints `name: value unit` lines."""
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import Daemon, report

BIN = sys.argv[1] if len(sys.argv) > 1 else "build/release/ofelia"
ROUNDS = 4 if "--quick" in sys.argv else 12


def hash_password(password, bcrypt=False):
    cmd = [BIN, "hash-password"] + (["--bcrypt"] if bcrypt else [])
    return subprocess.run(cmd, input=password + "\n", capture_output=True, text=True,
                          check=True).stdout.strip()


def login_ms(port, user, client):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        t = time.monotonic()
        c.request("POST", "/api/login", json.dumps({"username": user, "password": "wrong"}),
                  {"Content-Type": "application/json", "X-Forwarded-For": client})
        r = c.getresponse()
        r.read()
        ms = (time.monotonic() - t) * 1000
        assert r.status == 401, r.status
        return ms
    finally:
        c.close()


def main():
    config = """web:
  trusted-proxies: [127.0.0.1]
  rate-limit: {requests-per-minute: 1000000, burst: 100000}
  auth:
    enabled: true
    secret: bench-secret-0123456789abcdef
    users:
      - {username: yes, password-hash: '%s', role: admin}
      - {username: bee, password-hash: '%s', role: viewer}
jobs:
  idle: {type: local, schedule: "@yearly", command: "true"}
""" % (hash_password("pw"), hash_password("pw", bcrypt=True))
    with tempfile.TemporaryDirectory(prefix="ofelia-bench-login-") as work:
        d = Daemon(BIN, work, config, web=True)
        try:
            times = {"yescrypt_user": [], "bcrypt_user": [], "unknown_user": []}
            n = 0
            for _ in range(ROUNDS):
                for kind, user in (("yescrypt_user", "yes"), ("bcrypt_user", "bee"),
                                   ("unknown_user", "nobody")):
                    n += 1
                    client = "10.%d.%d.%d" % (n >> 16 & 255, n >> 8 & 255, n & 255)
                    times[kind].append(login_ms(d.port, user, client))
        finally:
            d.stop()
    for kind, ms in times.items():
        report("failed_login_%s_median" % kind, "%.0f" % statistics.median(ms), "ms")
    medians = [statistics.median(ms) for ms in times.values()]
    report("failed_login_spread", "%.0f" % (max(medians) - min(medians)), "ms")


if __name__ == "__main__":
    main()
