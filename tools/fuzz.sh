#!/bin/sh
# Run each libFuzzer target for a bounded time: tools/fuzz.sh SECONDS BIN...
# Seeds come from tests/fuzz/corpus/<target>; what the fuzzer learns goes to a
# working corpus next to the binary, so the tree stays clean. A crash leaves
# its input in the working directory and fails the run.
set -eu
seconds=$1
shift
status=0
for bin in "$@"; do
	name=$(basename "$bin")
	work="$(dirname "$bin")/corpus/$name"
	mkdir -p "$work"
	seeds="tests/fuzz/corpus/$name"
	[ -d "$seeds" ] || seeds=""
	echo "== $name: ${seconds}s"
	if ! "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
		-rss_limit_mb=2048 "$work" $seeds 2>"$work.log"; then
		tail -50 "$work.log"
		status=1
	else
		grep -E 'stat::number_of_executed_units|stat::new_units_added' "$work.log" || true
	fi
done
exit $status
