/* The router: every request goes through the same steps, in this order,
 * so each rule is checked once and in one place:
 *   security headers, client address (trusted proxies), Host (DNS
 *   rebinding), CORS (a preflight ends here), rate limit (/api/ only),
 *   route and method, Origin and Content-Type of changes and of the
 *   WebSocket, token and role, handler.
 * A request ends in http_req_finish, which counts it and hands the answer to
 * whoever sends it. Answers that wait (a slowed failed login, a stop waiting
 * for the execution's end) sit in one list ordered by due time behind one
 * loop timer. */
#include <string.h>

#include "http/http_int.h"
#include "loop/loop.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define GET_ON(fn) .on = {[HTTP_GET] = fn, [HTTP_HEAD] = fn}

static const struct http_route routes[] = {
    {"/api/login", .on = {[HTTP_POST] = http_on_login}, .is_public = true, .rate_limited = true},
    {"/api/refresh", .on = {[HTTP_POST] = http_on_refresh}, .is_public = true,
     .rate_limited = true},
    {"/api/session", GET_ON(http_on_session), .is_public = true, .rate_limited = true},
    {"/api/jobs", GET_ON(http_on_jobs), .rate_limited = true},
    {"/api/job/{}",
     .on = {[HTTP_GET] = http_on_job_get,
            [HTTP_HEAD] = http_on_job_get,
            [HTTP_PUT] = http_on_job_put,
            [HTTP_DELETE] = http_on_job_delete},
     .rate_limited = true, .job_param = true, .to_leader = true},
    {"/api/job/{}/run", .on = {[HTTP_POST] = http_on_job_run}, .rate_limited = true,
     .job_param = true, .to_leader = true},
    {"/api/job/{}/toggle", .on = {[HTTP_PATCH] = http_on_job_toggle}, .rate_limited = true,
     .job_param = true, .to_leader = true},
    {"/api/execution/{}", GET_ON(http_on_execution), .rate_limited = true},
    {"/api/execution/{}/stop", .on = {[HTTP_POST] = http_on_execution_stop}, .rate_limited = true},
    {"/api/execution/{}/logs", GET_ON(http_on_execution_logs), .rate_limited = true},
    {"/api/scheduler/status", GET_ON(http_on_scheduler_status), .rate_limited = true},
    {"/api/scheduler/start", .on = {[HTTP_POST] = http_on_scheduler_start}, .rate_limited = true,
     .to_leader = true},
    {"/api/scheduler/stop", .on = {[HTTP_POST] = http_on_scheduler_stop}, .rate_limited = true,
     .to_leader = true},
    {"/api/scheduler/reload", .on = {[HTTP_POST] = http_on_scheduler_reload}, .rate_limited = true},
    {"/api/notifications", GET_ON(http_on_notifications), .rate_limited = true},
    {"/api/config", GET_ON(http_on_config), .rate_limited = true},
    {"/api/config/global", .on = {[HTTP_PATCH] = http_on_config_global}, .rate_limited = true},
    {"/api/ws", .on = {[HTTP_GET] = http_on_ws}, .rate_limited = true},
    /* Nodes of a cluster pull each other's history here; the cluster
     * secret, not a user's token, is what lets them in. */
    {"/internal/cluster/changes", GET_ON(http_on_cluster_changes), .is_public = true},
    {"/health/liveness", GET_ON(http_on_liveness), .is_public = true},
    {"/health/readiness", GET_ON(http_on_readiness), .is_public = true},
    {"/metrics", GET_ON(http_on_metrics), .is_metrics = true},
    {"/", GET_ON(http_on_ui), .is_public = true},
    {"/{}", GET_ON(http_on_ui), .is_public = true},
};

#define NROUTES (sizeof routes / sizeof routes[0])
/* The HTTP counters keep a row per route and one for unmatched paths. */
_Static_assert(NROUTES < 64, "struct http's requests[] is too small for the routes");

static const char *method_names[HTTP_METHOD_COUNT] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER",
};

size_t http_route_count(void)
{
	return NROUTES;
}

const struct http_route *http_route_at(size_t i)
{
	return &routes[i];
}

const char *http_method_name(enum http_method m)
{
	return method_names[m];
}

enum http_method http_method_parse(h2o_iovec_t m)
{
	for (int i = 0; i < HTTP_OTHER; i++)
		if (h2o_memis(m.base, m.len, method_names[i], strlen(method_names[i])))
			return (enum http_method)i;
	return HTTP_OTHER;
}

/* match compares path with pattern segment by segment; "{}" takes one
 * non-empty segment, returned in *param. */
static bool match(const char *pattern, h2o_iovec_t path, h2o_iovec_t *param)
{
	const char *p = pattern, *s = path.base, *end = path.base + path.len;

	/* "/api/jobs/" is "/api/jobs". */
	if (end - s > 1 && end[-1] == '/')
		end--;
	while (*p && s < end) {
		if (p[0] == '{' && p[1] == '}') {
			const char *seg = s;
			while (s < end && *s != '/')
				s++;
			if (s == seg)
				return false;
			*param = h2o_iovec_init(seg, (size_t)(s - seg));
			p += 2;
			continue;
		}
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	return *p == '\0' && s == end;
}

static const struct http_route *find_route(struct http_req *r)
{
	for (size_t i = 0; i < NROUTES; i++) {
		h2o_iovec_t param = {NULL, 0};
		if (match(routes[i].pattern, r->path, &param)) {
			r->param = param.base ? http_strdup(r, param.base, param.len) : NULL;
			return &routes[i];
		}
	}
	return NULL;
}

static bool is_api_path(h2o_iovec_t path)
{
	return (path.len == 4 || (path.len > 4 && path.base[4] == '/')) &&
	       memcmp(path.base, "/api", 4) == 0;
}

/* allow writes the methods a route answers, for 405 and OPTIONS. */
static void allow(struct http_req *r, const struct http_route *route)
{
	char text[96] = "";
	for (int m = 0; m < HTTP_OTHER; m++)
		if (route->on[m] || m == HTTP_OPTIONS) {
			if (text[0])
				strcat(text, ", ");
			strcat(text, method_names[m]);
		}
	http_header(r, "allow", text);
}

/* checked_origin keeps other sites' pages out: a change (and the
 * WebSocket, which streams everything) from a foreign Origin is refused, and
 * a change's body must be JSON, which a form or a simple request (no CORS
 * preflight) cannot send. */
static bool checked_origin(struct http_req *r)
{
	bool change = r->method != HTTP_GET && r->method != HTTP_HEAD;
	if (!change && r->route->on[HTTP_GET] != http_on_ws)
		return true;
	return http_origin_allowed(r) && (!change || http_json_only(r));
}

/* checked_param refuses a job name the config would refuse (bytes that are
 * not UTF-8, control characters), so the API serves no name it could not
 * have created. */
static bool checked_param(struct http_req *r)
{
	char err[512];
	if (!r->route->job_param || job_name_valid(r->param, err, sizeof err) == 0)
		return true;
	http_reply_error(r, 400, "VALIDATION_ERROR", "job", r->param, "%s", err);
	return false;
}

void http_req_init(struct http_req *r, struct http *h, h2o_mem_pool_t *pool)
{
	memset(r, 0, sizeof *r);
	r->h = h;
	r->pool = pool;
	r->cfg = http_config_now(h);
	r->now_ns = clock_now_ns();
}

void http_dispatch(struct http_req *r)
{
	http_security_headers(r);
	http_resolve_client(r);
	if (!http_host_allowed(r) || http_cors(r))
		goto done;
	r->route = find_route(r);
	bool limited = r->route ? r->route->rate_limited : is_api_path(r->path);
	if (limited && !http_rate_limit(r))
		goto done;
	if (memchr(r->path.base, '\0', r->path.len)) {
		/* %00: C strings downstream would end there ("hello%00x" would
		 * name "hello"). */
		http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL,
		                 "The path holds a NUL byte (%%00)");
	} else if (r->route == NULL) {
		http_reply_error(r, 404, "NOT_FOUND", NULL, NULL, "No route for %.*s %.*s",
		                 (int)r->method_text.len, r->method_text.base, (int)r->path.len,
		                 r->path.base);
	} else if (r->method == HTTP_OPTIONS) {
		allow(r, r->route);
		http_reply_bytes(r, 204, NULL, NULL, 0);
	} else if (r->route->on[r->method] == NULL) {
		allow(r, r->route);
		http_reply_error(r, 405, "METHOD_NOT_ALLOWED", NULL, NULL,
		                 "Method %.*s is not allowed on %s", (int)r->method_text.len,
		                 r->method_text.base, r->route->pattern);
	} else if (checked_origin(r) && http_auth_check(r) && checked_param(r) &&
	           !(r->route->to_leader && r->method != HTTP_GET && r->method != HTTP_HEAD &&
	             http_not_leader(r))) {
		r->route->on[r->method](r);
	}
done:
	if (!r->pending)
		http_req_finish(r);
}

void http_req_finish(struct http_req *r)
{
	r->pending = false;
	r->finished = true;
	http_count_request(r);
	r->on_done(r);
}

/* ---- answers that wait ---- */

static void arm_deferred(struct http *h)
{
	if (h->deferred)
		loop_timer_at(h->deferred_timer, h->deferred->due_ns);
	else
		loop_timer_stop(h->deferred_timer);
}

void http_req_defer(struct http_req *r, int64_t due_ns, void (*on_due)(struct http_req *r))
{
	struct http *h = r->h;
	struct http_req **p = &h->deferred;

	r->pending = true;
	r->due_ns = due_ns;
	r->on_due = on_due;
	while (*p && (*p)->due_ns <= due_ns)
		p = &(*p)->next_deferred;
	r->next_deferred = *p;
	*p = r;
	arm_deferred(h);
}

void http_req_undefer(struct http_req *r)
{
	struct http *h = r->h;
	for (struct http_req **p = &h->deferred; *p; p = &(*p)->next_deferred)
		if (*p == r) {
			*p = r->next_deferred;
			r->next_deferred = NULL;
			break;
		}
	arm_deferred(h);
}

static void on_deferred_timer(void *arg)
{
	struct http *h = arg;
	int64_t now = clock_now_ns();
	while (h->deferred && h->deferred->due_ns <= now) {
		struct http_req *r = h->deferred;
		h->deferred = r->next_deferred;
		r->next_deferred = NULL;
		r->on_due(r);
	}
	arm_deferred(h);
}

void http_flush_deferred(struct http *h)
{
	while (h->deferred) {
		struct http_req *r = h->deferred;
		h->deferred = r->next_deferred;
		r->next_deferred = NULL;
		r->on_due(r);
	}
	loop_timer_stop(h->deferred_timer);
}

/* ---- set-up ---- */

static void on_event(const struct event *ev, void *arg)
{
	struct http *h = arg;
	http_exec_on_event(h, ev);
	http_ws_on_event(h, ev);
}

void http_events_update(struct http *h)
{
	/* Only while someone listens: the scheduler skips building the payload
	 * of each log line when nobody is subscribed. */
	bool needed = h->nws > 0 || h->stop_waiters > 0;
	if (needed && h->events_sub == NULL) {
		h->events_sub = events_subscribe(h->deps.events, on_event, h);
	} else if (!needed && h->events_sub) {
		events_unsubscribe(h->deps.events, h->events_sub);
		h->events_sub = NULL;
	}
}

struct http *http_new(const struct http_deps *deps, char *err, size_t errlen)
{
	struct http *h = xcalloc(1, sizeof *h);
	h->deps = *deps;
	h->deferred_timer = loop_timer_new(deps->loop, on_deferred_timer, h);
	http_limits_init(h);
	http_ws_init(h);
	if (http_auth_init(h, err, errlen) < 0 || http_config_init(h, err, errlen) < 0) {
		http_free(h);
		return NULL;
	}
	return h;
}
