#!/bin/sh
# Memory of the container image as `docker stats` shows it, beside the
# daemon's RSS and PSS read from /proc: the image make test-image built
# (ofelia:test) on its private engine, idle with 100 local jobs, then with
# three jobs every 5 s. Needs root and that image; skips without them.
# Prints `name: value unit` lines.
set -eu
cd "$(dirname "$0")/../.."
cache=${OFELIA_IMAGE_CACHE:-/var/cache/ofelia-image}
engine=$cache/engine
image=${OFELIA_IMAGE:-ofelia:test}
settle=${IMAGE_MEMORY_SETTLE:-65}
if [ "$(id -u)" -ne 0 ] || [ ! -d "$engine" ]; then
	echo "image_memory: skipped (needs root and the engine of make test-image)"
	exit 0
fi
export OFELIA_DOCKER_KEEP_DATA=1
work=$(mktemp -d)
trap 'docker rm -f ofelia-memory >/dev/null 2>&1 || true; ./tools/docker-engine.sh stop "$engine" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
eval "$(./tools/docker-engine.sh start "$engine")"
export DOCKER_HOST DOCKER_CONFIG="$engine/cli"
if ! docker image inspect "$image" >/dev/null 2>&1; then
	echo "image_memory: skipped ($image is not built: make test-image)"
	exit 0
fi

# measure NAME: runs the image on $work/config.ini for $settle seconds.
measure()
{
	docker run -d --name ofelia-memory --network none \
		-v "$work/config.ini:/etc/ofelia/config.ini:ro" "$image" >/dev/null
	sleep "$settle"
	init=$(docker inspect -f '{{.State.Pid}}' ofelia-memory)
	pid=$(pgrep -P "$init" ofelia)
	echo "${1}_docker_stats: $(docker stats --no-stream --format '{{.MemUsage}}' ofelia-memory | cut -d/ -f1)"
	echo "${1}_rss: $(awk '/^VmRSS/{print $2}' "/proc/$pid/status") kB"
	echo "${1}_pss: $(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup") kB"
	docker rm -f ofelia-memory >/dev/null
}

i=0
: >"$work/config.ini"
while [ $i -lt 100 ]; do
	printf '[job-local "idle-%d"]\nschedule = 0 %d %d %d %d *\ncommand = true\n' \
		$i $((i % 60)) $((i / 60 % 24)) $((1 + i % 28)) $((1 + i % 12)) >>"$work/config.ini"
	i=$((i + 1))
done
measure image_idle_100_jobs

: >"$work/config.ini"
for i in 0 1 2; do
	printf '[job-local "busy-%d"]\nschedule = @every 5s\ncommand = sh -c "echo working && date"\n' \
		$i >>"$work/config.ini"
done
measure image_three_jobs_every_5s
