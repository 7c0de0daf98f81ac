#!/bin/sh
# Build the cron oracle offline against Debian's robfig/cron v3.0.1.
# Needs: apt-get install golang-go golang-github-robfig-cron-dev
# Usage: build.sh [OUTDIR]   (default /tmp/cron-oracle) -> OUTDIR/cron-oracle
#
# Debian ships the v3 module at /usr/share/gocode/src/github.com/robfig/cron
# (its go.mod says "module github.com/robfig/cron/v3"). GOPATH mode cannot
# resolve the /v3 import path from outside GOPATH, so we build in module mode
# with a local replace directive in a scratch copy under OUTDIR; no network.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
CRON_SRC=/usr/share/gocode/src/github.com/robfig/cron
OUT=${1:-/tmp/cron-oracle}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$OUT/src

command -v go >/dev/null || { echo "go not found: apt-get install golang-go" >&2; exit 1; }
[ -f "$CRON_SRC/parser.go" ] || { echo "missing $CRON_SRC: apt-get install golang-github-robfig-cron-dev" >&2; exit 1; }
grep -q '^module github.com/robfig/cron/v3' "$CRON_SRC/go.mod" || { echo "$CRON_SRC is not robfig/cron v3" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK"
cp "$HERE/main.go" "$WORK/"
cat > "$WORK/go.mod" <<MOD
module cronoracle

go 1.19

require github.com/robfig/cron/v3 v3.0.1

replace github.com/robfig/cron/v3 => $CRON_SRC
MOD

cd "$WORK"
GO111MODULE=on GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local \
GOCACHE="$OUT/gocache" GOPATH="$OUT/gopath" \
	go build -trimpath -o "$OUT/cron-oracle" .
echo "built $OUT/cron-oracle ($(go version | cut -d' ' -f3), robfig/cron $(dpkg-query -W -f='${Version}' golang-github-robfig-cron-dev 2>/dev/null || echo '?'))"
