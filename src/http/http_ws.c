/* GET /api/ws: the event stream.
 *
 * Server to client, one text frame per event:
 *   {"type": "job.started", "payload": {...}, "timestamp": "2026-01-01T00:00:00Z"}
 * for the eight types of spec/API.md, "config.updated" for PATCH
 * /api/config/global, and "log.line" ({executionId, job, seq, timestamp,
 * level, message}) for the executions the client subscribed to.
 *
 * "jobs.changed" ({jobs, removed, scheduler}) carries the summaries, as in
 * GET /api/jobs?recent=20, of the jobs whose summary changed since the last
 * one: next runs, statuses and strips move with slots that announce nothing
 * else (a skipped slot, a paused scheduler). A client that connects, then
 * reads GET /api/jobs, misses no change: the snapshot the changes are
 * measured against is taken no later than its connection.
 *
 * Client to server, one JSON object per text frame:
 *   {"subscribe": "<executionId>"}    answered {"type": "subscribed", ...}
 *   {"unsubscribe": "<executionId>"}  answered {"type": "unsubscribed", ...}
 * anything else is answered {"type": "error", "payload": {code, message}}.
 *
 * A client that does not read never holds the loop: frames wait in the
 * client's own queue, and past WS_MAX_QUEUED bytes the client is closed. The
 * server pings every WS_PING_NS; a client silent for two rounds is closed.
 * Everything here runs on the loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <h2o/websocket.h>
#include <wslay/wslay.h>

#include "http/http_int.h"
#include "loop/loop.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define WS_MAX_CLIENTS 256
#define WS_MAX_SUBS    32
#define WS_MAX_IN      4096
#define WS_MAX_QUEUED  (1024 * 1024)
#define WS_PING_NS     (30 * NS_PER_SEC)
/* How often the scheduler's version is looked at for jobs.changed: the
 * most a job's nextRun, status or strip lags behind on a client. */
#define WS_STATE_NS (500 * 1000000LL)

struct http_ws {
	struct http_ws *next;
	struct http *h;
	h2o_websocket_conn_t *conn;
	char client[64];
	int64_t last_seen_ns;
	bool in_callback; /* inside wslay: h2o sends what we queue when we return */
	bool doomed;      /* to close once h2o hands the socket over */
	char subs[WS_MAX_SUBS][37];
	int nsubs;
};

static void unlink_client(struct http_ws *c)
{
	struct http *h = c->h;
	for (struct http_ws **p = &h->ws; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			h->nws--;
			break;
		}
	http_events_update(h);
}

/* release closes the connection and forgets the client. */
static void release(struct http_ws *c)
{
	unlink_client(c);
	h2o_websocket_close(c->conn);
	free(c);
}

/* drop closes a client we give up on (dead, slow, or we are stopping); not
 * from inside a wslay callback. Until h2o has sent the 101 answer it owns
 * the connection (and calls back into it), so then the client is only
 * marked, and closed when the socket is ours. */
static void drop(struct http_ws *c, const char *why)
{
	if (why && !c->doomed)
		log_kv(LOG_INFO, "WebSocket client closed", "client", c->client, "reason", why,
		       NULL);
	if (c->conn->sock == NULL) {
		c->doomed = true;
		return;
	}
	release(c);
}

/* send_text queues one frame. The socket is not there until h2o has sent
 * the 101 answer: then h2o flushes the queue itself. Returns false when
 * the client was dropped. */
static bool send_text(struct http_ws *c, const char *text, size_t len)
{
	if (c->doomed)
		return false;
	struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
	if (wslay_event_queue_msg(c->conn->ws_ctx, &m) != 0) {
		if (!c->in_callback)
			drop(c, "cannot queue a frame");
		return false;
	}
	if (c->in_callback)
		return true;
	if (wslay_event_get_queued_msg_length(c->conn->ws_ctx) > WS_MAX_QUEUED) {
		drop(c, "too slow: its queue of frames was full");
		return false;
	}
	if (c->conn->sock)
		h2o_websocket_proceed(c->conn); /* may close c: callers use nothing after */
	return true;
}

static char *envelope(const char *type, json_t *payload, int64_t ns)
{
	json_t *o = json_pack("{s:s,s:o,s:o}", "type", type, "payload", payload, "timestamp",
	                      http_time(ns));
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

static void reply(struct http_ws *c, const char *type, json_t *payload)
{
	char *text = envelope(type, payload, clock_now_ns());
	if (text)
		send_text(c, text, strlen(text));
	free(text);
}

static bool subscribed(const struct http_ws *c, const char *id)
{
	for (int i = 0; i < c->nsubs; i++)
		if (strcmp(c->subs[i], id) == 0)
			return true;
	return false;
}

static void on_request(struct http_ws *c, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *msg = json_loadb(text, len, 0, &jerr);
	json_t *sub = json_object_get(msg, "subscribe");
	json_t *unsub = json_object_get(msg, "unsubscribe");
	const char *id = json_string_value(sub ? sub : unsub);

	if (!json_is_object(msg) || json_object_size(msg) != 1 || id == NULL ||
	    !http_valid_id(id)) {
		reply(c, "error",
		      json_pack("{s:s,s:s}", "code", "VALIDATION_ERROR", "message",
		                "expected {\"subscribe\": \"<executionId>\"} or {\"unsubscribe\": "
		                "\"<executionId>\"}"));
	} else if (sub && !subscribed(c, id) && c->nsubs == WS_MAX_SUBS) {
		reply(c, "error",
		      json_pack("{s:s,s:s}", "code", "VALIDATION_ERROR", "message",
		                "too many subscriptions on this connection"));
	} else if (sub) {
		if (!subscribed(c, id))
			memcpy(c->subs[c->nsubs++], id, 37);
		reply(c, "subscribed", json_pack("{s:s}", "executionId", id));
	} else {
		for (int i = 0; i < c->nsubs; i++)
			if (strcmp(c->subs[i], id) == 0)
				memcpy(c->subs[i], c->subs[--c->nsubs], 37);
		reply(c, "unsubscribed", json_pack("{s:s}", "executionId", id));
	}
	json_decref(msg);
}

static void on_ws_message(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
	struct http_ws *c = conn->data;
	if (arg == NULL) {
		/* The peer closed, or the connection failed: h2o is done with it. */
		release(c);
		return;
	}
	c->last_seen_ns = clock_now_ns();
	if (arg->opcode != WSLAY_TEXT_FRAME)
		return;
	c->in_callback = true;
	on_request(c, (const char *)arg->msg, arg->msg_length);
	c->in_callback = false;
}

void http_on_ws(struct http_req *r)
{
	struct http *h = r->h;
	h2o_iovec_t key = http_find_header(r, "sec-websocket-key");
	if (r->upgrade.len != 9 || strncasecmp(r->upgrade.base, "websocket", 9) != 0 ||
	    key.len != 24) {
		http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL,
		                 "GET /api/ws needs a WebSocket handshake (Upgrade: websocket)");
	} else if (h->stopping) {
		http_reply_error(r, 503, "UNAVAILABLE", NULL, NULL, "ofelia is shutting down");
	} else if (h->nws >= WS_MAX_CLIENTS) {
		http_reply_error(r, 503, "UNAVAILABLE", NULL, NULL,
		                 "Too many WebSocket clients (%d)", WS_MAX_CLIENTS);
	} else {
		r->status = 101;
		r->is_websocket = true;
	}
}

bool http_ws_upgrade(struct http *h, h2o_req_t *req, const char *client)
{
	const char *key;
	/* http_on_ws checked the same headers; h2o's own check has the last word. */
	if (h2o_is_websocket_handshake(req, &key) != 0 || key == NULL)
		return false;
	struct http_ws *c = xcalloc(1, sizeof *c);
	c->h = h;
	c->last_seen_ns = clock_now_ns();
	snprintf(c->client, sizeof c->client, "%s", client);
	c->conn = h2o_upgrade_to_websocket(req, key, c, on_ws_message);
	wslay_event_config_set_max_recv_msg_length(c->conn->ws_ctx, WS_MAX_IN);
	c->next = h->ws;
	h->ws = c;
	h->nws++;
	http_events_update(h);
	if (!h->jobs_sent_ready) {
		json_decref(http_jobs_changes(h));
		h->state_version = scheduler_version(h->deps.scheduler);
	}
	reply(c, "connected", json_pack("{s:s}", "client", c->client));
	return true;
}

void http_ws_broadcast(struct http *h, const char *type, json_t *payload)
{
	if (h->ws == NULL) {
		json_decref(payload);
		return;
	}
	char *text = envelope(type, payload, clock_now_ns());
	size_t len = text ? strlen(text) : 0;
	for (struct http_ws *c = h->ws, *next; c && text; c = next) {
		next = c->next;
		send_text(c, text, len);
	}
	free(text);
}

void http_ws_on_event(struct http *h, const struct event *ev)
{
	if (h->ws == NULL)
		return;
	const char *id = NULL;
	if (ev->type == EVENT_LOG_LINE) {
		id = json_string_value(json_object_get(ev->payload, "executionId"));
		bool wanted = false;
		for (struct http_ws *c = h->ws; c && id && !wanted; c = c->next)
			wanted = subscribed(c, id);
		if (!wanted)
			return;
	}
	char *text = envelope(events_type_name(ev->type), json_incref(ev->payload), ev->time_ns);
	if (text == NULL)
		return;
	size_t len = strlen(text);
	for (struct http_ws *c = h->ws, *next; c; c = next) {
		next = c->next;
		if (id == NULL || subscribed(c, id))
			send_text(c, text, len);
	}
	free(text);
}

static void on_ping(void *arg)
{
	struct http *h = arg;
	int64_t now = clock_now_ns();
	for (struct http_ws *c = h->ws, *next; c; c = next) {
		next = c->next;
		if (c->doomed) {
			drop(c, NULL);
			continue;
		}
		if (now - c->last_seen_ns > 2 * WS_PING_NS + NS_PER_SEC) {
			drop(c, "no answer to pings");
			continue;
		}
		struct wslay_event_msg m = {WSLAY_PING, (const uint8_t *)"", 0};
		if (wslay_event_queue_msg(c->conn->ws_ctx, &m) == 0 && c->conn->sock)
			h2o_websocket_proceed(c->conn);
	}
	loop_timer_after(h->ping_timer, WS_PING_NS);
}

/* on_state announces jobs.changed when the scheduler's version moved. */
static void on_state(void *arg)
{
	struct http *h = arg;
	uint64_t version = scheduler_version(h->deps.scheduler);
	if (h->ws && h->jobs_sent_ready && version != h->state_version) {
		h->state_version = version;
		json_t *payload = http_jobs_changes(h);
		if (payload) {
			json_object_set_new(payload, "scheduler",
			                    http_scheduler_view(h, clock_now_ns()));
			http_ws_broadcast(h, "jobs.changed", payload);
		}
	}
	loop_timer_after(h->state_timer, WS_STATE_NS);
}

void http_ws_init(struct http *h)
{
	h->ping_timer = loop_timer_new(h->deps.loop, on_ping, h);
	loop_timer_after(h->ping_timer, WS_PING_NS);
	h->state_timer = loop_timer_new(h->deps.loop, on_state, h);
	loop_timer_after(h->state_timer, WS_STATE_NS);
}

void http_ws_close_all(struct http *h)
{
	for (struct http_ws *c = h->ws, *next; c; c = next) {
		next = c->next;
		drop(c, NULL);
	}
}

void http_ws_fini(struct http *h)
{
	http_ws_close_all(h);
	if (h->ws)
		log_kv(LOG_WARN, "WebSocket clients still in their handshake at exit", NULL);
	loop_timer_free(h->ping_timer);
	h->ping_timer = NULL;
	loop_timer_free(h->state_timer);
	h->state_timer = NULL;
}
