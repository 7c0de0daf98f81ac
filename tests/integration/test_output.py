"""What a job writes, end to end: NUL bytes stay visible, the tail of a huge
line without a newline is kept whole in `output`, and execution_logs has a
byte cap per execution whose overflow is counted."""
import os
import subprocess

from tests.integration.support import BIN, DaemonTest

PIECE = 16 * 1024  # RUNNER_MAX_LINE


class Output(DaemonTest):
    def run_job(self, script, extra_global=""):
        path = os.path.join(self.dir, "job.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + script)
        os.chmod(path, 0o755)
        cfg = os.path.join(self.dir, "ofelia.yaml")
        with open(cfg, "w") as f:
            f.write("global:\n%s\njobs:\n  job:\n    type: local\n    schedule: \"@manual\"\n"
                    "    command: %s\n" % (extra_global, path))
        p = subprocess.run([BIN, "run", "--db", os.path.join(self.dir, "ofelia.db"),
                            "--config", cfg, "job"], capture_output=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        return self.query("SELECT output, output_dropped, log_lines, dropped_lines "
                          "FROM executions")[0]

    def test_nul_bytes_are_escaped_not_cut(self):
        output, _, lines, _ = self.run_job("printf 'before\\000after\\n\\000\\000end'\n")
        self.assertEqual(output, "before\\0after\n\\0\\0end")
        self.assertEqual(lines, 2)
        self.assertEqual([m for (m,) in self.query("SELECT message FROM execution_logs "
                                                   "ORDER BY seq")],
                         ["before\\0after", "\\0\\0end"])

    def test_a_huge_line_without_newline_keeps_its_last_mib(self):
        # 24 MiB of NUL bytes, then a marker: before, `output` was empty.
        output, dropped, lines, _ = self.run_job(
            "head -c 25165824 /dev/zero\nprintf END\n", "  max-log-bytes: 64MiB")
        self.assertEqual(len(output.encode()), 1 << 20)
        self.assertTrue(output.endswith("\\0\\0END"), output[-20:])
        # The pieces of one line are joined again, without newlines.
        self.assertNotIn("\n", output)
        self.assertEqual(dropped, 2 * 25165824 + 3 - (1 << 20))
        self.assertGreater(lines, 1)

    def test_log_bytes_per_execution_are_capped_and_the_rest_counted(self):
        # 400 lines of 10 KiB: 4000 KiB, with a cap of 1 MiB.
        output, _, lines, dropped = self.run_job(
            "i=0; while [ $i -lt 400 ]; do head -c 10240 /dev/zero | tr '\\000' x; echo; "
            "i=$((i+1)); done\n", "  max-log-bytes: 1MiB")
        self.assertEqual(lines, 102)
        self.assertEqual(dropped, 400 - 102)
        stored = self.query("SELECT sum(length(message)) FROM execution_logs")[0][0]
        self.assertLessEqual(stored, 1 << 20)
