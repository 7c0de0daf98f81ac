/* Private to the http module: the server's state, the request as the
 * handlers see it, and the functions the files share.
 *
 * A request reaches the handlers as a struct http_req, not as h2o's
 * h2o_req_t: http_server.c copies method, path, query, headers and body in
 * and sends whatever the handlers left in the response fields out. The
 * router, the handlers, auth and the limits never see a socket, so the fuzz
 * target and the unit tests drive them with a memory pool and a real store.
 *
 * A handler either answers at once (the response fields are set when it
 * returns) or marks the request pending and calls http_req_finish later (a
 * login waits for the password hasher, a stop for the execution's end).
 * Every per-request allocation comes from the request's pool. Everything
 * here runs on the loop thread, except the hasher's worker (http_auth.c). */
#ifndef OFELIA_HTTP_HTTP_INT_H
#define OFELIA_HTTP_HTTP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <h2o.h>
#include <jansson.h>

#include "config/config.h"
#include "events/events.h"
#include "http/http.h"
#include "scheduler/scheduler.h"
#include "store/store.h"
#include "util/map.h"
#include "util/strv.h"

/* How long a client may keep a login failure against it, and how often the
 * per-client table is swept of idle entries. */
#define HTTP_CLIENT_WINDOW_NS (60LL * 1000000000LL)

struct http_req;
struct http_route;
struct http_hasher;
struct http_ws;

typedef void http_handler_fn(struct http_req *r);

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_POST,
	HTTP_PUT,
	HTTP_PATCH,
	HTTP_DELETE,
	HTTP_OPTIONS,
	HTTP_OTHER,
};
#define HTTP_METHOD_COUNT 8

/* The status codes counted one by one in ofelia_http_requests_total; any
 * other lands in the last slot. */
#define HTTP_CODE_SLOTS 21

/* One route: a path pattern where "{}" stands for one segment (a job name,
 * an execution id), and a handler per method. */
struct http_route {
	const char *pattern; /* as exposed in metrics */
	http_handler_fn *on[HTTP_METHOD_COUNT];
	bool is_public;    /* no token even with auth on (login, health, UI) */
	bool is_metrics;   /* public unless web.metrics-auth */
	bool rate_limited; /* under /api/: counted per client */
	bool job_param;    /* "{}" is a job name: checked as the config checks it */
	bool to_leader;    /* in a cluster, its changes are the leader's to make */
};

struct http_req {
	struct http *h;
	h2o_mem_pool_t *pool;
	const struct config *cfg; /* in force when the request arrived */
	int64_t now_ns;

	/* request */
	enum http_method method;
	h2o_iovec_t method_text;
	h2o_iovec_t path;  /* percent-decoded and normalized */
	h2o_iovec_t query; /* after '?', still encoded; len 0 when none */
	h2o_iovec_t host;  /* the Host header; len 0 when none came */
	const h2o_headers_t *headers;
	h2o_iovec_t upgrade; /* the Upgrade header, which h2o keeps apart */
	h2o_iovec_t body;
	char peer[64];   /* the socket's peer address */
	char client[64]; /* the client, after trusted proxies */
	const struct http_route *route;
	const char *param; /* the "{}" segment, NUL-terminated */
	const char *user;  /* when a valid token came with the request */
	const char *role;

	/* response */
	int status;
	h2o_headers_t res_headers;
	h2o_iovec_t res_body;
	bool is_websocket; /* the server upgrades the connection */
	bool pending;      /* the handler calls http_req_finish later */
	bool finished;

	/* deferred answer: a slowed failed login, a stop waiting for the end */
	int64_t due_ns;
	void (*on_due)(struct http_req *r);
	struct http_req *next_deferred;
	char exec_id[37];  /* the execution a stop waits for */
	void *reload_wait; /* a reload this request waits for (http_sched.c) */

	/* how the answer leaves: the server sends it, the fuzz target records it */
	void (*on_done)(struct http_req *r);
	void *glue;
};

/* A rendered GET /api/job/{name} answer, by path and query. */
struct http_page {
	char *key; /* NULL: free */
	uint64_t version;
	char *body;
	size_t len;
};
#define HTTP_PAGES 64

/* One client (by address) as the limits see it. */
struct http_client {
	double tokens;
	int64_t refilled_ns;
	int64_t *fails; /* ring of login attempt times (0: refunded), NULL until the first */
	int nfails;     /* entries used in the ring */
	int fail_at;    /* next slot */
};

struct http {
	struct http_deps deps;

	/* the listening side (http_server.c); unused by the fuzz target */
	h2o_globalconf_t globalconf;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
	bool ctx_ready;
	h2o_socket_t *listener;
	char address[128];
	bool wildcard; /* listening on every interface */
	bool stopping;

	/* connections (http_conn.c) */
	struct http_conn *conns;                 /* every open one */
	struct http_conn *idle_head, *idle_tail; /* waiting for a request, oldest first */
	int nconns, max_conns;
	bool accept_paused;
	struct loop_timer *accept_timer;
	int64_t warned_ns;
	uint64_t evicted, accept_pauses;

	/* auth (http_auth.c) */
	char *secret;
	size_t secret_len;
	struct http_hasher *hasher;

	/* limits (http_limits.c) */
	struct map clients; /* client address -> struct http_client */
	struct loop_timer *sweep_timer;
	struct strv proxies_text; /* the trusted_proxies parsed into proxies */
	struct http_cidr *proxies;
	size_t nproxies;

	/* answers that wait (http_router.c) */
	struct http_req *deferred; /* by due_ns */
	struct loop_timer *deferred_timer;
	int stop_waiters;
	struct events_sub *events_sub; /* while WebSocket clients or stops wait */

	/* GET /api/jobs and /api/job/{name} pages rendered once per scheduler
	 * version (http_jobs.c); bodies are h2o shared memory, linked to each
	 * request's pool */
	bool jobs_cached;
	uint64_t jobs_version;
	char *jobs_body;
	size_t jobs_len;
	json_t *jobs_list; /* the summaries in jobs_body, for ?recent= and jobs.changed */
	int jobs_running;
	/* the summaries last announced as jobs.changed, by name (json_t *) */
	struct map jobs_sent;
	bool jobs_sent_ready;
	struct http_page *pages; /* HTTP_PAGES of them, reused in turn */
	size_t next_page;

	/* WebSocket clients (http_ws.c) */
	struct http_ws *ws;
	int nws;
	struct loop_timer *ping_timer;
	struct loop_timer *state_timer; /* looks for changes to announce as jobs.changed */
	uint64_t state_version;         /* the scheduler's version last looked at */

	/* global settings changed through the API (http_config.c) */
	json_t *saved_global;

	/* ofelia_http_requests_total (http_monitor.c) */
	uint64_t requests[64][HTTP_METHOD_COUNT][HTTP_CODE_SLOTS];
};

/* ---- http_router.c ---- */

/* http_new sets the server up without a listener: what the fuzz target
 * drives through http_dispatch. */
struct http *http_new(const struct http_deps *deps, char *err, size_t errlen);
/* http_req_init prepares r for a request whose memory comes from pool. */
void http_req_init(struct http_req *r, struct http *h, h2o_mem_pool_t *pool);
/* http_dispatch runs one request through limits, auth, routing and its
 * handler; the answer reaches r->on_done, now or later. */
void http_dispatch(struct http_req *r);
/* http_req_finish hands a pending request's answer to r->on_done. */
void http_req_finish(struct http_req *r);
/* http_req_defer calls on_due(r) at due_ns unless http_req_undefer first. */
void http_req_defer(struct http_req *r, int64_t due_ns, void (*on_due)(struct http_req *r));
void http_req_undefer(struct http_req *r);
/* http_flush_deferred answers every waiting request now (shutdown). */
void http_flush_deferred(struct http *h);
/* http_events_update subscribes to the events while anyone here needs
 * them (WebSocket clients, stops waiting for an end) and not otherwise. */
void http_events_update(struct http *h);
/* http_route_count / http_route_at expose the route table to metrics. */
size_t http_route_count(void);
const struct http_route *http_route_at(size_t i);
/* http_method_name is the wire name of a method. */
const char *http_method_name(enum http_method m);
/* http_method_parse maps the request's method text. */
enum http_method http_method_parse(h2o_iovec_t m);

/* ---- http_response.c ---- */

/* http_config_now returns the config in force. */
const struct config *http_config_now(struct http *h);
/* http_header adds a response header; name and value are copied. */
void http_header(struct http_req *r, const char *name, const char *value);
/* http_reply_json answers status with body (the reference is taken). */
void http_reply_json(struct http_req *r, int status, json_t *body);
/* http_reply_bytes answers with bytes that live at least as long as r. */
void http_reply_bytes(struct http_req *r, int status, const char *content_type, const char *data,
                      size_t len);
/* http_reply_error answers with the error envelope. detail_key ("job",
 * "executionId") and detail_value go into details when not NULL. */
void http_reply_error(struct http_req *r, int status, const char *code, const char *detail_key,
                      const char *detail_value, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* http_reply_sched_error maps a scheduler result to its status and code
 * (code, when not NULL, overrides VALIDATION_ERROR or CONFLICT). */
void http_reply_sched_error(struct http_req *r, enum scheduler_rc rc, const char *code,
                            const char *detail_key, const char *detail_value, const char *err);
/* http_body_object parses the body as a JSON object (the caller owns the
 * reference); on failure it answers 400 VALIDATION_ERROR and returns NULL. */
json_t *http_body_object(struct http_req *r);
/* http_query finds key in the query string and returns its decoded value
 * in the request's pool, or NULL. */
const char *http_query(struct http_req *r, const char *key);
/* http_query_int reads an optional whole-number parameter in [min, max]
 * (dflt when absent); on a bad value it answers 400 and returns -1. */
int http_query_int(struct http_req *r, const char *key, int64_t dflt, int64_t min, int64_t max,
                   int64_t *out);
/* http_find_header returns a request header's value (name in lower case),
 * or len 0 when absent. */
h2o_iovec_t http_find_header(const struct http_req *r, const char *name);
/* http_string returns a JSON string of s, with bytes that are not UTF-8
 * replaced by '?'. */
json_t *http_string(const char *s);
/* http_time returns an RFC 3339 string, or null for 0. */
json_t *http_time(int64_t ns);
/* http_status_reason is the reason phrase of an HTTP status. */
const char *http_status_reason(int status);
/* http_strdup copies len bytes of s into the request's pool. */
char *http_strdup(struct http_req *r, const char *s, size_t len);

/* ---- http_conn.c ---- */

/* http_conn_init raises the soft descriptor limit and sets the connection
 * cap below it; http_conn_listen accepts on h->listener within that cap;
 * http_conn_fini forgets the connections still open. */
void http_conn_init(struct http *h, const struct config *cfg);
void http_conn_listen(struct http *h);
void http_conn_fini(struct http *h);
/* http_conn_request marks req's connection busy and returns the status
 * (400, 414, 431) of the malformed request req stands in for, or 0. */
int http_conn_request(h2o_req_t *req);
/* http_conn_sent follows req's connection after its answer went to h2o,
 * to check the next request on it. */
void http_conn_sent(h2o_req_t *req);
/* http_head_status tells what h2o makes of the request head at the start
 * of buf, of which it saw last_len bytes before: 200 when it is whole and
 * h2o takes it, 0 while more may come, else the status of its refusal: 400
 * (not HTTP/1.x), 414 (request line too long), 431 (too many or too long
 * headers). */
int http_head_status(const char *buf, size_t len, size_t last_len);

/* ---- http_limits.c ---- */

struct http_cidr {
	int family;
	unsigned char addr[16];
	int bits;
};

/* http_limits_init / _fini own the client table and the sweep timer. */
void http_limits_init(struct http *h);
void http_limits_fini(struct http *h);
/* http_resolve_client sets r->client from the peer and, when the peer is a
 * trusted proxy, from X-Forwarded-For. */
void http_resolve_client(struct http_req *r);
/* http_host_allowed checks the Host header against web.allowed-hosts (and
 * IP literals and localhost); returns false when it answered 403. */
bool http_host_allowed(struct http_req *r);
/* http_host_name_allowed is that check on a host name without its port. */
bool http_host_name_allowed(const struct strv *allowed, const char *name, size_t len);
/* http_origin_allowed tells whether the request's Origin (a browser page)
 * may act here: none, the same as Host, or one of web.cors.allowed-origins.
 * Otherwise it answers 403 and returns false. */
bool http_origin_allowed(struct http_req *r);
/* http_json_only refuses (415) a change whose body or Content-Type is not
 * application/json, which no cross-site form or simple request can send. */
bool http_json_only(struct http_req *r);
/* http_security_headers adds the headers every response carries. */
void http_security_headers(struct http_req *r);
/* http_cors adds the CORS headers of an allowed origin; returns true when
 * it answered a preflight. */
bool http_cors(struct http_req *r);
/* http_rate_limit takes one request from the client's allowance and sets
 * the X-RateLimit headers; returns false when it answered 429. */
bool http_rate_limit(struct http_req *r);
/* http_login_begin counts a login attempt of the client as it starts, so
 * attempts made in parallel count before any fails; false (nothing
 * counted) when the client has had max-login-attempts in the last minute.
 * http_login_refund takes back the attempt begun at at_ns when it
 * succeeded; http_login_recent is the client's attempts in the window. */
bool http_login_begin(struct http_req *r);
void http_login_refund(struct http_req *r, int64_t at_ns);
int http_login_recent(struct http_req *r);
/* http_cidr_parse reads "10.0.0.0/8", "::1" or "192.168.1.7"; 0 or -1. */
int http_cidr_parse(const char *text, struct http_cidr *out);
/* http_cidr_match tells whether the address text falls in the range. */
bool http_cidr_match(const struct http_cidr *c, const char *addr);
/* http_bucket_take is the token bucket: refills at per_minute / 60 a
 * second up to burst, takes one token; returns false when none was left. */
bool http_bucket_take(double *tokens, int64_t *refilled_ns, int64_t now_ns, int per_minute,
                      int burst);

/* ---- http_auth.c ---- */

int http_auth_init(struct http *h, char *err, size_t errlen);
void http_auth_fini(struct http *h);
/* http_auth_check verifies the request's token when the route needs one
 * and the role for a change; returns false when it answered 401 or 403. */
bool http_auth_check(struct http_req *r);
/* A token's session. */
struct http_claims {
	const char *user;     /* the config's strings */
	const char *role;     /* the config's role, not the token's */
	char sid[33];         /* session id: a login makes it, refreshes keep it */
	int64_t auth_time_ns; /* when the session's login was */
};
/* http_token_verify checks a token (HS256, our key, no "crit" header, exp
 * ahead, iat and nbf not ahead, its session younger than max-session-age, a
 * user that still exists) and fills out with its user and current role. */
int http_token_verify(struct http *h, const struct config *cfg, const char *token, size_t len,
                      int64_t now_ns, struct http_claims *out);
/* http_token_sign returns a token of session c (the caller frees it),
 * valid for token-expiry but not past the session's max-session-age, and
 * its expiry; NULL when the session has ended. */
char *http_token_sign(struct http *h, const struct config *cfg, const struct http_claims *c,
                      int64_t now_ns, int64_t *expires_ns);
/* http_secret_equal compares in time independent of where they differ. */
bool http_secret_equal(const char *a, size_t alen, const char *b, size_t blen);
/* http_can_write tells whether a request as r->user / r->role (NULL when
 * no valid token came) may change anything. */
bool http_can_write(const struct http_req *r);
void http_on_login(struct http_req *r);
void http_on_refresh(struct http_req *r);
void http_on_session(struct http_req *r);

/* ---- handlers ---- */

void http_jobs_fini(struct http *h);
void http_on_jobs(struct http_req *r);
void http_on_job_get(struct http_req *r);
void http_on_job_put(struct http_req *r);
void http_on_job_delete(struct http_req *r);
void http_on_job_run(struct http_req *r);
void http_on_job_toggle(struct http_req *r);
/* http_job_view returns the API form of a stored job (definition and
 * lastRun, nextRun, status). */
json_t *http_job_view(struct http *h, const struct store_job *row);
/* http_jobs_changes returns the payload of a jobs.changed event: the
 * summaries (with "recent") of the jobs that changed since the last call and
 * the names of those that went, or NULL when nothing changed. The first
 * call only takes the snapshot later ones compare with. The caller owns the
 * reference. */
json_t *http_jobs_changes(struct http *h);

/* http_valid_id tells whether id looks like an execution id (a UUID), so
 * anything else is a 404 without a query. */
bool http_valid_id(const char *id);
void http_on_execution(struct http_req *r);
void http_on_execution_stop(struct http_req *r);
void http_on_execution_logs(struct http_req *r);
/* http_exec_on_event answers the stops that waited for this execution. */
void http_exec_on_event(struct http *h, const struct event *ev);
/* http_chain_fields adds e's attempt, firstAttemptId and causeId to o and
 * returns o. */
json_t *http_chain_fields(json_t *o, const struct store_execution *e);

/* http_scheduler_view returns GET /api/scheduler/status's body (caller
 * owns it). */
json_t *http_scheduler_view(struct http *h, int64_t now_ns);
void http_on_scheduler_status(struct http_req *r);
void http_on_scheduler_start(struct http_req *r);
void http_on_scheduler_stop(struct http_req *r);
void http_on_scheduler_reload(struct http_req *r);

void http_on_liveness(struct http_req *r);
void http_on_readiness(struct http_req *r);
void http_on_metrics(struct http_req *r);
/* http_count_request adds the answered request to the HTTP counters;
 * http_count does it for an answer h2o made itself (route NULL). */
void http_count_request(struct http_req *r);
void http_count(struct http *h, const struct http_route *route, enum http_method m, int status);

int http_config_init(struct http *h, char *err, size_t errlen);
void http_on_config(struct http_req *r);
void http_on_config_global(struct http_req *r);

void http_on_ui(struct http_req *r);

/* ---- http_cluster.c ---- */

/* http_not_leader answers a change on a follower with 421 NOT_LEADER (the
 * leader's URL in details) or, while no node leads, 503 NO_LEADER; false
 * when this node may make the change (it leads, or there is no cluster). */
bool http_not_leader(struct http_req *r);
/* http_cluster_status returns the cluster object of readiness and the
 * scheduler status, NULL without a cluster; *healthy: etcd answers. */
json_t *http_cluster_status(struct http *h, bool *healthy);
/* GET /internal/cluster/changes: this node's changes for another node,
 * authenticated by the cluster secret. */
void http_on_cluster_changes(struct http_req *r);

/* ---- http_notify.c ---- */

void http_on_notifications(struct http_req *r);
/* http_execution_notifications returns the API form of an execution's
 * notices (a new array; empty when none or unreadable). */
json_t *http_execution_notifications(struct http *h, const char *exec_id);
/* http_webhooks_view returns c's webhooks for GET /api/config, their URLs
 * cut to scheme and host and their ids and secrets masked. */
json_t *http_webhooks_view(const struct config *c);
/* http_notify_metrics appends the notification series to /metrics. */
struct buf;
void http_notify_metrics(struct http *h, struct buf *b);

/* ---- http_ws.c ---- */

void http_on_ws(struct http_req *r);
void http_ws_init(struct http *h);
/* http_ws_upgrade completes the handshake of a request http_on_ws accepted;
 * false when h2o does not see a handshake in it. */
bool http_ws_upgrade(struct http *h, h2o_req_t *req, const char *client);
/* http_ws_on_event sends an event to the clients that want it. */
void http_ws_on_event(struct http *h, const struct event *ev);
/* http_ws_broadcast sends {"type","payload","timestamp"} to every client
 * (payload reference taken). */
void http_ws_broadcast(struct http *h, const char *type, json_t *payload);
/* http_ws_close_all closes every client (shutdown). */
void http_ws_close_all(struct http *h);
void http_ws_fini(struct http *h);

#endif
