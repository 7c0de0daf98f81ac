#!/bin/sh
# Run the whole suite against the sanitizer build: criterion unit tests, the
# integration tests of the real binary, the HTTP abuse suite, the browser
# tests and the short campaigns. Exits non-zero if anything fails.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-python3}
export OFELIA_BIN="$PWD/$BUILD/asan/ofelia"
# Leaks and undefined behaviour fail the run; halt_on_error keeps reports short.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# A private Docker engine for the Docker tests (root only: without it they
# skip). OFELIA_TEST_SWARM=1 also puts it in swarm mode for service jobs.
engine=""
if [ "$(id -u)" -eq 0 ] && command -v dockerd >/dev/null; then
	engine=$(mktemp -d /tmp/ofelia-docker.XXXXXX)
	trap './tools/docker-engine.sh stop "$engine" >/dev/null 2>&1; rm -rf "$engine"' EXIT
	eval "$(OFELIA_TEST_DOCKER_TLS=1 ./tools/docker-engine.sh start "$engine")"
	export OFELIA_TEST_DOCKER_HOST="$DOCKER_HOST"
	export OFELIA_TEST_DOCKER_TLS_HOST="$DOCKER_TLS_HOST"
	export OFELIA_TEST_DOCKER_CERT_PATH="$DOCKER_TLS_CERT_PATH"
	unset DOCKER_HOST
else
	echo "== no Docker engine (needs root and dockerd): Docker tests will skip"
fi

status=0
echo "== module include rules and formatting"
./tools/check-deps.sh || status=1
clang-format --dry-run -Werror $(find src tests tools -name '*.[ch]') || status=1

# Unit tests, each integration module (those on the Docker engine
# together), the HTTP abuse suite, the browser tests and the short campaigns
# run side by side (tools/test-parallel.py; OFELIA_TEST_JOBS workers).
BUILD="$BUILD" PYTHON="$PYTHON" "$PYTHON" tools/test-parallel.py || status=1

exit $status
