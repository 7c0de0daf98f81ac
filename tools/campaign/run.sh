#!/bin/sh
# The hardening campaigns against the real daemon: a kill -9 loop under load
# and the fault matrix (tools/campaign/*.py say what each checks).
#
#   tools/campaign/run.sh short   a few rounds and 3 s faults: part of make test
#   tools/campaign/run.sh long    200 kill -9 rounds, 12 s faults, the Docker
#                                 engine restart: make campaign (~15 min)
#
# OFELIA_BIN picks the binary (default build/asan/ofelia). Exits non-zero when
# an invariant broke; the figures of a long run go in CAMPAIGNS.md.
set -eu
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
mode=${1:-short}
status=0
case "$mode" in
short)
	"$PYTHON" tools/campaign/kill9.py --rounds 4 || status=1
	"$PYTHON" tools/campaign/faults.py || status=1
	;;
long)
	"$PYTHON" tools/campaign/kill9.py --rounds "${KILL9_ROUNDS:-200}" || status=1
	"$PYTHON" tools/campaign/faults.py --long || status=1
	;;
*)
	echo "usage: $0 short|long" >&2
	exit 2
	;;
esac
exit $status
