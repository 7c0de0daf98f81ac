"""`ofelia next` against robfig/cron v3.0.1, the library Ofelia schedules with.

The differential tests build the reference program in tests/cron-oracle (Go,
offline, Debian's golang-github-robfig-cron-dev), feed it and
`ofelia next --batch` the same thousands of cases in several zones, and
compare the answers line by line. Two answers agree when they are equal, or
both errors (the messages differ on purpose). The only other differences
allowed are the ones docs/cron.md lists:
  - Sunday as 7: robfig rejects it; ofelia must then answer exactly what
    robfig answers for the same spec with 7 written as 0;
  - @triggered, @manual, @none: robfig rejects them; ofelia never fires;
  - a TZ= prefix without a space: robfig panics; ofelia reports an error
    (both are errors, so this needs no special case).
The CLI tests check exit codes, options and output format of `ofelia next`.

Run: OFELIA_BIN=build/asan/ofelia python3 -m unittest tests.integration.test_cron -v
OFELIA_CRON_ORACLE=/path/to/cron-oracle skips building the oracle.
"""
import datetime as dt
import hashlib
import importlib.util
import os
import random
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
ORACLE_SRC = ROOT / "tests" / "cron-oracle"
OFELIA = os.environ.get("OFELIA_BIN", str(ROOT / "build" / "asan" / "ofelia"))
COUNT = 5

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
         "Asia/Kolkata", "Pacific/Chatham"]
DST_ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
             "Pacific/Chatham", "America/Sao_Paulo"]
MANUAL = {"@triggered", "@manual", "@none"}
DOW_NAMES = {n: i for i, n in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}

_gen = None


def gen_module():
    """tests/cron-oracle/gen-cases.py, loaded as a module (its name has a dash)."""
    global _gen
    if _gen is None:
        spec = importlib.util.spec_from_file_location("gen_cases", ORACLE_SRC / "gen-cases.py")
        _gen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_gen)
    return _gen


def build_oracle():
    """Path of the oracle binary, built once per version of its sources into
    the temp dir (a build takes most of a minute)."""
    if os.environ.get("OFELIA_CRON_ORACLE"):
        return os.environ["OFELIA_CRON_ORACLE"]
    if shutil.which("go") is None:
        raise unittest.SkipTest("go is not installed (apt-get install golang-go "
                                "golang-github-robfig-cron-dev): no robfig oracle to compare with")
    digest = hashlib.sha256()
    for name in ("main.go", "build.sh"):
        digest.update((ORACLE_SRC / name).read_bytes())
    final = Path(tempfile.gettempdir()) / ("ofelia-cron-oracle-" + digest.hexdigest()[:16])
    if not (final / "cron-oracle").exists():
        work = tempfile.mkdtemp(prefix="ofelia-cron-oracle-build-")
        subprocess.run([str(ORACLE_SRC / "build.sh"), work], check=True,
                       stdout=subprocess.DEVNULL)
        try:
            os.rename(work, final)
        except OSError:  # another run got there first
            shutil.rmtree(work, ignore_errors=True)
    return str(final / "cron-oracle")


def run_batch(argv, cases):
    """Run argv on the cases ("start\\tspec" lines); one output line per case."""
    text = "".join(c + "\n" for c in cases)
    proc = subprocess.run(argv, input=text.encode(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (argv[0], proc.returncode,
                                                      proc.stderr.decode(errors="replace")))
    lines = proc.stdout.decode(errors="replace").split("\n")[:-1]
    if len(lines) != len(cases):
        raise AssertionError("%s: %d lines for %d cases" % (argv[0], len(lines), len(cases)))
    return lines


def split_prefix(spec):
    """("CRON_TZ=Zone ", rest) or ("", spec), as robfig splits a zone prefix."""
    if spec.startswith(("TZ=", "CRON_TZ=")) and " " in spec:
        i = spec.index(" ")
        return spec[:i + 1], spec[i + 1:]
    return "", spec


def dow_value(token):
    return DOW_NAMES[token.lower()] if token.lower() in DOW_NAMES else int(token)


def sunday_as_zero(spec):
    """The spec with every day-of-week 7 written as 0 (ranges and steps
    expanded to lists), which robfig accepts; None if it cannot be rewritten."""
    prefix, body = split_prefix(spec)
    fields = body.split()
    if len(fields) not in (5, 6):
        return None
    out = []
    for element in fields[-1].split(","):
        rng, slash, step = element.partition("/")
        if not element or rng[:1] in ("*", "?"):
            out.append(element)
            continue
        try:
            lo, dash, hi = rng.partition("-")
            a = dow_value(lo)
            b = dow_value(hi) if dash else (max(6, a) if slash else a)
            s = int(step) if slash else 1
            if s < 1 or b - a > 7:
                return None
            out.append(",".join(str(v % 7) for v in range(a, b + 1, s)))
        except (KeyError, ValueError):
            return None
    return prefix + " ".join(fields[:-1] + [",".join(out)])


class Differential(unittest.TestCase):
    """Thousands of cases through the oracle and ofelia, zone by zone."""

    @classmethod
    def setUpClass(cls):
        cls.oracle = build_oracle()

    def oracle_run(self, zone, cases):
        return run_batch([self.oracle, "-tz", zone, "-n", str(COUNT)], cases)

    def ofelia_run(self, zone, cases):
        return run_batch([OFELIA, "next", "--batch", "--tz", zone, "--count", str(COUNT)], cases)

    def compare(self, zone, cases):
        """Asserts agreement on every case; returns the number compared."""
        want = self.oracle_run(zone, cases)
        got = self.ofelia_run(zone, cases)
        bad, rewrites = [], []
        for case, w, g in zip(cases, want, got):
            if w == g or (w.startswith("ERROR") and g.startswith("ERROR")):
                continue
            spec = case.split("\t", 1)[1]
            if (w.startswith("ERROR") and split_prefix(spec)[1] in MANUAL
                    and g == "\t".join(["NEVER"] * COUNT)):
                continue
            if w.startswith("ERROR") and "(7)" in w and sunday_as_zero(spec):
                start = case.split("\t", 1)[0]
                rewrites.append((case, start + "\t" + sunday_as_zero(spec), g))
                continue
            bad.append((case, w, g))
        if rewrites:
            # Sunday as 7 must answer what robfig answers for Sunday as 0.
            again = self.oracle_run(zone, [r[1] for r in rewrites])
            for (case, rewritten, g), w in zip(rewrites, again):
                if not (w == g or (w.startswith("ERROR") and g.startswith("ERROR"))):
                    bad.append((case + "   (as " + rewritten.split("\t", 1)[1] + ")", w, g))
        if bad:
            report = ["%d of %d cases differ in %s; the first ones:" % (len(bad), len(cases), zone)]
            for case, w, g in bad[:12]:
                report += ["  case:   " + case.replace("\t", "  "),
                           "  robfig: " + w.replace("\t", "  "),
                           "  ofelia: " + g.replace("\t", "  ")]
            self.fail("\n".join(report))
        return len(cases)

    def test_random_specs(self):
        """>= 5,000 generated specs (the generator's curated list included)."""
        cases = []
        for seed in (1, 2, 3):
            out = subprocess.run([str(ORACLE_SRC / "gen-cases.py"), "-n", "2000", "--seed",
                                  str(seed)], stdout=subprocess.PIPE, check=True)
            cases += out.stdout.decode().splitlines()
        self.assertGreaterEqual(len(cases), 5000)
        for zone in ZONES:
            with self.subTest(zone=zone):
                self.compare(zone, cases)

    def test_random_specs_in_far_years(self):
        """Start times from 1850 to 2600: local mean time, the zone files'
        POSIX rules after 2037, and years past int64 nanoseconds."""
        gen, rng = gen_module(), random.Random(7)
        cases = []
        for _ in range(3000):
            t = dt.datetime(rng.randint(1850, 2600), rng.randint(1, 12), rng.randint(1, 28),
                            rng.randint(0, 23), rng.choice([0, 30, 59, rng.randint(0, 59)]),
                            rng.choice([0, 59, rng.randint(0, 59)]))
            cases.append(t.strftime("%Y-%m-%dT%H:%M:%SZ") + "\t" + gen.gen_spec(rng, 0.05))
        for zone in ZONES:
            with self.subTest(zone=zone):
                self.compare(zone, cases)

    def test_dst_transitions(self):
        """Starts at and around every DST change 2000-2040 and 2095-2100, with
        schedules that land in gaps and folds (30-minute ones at Lord Howe,
        midnight ones at Sao Paulo)."""
        specs = ["0 30 2 * * *", "0 0 2 * * *", "0 30 1 * * *", "0 0 3 * * *", "@daily",
                 "@hourly", "0 */15 * * * *", "0 */30 1-3 * * *", "*/20 * * * * *",
                 "0 15 2 * * *", "0 45 1 * * *", "0 0 0 * * *", "0 0 0 * * SUN", "@monthly",
                 "30 2 * * *", "0 0 1-7 * SUN", "59 59 1 * * *", "0 0 */2 * * *",
                 "0 0,30 0-4 * * *", "0 59 23 * * *", "@weekly", "0 0 0 */2 * *"]
        years = list(range(2000, 2041)) + list(range(2095, 2101))
        rng = random.Random(11)
        for zone in DST_ZONES:
            cases = []
            for tr in dst_transitions(zone, years):
                for off in (-86400, -7200, -3601, -3600, -1800, -1, 0, 1, 1800, 3600, 7200):
                    start = (tr + dt.timedelta(seconds=off)).strftime("%Y-%m-%dT%H:%M:%SZ")
                    cases += [start + "\t" + s for s in rng.sample(specs, 3)]
            with self.subTest(zone=zone):
                self.assertGreater(len(cases), 1000)
                self.compare(zone, cases)

    def test_hand_picked(self):
        """The parser's corners: Unicode white space and case folding,
        strconv.Atoi numbers, robfig's '*-x' and empty list elements, zone
        prefixes and names, Go durations, Sunday as 7, far dates."""
        specs = [
            "*-5 * * * *", "?-x/2 * * * *", "5,,6 * * * *", ", * * * *", "*/+5 * * * *",
            "*/-0 * * * *", "0005 * * * *", "000000000000000000000000005 * * * *",
            "*/9223372036854775807 * * * *", "*/9223372036854775808 * * * *",
            "0 0 * * FR\u0130", "0 0 * * MON\u00a0", "0\u00a00 * * *", "0\u20030 * * * *",
            "0\u30000 * * * *", "0\u0085 0 * * *", "0\u200b0 * * * *", "0\t0\t*\t*\t*",
            "TZ=UTC\u00a0* * * * *", "TZ=UTC  @daily", "TZ=UTC @daily ", "TZ=Local * * * * *",
            "TZ=Europe/../UTC * * * * *", "TZ=./UTC @daily", "TZ=/etc/localtime * * * * *",
            "TZ=Europe/Berlin/ * * * * *", "TZ=Europe * * * * *", "TZ=zone.tab * * * * *",
            "TZ=posix/Europe/Berlin 0 30 2 * * *", "TZ=EST5EDT 0 0 2 * * *",
            "TZ=Etc/GMT+5 @daily", "CRON_TZ=UTC\t* * * * *", "TZ=Europe//Berlin 0 30 2 * * *",
            "TZ=europe/berlin * * * * *", "TZ=UTC", "TZ= @hourly", "TZ=Factory @daily",
            "CRON_TZ=Asia/Kolkata @every 1h", "@every 1h30m", "@every  5s", "@every +5s",
            "@every -1s", "@every .5s", "@every 1.s", "@every 0", "@every 2562047h",
            "@every 2562047h47m16.854775807s", "@every 2562047h47m16.854775808s",
            "@every 1\u00b5s", "@every 1.9999999999s", "@every 1m-30s", "0 0 31 2 *",
            "0 0 29 2 *", "0 0 * * 7", "0 0 * * 5-7", "0 0 * * 7/2", "0 0 * * SUN-7",
            "0 0 * * 0-7", "0 0 * * 1-7/2", "0 0 * * 7,8", "0 0 * * *-7", "1-2-3 * * * *",
            "@triggered", "@manual", "@none", "TZ=UTC @none", "@Daily", "@reboot", "",
            "0 0 13 */1 FRI", "0 0 1-31 * FRI", "? ? ? ? ?", "+0 +0 +1 +1 +0",
            "59 59 23 31 12 *", "0 0 0 29 2 1",
        ]
        starts = ["2024-03-31T00:30:00Z", "2024-10-27T00:30:00.5Z", "2001-01-01T00:00:00+05:30",
                  "1890-06-01T00:00:00Z", "2262-04-11T23:47:16Z", "9999-12-31T00:00:00Z"]
        cases = [s + "\t" + spec for spec in specs for s in starts]
        for zone in ("UTC", "Europe/Berlin", "Australia/Lord_Howe"):
            with self.subTest(zone=zone):
                self.compare(zone, cases)


def dst_transitions(zone, years):
    """UTC instants at which the zone's offset changes in the given years."""
    z, out = ZoneInfo(zone), []
    for year in years:
        t = dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc)
        prev = t.astimezone(z).utcoffset()
        for _ in range(366):
            n = t + dt.timedelta(days=1)
            off = n.astimezone(z).utcoffset()
            if off != prev:
                lo, hi = t, n  # the change is in (lo, hi]: bisect to the second
                while hi - lo > dt.timedelta(seconds=1):
                    mid = lo + dt.timedelta(seconds=(hi - lo).total_seconds() // 2)
                    lo, hi = (mid, hi) if mid.astimezone(z).utcoffset() == prev else (lo, mid)
                out.append(hi)
            prev, t = off, n
    return out


def ofelia(*args, env=None, stdin=""):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([OFELIA, "next", *args], input=stdin.encode(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=full_env, check=False)


class Cli(unittest.TestCase):
    """`ofelia next` as a user runs it."""

    def lines(self, proc):
        return proc.stdout.decode().splitlines()

    def test_help(self):
        proc = ofelia("--help")
        self.assertEqual(proc.returncode, 0)
        self.assertIn("usage: ofelia next", proc.stdout.decode())
        self.assertIn("--batch", proc.stdout.decode())

    def test_default_count_is_five(self):
        proc = ofelia("--from", "2024-01-01T00:00:00Z", "--tz", "UTC", "*/10 * * * *")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(self.lines(proc), ["2024-01-01T00:10:00Z", "2024-01-01T00:20:00Z",
                                            "2024-01-01T00:30:00Z", "2024-01-01T00:40:00Z",
                                            "2024-01-01T00:50:00Z"])

    def test_count_forms(self):
        for args in (["--count", "2"], ["--count=2"], ["-n", "2"]):
            proc = ofelia(*args, "--from=2024-01-01T00:00:00Z", "--tz=UTC", "@daily")
            self.assertEqual(self.lines(proc), ["2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"],
                             args)
        self.assertEqual(self.lines(ofelia("--count", "0", "@daily")), [])

    def test_from_with_offset_and_fraction(self):
        # 13:00:00.999+01:00 is 12:00:00.999Z; the fraction does not matter.
        proc = ofelia("--from", "2024-03-30T13:00:00.999+01:00", "--tz", "Europe/Berlin",
                      "--count", "2", "0 30 2 * * *")
        self.assertEqual(self.lines(proc), ["2024-04-01T00:30:00Z", "2024-04-02T00:30:00Z"])
        proc = ofelia("--from", "2024-01-01T00:00:00.75Z", "--tz", "UTC", "-n", "1",
                      "@every 90s")
        self.assertEqual(self.lines(proc), ["2024-01-01T00:01:30Z"])

    def test_fewer_lines_when_nothing_within_five_years(self):
        proc = ofelia("--from", "2092-03-01T00:00:00Z", "--tz", "UTC", "0 0 29 2 *")
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(self.lines(proc), ["2096-02-29T00:00:00Z"])
        proc = ofelia("--tz", "UTC", "0 0 30 2 *")
        self.assertEqual((proc.returncode, self.lines(proc)), (0, []))
        proc = ofelia("@manual")
        self.assertEqual((proc.returncode, self.lines(proc)), (0, []))

    def test_invalid_schedule(self):
        proc = ofelia("0 61 * * *")
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(proc.stdout, b"")
        self.assertEqual(proc.stderr.decode(), 'ofelia next: bad schedule "0 61 * * *": '
                         'hour 61 out of range (0-23) [INVALID_SCHEDULE]\n')
        proc = ofelia("* * * JANUARY *")
        self.assertIn('unknown month name "JANUARY" [INVALID_SCHEDULE]', proc.stderr.decode())

    def test_double_dash_ends_options(self):
        proc = ofelia("--tz", "UTC", "--", "-1 * * * *")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("INVALID_SCHEDULE", proc.stderr.decode())
        proc = ofelia("--from", "2024-01-01T00:00:00Z", "--tz", "UTC", "-n", "1", "--",
                      "@hourly")
        self.assertEqual(self.lines(proc), ["2024-01-01T01:00:00Z"])
        proc = ofelia("@hourly", "--from", "2024-01-01T00:00:00Z", "-n", "1", "--tz", "UTC")
        self.assertEqual(self.lines(proc), ["2024-01-01T01:00:00Z"], "options after the spec")
        proc = ofelia("-1 * * * *")  # without --, this is an unknown option
        self.assertEqual(proc.returncode, 2)
        self.assertIn("unknown option", proc.stderr.decode())

    def test_usage_errors(self):
        for args in (["--frobnicate", "@daily"], ["--from"], ["--count", "x", "@daily"],
                     ["--count", "-1", "@daily"], ["--from", "yesterday", "@daily"],
                     ["--tz", "Nowhere/Land", "@daily"], [], ["@daily", "@hourly"],
                     ["--batch", "@daily"], ["--batch", "--from", "2024-01-01T00:00:00Z"]):
            proc = ofelia(*args)
            self.assertEqual(proc.returncode, 2, args)
            self.assertEqual(proc.stdout, b"", args)
            self.assertNotEqual(proc.stderr, b"", args)
            self.assertNotIn("[INVALID_SCHEDULE]", proc.stderr.decode(), args)
        self.assertIn("usage: ofelia next", ofelia("--frobnicate").stderr.decode())

    def test_zone_defaults_to_local_and_prefix_overrides(self):
        base = ["--from", "2024-01-01T00:00:00Z", "-n", "1"]
        proc = ofelia(*base, "0 0 * * *", env={"TZ": "Asia/Kolkata"})
        self.assertEqual(self.lines(proc), ["2024-01-01T18:30:00Z"])
        proc = ofelia(*base, "0 0 * * *", env={"TZ": ":Asia/Kolkata"})
        self.assertEqual(self.lines(proc), ["2024-01-01T18:30:00Z"])
        proc = ofelia(*base, "0 0 * * *", env={"TZ": ""})  # Go: empty TZ is UTC
        self.assertEqual(self.lines(proc), ["2024-01-02T00:00:00Z"])
        proc = ofelia(*base, "--tz", "Asia/Kolkata", "CRON_TZ=America/New_York 0 0 * * *")
        self.assertEqual(self.lines(proc), ["2024-01-01T05:00:00Z"])

    def test_batch_format(self):
        stdin = ("2024-01-01T00:00:00Z\t@daily\n"
                 "2024-01-01T00:00:00Z\t0 0 30 2 *\n"
                 "2024-01-01T00:00:00Z\t0 61 * * *\r\n"
                 "no tab here\n"
                 "yesterday\t@daily\n")
        proc = ofelia("--batch", "--tz", "UTC", "-n", "2", stdin=stdin)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        out = self.lines(proc)
        self.assertEqual(out[0], "2024-01-02T00:00:00Z\t2024-01-03T00:00:00Z")
        self.assertEqual(out[1], "NEVER\tNEVER")
        self.assertRegex(out[2], r"^ERROR\thour 61 out of range")
        self.assertRegex(out[3], r"^ERROR\t")
        self.assertRegex(out[4], r"^ERROR\t")
        self.assertEqual(len(out), 5)


if __name__ == "__main__":
    unittest.main()
