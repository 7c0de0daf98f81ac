#!/bin/sh
# The web UI's browser tests (tests/ui): Debian's Chromium driven by
# playwright-core, against OFELIA_BIN (default: the sanitizer build). npm ci
# installs playwright-core from the committed lockfile when it is missing or
# stale; nothing else is downloaded (no browser: the system's is used).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export OFELIA_BIN="${OFELIA_BIN:-$PWD/$BUILD/asan/ofelia}"
export OFELIA_UI_SHOTS="${OFELIA_UI_SHOTS:-$PWD/$BUILD/ui-screenshots}"
export OFELIA_CHROMIUM="${OFELIA_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$OFELIA_CHROMIUM" ] || ! command -v node >/dev/null 2>&1; then
	echo "test-ui: needs $OFELIA_CHROMIUM and node (tools/deps.sh installs them)" >&2
	exit 1
fi
ui=tests/ui
if [ ! -f "$ui/node_modules/.package-lock.json" ] ||
	! cmp -s "$ui/package-lock.json" "$ui/node_modules/.lock-installed"; then
	(cd "$ui" && npm ci --no-audit --no-fund --loglevel=error) || exit 1
	cp "$ui/package-lock.json" "$ui/node_modules/.lock-installed"
fi
rm -rf "$OFELIA_UI_SHOTS"
# The test files run one after the other: each starts its own daemons.
node --test "$ui/ui.test.mjs"
