#!/bin/sh
# A long fuzzing campaign of one libFuzzer target, at the lowest priority:
#   tools/fuzz-campaign.sh BIN SECONDS
# (make fuzz-campaign FUZZ_TARGET=fuzz_http FUZZ_CAMPAIGN_SECONDS=900 builds BIN.)
# The corpus the fuzzer grows is kept across campaigns in
# $BUILD/fuzz/campaign/<target> (seeded from tests/fuzz/corpus/<target>),
# crash inputs go to $BUILD/fuzz/campaign/<target>-crashes, and one line per
# campaign (executions, corpus, crashes) is added to
# tests/fuzz/campaigns/<target>.md. Exits non-zero when a crash was found.
# To keep what a campaign learned in the repository, minimize it into the
# seeds: BIN -merge=1 tests/fuzz/corpus/<target> $BUILD/fuzz/campaign/<target>
set -eu
cd "$(dirname "$0")/.."
bin=$1
seconds=$2
BUILD=${BUILD:-build}
name=$(basename "$bin")
dir="$BUILD/fuzz/campaign"
corpus="$dir/$name"
crashes="$dir/$name-crashes"
log="$dir/$name.log"
record="tests/fuzz/campaigns/$name.md"
mkdir -p "$corpus" "$crashes" "$(dirname "$record")"
seeds="tests/fuzz/corpus/$name"
[ -d "$seeds" ] || seeds=""

commit=$(git rev-parse --short HEAD)
echo "== $name: ${seconds}s at nice 19, corpus $corpus"
status=0
# -fork keeps fuzzing past a crash, so one campaign finds all it can.
nice -n 19 "$bin" -fork=1 -ignore_crashes=1 -max_total_time="$seconds" -print_final_stats=1 \
	-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$crashes/" "$corpus" $seeds \
	>"$log" 2>&1 || status=$?

# -fork prints "#N: cov: .. ft: .. corp: N/size exec/s: .. oom/timeout/crash: a/b/c time: ..s
# job: .. dft_time: .." lines; the last has the totals.
last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
execs=$(echo "$last" | sed -n 's/^#\([0-9]*\):.*/\1/p')
cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
corp=$(find "$corpus" -type f | wc -l)
found=$(find "$crashes" -type f | wc -l)
[ -s "$record" ] || {
	echo "# Fuzzing campaigns of $name"
	echo
	echo "One line per campaign of \`tools/fuzz-campaign.sh\` (\`make fuzz-campaign"
	echo "FUZZ_TARGET=$name FUZZ_CAMPAIGN_SECONDS=...\`), at nice 19 on the machine's spare CPU."
	echo "Executions are libFuzzer's count; corpus the inputs kept (in"
	echo "\`build/fuzz/campaign/$name\`, seeded from \`tests/fuzz/corpus/$name\`); crash inputs go to"
	echo "\`build/fuzz/campaign/$name-crashes\`."
	echo
	echo "| date (UTC) | commit | seconds | executions | coverage | corpus | crash inputs | notes |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
} >"$record"
echo "| $(date -u +%Y-%m-%dT%H:%MZ) | $commit | $seconds | ${execs:-?} |" \
	"${cov:-?} | $corp | $found | |" >>"$record"
tail -1 "$record"
if [ "$found" -gt 0 ] || [ $status -ne 0 ]; then
	echo "crash inputs in $crashes (log: $log)"
	exit 1
fi
