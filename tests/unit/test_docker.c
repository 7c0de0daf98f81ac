/* The Engine API client against a real Docker engine: the private one of
 * tools/docker-engine.sh, whose address tools/test.sh puts in
 * OFELIA_TEST_DOCKER_HOST. Without it these tests are skipped. Containers
 * use busybox:local and network none, are named ofelia-unit-<pid>-..., carry
 * the label ofelia-unit=<pid>, and are removed by each test's fini.
 *
 * Where a real engine cannot produce a case (an older API, an error line in
 * a pull stream), a tiny HTTP server in a thread plays its part: an old
 * "engine" on a unix socket, or a registry on 127.0.0.1 that the real
 * engine pulls from. Swarm tests run only with OFELIA_TEST_SWARM=1. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "docker/docker.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/strv.h"
#include "util/xalloc.h"

static const char *engine_host(void)
{
	const char *h = getenv("OFELIA_TEST_DOCKER_HOST");
	return h && *h ? h : NULL;
}

static struct docker *d;
static char label[64]; /* "ofelia-unit=<pid>" */

static void setup(void)
{
	if (!engine_host())
		return;
	char err[256];
	d = docker_new(engine_host(), err, sizeof err);
	cr_assert_not_null(d, "%s", err);
	snprintf(label, sizeof label, "ofelia-unit=%d", (int)getpid());
}

/* Removes what the test made, also when it failed half-way. */
static void teardown(void)
{
	if (!d)
		return;
	docker_cancel_clear(d);
	docker_set_deadline(d, 0);
	struct strv f = STRV_INIT;
	strv_push(&f, label);
	struct docker_container_list l;
	if (docker_container_list(d, &f, true, &l) == 0) {
		for (size_t i = 0; i < l.n; i++)
			docker_container_remove(d, l.v[i].id, true, true);
		docker_container_list_fini(&l);
	}
	strv_free(&f);
	docker_free(d);
	d = NULL;
}

TestSuite(docker, .init = setup, .fini = teardown, .timeout = 120);

#define NEED_ENGINE()                                                                              \
	do {                                                                                       \
		if (!engine_host())                                                                \
			cr_skip_test("OFELIA_TEST_DOCKER_HOST is not set; tools/test.sh starts "   \
			             "an engine (tools/docker-engine.sh start DIR)");              \
	} while (0)

static char *unique(const char *what)
{
	return xasprintf("ofelia-unit-%d-%s", (int)getpid(), what);
}

/* strv_of builds a list from NULL-terminated arguments. */
static struct strv strv_of(const char *first, ...)
{
	struct strv sv = STRV_INIT;
	va_list ap;
	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		strv_push(&sv, s);
	va_end(ap);
	return sv;
}

/* create makes a labelled busybox container running sh -c script. */
static char *create(const char *name, const char *script, bool tty)
{
	struct strv cmd = strv_of("sh", "-c", script, NULL);
	struct strv labels = strv_of(label, "com.docker.compose.service=web", NULL);
	char *cname = unique(name);
	struct docker_container_spec spec = {
	    .name = cname,
	    .image = "busybox:local",
	    .cmd = &cmd,
	    .labels = &labels,
	    .network_mode = "none",
	    .tty = tty,
	};
	char *id = NULL;
	cr_assert_eq(docker_container_create(d, &spec, &id), 0, "%s", docker_errmsg(d));
	strv_free(&cmd);
	strv_free(&labels);
	free(cname);
	return id;
}

/* Lines as "1:text|" (stdout) and "2:text|" (stderr). */
static void collect(void *arg, const struct docker_line *l)
{
	buf_printf(arg, "%d:%.*s|", (int)l->stream, (int)l->len, l->data);
}

Test(docker, version_and_ping)
{
	NEED_ENGINE();
	struct docker_version v;
	cr_assert_eq(docker_ping(d), 0, "%s", docker_errmsg(d));
	cr_assert_eq(docker_connect(d, &v), 0, "%s", docker_errmsg(d));
	cr_assert_str_eq(v.api_version, "1.41");
	cr_assert_str_eq(v.os, "linux");
	cr_assert_neq(v.version[0], '\0');
	cr_assert_eq(docker_status(d), DOCKER_OK);
}

Test(docker, run_wait_logs_inspect_remove)
{
	NEED_ENGINE();
	char *id = create("run", "echo out; echo err >&2; printf 'no newline'; exit 3", false);
	cr_assert_eq(docker_container_start(d, id), 0, "%s", docker_errmsg(d));
	int code = -1;
	cr_assert_eq(docker_container_wait(d, id, DOCKER_WAIT_NOT_RUNNING, &code), 0, "%s",
	             docker_errmsg(d));
	cr_assert_eq(code, 3);

	struct buf out = BUF_INIT;
	struct docker_logs_options o = {0};
	cr_assert_eq(docker_container_logs(d, id, &o, collect, &out), 0, "%s", docker_errmsg(d));
	/* stdout and stderr each keep their order; how they interleave is the
	 * engine's business. */
	cr_assert(strstr(out.data, "1:out|"), "%s", out.data);
	cr_assert(strstr(out.data, "2:err|"), "%s", out.data);
	cr_assert(strstr(out.data, "1:no newline|"), "%s", out.data);
	buf_free(&out);

	struct docker_container_info ci;
	cr_assert_eq(docker_container_inspect(d, id, &ci), 0, "%s", docker_errmsg(d));
	char *name = unique("run");
	cr_assert_str_eq(ci.id, id);
	cr_assert_str_eq(ci.name, name);
	cr_assert_str_eq(ci.image, "busybox:local");
	cr_assert_str_eq(ci.status, "exited");
	cr_assert_not(ci.running);
	cr_assert_not(ci.tty);
	cr_assert_eq(ci.exit_code, 3);
	/* Both set; for a fast exit the engine may record FinishedAt a little
	 * before StartedAt, so no order is checked. */
	cr_assert_gt(ci.started_ns, 0);
	cr_assert_gt(ci.finished_ns, 0);
	cr_assert_str_eq(json_string_value(json_object_get(ci.labels, "ofelia-unit")), label + 12);
	docker_container_info_fini(&ci);

	cr_assert_eq(docker_container_remove(d, id, false, true), 0, "%s", docker_errmsg(d));
	cr_assert_eq(docker_container_inspect(d, id, &ci), -1);
	cr_assert_eq(docker_status(d), DOCKER_E_NOT_FOUND);
	free(name);
	free(id);
}

Test(docker, tty_logs_are_raw_and_follow_ends_with_the_container)
{
	NEED_ENGINE();
	char *id = create("tty", "echo one; sleep 1; echo two >&2; echo three", true);
	cr_assert_eq(docker_container_start(d, id), 0, "%s", docker_errmsg(d));
	struct buf out = BUF_INIT;
	struct docker_logs_options o = {.tty = true, .follow = true, .timestamps = true};
	cr_assert_eq(docker_container_logs(d, id, &o, collect, &out), 0, "%s", docker_errmsg(d));
	cr_assert_str_eq(out.data, "1:one|1:two|1:three|");
	buf_free(&out);
	free(id);
}

static void first_time(void *arg, const struct docker_line *l)
{
	if (*(int64_t *)arg == 0)
		*(int64_t *)arg = l->time_ns;
}

Test(docker, logs_timestamps_and_since)
{
	NEED_ENGINE();
	char *id = create("since", "echo first; sleep 1.5; echo second", false);
	cr_assert_eq(docker_container_start(d, id), 0);
	int code;
	cr_assert_eq(docker_container_wait(d, id, DOCKER_WAIT_NOT_RUNNING, &code), 0);
	int64_t first = 0;
	struct docker_logs_options o = {.timestamps = true};
	cr_assert_eq(docker_container_logs(d, id, &o, first_time, &first), 0);
	cr_assert_gt(first, 0);
	/* Lines from a moment after the first one: only the second. */
	struct buf out = BUF_INIT;
	o = (struct docker_logs_options){.since_ns = first + NS_PER_SEC};
	cr_assert_eq(docker_container_logs(d, id, &o, collect, &out), 0, "%s", docker_errmsg(d));
	cr_assert_str_eq(buf_cstr(&out), "1:second|");
	buf_free(&out);
	free(id);
}

Test(docker, missing_container_keeps_the_engine_message)
{
	NEED_ENGINE();
	struct docker_container_info ci;
	cr_assert_eq(docker_container_inspect(d, "ofelia-unit-no-such-container", &ci), -1);
	cr_assert_eq(docker_status(d), DOCKER_E_NOT_FOUND);
	cr_assert_eq(docker_http_status(d), 404);
	cr_assert_str_eq(docker_errmsg(d),
	                 "No such container: ofelia-unit-no-such-container (HTTP 404)");
	cr_assert_eq(docker_container_start(d, "ofelia-unit-no-such-container"), -1);
	cr_assert_eq(docker_status(d), DOCKER_E_NOT_FOUND);
	int code;
	cr_assert_eq(docker_container_wait(d, "ofelia-unit-no-such-container",
	                                   DOCKER_WAIT_NOT_RUNNING, &code),
	             -1);
	cr_assert_eq(docker_status(d), DOCKER_E_NOT_FOUND);
}

Test(docker, create_errors_are_told_apart)
{
	NEED_ENGINE();
	char *name = unique("dup");
	struct docker_container_spec spec = {.name = name, .image = "busybox:local"};
	char *id = NULL;
	/* busybox:local has no Cmd. */
	cr_assert_eq(docker_container_create(d, &spec, &id), -1);
	cr_assert_eq(docker_status(d), DOCKER_E_BAD_REQUEST);
	cr_assert_str_eq(docker_errmsg(d), "No command specified (HTTP 400)");

	free(create("dup", "true", false));
	struct strv cmd = strv_of("true", NULL);
	spec.cmd = &cmd;
	cr_assert_eq(docker_container_create(d, &spec, &id), -1);
	cr_assert_eq(docker_status(d), DOCKER_E_CONFLICT, "%s", docker_errmsg(d));
	cr_assert(strstr(docker_errmsg(d), "is already in use"), "%s", docker_errmsg(d));

	spec.name = NULL;
	spec.image = "ofelia-unit/missing:image";
	cr_assert_eq(docker_container_create(d, &spec, &id), -1);
	cr_assert_eq(docker_status(d), DOCKER_E_NOT_FOUND);
	cr_assert(strstr(docker_errmsg(d), "No such image: ofelia-unit/missing:image"), "%s",
	          docker_errmsg(d));
	strv_free(&cmd);
	free(name);
}

Test(docker, create_passes_every_setting)
{
	NEED_ENGINE();
	char *name = unique("spec");
	struct strv cmd = strv_of("-c", "id -un; pwd; hostname; echo $FOO; ls /shared", NULL);
	struct strv entry = strv_of("sh", NULL);
	struct strv env = strv_of("FOO=bar baz", NULL);
	struct strv labels = strv_of(label, "flag", NULL);
	struct strv binds = strv_of("/etc:/shared:ro", NULL);
	struct docker_container_spec spec = {
	    .name = name,
	    .image = "busybox:local",
	    .cmd = &cmd,
	    .entrypoint = &entry,
	    .env = &env,
	    .labels = &labels,
	    .binds = &binds,
	    .user = "nobody",
	    .working_dir = "/tmp",
	    .hostname = "jobhost",
	    .network_mode = "none",
	    .stop_signal = "SIGUSR1",
	    .stop_timeout_s = 3,
	};
	char *id = NULL;
	cr_assert_eq(docker_container_create(d, &spec, &id), 0, "%s", docker_errmsg(d));
	cr_assert_eq(docker_container_start(d, id), 0, "%s", docker_errmsg(d));
	int code;
	cr_assert_eq(docker_container_wait(d, id, DOCKER_WAIT_NOT_RUNNING, &code), 0);
	cr_assert_eq(code, 0);
	struct buf out = BUF_INIT;
	struct docker_logs_options o = {0};
	cr_assert_eq(docker_container_logs(d, id, &o, collect, &out), 0);
	cr_assert(strncmp(out.data, "1:nobody|1:/tmp|1:jobhost|1:bar baz|", 36) == 0, "%s",
	          out.data);
	cr_assert(strstr(out.data, "1:passwd|"), "the bind mount shows /etc: %s", out.data);
	buf_free(&out);

	struct docker_container_info ci;
	cr_assert_eq(docker_container_inspect(d, id, &ci), 0);
	cr_assert_str_eq(json_string_value(json_object_get(ci.labels, "flag")), "");
	docker_container_info_fini(&ci);

	/* volumes-from and privileged on a second container. */
	struct strv from = strv_of(id, NULL);
	struct strv cmd2 = strv_of(
	    "sh", "-c", "ls /shared >/dev/null && mkdir -p /mnt && mount -t tmpfs none /mnt", NULL);
	struct docker_container_spec spec2 = {.image = "busybox:local",
	                                      .cmd = &cmd2,
	                                      .labels = &labels,
	                                      .volumes_from = &from,
	                                      .network_mode = "none",
	                                      .privileged = true};
	char *id2 = NULL;
	cr_assert_eq(docker_container_create(d, &spec2, &id2), 0, "%s", docker_errmsg(d));
	if (docker_container_start(d, id2) == 0) {
		cr_assert_eq(docker_container_wait(d, id2, DOCKER_WAIT_NOT_RUNNING, &code), 0);
		cr_assert_eq(code, 0, "volumes-from or privileged did not apply");
	} else {
		/* A sandbox whose bounding set lacks a capability cannot grant
		 * them all: only a privileged container meets this error. */
		cr_assert(strstr(docker_errmsg(d), "unable to apply caps"), "%s", docker_errmsg(d));
	}
	strv_free(&from);
	strv_free(&cmd2);
	free(id2);
	strv_free(&cmd);
	strv_free(&entry);
	strv_free(&env);
	strv_free(&labels);
	strv_free(&binds);
	free(name);
	free(id);
}

Test(docker, stop_kill_and_start_twice)
{
	NEED_ENGINE();
	/* sleep as PID 1 ignores SIGTERM: stop has to kill after its timeout. */
	char *id = create("stop", "exec sleep 300", false);
	cr_assert_eq(docker_container_start(d, id), 0);
	cr_assert_eq(docker_container_start(d, id), 0, "%s", docker_errmsg(d));
	cr_assert_eq(docker_http_status(d), 304);
	cr_assert_eq(docker_container_remove(d, id, false, false), -1);
	cr_assert_eq(docker_status(d), DOCKER_E_CONFLICT, "%s", docker_errmsg(d));

	cr_assert_eq(docker_container_stop(d, id, 1), 0, "%s", docker_errmsg(d));
	struct docker_container_info ci;
	cr_assert_eq(docker_container_inspect(d, id, &ci), 0);
	cr_assert_not(ci.running);
	cr_assert_eq(ci.exit_code, 137);
	docker_container_info_fini(&ci);
	cr_assert_eq(docker_container_stop(d, id, 1), 0, "%s", docker_errmsg(d));
	cr_assert_eq(docker_http_status(d), 304);

	cr_assert_eq(docker_container_kill(d, id, NULL), -1);
	cr_assert_eq(docker_status(d), DOCKER_E_NOT_RUNNING, "%s", docker_errmsg(d));
	cr_assert(strstr(docker_errmsg(d), "is not running"), "%s", docker_errmsg(d));
	free(id);
}

Test(docker, kill_with_a_signal)
{
	NEED_ENGINE();
	char *id = create("kill", "trap 'exit 42' USR1; while :; do sleep 0.1; done", false);
	cr_assert_eq(docker_container_start(d, id), 0);
	/* The trap is set once the shell runs: retry the signal until it exits. */
	int code = -1;
	docker_set_deadline(d, clock_mono_ns() + 500 * NS_PER_MS);
	while (docker_container_wait(d, id, DOCKER_WAIT_NOT_RUNNING, &code) < 0) {
		cr_assert_eq(docker_status(d), DOCKER_E_TIMEOUT, "%s", docker_errmsg(d));
		docker_set_deadline(d, 0);
		/* On a loaded machine the last signal may have ended it only now:
		 * "not running" is that, and the wait reads its exit code. */
		cr_assert(docker_container_kill(d, id, "SIGUSR1") == 0 ||
		              docker_status(d) == DOCKER_E_NOT_RUNNING,
		          "%s", docker_errmsg(d));
		docker_set_deadline(d, clock_mono_ns() + 500 * NS_PER_MS);
	}
	cr_assert_eq(code, 42);
	free(id);
}

Test(docker, exec_streams_output_and_exit_code)
{
	NEED_ENGINE();
	char *id = create("exec", "exec sleep 300", false);
	cr_assert_eq(docker_container_start(d, id), 0);
	struct strv cmd =
	    strv_of("sh", "-c", "echo hi; echo oops >&2; id -un; pwd; echo $FOO; exit 7", NULL);
	struct strv env = strv_of("FOO=bar", NULL);
	struct docker_exec_spec spec = {
	    .cmd = &cmd, .env = &env, .user = "nobody", .working_dir = "/tmp"};
	char *eid = NULL;
	cr_assert_eq(docker_exec_create(d, id, &spec, &eid), 0, "%s", docker_errmsg(d));
	struct buf out = BUF_INIT;
	cr_assert_eq(docker_exec_start(d, eid, false, collect, &out), 0, "%s", docker_errmsg(d));
	cr_assert(strstr(out.data, "2:oops|"), "%s", out.data);
	buf_reset(&out);
	struct docker_exec_info ei;
	cr_assert_eq(docker_exec_inspect(d, eid, &ei), 0, "%s", docker_errmsg(d));
	cr_assert_not(ei.running);
	cr_assert_eq(ei.exit_code, 7);

	/* The same with a TTY: one raw stream, \r\n endings. */
	free(eid);
	spec.tty = true;
	cr_assert_eq(docker_exec_create(d, id, &spec, &eid), 0, "%s", docker_errmsg(d));
	cr_assert_eq(docker_exec_start(d, eid, true, collect, &out), 0, "%s", docker_errmsg(d));
	cr_assert_str_eq(out.data, "1:hi|1:oops|1:nobody|1:/tmp|1:bar|");
	cr_assert_eq(docker_exec_inspect(d, eid, &ei), 0);
	cr_assert_eq(ei.exit_code, 7);

	cr_assert_eq(docker_exec_inspect(d, "ofelia-unit-no-such-exec", &ei), -1);
	cr_assert_eq(docker_status(d), DOCKER_E_NOT_FOUND);
	buf_free(&out);
	strv_free(&cmd);
	strv_free(&env);
	free(eid);
	free(id);
}

Test(docker, exec_in_a_stopped_container_is_not_running)
{
	NEED_ENGINE();
	char *id = create("stopped", "true", false);
	struct strv cmd = strv_of("true", NULL);
	struct docker_exec_spec spec = {.cmd = &cmd};
	char *eid = NULL;
	cr_assert_eq(docker_exec_create(d, id, &spec, &eid), -1);
	cr_assert_eq(docker_status(d), DOCKER_E_NOT_RUNNING, "%s", docker_errmsg(d));
	cr_assert(strstr(docker_errmsg(d), "is not running (HTTP 409)"), "%s", docker_errmsg(d));
	cr_assert_eq(docker_exec_create(d, "ofelia-unit-no-such-container", &spec, &eid), -1);
	cr_assert_eq(docker_status(d), DOCKER_E_NOT_FOUND);
	strv_free(&cmd);
	free(id);
}

Test(docker, list_by_label)
{
	NEED_ENGINE();
	char *running = create("list-running", "exec sleep 300", false);
	char *created = create("list-created", "true", false);
	cr_assert_eq(docker_container_start(d, running), 0);
	struct strv f = strv_of(label, NULL);
	struct docker_container_list l;
	cr_assert_eq(docker_container_list(d, &f, false, &l), 0, "%s", docker_errmsg(d));
	cr_assert_eq(l.n, 1);
	char *name = unique("list-running");
	cr_assert_str_eq(l.v[0].id, running);
	cr_assert_eq(l.v[0].names.n, 1);
	cr_assert_str_eq(l.v[0].names.v[0], name);
	cr_assert_str_eq(l.v[0].state, "running");
	cr_assert_str_eq(l.v[0].image, "busybox:local");
	cr_assert_str_eq(l.v[0].compose_service, "web");
	cr_assert_str_eq(json_string_value(json_object_get(l.v[0].labels, "ofelia-unit")),
	                 label + 12);
	docker_container_list_fini(&l);

	cr_assert_eq(docker_container_list(d, &f, true, &l), 0);
	cr_assert_eq(l.n, 2);
	docker_container_list_fini(&l);
	strv_push(&f, "com.docker.compose.service=db");
	cr_assert_eq(docker_container_list(d, &f, true, &l), 0);
	cr_assert_eq(l.n, 0);
	docker_container_list_fini(&l);
	strv_free(&f);
	free(name);
	free(running);
	free(created);
}

Test(docker, images)
{
	NEED_ENGINE();
	cr_assert_eq(docker_image_exists(d, "busybox:local"), 1, "%s", docker_errmsg(d));
	cr_assert_eq(docker_image_exists(d, "ofelia-unit/missing:image"), 0, "%s",
	             docker_errmsg(d));
	cr_assert_eq(docker_status(d), DOCKER_OK);
}

Test(docker, pull_without_a_registry_fails_cleanly)
{
	NEED_ENGINE();
	/* No internet here: the engine's own error, never a hang. */
	docker_set_deadline(d, clock_mono_ns() + 60 * NS_PER_SEC);
	cr_assert_eq(docker_image_pull(d, "ofelia-unit-nonexistent/image:1.0"), -1);
	cr_assert(docker_status(d) == DOCKER_E_ENGINE || docker_status(d) == DOCKER_E_NOT_FOUND,
	          "%s: %s", docker_status_name(docker_status(d)), docker_errmsg(d));
	cr_assert_neq(docker_errmsg(d)[0], '\0');
}

/* ---- a tiny HTTP server for what a real engine cannot show ---- */

/* Returns the whole HTTP response for a request line ("GET /v2/ HTTP/1.1"). */
typedef char *respond_fn(const char *request_line);

struct fake {
	int fd;
	pthread_t thread;
	atomic_bool stop;
	respond_fn *respond;
	char path[108]; /* unix socket, or "" for TCP */
	int port;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	while (!atomic_load(&f->stop)) {
		struct pollfd p = {.fd = f->fd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		int c = accept(f->fd, NULL, NULL);
		if (c < 0)
			continue;
		char req[8192];
		size_t n = 0;
		ssize_t r;
		while (n < sizeof req - 1 && (r = read(c, req + n, sizeof req - 1 - n)) > 0) {
			n += (size_t)r;
			req[n] = '\0';
			/* A TLS ClientHello (the engine tries https first): hang up. */
			if ((unsigned char)req[0] == 0x16 || strstr(req, "\r\n\r\n"))
				break;
		}
		if (n > 0 && (unsigned char)req[0] != 0x16) {
			req[strcspn(req, "\r\n")] = '\0';
			char *resp = f->respond(req);
			size_t len = strlen(resp), off = 0;
			while (off < len && (r = write(c, resp + off, len - off)) > 0)
				off += (size_t)r;
			free(resp);
		}
		close(c);
	}
	return NULL;
}

static void fake_start(struct fake *f, respond_fn *respond, bool tcp)
{
	memset(f, 0, sizeof *f);
	f->respond = respond;
	if (tcp) {
		struct sockaddr_in a = {.sin_family = AF_INET,
		                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t len = sizeof a;
		f->fd = socket(AF_INET, SOCK_STREAM, 0);
		cr_assert_eq(bind(f->fd, (struct sockaddr *)&a, sizeof a), 0);
		getsockname(f->fd, (struct sockaddr *)&a, &len);
		f->port = ntohs(a.sin_port);
	} else {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(f->path, sizeof f->path, "/tmp/ofelia-unit-%d.sock", (int)getpid());
		unlink(f->path);
		snprintf(a.sun_path, sizeof a.sun_path, "%s", f->path);
		f->fd = socket(AF_UNIX, SOCK_STREAM, 0);
		cr_assert_eq(bind(f->fd, (struct sockaddr *)&a, sizeof a), 0, "%s",
		             strerror(errno));
	}
	cr_assert_eq(listen(f->fd, 16), 0);
	atomic_init(&f->stop, false);
	pthread_create(&f->thread, NULL, fake_main, f);
}

static void fake_stop(struct fake *f)
{
	atomic_store(&f->stop, true);
	pthread_join(f->thread, NULL);
	close(f->fd);
	if (f->path[0])
		unlink(f->path);
}

static char *http(const char *status, const char *type, const char *body)
{
	return xasprintf("HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                 "Connection: close\r\n\r\n%s",
	                 status, type, strlen(body), body);
}

static char *old_engine(const char *req)
{
	if (strncmp(req, "GET /version ", 13) == 0)
		return http("200 OK", "application/json",
		            "{\"Version\":\"19.03.15\",\"ApiVersion\":\"1.40\","
		            "\"MinAPIVersion\":\"1.12\",\"Os\":\"linux\",\"Arch\":\"amd64\"}");
	return http("500 Internal Server Error", "text/plain", "something broke\n");
}

Test(docker, old_engine_is_refused_with_a_clear_message)
{
	struct fake f;
	fake_start(&f, old_engine, false);
	char host[128], err[256];
	snprintf(host, sizeof host, "unix://%s", f.path);
	struct docker *old = docker_new(host, err, sizeof err);
	cr_assert_not_null(old, "%s", err);
	struct docker_version v;
	cr_assert_eq(docker_connect(old, &v), -1);
	cr_assert_eq(docker_status(old), DOCKER_E_VERSION);
	cr_assert_str_eq(docker_errmsg(old), "Docker engine API 1.40 is older than the 1.41 ofelia "
	                                     "needs");
	cr_assert_str_eq(v.version, "19.03.15");
	/* A text/plain error keeps its text. */
	struct docker_container_info ci;
	cr_assert_eq(docker_container_inspect(old, "x", &ci), -1);
	cr_assert_eq(docker_status(old), DOCKER_E_ENGINE);
	cr_assert_str_eq(docker_errmsg(old), "something broke (HTTP 500)");
	docker_free(old);
	fake_stop(&f);
}

/* A registry that has the manifest of 127.0.0.1:port/x:latest but none of
 * its blobs: the engine answers the pull with 200 and then an error line. */
/* The request lines of the manifest requests (HEAD or GET) since it was
 * last cleared: which ones the engine sends depends on what it has cached
 * from earlier pulls, so the tests only look for the one they expect. */
static char last_manifest[2048];

static char *broken_registry(const char *req)
{
	static const char manifest[] =
	    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest."
	    "v2+json\",\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+"
	    "json\",\"size\":10,\"digest\":\"sha256:"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"},\"layers\":[{"
	    "\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"size\":10,"
	    "\"digest\":\"sha256:"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}]}";
	if (strstr(req, " /v2/ "))
		return http("200 OK", "application/json", "{}");
	if (strstr(req, "/manifests/")) {
		size_t used = strlen(last_manifest);
		const char *eol = strstr(req, "\r\n");
		int len = eol ? (int)(eol - req) : (int)strlen(req);
		snprintf(last_manifest + used, sizeof last_manifest - used, "%.*s\n", len, req);
		char *r = http("200 OK", "application/vnd.docker.distribution.manifest.v2+json",
		               manifest);
		if (strncmp(req, "HEAD ", 5) == 0)
			*strstr(r, "\r\n\r\n{") = '\0', strcat(r, "\r\n\r\n");
		return r;
	}
	return http("404 Not Found", "application/json",
	            "{\"errors\":[{\"code\":\"BLOB_UNKNOWN\"}]}");
}

Test(docker, pull_error_in_a_200_stream_is_detected)
{
	NEED_ENGINE();
	struct fake f;
	fake_start(&f, broken_registry, true);
	char ref[64];
	snprintf(ref, sizeof ref, "127.0.0.1:%d/x:latest", f.port);
	docker_set_deadline(d, clock_mono_ns() + 60 * NS_PER_SEC);
	cr_assert_eq(docker_image_pull(d, ref), -1);
	cr_assert_eq(docker_http_status(d), 200);
	cr_assert_eq(docker_status(d), DOCKER_E_ENGINE, "%s", docker_errmsg(d));
	cr_assert(strstr(docker_errmsg(d), "unknown blob"), "%s", docker_errmsg(d));
	cr_assert(strstr(last_manifest, " /v2/x/manifests/latest "), "%s", last_manifest);

	/* Without a tag the engine is asked for latest; a digest goes whole. */
	snprintf(ref, sizeof ref, "127.0.0.1:%d/x", f.port);
	last_manifest[0] = '\0';
	cr_assert_eq(docker_image_pull(d, ref), -1);
	cr_assert(strstr(last_manifest, " /v2/x/manifests/latest "), "%s", last_manifest);
	char digest_ref[160];
	snprintf(digest_ref, sizeof digest_ref, "127.0.0.1:%d/x@sha256:%064d", f.port, 0);
	last_manifest[0] = '\0';
	cr_assert_eq(docker_image_pull(d, digest_ref), -1);
	cr_assert(strstr(last_manifest, " /v2/x/manifests/sha256:0000"), "%s", last_manifest);
	fake_stop(&f);
}

/* ---- cancellation and events, across threads ---- */

struct waiter {
	struct docker *d;
	const char *id;
	atomic_bool started;
	int rc;
	int code;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	atomic_store(&w->started, true);
	w->rc = docker_container_wait(w->d, w->id, DOCKER_WAIT_NOT_RUNNING, &w->code);
	return NULL;
}

/* settle gives a call another thread just began time to be on the wire, so
 * a cancel hits it in flight rather than before it starts. */
static void settle(atomic_bool *started)
{
	while (!atomic_load(started))
		usleep(10000);
	usleep(1500000);
}

Test(docker, cancel_a_blocking_wait_from_another_thread)
{
	NEED_ENGINE();
	char *id = create("cancel", "exec sleep 300", false);
	cr_assert_eq(docker_container_start(d, id), 0);
	char err[256];
	struct waiter w = {.d = docker_new(engine_host(), err, sizeof err), .id = id};
	atomic_init(&w.started, false);
	pthread_t t;
	pthread_create(&t, NULL, wait_thread, &w);
	settle(&w.started);
	docker_cancel(w.d);
	pthread_join(t, NULL);
	cr_assert_eq(w.rc, -1);
	cr_assert_eq(docker_status(w.d), DOCKER_E_CANCELLED, "%s", docker_errmsg(w.d));
	/* Sticky until cleared: the next call fails at once, then works. */
	cr_assert_eq(docker_ping(w.d), -1);
	docker_cancel_clear(w.d);
	cr_assert_eq(docker_ping(w.d), 0);
	struct docker_container_info ci;
	cr_assert_eq(docker_container_inspect(d, id, &ci), 0);
	cr_assert(ci.running, "cancelling the wait left the container alone");
	docker_container_info_fini(&ci);
	docker_free(w.d);
	free(id);
}

Test(docker, deadline_ends_a_wait)
{
	NEED_ENGINE();
	char *id = create("deadline", "exec sleep 300", false);
	cr_assert_eq(docker_container_start(d, id), 0);
	docker_set_deadline(d, clock_mono_ns() + NS_PER_SEC);
	int code;
	cr_assert_eq(docker_container_wait(d, id, DOCKER_WAIT_NOT_RUNNING, &code), -1);
	cr_assert_eq(docker_status(d), DOCKER_E_TIMEOUT, "%s", docker_errmsg(d));
	docker_set_deadline(d, 0);
	cr_assert_eq(docker_ping(d), 0);
	free(id);
}

struct watcher {
	struct docker *d;
	json_t *filters;
	const char *want_id;
	atomic_bool started;
	atomic_bool seen_start;
	int rc;
	struct buf actions;
};

static void on_event(void *arg, const struct docker_event *ev)
{
	struct watcher *w = arg;
	buf_printf(&w->actions, "%s:%s|", ev->type, ev->action);
	cr_assert_gt(ev->time_ns, 0);
	if (w->want_id && strcmp(ev->id, w->want_id) == 0 && strcmp(ev->action, "start") == 0) {
		cr_assert_str_eq(docker_event_attr(ev, "com.docker.compose.service"), "web");
		cr_assert_str_eq(docker_event_attr(ev, "image"), "busybox:local");
		atomic_store(&w->seen_start, true);
	}
}

static void *events_thread(void *arg)
{
	struct watcher *w = arg;
	atomic_store(&w->started, true);
	w->rc = docker_events(w->d, w->filters, 0, 0, on_event, w);
	return NULL;
}

Test(docker, events_stream_delivers_a_start_then_cancels)
{
	NEED_ENGINE();
	char err[256];
	struct watcher w = {.d = docker_new(engine_host(), err, sizeof err)};
	w.filters = json_pack("{s:[s],s:[s]}", "type", "container", "label", label);
	atomic_init(&w.started, false);
	atomic_init(&w.seen_start, false);
	pthread_t t;
	pthread_create(&t, NULL, events_thread, &w);
	settle(&w.started);

	/* An unlabelled container must not show up. */
	struct strv cmd = strv_of("true", NULL);
	struct docker_container_spec other = {
	    .image = "busybox:local", .cmd = &cmd, .network_mode = "none"};
	char *other_id = NULL;
	cr_assert_eq(docker_container_create(d, &other, &other_id), 0);
	char *id = create("events", "exec sleep 300", false);
	w.want_id = id;
	cr_assert_eq(docker_container_start(d, id), 0);
	for (int i = 0; i < 3000 && !atomic_load(&w.seen_start); i++)
		usleep(10000);
	cr_assert(atomic_load(&w.seen_start), "no start event");
	docker_cancel(w.d);
	pthread_join(t, NULL);
	cr_assert_eq(w.rc, -1);
	cr_assert_eq(docker_status(w.d), DOCKER_E_CANCELLED, "%s", docker_errmsg(w.d));
	cr_assert_str_eq(w.actions.data, "container:create|container:start|");
	docker_container_remove(d, other_id, true, false);
	buf_free(&w.actions);
	json_decref(w.filters);
	docker_free(w.d);
	strv_free(&cmd);
	free(other_id);
	free(id);
}

Test(docker, events_replay_ends_at_until)
{
	NEED_ENGINE();
	int64_t since = clock_now_ns() / NS_PER_SEC - 1;
	char *id = create("replay", "true", false);
	cr_assert_eq(docker_container_start(d, id), 0);
	int code;
	cr_assert_eq(docker_container_wait(d, id, DOCKER_WAIT_NOT_RUNNING, &code), 0);
	struct watcher w = {.d = d, .want_id = id};
	w.filters = json_pack("{s:[s]}", "label", label);
	atomic_init(&w.seen_start, false);
	cr_assert_eq(
	    docker_events(d, w.filters, since, clock_now_ns() / NS_PER_SEC + 1, on_event, &w), 0,
	    "%s", docker_errmsg(d));
	cr_assert(atomic_load(&w.seen_start));
	cr_assert(strstr(w.actions.data, "container:die|"), "%s", w.actions.data);
	buf_free(&w.actions);
	json_decref(w.filters);
	free(id);
}

struct execer {
	struct docker *d;
	const char *id;
	atomic_bool started;
	int rc;
	struct buf out;
};

static void *exec_thread(void *arg)
{
	struct execer *x = arg;
	atomic_store(&x->started, true);
	x->rc = docker_exec_start(x->d, x->id, false, collect, &x->out);
	return NULL;
}

Test(docker, cancel_an_attached_exec)
{
	NEED_ENGINE();
	char *id = create("exec-cancel", "exec sleep 300", false);
	cr_assert_eq(docker_container_start(d, id), 0);
	struct strv cmd = strv_of("sh", "-c", "echo begun; exec sleep 300", NULL);
	struct docker_exec_spec spec = {.cmd = &cmd};
	char err[256];
	struct execer x = {.d = docker_new(engine_host(), err, sizeof err)};
	char *eid = NULL;
	cr_assert_eq(docker_exec_create(d, id, &spec, &eid), 0);
	x.id = eid;
	atomic_init(&x.started, false);
	pthread_t t;
	pthread_create(&t, NULL, exec_thread, &x);
	settle(&x.started);
	docker_cancel(x.d);
	pthread_join(t, NULL);
	cr_assert_eq(x.rc, -1);
	cr_assert_eq(docker_status(x.d), DOCKER_E_CANCELLED);
	cr_assert_str_eq(buf_cstr(&x.out), "1:begun|");
	/* Detached, not killed: the process is still there. */
	struct docker_exec_info ei;
	cr_assert_eq(docker_exec_inspect(d, eid, &ei), 0);
	cr_assert(ei.running);
	cr_assert_gt(ei.pid, 0);
	buf_free(&x.out);
	docker_free(x.d);
	strv_free(&cmd);
	free(eid);
	free(id);
}

Test(docker, unreachable_engine)
{
	char err[256];
	struct docker *gone = docker_new("unix:///nonexistent/ofelia-unit.sock", err, sizeof err);
	cr_assert_not_null(gone, "%s", err);
	cr_assert_eq(docker_ping(gone), -1);
	cr_assert_eq(docker_status(gone), DOCKER_E_CONNECT);
	cr_assert(strstr(docker_errmsg(gone), "unix:///nonexistent/ofelia-unit.sock"), "%s",
	          docker_errmsg(gone));
	docker_free(gone);
}

/* The test engine started with OFELIA_TEST_DOCKER_TLS=1 also listens on
 * tcp://127.0.0.1:PORT and requires a client certificate. */
Test(docker, tls_with_client_certificates)
{
	const char *host = getenv("OFELIA_TEST_DOCKER_TLS_HOST");
	const char *certs = getenv("OFELIA_TEST_DOCKER_CERT_PATH");
	if (!host || !certs)
		cr_skip_test("OFELIA_TEST_DOCKER_TLS_HOST and OFELIA_TEST_DOCKER_CERT_PATH are not "
		             "set (tools/docker-engine.sh with OFELIA_TEST_DOCKER_TLS=1)");
	char err[256];
	setenv("DOCKER_TLS_VERIFY", "1", 1);
	setenv("DOCKER_CERT_PATH", certs, 1);
	struct docker *t = docker_new(host, err, sizeof err);
	cr_assert_not_null(t, "%s", err);
	cr_assert_eq(docker_connect(t, NULL), 0, "%s", docker_errmsg(t));
	struct docker_container_info ci;
	cr_assert_eq(docker_container_inspect(t, "ofelia-unit-no-such-container", &ci), -1);
	cr_assert_eq(docker_status(t), DOCKER_E_NOT_FOUND, "%s", docker_errmsg(t));
	docker_free(t);

	/* By name: the lookup runs on a thread of its own, and the name is the
	 * one the certificate is checked against. */
	const char *port = strrchr(host, ':');
	cr_assert_not_null(port);
	char by_name[64];
	snprintf(by_name, sizeof by_name, "tcp://localhost%s", port);
	t = docker_new(by_name, err, sizeof err);
	cr_assert_not_null(t, "%s", err);
	cr_assert_eq(docker_ping(t), 0, "%s", docker_errmsg(t));
	docker_free(t);

	/* A CA that did not sign the engine's certificate: the client's own
	 * certificate stands in for it. */
	char dir[] = "/tmp/ofelia-unit-certs-XXXXXX", path[128], target[256];
	cr_assert_not_null(mkdtemp(dir));
	const char *links[][2] = {
	    {"ca.pem", "cert.pem"}, {"cert.pem", "cert.pem"}, {"key.pem", "key.pem"}};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, links[i][0]);
		snprintf(target, sizeof target, "%s/%s", certs, links[i][1]);
		cr_assert_eq(symlink(target, path), 0);
	}
	setenv("DOCKER_CERT_PATH", dir, 1);
	t = docker_new(host, err, sizeof err);
	cr_assert_not_null(t, "%s", err);
	cr_assert_eq(docker_ping(t), -1);
	cr_assert_eq(docker_status(t), DOCKER_E_CONNECT, "%s", docker_errmsg(t));
	docker_free(t);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, links[i][0]);
		unlink(path);
	}
	rmdir(dir);

	/* Plain HTTP to a TLS port: the engine says so. */
	unsetenv("DOCKER_TLS_VERIFY");
	t = docker_new(host, err, sizeof err);
	cr_assert_not_null(t, "%s", err);
	cr_assert_eq(docker_ping(t), -1);
	cr_assert(strstr(docker_errmsg(t), "HTTPS"), "%s", docker_errmsg(t));
	docker_free(t);
}

/* ---- addresses (no engine) ---- */

Test(docker_host, addresses_and_environment)
{
	char err[256];
	struct docker *h;
	unsetenv("DOCKER_TLS_VERIFY");
	setenv("DOCKER_HOST", "unix:///run/other.sock", 1);
	h = docker_new(NULL, err, sizeof err);
	cr_assert_str_eq(docker_host(h), "unix:///run/other.sock");
	docker_free(h);
	unsetenv("DOCKER_HOST");
	h = docker_new(NULL, err, sizeof err);
	cr_assert_str_eq(docker_host(h), DOCKER_DEFAULT_HOST);
	docker_free(h);
	h = docker_new("tcp://127.0.0.1:1", err, sizeof err);
	cr_assert_not_null(h, "%s", err);
	cr_assert_eq(docker_ping(h), -1);
	cr_assert_eq(docker_status(h), DOCKER_E_CONNECT, "%s", docker_errmsg(h));
	docker_free(h);

	cr_assert_null(docker_new("ssh://user@host", err, sizeof err));
	cr_assert(strstr(err, "unsupported Docker host \"ssh://user@host\""), "%s", err);
	cr_assert_null(docker_new("tcp://", err, sizeof err));

	setenv("DOCKER_TLS_VERIFY", "1", 1);
	setenv("DOCKER_CERT_PATH", "/nonexistent/certs", 1);
	cr_assert_null(docker_new("tcp://docker.example:2376", err, sizeof err));
	cr_assert_str_eq(err, "DOCKER_TLS_VERIFY is set but /nonexistent/certs/ca.pem is not "
	                      "readable");
	/* A unix socket ignores the TLS settings, as Docker's clients do. */
	h = docker_new("unix:///run/x.sock", err, sizeof err);
	cr_assert_not_null(h, "%s", err);
	docker_free(h);
}

/* ---- Swarm (opt-in: OFELIA_TEST_SWARM=1 makes the engine a swarm) ---- */

Test(docker, service_runs_once_and_reports)
{
	NEED_ENGINE();
	if (!getenv("OFELIA_TEST_SWARM") || strcmp(getenv("OFELIA_TEST_SWARM"), "1") != 0)
		cr_skip_test("swarm tests are opt-in: OFELIA_TEST_SWARM=1 tools/test.sh");
	char *name = unique("svc");
	struct strv args = strv_of("sh", "-c", "echo hi; echo err >&2; exit 3", NULL);
	struct strv labels = strv_of(label, NULL);
	struct docker_service_spec spec = {
	    .name = name, .image = "busybox:local", .args = &args, .labels = &labels};
	char *sid = NULL;
	cr_assert_eq(docker_service_create(d, &spec, &sid), 0, "%s", docker_errmsg(d));

	struct docker_task_list tl = {0};
	bool done = false;
	for (int i = 0; i < 600 && !done; i++) {
		docker_task_list_fini(&tl);
		cr_assert_eq(docker_service_tasks(d, sid, &tl), 0, "%s", docker_errmsg(d));
		done = tl.n == 1 && tl.v[0].exit_code >= 0;
		if (!done)
			usleep(100000);
	}
	cr_assert(done, "the task did not finish");
	cr_assert_str_eq(tl.v[0].state, "failed");
	cr_assert_eq(tl.v[0].exit_code, 3);
	cr_assert_not_null(tl.v[0].container_id);
	cr_assert(strstr(tl.v[0].message, "non-zero exit (3)"), "%s", tl.v[0].message);
	docker_task_list_fini(&tl);

	struct buf out = BUF_INIT;
	struct docker_logs_options o = {0};
	cr_assert_eq(docker_service_logs(d, sid, &o, collect, &out), 0, "%s", docker_errmsg(d));
	cr_assert(strstr(out.data, "1:hi|") && strstr(out.data, "2:err|"), "%s", out.data);
	buf_free(&out);
	cr_assert_eq(docker_service_remove(d, sid), 0, "%s", docker_errmsg(d));
	cr_assert_eq(docker_service_remove(d, sid), -1);
	cr_assert_eq(docker_status(d), DOCKER_E_NOT_FOUND);
	strv_free(&args);
	strv_free(&labels);
	free(sid);
	free(name);
}
