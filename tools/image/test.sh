#!/bin/sh
# make test-image: build the container image for real and run the image
# tests (tests/image) against it, on a private Docker engine.
#
# No registry is reachable here, so the base image is made with debootstrap
# (tools/image/base.sh) and imported as debian:12 and debian:12-slim; the
# build runs `docker build --network host` (apt-get in the build reaches
# Debian's archive through the host). The engine keeps its data root in
# CACHE (default /var/cache/ofelia-image) between runs, so a second run
# reuses the base image and the package layers and only compiles.
#
# Needs root, dockerd, debootstrap and python3. Prints how long each step
# took. Exits non-zero if anything fails.
set -eu
cd "$(dirname "$0")/../.."
cache=${OFELIA_IMAGE_CACHE:-/var/cache/ofelia-image}
engine=$cache/engine
image=${OFELIA_IMAGE:-ofelia:test}
[ "$(id -u)" -eq 0 ] || { echo "test-image: needs root (dockerd, debootstrap)" >&2; exit 1; }
mkdir -p "$cache"

t0=$(date +%s)
step()
{
	echo "== test-image: $1 ($(($(date +%s) - t0))s)"
}

export OFELIA_DOCKER_KEEP_DATA=1
trap './tools/docker-engine.sh stop "$engine" >/dev/null 2>&1 || true' EXIT
eval "$(./tools/docker-engine.sh start "$engine")"
export DOCKER_HOST DOCKER_CONFIG="$engine/cli"

step "base image"
if ! docker image inspect debian:12-slim >/dev/null 2>&1; then
	./tools/image/base.sh "$cache/debian-12-slim.tar"
	docker import "$cache/debian-12-slim.tar" debian:12-slim >/dev/null
fi
docker tag debian:12-slim debian:12

step "docker build"
DOCKER_BUILDKIT=0 docker build --network host -q \
	--build-arg COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	-t "$image" . >/dev/null
# Layers of earlier builds are no longer tagged: drop them, keep the cache small.
docker image prune -f >/dev/null
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$image"

step "image tests"
OFELIA_TEST_IMAGE=$image OFELIA_TEST_DOCKER_HOST=$DOCKER_HOST \
	python3 -m unittest discover -s tests/image -t . -v
step "done"
