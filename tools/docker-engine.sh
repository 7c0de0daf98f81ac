#!/bin/sh
# A private Docker engine for tests, isolated from any system dockerd:
#
#   tools/docker-engine.sh start DIR   prints DOCKER_HOST=unix://DIR/docker.sock
#   tools/docker-engine.sh stop DIR    stops it, unmounts and removes its files
#
# Everything the engine writes lives under DIR (socket, data root, exec root,
# pid file, its own containerd), so several engines can run side by side. It
# has no networking beyond the loopback: no bridge, no iptables rules, no
# ip_forward change, no userland proxy. Test containers use network mode none.
#
# No image can be pulled on the test machines, so start imports busybox:local
# from Debian's busybox-static: /bin/busybox, its applet links in /bin, and an
# /etc/passwd with root and nobody (exec jobs default to user nobody). The
# image has no Cmd and no Entrypoint, like STACK.md's: callers always pass a
# command, and a create without one fails with 400 "No command specified".
#
# Needs root, dockerd (docker.io), docker (CLI), curl, python3, openssl (for
# TLS) and busybox-static.
# OFELIA_DOCKER_START_TIMEOUT (seconds, default 60) bounds the wait for /_ping.
# OFELIA_TEST_DOCKER_TLS=1 also listens on tcp://127.0.0.1:PORT with TLS
# (client certificate required) and prints DOCKER_TLS_HOST=tcp://127.0.0.1:PORT
# and DOCKER_TLS_CERT_PATH=DIR/tls (ca.pem, cert.pem, key.pem) after DOCKER_HOST.
# OFELIA_TEST_SWARM=1 also turns the engine into a one-node swarm (advertised
# on 127.0.0.1) for the opt-in service tests; swarm mode adds a bridge,
# docker_gwbridge, to the host, which stop removes again.
# OFELIA_DOCKER_KEEP_DATA=1 (for stop, and start, which stops leftovers) keeps
# the data root DIR/data, so images and build layers outlive the engine
# (make test-image caches its base image and build this way).
# stop keeps DIR/dockerd.log for post-mortems; safe to run twice.
set -eu

usage()
{
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}

die()
{
	echo "docker-engine: $*" >&2
	exit 1
}

[ $# -eq 2 ] || usage
cmd=$1
case "$2" in
/*) dir=$2 ;;
*) dir=$PWD/$2 ;;
esac
dir=${dir%/}
case "$dir" in
*[[:space:]]*) die "DIR may not contain white space: $dir" ;;
esac
# The longest socket the engine makes is its containerd's ttrpc socket; unix
# socket paths are limited to 107 bytes.
[ ${#dir} -le 70 ] || die "DIR is too long for unix socket paths (max 70 bytes): $dir"

sock=$dir/docker.sock
pidfile=$dir/docker.pid
log=$dir/dockerd.log
host=unix://$sock
# One containerd namespace per engine: if a system containerd runs, dockerd
# uses it instead of starting its own, and engines must not see each other's
# containers there.
ns=ofelia-$(printf '%s' "$dir" | sha1sum | cut -c1-12)

# cli SECONDS ARGS...: the docker CLI, bounded in time, talking to this engine
# only and keeping its config under DIR.
cli()
{
	t=$1
	shift
	env -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH -u DOCKER_CONTEXT \
		DOCKER_HOST="$host" DOCKER_CONFIG="$dir/cli" timeout "$t" docker "$@"
}

ping_ok()
{
	[ -S "$sock" ] && curl -fsS --max-time 2 --unix-socket "$sock" http://localhost/_ping \
		>/dev/null 2>&1
}

# alive PID: the process exists and is not a zombie (dockerd's parent may be
# an init that does not reap, so a dead dockerd can linger as a zombie).
alive()
{
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/^.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# ours PID: the process runs with this engine's paths on its command line, so
# a stale pid file never makes us signal an unrelated process.
ours()
{
	alive "$1" && tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF "$dir/"
}

# terminate PID WHAT: SIGTERM, up to 20 s for it to exit, then SIGKILL.
terminate()
{
	kill -TERM "$1" 2>/dev/null || return 0
	i=0
	while alive "$1" && [ $i -lt 200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if alive "$1"; then
		echo "docker-engine: $2 ($1) ignored SIGTERM for 20s, sending SIGKILL" >&2
		kill -KILL "$1" 2>/dev/null || true
		i=0
		while alive "$1" && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
	fi
}

stop_engine()
{
	if ping_ok; then
		# Containers would get their own stop timeout (10 s by default)
		# during dockerd's shutdown; tests need none of it.
		ids=$(cli 10 ps -q 2>/dev/null || true)
		if [ -n "$ids" ]; then
			# shellcheck disable=SC2086 # one argument per id
			cli 20 kill $ids >/dev/null 2>&1 || true
		fi
		# Swarm mode (opt-in tests) makes docker_gwbridge, a bridge in the
		# host's namespace that would outlive the engine.
		if [ "$(cli 10 info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" = active ]; then
			cli 30 swarm leave --force >/dev/null 2>&1 || true
			cli 30 network rm docker_gwbridge >/dev/null 2>&1 || true
		fi
	fi
	if [ -r "$pidfile" ] && ours "$(cat "$pidfile")"; then
		terminate "$(cat "$pidfile")" dockerd
	fi

	# After a SIGKILL, dockerd's own containerd and the container shims may
	# outlive it: stop the containers through runc, then containerd.
	if [ -d "$dir/exec/runtime-runc" ]; then
		for root in "$dir"/exec/runtime-runc/*; do
			[ -d "$root" ] || continue
			for id in $(runc --root "$root" list -q 2>/dev/null); do
				runc --root "$root" delete --force "$id" >/dev/null 2>&1 || true
			done
		done
	fi
	cpid=$dir/exec/containerd/containerd.pid
	if [ -r "$cpid" ] && ours "$(cat "$cpid")"; then
		terminate "$(cat "$cpid")" containerd
	fi
	# Shims name their containerd's socket on their command line.
	csock=$dir/exec/containerd/containerd.sock
	if [ -d "$dir/exec/containerd" ]; then
		for f in $(grep -alsF -- "$csock" /proc/[0-9]*/cmdline || true); do
			pid=${f#/proc/}
			pid=${pid%/cmdline}
			[ "$pid" = $$ ] || kill -KILL "$pid" 2>/dev/null || true
		done
	fi

	# Overlay, netns and shm mounts under DIR, deepest first (DIR has no
	# white space, so neither have they).
	# shellcheck disable=SC2013
	for m in $(awk -v d="$dir/" 'index($5, d) == 1 { print length($5), $5 }' /proc/self/mountinfo |
		sort -rn | cut -d' ' -f2); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "docker-engine: cannot unmount $m" >&2
	done
	keep=""
	[ "${OFELIA_DOCKER_KEEP_DATA:-}" = 1 ] || keep="$dir/data"
	# shellcheck disable=SC2086 # $keep is empty or one path
	rm -rf --one-file-system $keep "$dir/exec" "$dir/rootfs" "$dir/cli" "$dir/tls" \
		"$dir/daemon.json" "$sock" "$pidfile"
}

fail_start()
{
	echo "docker-engine: $1; last lines of $log:" >&2
	tail -n 30 "$log" >&2 || true
	if [ -n "${dpid:-}" ] && alive "$dpid"; then
		terminate "$dpid" dockerd
	fi
	stop_engine
	exit 1
}

import_busybox()
{
	busybox=$(command -v busybox || true)
	[ -n "$busybox" ] || fail_start "busybox not found (install busybox-static)"
	# A dynamic busybox (Debian's busybox package) cannot run in an empty root.
	if ldd "$busybox" >/dev/null 2>&1; then
		fail_start "$busybox is dynamically linked (install busybox-static)"
	fi
	root=$dir/rootfs
	rm -rf "$root"
	mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/tmp"
	chmod 1777 "$root/tmp"
	cp "$busybox" "$root/bin/busybox"
	# One process for the ~400 links: a fork per ln costs seconds on a busy CI.
	"$busybox" --list | python3 -c '
import os, sys
for a in sys.stdin.read().split():
    if a != "busybox":
        os.symlink("busybox", os.path.join(sys.argv[1], a))
' "$root/bin" || fail_start "cannot make the applet links"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
		>"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	tar -C "$root" -cf - . | cli 120 import - busybox:local >/dev/null ||
		fail_start "docker import of busybox:local failed"
	rm -rf "$root"
}

# make_tls writes a CA, a server certificate for 127.0.0.1 and a client
# certificate (ca.pem, cert.pem, key.pem: what DOCKER_CERT_PATH holds) to
# DIR/tls, and picks a free port for the TLS listener.
make_tls()
{
	t=$dir/tls
	mkdir -p "$t"
	ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
	# shellcheck disable=SC2086 # $ec holds several options
	(
		cd "$t" &&
			openssl req -x509 $ec -days 7 -subj /CN=ofelia-test-ca -keyout ca-key.pem -out ca.pem &&
			openssl req $ec -subj /CN=localhost -keyout server-key.pem -out server.csr &&
			printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext &&
			openssl x509 -req -days 7 -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
				-extfile server.ext -out server.pem &&
			openssl req $ec -subj /CN=ofelia-test-client -keyout key.pem -out client.csr &&
			printf 'extendedKeyUsage=clientAuth\n' >client.ext &&
			openssl x509 -req -days 7 -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
				-extfile client.ext -out cert.pem
	) >"$t/openssl.log" 2>&1 || fail_start "cannot make TLS certificates (see $t/openssl.log)"
	tls_port=$((23760 + 0x$(printf '%s' "$dir" | sha1sum | cut -c1-3) % 1000))
	while ss -Hltn "sport = :$tls_port" | grep -q .; do
		tls_port=$((tls_port + 1))
	done
}

start_engine()
{
	[ "$(id -u)" -eq 0 ] || die "dockerd needs root"
	command -v dockerd >/dev/null || die "dockerd not found (install docker.io)"
	# With AppArmor on, dockerd confines containers in its docker-default
	# profile, which it cannot load without the parser; every start would
	# then fail. docker.io only recommends the package.
	if grep -qs Y /sys/module/apparmor/parameters/enabled &&
		! command -v apparmor_parser >/dev/null && [ ! -x /sbin/apparmor_parser ]; then
		die "AppArmor is enabled but apparmor_parser is missing (install apparmor)"
	fi
	if [ -r "$pidfile" ] && ours "$(cat "$pidfile")" && ping_ok; then
		echo "docker-engine: already running in $dir" >&2
		echo "DOCKER_HOST=$host"
		return 0
	fi
	# Leftovers of an engine that died without stop.
	stop_engine
	mkdir -p "$dir"
	echo '{}' >"$dir/daemon.json"
	: >"$log"

	set --
	if [ "${OFELIA_TEST_DOCKER_TLS:-}" = 1 ]; then
		make_tls
		set -- --host "tcp://127.0.0.1:$tls_port" --tlsverify --tlscacert "$dir/tls/ca.pem" \
			--tlscert "$dir/tls/server.pem" --tlskey "$dir/tls/server-key.pem"
	fi
	env -u DOCKER_HOST -u DOCKER_TLS_VERIFY -u DOCKER_CERT_PATH \
		setsid dockerd "$@" \
		--host "$host" \
		--data-root "$dir/data" \
		--exec-root "$dir/exec" \
		--pidfile "$pidfile" \
		--config-file "$dir/daemon.json" \
		--containerd-namespace "$ns" \
		--containerd-plugins-namespace "$ns-plugins" \
		--bridge=none --iptables=false --ip-masq=false --ip-forward=false \
		--userland-proxy=false \
		</dev/null >>"$log" 2>&1 &
	dpid=$!

	timeout=${OFELIA_DOCKER_START_TIMEOUT:-60}
	i=0
	until ping_ok; do
		alive "$dpid" || fail_start "dockerd exited during start-up"
		[ $i -lt $((timeout * 10)) ] || fail_start "no answer on $sock after ${timeout}s"
		sleep 0.1
		i=$((i + 1))
	done

	cli 30 image inspect busybox:local >/dev/null 2>&1 || import_busybox
	if [ "${OFELIA_TEST_SWARM:-}" = 1 ] &&
		[ "$(cli 10 info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
		cli 60 swarm init --advertise-addr 127.0.0.1 >/dev/null ||
			fail_start "docker swarm init failed"
	fi
	echo "DOCKER_HOST=$host"
	if [ -n "${tls_port:-}" ]; then
		echo "DOCKER_TLS_HOST=tcp://127.0.0.1:$tls_port"
		echo "DOCKER_TLS_CERT_PATH=$dir/tls"
	fi
}

case "$cmd" in
start) start_engine ;;
stop) stop_engine ;;
*) usage ;;
esac
