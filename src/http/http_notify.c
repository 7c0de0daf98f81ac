/* Notifications in the API: GET /api/notifications (the outbox, newest
 * first, by status and job), the notices of one execution (a key of GET
 * /api/execution/{id}) and the notification series of /metrics. Everything
 * comes from the store: the counters survive restarts like the job series,
 * and the pending count is the sender's durable backlog. Error texts were
 * masked before they were stored. */
#include <string.h>

#include "http/http_int.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define LIST_DEFAULT 100
#define LIST_MAX     1000

static const char *const states[] = {"pending", "delivered", "dead", "suppressed", NULL};
static const char *const channels[] = {"slack", "mail", "save", "webhook", NULL};
static const char *const counted[] = {"queued", "delivered", "retried", "dead", "suppressed", NULL};

static json_t *opt_string(const char *s)
{
	return s && *s ? http_string(s) : json_null();
}

static json_t *view(const struct store_notification *n)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(n->id));
	json_object_set_new(o, "idempotencyKey", http_string(n->idempotency_key));
	json_object_set_new(o, "executionId", opt_string(n->execution_id));
	json_object_set_new(o, "job", http_string(n->job_name));
	json_object_set_new(o, "channel", http_string(n->channel));
	json_object_set_new(o, "target", opt_string(n->target));
	json_object_set_new(o, "event", http_string(n->event));
	json_object_set_new(o, "status", http_string(n->state));
	json_object_set_new(o, "attempts", json_integer(n->attempts));
	json_object_set_new(o, "nextAttempt", http_time(n->next_attempt_ns));
	json_object_set_new(o, "lastAttempt", http_time(n->last_attempt_ns));
	json_object_set_new(o, "lastError", opt_string(n->last_error));
	json_object_set_new(o, "detail", opt_string(n->detail));
	json_object_set_new(o, "createdAt", http_time(n->created_ns));
	json_object_set_new(o, "finishedAt", http_time(n->finished_ns));
	return o;
}

void http_on_notifications(struct http_req *r)
{
	struct store *st = r->h->deps.store;
	struct store_notification **v;
	size_t n;
	int64_t limit, before;
	const char *status = http_query(r, "status");
	const char *job = http_query(r, "job");

	if (status && *status) {
		bool known = false;
		for (int i = 0; states[i] && !known; i++)
			known = strcmp(states[i], status) == 0;
		if (!known) {
			http_reply_error(r, 400, "VALIDATION_ERROR", NULL, NULL,
			                 "status must be pending, delivered, dead or suppressed");
			return;
		}
	} else {
		status = NULL;
	}
	if (job && *job == '\0')
		job = NULL;
	if (http_query_int(r, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit) < 0 ||
	    http_query_int(r, "before", 0, 0, INT64_MAX, &before) < 0)
		return;
	/* One more than asked tells whether there is a next page. */
	if (store_outbox_list(st, status, job, before, (int)limit + 1, &v, &n) < 0) {
		http_reply_error(r, 500, "INTERNAL_ERROR", NULL, NULL,
		                 "Cannot read the notifications: %s", store_errmsg(st));
		return;
	}
	bool more = n > (size_t)limit;
	json_t *items = json_array();
	for (size_t i = 0; i < n && i < (size_t)limit; i++)
		json_array_append_new(items, view(v[i]));
	json_t *next = more ? json_integer(v[limit - 1]->id) : json_null();
	store_notifications_free(v, n);
	http_reply_json(r, 200,
	                json_pack("{s:o,s:o,s:b}", "notifications", items, "nextBefore", next,
	                          "hasMore", more));
}

json_t *http_execution_notifications(struct http *h, const char *exec_id)
{
	struct store_notification **v;
	size_t n;
	if (store_outbox_of_execution(h->deps.store, exec_id, &v, &n) < 0)
		return json_array();
	json_t *items = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, view(v[i]));
	store_notifications_free(v, n);
	return items;
}

void http_notify_metrics(struct http *h, struct buf *b)
{
	struct store_notification_count *v = NULL;
	size_t n = 0;
	int64_t pending = 0;
	if (store_outbox_counters(h->deps.store, &v, &n, &pending) < 0)
		return;
	buf_puts(b, "# HELP ofelia_notifications_total Notices by channel and state: queued, "
	            "delivered, retried (a failed attempt to be tried again), dead, suppressed "
	            "(notification-cooldown)\n# TYPE ofelia_notifications_total counter\n");
	for (int c = 0; channels[c]; c++)
		for (int s = 0; counted[s]; s++) {
			int64_t count = 0;
			for (size_t i = 0; i < n; i++)
				if (strcmp(v[i].channel, channels[c]) == 0 &&
				    strcmp(v[i].state, counted[s]) == 0)
					count = v[i].count;
			buf_printf(b,
			           "ofelia_notifications_total{channel=\"%s\",state=\"%s\"} %lld\n",
			           channels[c], counted[s], (long long)count);
		}
	buf_printf(b,
	           "# HELP ofelia_notifications_pending Notices waiting for delivery (the "
	           "sender's backlog)\n# TYPE ofelia_notifications_pending gauge\n"
	           "ofelia_notifications_pending %lld\n",
	           (long long)pending);
	free(v);
}

static json_t *masked_url(const char *url)
{
	if (url == NULL || *url == '\0')
		return json_null();
	const char *host = strstr(url, "://");
	if (host == NULL)
		return json_string("********");
	host += 3;
	size_t len = strcspn(host, "/?#@");
	if (host[len] == '@') {
		host += len + 1;
		len = strcspn(host, "/?#");
	}
	char *text =
	    xasprintf("%.*s%.*s/...", (int)(strstr(url, "://") + 3 - url), url, (int)len, host);
	json_t *v = http_string(text);
	free(text);
	return v;
}

static json_t *masked(const char *s)
{
	return s && *s ? json_string("********") : json_null();
}

json_t *http_webhooks_view(const struct config *c)
{
	json_t *list = json_array();
	for (size_t i = 0; i < c->nwebhooks; i++) {
		const struct config_webhook *w = &c->webhooks[i];
		json_t *o = json_object();
		json_object_set_new(o, "name", http_string(w->name));
		json_object_set_new(o, "preset", opt_string(w->resolved.name));
		json_object_set_new(o, "url", masked_url(w->url));
		json_object_set_new(o, "id", masked(w->id));
		json_object_set_new(o, "secret", masked(w->secret));
		json_object_set_new(o, "trigger", http_string(w->trigger ? w->trigger : "error"));
		json_object_set_new(o, "link", masked_url(w->link));
		json_object_set_new(o, "device", opt_string(w->device));
		json_object_set_new(o, "timeout", json_integer(w->timeout_ns));
		json_object_set_new(o, "retryCount",
		                    w->retry_count >= 0 ? json_integer(w->retry_count)
		                                        : json_null());
		json_object_set_new(o, "source", opt_string(w->source));
		json_array_append_new(list, o);
	}
	return list;
}
