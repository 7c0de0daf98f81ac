#!/bin/sh
# The base image the Dockerfile builds on, made here: no registry is
# reachable from the test machines, so debian:12-slim is built with
# debootstrap from Debian's archive and kept as a tarball for `docker import`.
#
#   tools/image/base.sh TARBALL     makes TARBALL unless it exists
#
# It is Debian 12's minbase with what the official -slim images leave out
# (documentation, man pages, locales other than C) excluded for dpkg, and
# apt's package cache switched off, as debuerreotype's slim variant does.
# The same tarball is imported as debian:12 and debian:12-slim: the build
# stage installs what it needs on top, so it needs nothing the full image
# has and slim has not.
# MIRROR (default http://deb.debian.org/debian) is the archive to use.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 TARBALL" >&2; exit 2; }
out=$1
[ -s "$out" ] && exit 0
[ "$(id -u)" -eq 0 ] || { echo "base.sh: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "base.sh: install debootstrap" >&2; exit 1; }
mirror=${MIRROR:-http://deb.debian.org/debian}
mkdir -p "$(dirname "$out")"
root=$(mktemp -d "$(dirname "$out")/rootfs.XXXXXX")
trap 'rm -rf --one-file-system "$root"' EXIT

debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
	echo "base.sh: debootstrap failed; last lines of $root.log:" >&2
	tail -n 20 "$root.log" >&2
	exit 1
}
rm -f "$root.log"

cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
CFG
find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root/usr/share/man"/* "$root/usr/share/info"/* "$root/usr/share/locale"/* \
	"$root/usr/share/groff"/* "$root/usr/share/lintian"/*
printf 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };\nAPT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' \
	>"$root/etc/apt/apt.conf.d/docker-clean"
printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
printf 'APT::Install-Recommends "false";\n' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
cat >"$root/etc/apt/sources.list" <<LIST
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
LIST
rm -rf "$root/var/lib/apt/lists"/* "$root/var/cache/apt"/*.bin "$root/var/cache/apt/archives"/*.deb \
	"$root/var/log"/*.log "$root/var/log/apt"/* "$root/tmp"/* "$root/root/.cache"
: >"$root/etc/machine-id"

tar --numeric-owner --xattrs -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
