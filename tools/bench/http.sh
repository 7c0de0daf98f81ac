#!/bin/sh
# The HTTP API under wrk, on 127.0.0.1, against a release build:
#   1. GET /api/jobs with 100 jobs                  (goal >= 30,000 req/s, p99 < 5 ms)
#   2. GET /api/job/{name} with 1,000,000 executions (goal p99 < 2 ms), as the
#      UI polls it (kept pages) and with every request different (uncached)
#   3. the same while the 100 jobs run every second
#   4. GET /api/jobs over 1,000 connections          (goal: no errors)
# Prints `name: value` lines. The rate limit is raised in the bench config
# so it does not shape the figures.
#
#   tools/bench/http.sh                 uses $BUILD/release/ofelia (BUILD=build)
#   OFELIA_BIN=... BENCH_SECONDS=10 tools/bench/http.sh
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
BIN=${OFELIA_BIN:-$PWD/$BUILD/release/ofelia}
SECONDS_EACH=${BENCH_SECONDS:-10}
ROWS=${BENCH_EXECUTIONS:-1000000}

[ -x "$BIN" ] || { echo "http.sh: $BIN not built (make BUILD=$BUILD $BUILD/release/ofelia)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "http.sh: wrk is not installed" >&2; exit 1; }
# 1,000 connections need as many descriptors, in wrk and in the daemon.
ulimit -n 65536 2>/dev/null || ulimit -n 8192

work=$(mktemp -d /tmp/ofelia-bench-http-XXXXXX)
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# write_config SCHEDULE: 100 local jobs on SCHEDULE.
write_config() {
	{
		printf 'global:\n  max-concurrent: 100\n  max-queue: 1000\n'
		printf 'web:\n  rate-limit:\n    requests-per-minute: 1000000000\n'
		printf '    burst: 1000000000\njobs:\n'
		i=0
		while [ $i -lt 100 ]; do
			printf '  job-%03d:\n    type: local\n    schedule: "%s"\n    command: "true"\n' \
				$i "$1"
			i=$((i + 1))
		done
	} >"$work/ofelia.yaml"
}

start() {
	"$BIN" daemon --config "$work/ofelia.yaml" --db "$work/ofelia.db" --enable-web \
		--web-address 127.0.0.1:0 >"$work/daemon.log" 2>&1 &
	pid=$!
	port=""
	tries=0
	while [ -z "$port" ]; do
		tries=$((tries + 1))
		if [ $tries -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
			echo "http.sh: the daemon did not start:" >&2
			cat "$work/daemon.log" >&2
			exit 1
		fi
		sleep 0.05
		port=$(sed -n 's/.*msg=listening address=127\.0\.0\.1:\([0-9]*\).*/\1/p' \
			"$work/daemon.log" | head -1)
	done
}

stop() {
	kill -TERM "$pid"
	wait "$pid" || true
	pid=""
}

# cpu_ticks: user + system time the daemon has used, in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$pid/stat"
}

# A wrk script whose every request differs by an ignored parameter: no
# answer is served from the API's kept pages, so this measures rendering.
cat >"$work/uncached.lua" <<'EOF'
local n = 0
request = function()
	n = n + 1
	return wrk.format(nil, wrk.path .. "?limit=20&n=" .. n)
end
EOF

# bench NAME CONNECTIONS PATH [WRK_ARGS]: wrk figures as name_rps, name_p99_ms,
# name_errors, and the daemon's CPU time per request (name_cpu_us), which
# does not depend on what else the machine is doing.
bench() {
	before=$(cpu_ticks)
	wrk -t2 -c"$2" -d"${SECONDS_EACH}s" --latency ${4:-} "http://127.0.0.1:$port$3" \
		>"$work/wrk.txt"
	after=$(cpu_ticks)
	awk -v name="$1" -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
		function ms(v) {
			if (v ~ /us$/) return v / 1000
			if (v ~ /ms$/) return v + 0
			if (v ~ /s$/) return v * 1000
			return v
		}
		$1 == "99%" { p99 = ms($2) }
		$1 == "Requests/sec:" { rps = $2 }
		/Socket errors/ { gsub(",", ""); errors = $4 + $6 + $8 + $10 }
		/Non-2xx/ { non2xx = $NF }
		/requests in/ { requests = $1 }
		END {
			printf "%s_rps: %d\n%s_p99_ms: %.2f\n", name, rps, name, p99
			printf "%s_errors: %d\n", name, errors + non2xx
			printf "%s_cpu_us: %.1f\n", name, requests ? ticks / hz * 1e6 / requests : 0
		}' "$work/wrk.txt"
}

# Other work on the machine shows in rps and p99, not in cpu_us.
echo "load_average_before: $(cut -d' ' -f1 /proc/loadavg)"
write_config "@every 1h"
start
bench jobs_list_100 32 /api/jobs
stop

# 1,000,000 executions of job-000, written straight into the schema the
# daemon created (migrations/0001_init.sql), over the last days so the
# default retention (90 days) keeps them.
python3 - "$work/ofelia.db" "$ROWS" <<'EOF'
import datetime, random, sqlite3, sys, time, uuid
path, n = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
now = time.time()
rnd = random.Random(1)

def iso(t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)

def rows():
    for i in range(n):
        start = now - (n - i) * 0.5
        dur = rnd.randint(1_000_000, 900_000_000)
        yield (str(uuid.UUID(int=rnd.getrandbits(128), version=4)), iso(start),
               iso(start + dur / 1e9), dur, "run %d done" % i, iso(start))

with db:
    db.executemany(
        "INSERT INTO executions (id, job_name, job_type, status, trigger, start_time, "
        "end_time, duration_ns, exit_code, output, log_lines, created_at) "
        "VALUES (?, 'job-000', 'local', 'success', 'manual', ?, ?, ?, 0, ?, 1, ?)", rows())
    db.execute("INSERT OR REPLACE INTO job_counters (job_name, status, count) "
               "VALUES ('job-000', 'success', ?)", (n,))
    db.execute("INSERT OR REPLACE INTO job_metrics (job_name, duration_sum_ns, duration_count, "
               "last_success) VALUES ('job-000', ?, ?, ?)", (n * 450_000_000, n, iso(now)))
db.close()
EOF
echo "executions_stored: $ROWS"

start
bench job_detail_1m 32 /api/job/job-000
bench job_detail_1m_uncached 32 /api/job/job-000 "-s $work/uncached.lua"
stop

write_config "@every 1s"
start
sleep 2
bench job_detail_1m_busy 32 /api/job/job-000
stop

write_config "@every 1h"
start
bench connections_1000 1000 /api/jobs
stop
echo "load_average_after: $(cut -d' ' -f1 /proc/loadavg)"
