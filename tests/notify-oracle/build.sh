#!/bin/sh
# Build the notification payload oracle (Go standard library only, offline).
# Usage: build.sh [OUTDIR]   (default /tmp/notify-oracle) -> OUTDIR/notify-oracle
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-/tmp/notify-oracle}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$OUT/src
command -v go >/dev/null || { echo "go not found: apt-get install golang-go" >&2; exit 1; }
rm -rf "$WORK"
mkdir -p "$WORK"
cp "$HERE/main.go" "$WORK/"
printf 'module notifyoracle\n\ngo 1.19\n' > "$WORK/go.mod"
cd "$WORK"
GO111MODULE=on GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off GOTOOLCHAIN=local \
GOCACHE="$OUT/gocache" GOPATH="$OUT/gopath" \
	go build -trimpath -o "$OUT/notify-oracle" .
echo "built $OUT/notify-oracle ($(go version | cut -d' ' -f3))"
