#!/bin/sh
# Docker benchmarks (tools/bench/docker.py) on the release binary, against a
# private engine this script starts and stops. Needs root and dockerd; without
# them it says so and measures nothing. BENCH_QUICK=1 shortens it.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
if [ "$(id -u)" -ne 0 ] || ! command -v dockerd >/dev/null; then
	echo "docker: skipped (needs root and dockerd)"
	exit 0
fi
quick=""
[ "${BENCH_QUICK:-0}" = 1 ] && quick="--quick"
dir=$(mktemp -d /tmp/ofelia-bench-docker.XXXXXX)
trap './tools/docker-engine.sh stop "$dir" >/dev/null 2>&1; rm -rf "$dir"' EXIT
host=$(./tools/docker-engine.sh start "$dir" | sed -n 's/^DOCKER_HOST=//p')
python3 tools/bench/docker.py "$BUILD/release/ofelia" "$host" $quick
