/* health: the daemon's heartbeat, and `ofelia health`, the container
 * image's HEALTHCHECK (no curl in the image).
 *
 * Every HEARTBEAT_NS the loop thread writes a row to the database (the
 * setting "heartbeat"), unless a commit succeeded since the last beat (the
 * scheduler's writes prove as much, and every write is disk wear); when
 * the database took a write it replaces the file
 * <database>.health, which holds the daemon's pid, the time and the web
 * address (if the web server is on). A wedged loop or a database that
 * cannot be written both leave the file to age. `ofelia health` finds the
 * database as the daemon does (the same flags and OFELIA_* variables),
 * checks the file's age and, with the web server on, asks GET
 * /health/readiness over loopback. A clean shutdown removes the file. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "loop/loop.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/log.h"
#include "util/xalloc.h"

#define HEARTBEAT_NS   (10 * NS_PER_SEC)
#define DEFAULT_MAX_NS (30 * NS_PER_SEC)
#define PROBE_TIMEOUT  3 /* seconds for the readiness request */

struct cli_heartbeat {
	struct loop_timer *timer;
	struct store *store;
	char *path, *tmp, *web;
	bool failing; /* the last beat could not be written (logged once) */
};

static char *health_path(const char *db)
{
	return xasprintf("%s.health", db);
}

static int write_file(struct cli_heartbeat *h)
{
	json_t *j = json_pack("{s:i,s:I,s:s?}", "pid", (int)getpid(), "time",
	                      (json_int_t)(clock_now_ns() / NS_PER_SEC), "web", h->web);
	int rc = json_dump_file(j, h->tmp, JSON_COMPACT);
	json_decref(j);
	if (rc == 0 && rename(h->tmp, h->path) < 0)
		rc = -1;
	return rc;
}

static void on_beat(void *arg)
{
	struct cli_heartbeat *h = arg;
	char now[32];
	int64_t t = clock_now_ns();
	snprintf(now, sizeof now, "%lld", (long long)(t / NS_PER_SEC));
	const char *what = NULL;
	bool written = store_writable(h->store) &&
	               store_last_commit_ns(h->store) > clock_mono_ns() - HEARTBEAT_NS;
	if (!written && store_setting_put(h->store, "heartbeat", now) < 0)
		what = store_errmsg(h->store);
	else if (write_file(h) < 0)
		what = strerror(errno);
	if (what && !h->failing)
		log_kv(LOG_WARN,
		       "heartbeat: cannot be recorded; `ofelia health` will report "
		       "unhealthy",
		       "error", what, "file", h->path, NULL);
	else if (!what && h->failing)
		log_kv(LOG_INFO, "heartbeat: recorded again", NULL);
	h->failing = what != NULL;
	loop_timer_after(h->timer, HEARTBEAT_NS);
}

struct cli_heartbeat *cli_heartbeat_start(struct loop *l, struct store *st, const char *db,
                                          const char *web_address)
{
	struct cli_heartbeat *h = xcalloc(1, sizeof *h);
	h->store = st;
	h->path = health_path(db);
	h->tmp = xasprintf("%s.tmp", h->path);
	h->web = web_address ? xstrdup(web_address) : NULL;
	h->timer = loop_timer_new(l, on_beat, h);
	on_beat(h);
	return h;
}

void cli_heartbeat_free(struct cli_heartbeat *h)
{
	if (h == NULL)
		return;
	loop_timer_free(h->timer);
	unlink(h->path);
	free(h->path);
	free(h->tmp);
	free(h->web);
	free(h);
}

/* ---- ofelia health ---- */

static const char usage[] =
    "usage: ofelia health [options]\n\n"
    "Checks the daemon that uses the database the options name (the daemon's own\n"
    "flags and OFELIA_* variables): its heartbeat, written every 5s after a\n"
    "database commit, is recent, and with the web server on, /health/readiness\n"
    "answers 200. For a container's HEALTHCHECK.\n\n"
    "exit status: 0 healthy, 1 unhealthy, 2 usage error\n";

/* probe asks GET /health/readiness of the daemon's web server on loopback;
 * returns the HTTP status, or -1 with the reason in err. */
static int probe(const char *address, char *err, size_t errlen)
{
	char host[256], port[16];
	const char *colon = strrchr(address, ':');
	size_t hl = colon ? (size_t)(colon - address) : 0;
	if (colon == NULL || hl >= sizeof host || strlen(colon + 1) >= sizeof port) {
		snprintf(err, errlen, "web address %s is not host:port", address);
		return -1;
	}
	memcpy(host, address, hl);
	host[hl] = '\0';
	snprintf(port, sizeof port, "%s", colon + 1);
	/* A wildcard address is reached on loopback. */
	const char *target = host;
	if (hl == 0 || strcmp(host, "0.0.0.0") == 0)
		target = "127.0.0.1";
	else if (strcmp(host, "[::]") == 0 || strcmp(host, "::") == 0)
		target = "::1";
	else if (host[0] == '[' && hl > 2) {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int gai = getaddrinfo(target, port, &hints, &ai);
	if (gai != 0) {
		snprintf(err, errlen, "%s: %s", address, gai_strerror(gai));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {PROBE_TIMEOUT, 0};
	int status = -1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
	    connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", address, strerror(errno));
		goto out;
	}
	char req[512], reply[64] = "";
	int n =
	    snprintf(req, sizeof req, "GET /health/readiness HTTP/1.0\r\nHost: %s%s%s:%s\r\n\r\n",
	             strchr(target, ':') ? "[" : "", target, strchr(target, ':') ? "]" : "", port);
	if (write(fd, req, (size_t)n) != n) {
		snprintf(err, errlen, "%s: cannot send: %s", address, strerror(errno));
		goto out;
	}
	ssize_t got = read(fd, reply, sizeof reply - 1);
	if (got <= 0 || sscanf(reply, "HTTP/%*d.%*d %d", &status) != 1) {
		snprintf(err, errlen, "%s: no answer within %ds", address, PROBE_TIMEOUT);
		status = -1;
	}
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return status;
}

/* check reads the heartbeat file beside db; 0 healthy, else 1 with the
 * reason printed. */
static int check(const char *db, int64_t max_ns)
{
	char *path = health_path(db), err[512];
	json_error_t jerr;
	json_t *j = json_load_file(path, 0, &jerr);
	int rc = CLI_FAIL;
	if (j == NULL) {
		printf("unhealthy: no heartbeat in %s (%s): is the daemon running on %s?\n", path,
		       jerr.text, db);
		goto out;
	}
	json_int_t at = json_integer_value(json_object_get(j, "time"));
	int64_t age = clock_now_ns() / NS_PER_SEC - (int64_t)at;
	if (age * NS_PER_SEC > max_ns) {
		printf("unhealthy: the last heartbeat is %llds old: the daemon is wedged or cannot "
		       "write its database %s\n",
		       (long long)age, db);
		goto out;
	}
	const char *web = json_string_value(json_object_get(j, "web"));
	if (web) {
		int status = probe(web, err, sizeof err);
		if (status != 200) {
			if (status < 0)
				printf("unhealthy: readiness: %s\n", err);
			else
				printf("unhealthy: readiness answered %d\n", status);
			goto out;
		}
	}
	printf("healthy: heartbeat %llds ago%s\n", (long long)age, web ? ", readiness 200" : "");
	rc = CLI_OK;
out:
	json_decref(j);
	free(path);
	return rc;
}

int cli_health(int argc, char **argv)
{
	struct cli_settings opts;
	struct cli_opt table[CLI_SETTINGS_MAX + 1];
	char *max_age = NULL, err[128];
	int64_t max_ns = DEFAULT_MAX_NS;
	cli_settings_init(&opts);
	size_t n = cli_settings_options(&opts, table);
	table[n++] =
	    (struct cli_opt){"max-age",  0,        "OFELIA_HEALTH_MAX_AGE",
	                     CLI_STRING, &max_age, "oldest heartbeat that is healthy (default 30s)",
	                     NULL,       NULL};
	int npos;
	bool help;
	int rc = cli_parse(argc, argv, table, n, usage, &npos, &help);
	if (rc < 0 && npos > 0) {
		fprintf(stderr, "ofelia health: unexpected argument \"%s\"\n", argv[0]);
		rc = CLI_USAGE;
	}
	if (rc < 0 && max_age &&
	    (duration_parse(max_age, &max_ns, err, sizeof err) < 0 || max_ns <= 0)) {
		fprintf(stderr, "ofelia health: --max-age: \"%s\" is not a duration\n", max_age);
		rc = CLI_USAGE;
	}
	if (rc < 0) {
		/* Only the database is wanted: the config's messages are the
		 * daemon's to print. */
		struct config_diag diag = {STRV_INIT, STRV_INIT};
		char *path = NULL;
		struct config *c = cli_config_load(&opts, &diag, &path);
		if (c == NULL) {
			printf("unhealthy: the config %s does not load\n", path ? path : "");
			rc = CLI_FAIL;
		} else {
			char *db = cli_db_path(opts.db, c);
			rc = check(db, max_ns);
			free(db);
		}
		config_free(c);
		config_diag_free(&diag);
		free(path);
	}
	free(max_age);
	cli_settings_fini(&opts);
	return rc;
}
