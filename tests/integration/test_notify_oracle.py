"""The golden payloads in tests/data/notify are what Go itself renders:
this builds tests/notify-oracle (Go's text/template, html/template,
encoding/json, net/url) and checks it still writes every committed file
byte for byte from the bundled presets. The unit test notify::* compares the
C renderer with the same files, so together they compare C with Go.
OFELIA_NOTIFY_ORACLE=/path/to/notify-oracle skips the build."""
import filecmp
import hashlib
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SRC = ROOT / "tests" / "notify-oracle"
GOLDEN = ROOT / "tests" / "data" / "notify"


def build_oracle():
    if os.environ.get("OFELIA_NOTIFY_ORACLE"):
        return os.environ["OFELIA_NOTIFY_ORACLE"]
    if shutil.which("go") is None:
        raise unittest.SkipTest("go is not installed (apt-get install golang-go): no oracle")
    digest = hashlib.sha256()
    for name in ("main.go", "build.sh"):
        digest.update((SRC / name).read_bytes())
    final = Path(tempfile.gettempdir()) / ("ofelia-notify-oracle-" + digest.hexdigest()[:16])
    if not (final / "notify-oracle").exists():
        work = tempfile.mkdtemp(prefix="ofelia-notify-oracle-build-")
        subprocess.run([str(SRC / "build.sh"), work], check=True, stdout=subprocess.DEVNULL)
        try:
            os.rename(work, final)
        except OSError:  # another run got there first
            shutil.rmtree(work, ignore_errors=True)
    return str(final / "notify-oracle")


class NotifyOracle(unittest.TestCase):
    def test_goldens_are_what_go_renders(self):
        oracle = build_oracle()
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([oracle, str(ROOT / "presets"), out, "9.9.9"], check=True)
            made = sorted(os.listdir(out))
            self.assertEqual(made, sorted(os.listdir(GOLDEN)))
            match, mismatch, errors = filecmp.cmpfiles(out, GOLDEN, made, shallow=False)
            self.assertEqual((mismatch, errors), ([], []),
                             "regenerate: tests/notify-oracle/README.md")
