/* fuzz_http: any bytes as one HTTP request, fed to the router and the
 * handlers without a socket (http_dispatch on a struct http_req), against a
 * real store in a temp dir, a real scheduler and the real auth. Nothing may
 * crash or leak, and every request must be answered.
 *
 * Input: a request line, header lines and a body, as on the wire:
 *   PUT /api/job/backup?x=1 HTTP/1.1\n
 *   Content-Type: application/json\n
 *   \n
 *   {"schedule": "@every 2h"}
 * A first byte '!' selects the config with auth on, '?' the one without
 * auth (a read-only API); else auth is off and web.insecure on, so changes
 * go through. The header "Authorization: Bearer @admin" (or @viewer) is
 * replaced by a valid token for that user, so the fuzzer reaches what lies
 * behind the login. The whole input is also classified as a request head
 * (http_head_status), as the server does before h2o parses it.
 *
 * No job may run here: the jobs are exec jobs against a Docker socket that
 * does not exist, the scheduler is stopped, and the two requests that would
 * start something anyway (POST /api/job/{}/run, POST /api/scheduler/start)
 * are skipped, since a fuzzed PUT can create a local job with any command. */
#include <crypt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "events/events.h"
#include "http/http_int.h"
#include "loop/loop.h"
#include "scheduler/scheduler.h"
#include "store/store.h"
#include "tz/tz.h"
#include "util/xalloc.h"

static const char config_text[] = "web:\n"
                                  "  insecure: %s\n"
                                  "  allowed-hosts: [ofelia.example, '*.lan']\n"
                                  "  max-body: 65536\n"
                                  "  cors:\n"
                                  "    allowed-origins: [http://ui.example]\n"
                                  "  rate-limit:\n"
                                  "    requests-per-minute: 1000000000\n"
                                  "    burst: 1000000000\n"
                                  "  trusted-proxies: [127.0.0.1/32]\n"
                                  "  auth:\n"
                                  "    enabled: %s\n"
                                  "    secret: fuzz-secret-0123456789abcdef\n"
                                  "    users:\n"
                                  "      - {username: admin, password-hash: '%s', role: admin}\n"
                                  "      - {username: viewer, password-hash: '%s', role: viewer}\n"
                                  "jobs:\n"
                                  "  backup:\n"
                                  "    type: exec\n"
                                  "    schedule: '@every 1h'\n"
                                  "    container: app\n"
                                  "    command: backup.sh\n"
                                  "    environment: [API_TOKEN=x]\n"
                                  "  report:\n"
                                  "    type: exec\n"
                                  "    schedule: '0 3 * * *'\n"
                                  "    container: app\n"
                                  "    command: report.sh\n";

static struct {
	struct loop *loop;
	struct store *store;
	struct events *events;
	struct scheduler *sched;
	struct config *open, *readonly, *closed, *current;
	struct http *h;
} F;

static const struct config *current_config(void *arg)
{
	(void)arg;
	return F.current;
}

static struct config *load(const char *insecure, const char *auth, const char *hash)
{
	struct config_diag diag = {0};
	char *text = xasprintf(config_text, insecure, auth, hash, hash);
	struct config *c = config_load_string(text, strlen(text), "fuzz.yaml", CONFIG_YAML, &diag);
	free(text);
	if (c == NULL) {
		for (size_t i = 0; i < diag.errors.n; i++)
			fprintf(stderr, "fuzz_http: %s\n", diag.errors.v[i]);
		abort();
	}
	config_diag_free(&diag);
	return c;
}

static char dir[] = "/tmp/fuzz-http-XXXXXX";

/* remove_dir takes the store's files away at exit (a campaign forks a
 * process per job, each with its own folder); they are open still, which
 * Linux allows. */
static void remove_dir(void)
{
	static const char *const files[] = {"ofelia.db", "ofelia.db-wal", "ofelia.db-shm",
	                                    "ofelia.db-journal"};
	char path[64];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void setup(void)
{
	char path[64], err[512], salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd = {0};

	if (mkdtemp(dir) == NULL)
		abort();
	atexit(remove_dir);
	snprintf(path, sizeof path, "%s/ofelia.db", dir);
	struct store_options so = {.path = path};
	F.store = store_open(&so, err, sizeof err);
	/* A cheap hash keeps the fuzzer fast; the code path is the same. */
	crypt_gensalt_rn("$6$", 1000, NULL, 0, salt, sizeof salt);
	const char *hash = crypt_rn("fuzz", salt, &cd, sizeof cd);
	F.open = load("true", "false", hash);
	F.readonly = load("false", "false", hash);
	F.closed = load("false", "true", hash);
	F.current = F.open;
	F.loop = loop_new();
	F.events = events_new();
	struct scheduler_options o = {
	    .zone = tz_utc(),
	    .max_concurrent = 2,
	    .max_queue = 10,
	    .max_output_bytes = 65536,
	    .max_log_lines = 1000,
	    .shutdown_grace_ns = 1000000000,
	    .runner = {.docker_host = "unix:///nonexistent/docker.sock"},
	};
	F.sched = scheduler_new(F.loop, F.store, F.events, &o);
	if (F.store == NULL ||
	    scheduler_start(F.sched, F.open->jobs, F.open->njobs, err, sizeof err) < 0)
		abort();
	scheduler_pause(F.sched);
	struct http_deps deps = {F.loop, F.store, F.sched, F.events, current_config, NULL, NULL};
	F.h = http_new(&deps, err, sizeof err);
	if (F.h == NULL)
		abort();
	/* Everything above lives for the whole run. */
}

static void on_done(struct http_req *r)
{
	if (r->status < 100 || r->status > 599)
		abort();
}

/* line returns the next line of [*p, end) without its "\r\n" or "\n". */
static h2o_iovec_t line(const char **p, const char *end)
{
	const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
	const char *e = nl ? nl : end;
	*p = nl ? nl + 1 : end;
	if (e > s && e[-1] == '\r')
		e--;
	return h2o_iovec_init(s, (size_t)(e - s));
}

static bool starts_run(const struct http_req *r)
{
	static const char run[] = "/run", start[] = "/api/scheduler/start";
	size_t len = r->path.len;
	if (r->method != HTTP_POST)
		return false;
	if (len > 1 && r->path.base[len - 1] == '/')
		len--; /* the router ignores one trailing slash */
	return (len >= sizeof run - 1 &&
	        memcmp(r->path.base + len - (sizeof run - 1), run, sizeof run - 1) == 0) ||
	       h2o_memis(r->path.base, len, start, sizeof start - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	h2o_mem_pool_t pool;
	h2o_headers_t headers = {NULL, 0, 0};
	struct http_req r;

	if (F.h == NULL)
		setup();
	http_head_status((const char *)data, size, 0);
	F.current = F.open;
	if (p < end && (*p == '!' || *p == '?')) {
		F.current = *p == '!' ? F.closed : F.readonly;
		p++;
	}
	h2o_mem_init_pool(&pool);
	http_req_init(&r, F.h, &pool);

	/* request line: METHOD TARGET [VERSION] */
	h2o_iovec_t first = line(&p, end);
	const char *sp = memchr(first.base, ' ', first.len);
	h2o_iovec_t method = sp ? h2o_iovec_init(first.base, (size_t)(sp - first.base)) : first;
	h2o_iovec_t target = h2o_iovec_init(NULL, 0);
	if (sp) {
		const char *t = sp + 1, *te = first.base + first.len;
		const char *sp2 = memchr(t, ' ', (size_t)(te - t));
		target = h2o_iovec_init(t, (size_t)((sp2 ? sp2 : te) - t));
	}
	if (target.len == 0 || target.base[0] != '/')
		target = h2o_iovec_init(H2O_STRLIT("/"));
	size_t query_at;
	size_t *norm_indexes;
	r.path = h2o_url_normalize_path(&pool, target.base, target.len, &query_at, &norm_indexes);
	if (query_at != SIZE_MAX)
		r.query = h2o_iovec_init(target.base + query_at + 1, target.len - query_at - 1);
	r.method_text = method;
	r.method = http_method_parse(method);

	/* headers until an empty line; names in lower case, as h2o keeps them */
	for (;;) {
		h2o_iovec_t l = line(&p, end);
		if (l.len == 0)
			break;
		const char *colon = memchr(l.base, ':', l.len);
		if (colon == NULL || colon == l.base)
			continue;
		size_t nlen = (size_t)(colon - l.base);
		char *name = h2o_mem_alloc_pool(&pool, nlen);
		for (size_t i = 0; i < nlen; i++)
			name[i] = (char)h2o_tolower(l.base[i]);
		const char *v = colon + 1, *ve = l.base + l.len;
		while (v < ve && *v == ' ')
			v++;
		h2o_iovec_t value = h2o_iovec_init(v, (size_t)(ve - v));
		if (h2o_memis(name, nlen, H2O_STRLIT("authorization")) &&
		    (h2o_memis(v, value.len, H2O_STRLIT("Bearer @admin")) ||
		     h2o_memis(v, value.len, H2O_STRLIT("Bearer @viewer")))) {
			int64_t exp;
			bool admin = value.len == sizeof "Bearer @admin" - 1;
			struct http_claims c = {admin ? "admin" : "viewer",
			                        admin ? "admin" : "viewer", "fuzz", r.now_ns};
			char *tok = http_token_sign(F.h, F.current, &c, r.now_ns, &exp);
			char *text = h2o_mem_alloc_pool(&pool, strlen(tok) + 8);
			value.len = (size_t)sprintf(text, "Bearer %s", tok);
			value.base = text;
			free(tok);
		}
		if (h2o_memis(name, nlen, H2O_STRLIT("upgrade")))
			r.upgrade = value;
		else if (h2o_memis(name, nlen, H2O_STRLIT("host")))
			r.host = value; /* h2o keeps Host apart, as the authority */
		else
			h2o_add_header_by_str(&pool, &headers, name, nlen, 0, NULL, value.base,
			                      value.len);
	}
	r.headers = &headers;
	r.body = h2o_iovec_init(p, (size_t)(end - p));
	snprintf(r.peer, sizeof r.peer, "127.0.0.1");
	r.on_done = on_done;

	if (!starts_run(&r)) {
		http_dispatch(&r);
		/* A login waits for the hasher thread; answers that wait are
		 * given now, as at shutdown. */
		while (!r.finished) {
			h2o_evloop_run(loop_evloop(F.loop), 1);
			http_flush_deferred(F.h);
		}
	}
	h2o_mem_clear_pool(&pool);
	return 0;
}
