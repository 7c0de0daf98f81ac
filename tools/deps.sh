#!/bin/sh
# Install the Debian packages ofelia needs: `tools/deps.sh` for everything the
# build, the tests and the benchmarks use; `tools/deps.sh build` for the build
# alone (the Dockerfile). Safe to run twice: nothing installed is touched.
set -eu

BUILD_PKGS="
build-essential pkg-config python3 git
libh2o-evloop-dev libwslay-dev libssl-dev libsqlite3-dev libjansson-dev
libjwt-dev libcurl4-openssl-dev libyaml-dev uuid-dev libcrypt-dev tzdata
"
# tests: criterion, the cron oracle (Go + robfig/cron), a Docker engine and
# the busybox image it imports, promtool, sqlite3, a registry for the pull
# credentials test, debootstrap for the image test's base, Chromium for the
# browser tests of the web UI, etcd for the cluster tests; fuzzing: clang's
# libFuzzer; benchmarks: wrk; formatting: clang-format.
TEST_PKGS="
libcriterion-dev sqlite3 golang-go golang-github-robfig-cron-dev
docker.io apparmor busybox-static prometheus procps curl ca-certificates iproute2 openssl
docker-registry debootstrap e2fsprogs python3-aiosmtpd
clang libclang-rt-14-dev clang-format wrk chromium etcd-server etcd-client
"
# playwright-core (tests/ui, installed by `npm ci`) drives Chromium from
# Node.js: Debian's nodejs and npm unless a node is already on the PATH
# (tests/ui pins playwright-core 1.61, the last to run on Debian 12's 18).
NODE_PKGS=""
command -v node >/dev/null 2>&1 || NODE_PKGS="nodejs npm"
PKGS="$BUILD_PKGS"
[ "${1:-all}" = build ] || PKGS="$BUILD_PKGS $TEST_PKGS $NODE_PKGS"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# docker.io, docker-registry, prometheus and etcd-server would start system
# services (a dockerd with a bridge, a Prometheus on all interfaces, an etcd);
# the tests start their own, on a private socket and on 127.0.0.1. Debian's policy-rc.d keeps the packages'
# services from starting while they install.
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod 755 "$policy"
	made_policy=1
fi
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing || status=$?
[ -n "$made_policy" ] && $SUDO rm -f "$policy"
[ "${status:-0}" -eq 0 ] || exit "$status"
echo "deps: installed$missing"
