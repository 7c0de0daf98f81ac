#!/bin/sh
# Fail when a module includes a header it may not. The table is the module
# graph of docs/design.md: each module lists the project modules and the
# system libraries it may include. util is the base layer everyone may use.
set -eu
cd "$(dirname "$0")/.."

allowed() {
	case "$1" in
	util) echo "util" ;;
	tz) echo "util tz" ;;
	cron) echo "util tz cron" ;;
	job) echo "util tz cron job jansson" ;;
	config) echo "util tz cron job config yaml jansson" ;;
	loop) echo "util loop h2o" ;;
	events) echo "util loop events jansson" ;;
	store) echo "util tz cron job store sqlite3 jansson uuid" ;;
	lazycurl) echo "util lazycurl curl" ;;
	docker) echo "util docker openssl jansson" ;;
	runner) echo "util job docker runner jansson" ;;
	scheduler) echo "util tz cron job store runner events loop scheduler jansson uuid" ;;
	labels) echo "util job config docker loop scheduler labels jansson" ;;
	notify) echo "util job config notify lazycurl curl" ;;
	cluster) echo "util job config store loop cluster lazycurl curl jansson" ;;
	outbox) echo "util job config store notify events loop outbox jansson" ;;
	http) echo "util tz cron job config store scheduler events loop http h2o wslay jansson jwt uuid crypt" ;;
	cli) echo "*" ;;
	*) echo "" ;;
	esac
}

# lib_of maps a system header to the library name used in the table.
lib_of() {
	case "$1" in
	sqlite3.h) echo sqlite3 ;;
	h2o.h | h2o/*) echo h2o ;;
	wslay/*) echo wslay ;;
	curl/*) echo curl ;;
	openssl/*) echo openssl ;;
	jansson.h) echo jansson ;;
	jwt.h) echo jwt ;;
	yaml.h) echo yaml ;;
	uuid.h | uuid/*) echo uuid ;;
	crypt.h) echo crypt ;;
	*) echo libc ;;
	esac
}

status=0
for f in $(find src -name '*.[ch]' ! -path src/main.c); do
	module=$(echo "$f" | cut -d/ -f2)
	ok=$(allowed "$module")
	if [ -z "$ok" ]; then
		echo "$f: module \"$module\" is not in tools/check-deps.sh" >&2
		status=1
		continue
	fi
	[ "$ok" = "*" ] && continue
	for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$f"); do
		name=$(echo "$inc" | tr -d '<>"')
		case "$inc" in
		\"*) dep=$(echo "$name" | cut -d/ -f1) ;;
		*) dep=$(lib_of "$name") ;;
		esac
		[ "$dep" = libc ] && continue
		case " $ok " in
		*" $dep "*) ;;
		*)
			echo "$f: $module may not include $inc" >&2
			status=1
			;;
		esac
	done
done
[ $status -eq 0 ] && echo "check-deps: ok"
exit $status
