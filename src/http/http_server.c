/* The listening side: h2o on the daemon's loop, one handler for every path
 * (the router does the rest), and the copy of each h2o request into a
 * struct http_req and of the answer back out.
 *
 * h2o answers a few requests itself, before any handler: a body over
 * max-body (413), a broken chunked body (400), an unknown Expect (417). A
 * filter on the fallback path, where h2o sends those, puts them in the
 * error envelope too.
 *
 * Connections are counted and capped, and the requests h2o would refuse
 * in plain text are answered in the envelope: http_conn.c.
 *
 * Shutdown: http_stop closes the listener and the WebSocket clients,
 * answers what waits, and makes idle keep-alive connections time out at
 * once; http_free turns the loop until they are gone, so nothing is left
 * for the leak checker. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http_int.h"
#include "loop/loop.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Turns of the loop http_free gives open connections to close. */
#define CLOSE_TURNS 100

struct handler {
	h2o_handler_t super;
	struct http *h;
};

struct error_filter {
	h2o_filter_t super;
	struct http *h;
};

struct error_ostream {
	h2o_ostream_t super;
	h2o_iovec_t body;
};

static h2o_generator_t generator = {NULL, NULL};

/* peer_text writes the connection's peer address; an IPv4 client on a
 * dual-stack socket shows as IPv4. */
static void peer_text(h2o_conn_t *conn, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t len = conn->callbacks->get_peername(conn, (struct sockaddr *)&ss);
	snprintf(out, outlen, "unknown");
	if (len == 0)
		return;
	if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)outlen);
	} else if (ss.ss_family == AF_INET6) {
		struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)outlen);
		else
			inet_ntop(AF_INET6, a, out, (socklen_t)outlen);
	}
}

static void send_response(struct http_req *r)
{
	h2o_req_t *req = r->glue;
	if (r->is_websocket) {
		if (http_ws_upgrade(r->h, req, r->client))
			return;
		r->is_websocket = false;
		http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL,
		                 "GET /api/ws needs a WebSocket handshake");
	}
	if (r->h->stopping)
		req->http1_is_persistent = 0;
	req->res.status = r->status;
	req->res.reason = http_status_reason(r->status);
	req->res.headers = r->res_headers;
	req->res.content_length = r->res_body.len;
	h2o_start_response(req, &generator);
	if (r->res_body.len && r->method != HTTP_HEAD)
		h2o_send(req, &r->res_body, 1, H2O_SEND_STATE_FINAL);
	else
		h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
	http_conn_sent(req);
}

/* reject answers the stand-in of a request h2o would have refused in
 * plain text (see http_conn.c). */
static void reject(struct http_req *r, int status)
{
	http_security_headers(r);
	if (status == 414)
		http_reply_error(r, 414, "URI_TOO_LONG", NULL, NULL,
		                 "The request line is longer than %d bytes", H2O_MAX_REQLEN);
	else if (status == 431)
		http_reply_error(r, 431, "HEADERS_TOO_LARGE", NULL, NULL,
		                 "The request has more than %d headers or a head longer than %d "
		                 "bytes",
		                 H2O_MAX_HEADERS, H2O_MAX_REQLEN);
	else
		http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL,
		                 "The request is not HTTP/1.x (a control character in the URL, or "
		                 "no version)");
	http_req_finish(r);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct http *h = ((struct handler *)self)->h;
	struct http_req *r = h2o_mem_alloc_pool(&req->pool, sizeof *r);

	http_req_init(r, h, &req->pool);
	r->method_text = req->method;
	r->method = http_method_parse(req->method);
	r->path = req->path_normalized;
	if (req->query_at != SIZE_MAX)
		r->query = h2o_iovec_init(req->path.base + req->query_at + 1,
		                          req->path.len - req->query_at - 1);
	r->host = req->input.authority;
	r->headers = &req->headers;
	r->upgrade = req->upgrade;
	r->body = req->entity;
	peer_text(req->conn, r->peer, sizeof r->peer);
	r->glue = req;
	r->on_done = send_response;
	int rejected = http_conn_request(req);
	if (rejected)
		reject(r, rejected);
	else
		http_dispatch(r);
	return 0;
}

/* ---- answers h2o makes itself ---- */

static void on_error_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t n,
                          h2o_send_state_t state)
{
	struct error_ostream *os = (struct error_ostream *)self;
	(void)bufs;
	(void)n;
	/* h2o's text body is replaced by the envelope, sent with the last call. */
	bool head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
	if (state == H2O_SEND_STATE_IN_PROGRESS || head)
		h2o_ostream_send_next(self, req, NULL, 0, state);
	else
		h2o_ostream_send_next(self, req, &os->body, 1, state);
}

static void on_error_setup(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
	struct http *h = ((struct error_filter *)self)->h;
	struct http_req r;
	int status = req->res.status;

	http_req_init(&r, h, &req->pool);
	r.method_text = req->method;
	r.method = http_method_parse(req->method);
	r.path = req->path;
	http_security_headers(&r);
	if (status == 413)
		http_reply_error(&r, 413, "PAYLOAD_TOO_LARGE", NULL, NULL,
		                 "The request body is larger than web.max-body (%zu bytes)",
		                 h->globalconf.max_request_entity_size);
	else
		http_reply_error(&r, status, "VALIDATION_ERROR", NULL, NULL, "%s",
		                 req->res.reason ? req->res.reason : "Bad request");
	http_count(h, NULL, r.method, status);

	req->res.headers = r.res_headers;
	req->res.content_length = r.res_body.len;
	struct error_ostream *os = (struct error_ostream *)h2o_add_ostream(req, sizeof *os, slot);
	os->super.do_send = on_error_send;
	os->body = r.res_body;
	h2o_setup_next_ostream(req, &os->super.next);
}

/* ---- listening ---- */

/* split_address reads "host:port", "[v6]:port" or ":port" (every
 * interface). */
static int split_address(const char *address, char *host, size_t hostlen, char *port,
                         size_t portlen)
{
	const char *colon = strrchr(address, ':');
	if (colon == NULL || colon[1] == '\0')
		return -1;
	const char *h = address, *e = colon;
	if (*h == '[' && e > h && e[-1] == ']') {
		h++;
		e--;
	}
	if ((size_t)(e - h) >= hostlen || strlen(colon + 1) >= portlen)
		return -1;
	memcpy(host, h, (size_t)(e - h));
	host[e - h] = '\0';
	snprintf(port, portlen, "%s", colon + 1);
	return 0;
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* resolve finds the address to listen on; without auth (and without
 * web.insecure) it must be loopback. The caller frees *ai. */
static int resolve(const struct config_web *w, struct addrinfo **ai, char *err, size_t errlen)
{
	const char *address = w->address;
	char host[256], port[16];
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	int rc;

	*ai = NULL;
	if (split_address(address, host, sizeof host, port, sizeof port) < 0) {
		snprintf(err, errlen, "web address \"%s\" is not host:port", address);
		return -1;
	}
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, ai)) != 0) {
		snprintf(err, errlen, "web address \"%s\": %s", address, gai_strerror(rc));
		*ai = NULL;
		return -1;
	}
	if (!is_loopback((*ai)->ai_addr) && !w->auth_enabled && !w->insecure) {
		snprintf(err, errlen,
		         "web address \"%s\" is not a loopback address and web auth is off: "
		         "anyone who reaches it could change jobs and run commands. Turn on "
		         "web.auth (--web-auth-enabled), listen on 127.0.0.1, or accept the risk "
		         "with web.insecure: true (--web-insecure)",
		         address);
		freeaddrinfo(*ai);
		*ai = NULL;
		return -1;
	}
	return 0;
}

int http_config_check(const struct config *c, char *err, size_t errlen)
{
	struct addrinfo *ai;
	if (c->web.auth_enabled && c->web.nusers == 0) {
		snprintf(err, errlen,
		         "web auth is enabled but no user is configured (web.auth.users, or "
		         "web-username and web-password-hash)");
		return -1;
	}
	if (resolve(&c->web, &ai, err, errlen) < 0)
		return -1;
	freeaddrinfo(ai);
	return 0;
}

static int listen_on(struct http *h, const struct config_web *w, char *err, size_t errlen)
{
	char shown[INET6_ADDRSTRLEN];
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;
	int fd = -1, on = 1;

	if (resolve(w, &ai, err, errlen) < 0)
		return -1;
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", w->address, strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	h->wildcard = ss.ss_family == AF_INET6
	                  ? IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr)
	                  : ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, shown, sizeof shown);
		snprintf(h->address, sizeof h->address, "[%s]:%u", shown,
		         ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, shown, sizeof shown);
		snprintf(h->address, sizeof h->address, "%s:%u", shown,
		         ntohs(((struct sockaddr_in *)&ss)->sin_port));
	}
	h->listener = h2o_evloop_socket_create(h->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
	http_conn_listen(h);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

struct http *http_start(const struct http_deps *deps, char *err, size_t errlen)
{
	const struct config *cfg = deps->config(deps->arg);
	if (http_config_check(cfg, err, errlen) < 0)
		return NULL;
	struct http *h = http_new(deps, err, errlen);
	if (h == NULL)
		return NULL;

	h2o_config_init(&h->globalconf);
	h->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("ofelia"));
	h->globalconf.max_request_entity_size = (size_t)cfg->web.max_body_bytes;
	/* HTTP/1.1 only: http_conn.c watches HTTP/1 connections, and the API
	 * has no use for h2c. */
	h->globalconf.http1.upgrade_to_http2 = 0;
	h2o_hostconf_t *host =
	    h2o_config_register_host(&h->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
	struct handler *handler = (struct handler *)h2o_create_handler(path, sizeof *handler);
	handler->super.on_req = on_req;
	handler->h = h;
	struct error_filter *filter =
	    (struct error_filter *)h2o_create_filter(&host->fallback_path, sizeof *filter);
	filter->super.on_setup_ostream = on_error_setup;
	filter->h = h;
	h2o_context_init(&h->ctx, loop_evloop(deps->loop), &h->globalconf);
	h->ctx_ready = true;
	h->accept_ctx.ctx = &h->ctx;
	h->accept_ctx.hosts = h->globalconf.hosts;
	http_conn_init(h, cfg);

	if (listen_on(h, &cfg->web, err, errlen) < 0) {
		http_free(h);
		return NULL;
	}
	log_kv(LOG_INFO, "listening", "address", h->address, "auth",
	       cfg->web.auth_enabled ? "on" : "off", "api",
	       cfg->web.auth_enabled || cfg->web.insecure ? "read-write" : "read-only", NULL);
	return h;
}

void http_stop(struct http *h)
{
	if (h == NULL || h->stopping)
		return;
	h->stopping = true;
	if (h->listener) {
		h2o_socket_close(h->listener);
		h->listener = NULL;
	}
	h->accept_paused = false;
	if (h->accept_timer)
		loop_timer_stop(h->accept_timer);
	http_ws_close_all(h);
	http_flush_deferred(h);
	/* Keep-alive connections wait for their next request under this
	 * timeout; at 0 they close at the next turn of the loop. */
	if (h->ctx_ready)
		h->ctx.http1.req_timeout.timeout = 0;
}

void http_free(struct http *h)
{
	if (h == NULL)
		return;
	http_stop(h);
	/* Logins still hashing are answered (as the hasher's mailbox drains),
	 * some of them late: answer those now too. */
	http_auth_fini(h);
	http_flush_deferred(h);
	if (h->ctx_ready) {
		for (int i = 0; i < CLOSE_TURNS && !h2o_linklist_is_empty(&h->ctx.http1._conns);
		     i++)
			h2o_evloop_run(h->ctx.loop, 10);
		if (!h2o_linklist_is_empty(&h->ctx.http1._conns))
			log_kv(LOG_WARN, "HTTP connections still open at exit", NULL);
		http_conn_fini(h);
		h2o_context_dispose(&h->ctx);
		/* h2o destroys the queue it made but leaves its memory to us. */
		free(h->ctx.queue);
		h2o_config_dispose(&h->globalconf);
	}
	http_ws_fini(h);
	if (h->events_sub)
		events_unsubscribe(h->deps.events, h->events_sub);
	http_limits_fini(h);
	http_jobs_fini(h);
	loop_timer_free(h->deferred_timer);
	json_decref(h->saved_global);
	free(h);
}
