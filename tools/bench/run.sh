#!/bin/sh
# `make bench`: every benchmark, on the release build, printing figures as
# `name: value unit` lines. BENCHMARKS.md records a run and its command.
# BENCH_QUICK=1 shortens the long measurements.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
quick=""
[ "${BENCH_QUICK:-0}" = 1 ] && quick="--quick"

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, $(uname -r)"
for b in "$BUILD"/release/bench/*; do
	[ -x "$b" ] || continue
	echo "## $(basename "$b")"
	"$b"
done
echo "## scheduler and core"
python3 tools/bench/sched.py "$BUILD/release/ofelia" $quick
echo "## issue 13: disk writes per execution, bursts"
python3 tools/bench/perf.py "$BUILD/release/ofelia" $quick
echo "## store health"
python3 tools/bench/store_health.py "$BUILD/release/ofelia" $quick
echo "## login timing"
python3 tools/bench/login.py "$BUILD/release/ofelia" $quick
echo "## notifications"
python3 tools/bench/notify.py "$BUILD/release/ofelia" $quick
echo "## cluster"
python3 tools/bench/cluster.py "$BUILD/release/ofelia" $quick
echo "## retries and workflows"
python3 tools/bench/workflows.py "$BUILD/release/ofelia" $quick
for s in tools/bench/*.sh; do
	[ "$s" = tools/bench/run.sh ] && continue
	echo "## $(basename "$s" .sh)"
	BUILD=$BUILD sh "$s"
done
