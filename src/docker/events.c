/* The events stream: GET /events stays open and sends one JSON object per
 * line, in chunks that do not follow the lines (STACK.md §4). Label
 * discovery reads it on its own thread and stops it with docker_cancel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker/internal.h"
#include "util/clock.h"
#include "util/xalloc.h"

/* fill reads an event out of its JSON object, borrowing its strings. */
static int fill(json_t *j, struct docker_event *ev)
{
	json_t *actor = json_object_get(j, "Actor");
	const char *action = docker_json_str(j, "Action");
	ev->type = docker_json_str(j, "Type");
	ev->id = docker_json_str(actor, "ID");
	if (!ev->id)
		ev->id = docker_json_str(j, "id");
	if (!ev->type || !action || !ev->id)
		return -1;
	/* Exec and health events append details: "exec_start: sh -c ...". */
	size_t n = strcspn(action, ":");
	snprintf(ev->action_buf, sizeof ev->action_buf, "%.*s", (int)n, action);
	ev->action = ev->action_buf;
	json_t *attrs = json_object_get(actor, "Attributes");
	ev->attributes = json_is_object(attrs) ? attrs : NULL;
	json_t *nano = json_object_get(j, "timeNano");
	json_int_t sec = json_integer_value(json_object_get(j, "time"));
	/* An engine's (or a fuzzer's) seconds past 2262 would overflow. */
	ev->time_ns = json_is_integer(nano)                     ? json_integer_value(nano)
	              : sec > 0 && sec < INT64_MAX / NS_PER_SEC ? sec * NS_PER_SEC
	                                                        : 0;
	return 0;
}

int docker_event_parse(const char *line, size_t len, struct docker_event *ev)
{
	memset(ev, 0, sizeof *ev);
	json_t *j = json_loadb(line, len, 0, NULL);
	if (!json_is_object(j) || fill(j, ev) < 0) {
		json_decref(j);
		memset(ev, 0, sizeof *ev);
		return -1;
	}
	ev->json = j;
	return 0;
}

void docker_event_fini(struct docker_event *ev)
{
	json_decref(ev->json);
	memset(ev, 0, sizeof *ev);
}

const char *docker_event_attr(const struct docker_event *ev, const char *key)
{
	return docker_json_str(ev->attributes, key);
}

struct events {
	struct docker *d;
	docker_on_event_fn *on_event;
	void *arg;
	struct docker_jsonl lines;
};

static int event_line(void *arg, json_t *obj, const char *line, size_t len)
{
	struct events *e = arg;
	struct docker_event ev = {0};
	if (!json_is_object(obj) || fill(obj, &ev) < 0)
		return docker_fail(e->d, DOCKER_E_PROTOCOL, "unreadable event: %.*s",
		                   (int)(len < 200 ? len : 200), line);
	ev.json = obj;
	e->on_event(e->arg, &ev);
	return 0;
}

static int events_data(void *arg, const char *data, size_t len)
{
	struct events *e = arg;
	return docker_jsonl_feed(e->d, &e->lines, data, len);
}

int docker_events(struct docker *d, json_t *filters, int64_t since_s, int64_t until_s,
                  docker_on_event_fn *on_event, void *arg)
{
	struct buf path = BUF_INIT;
	buf_puts(&path, "/events");
	char sep = '?';
	if (filters) {
		char *text = json_dumps(filters, JSON_COMPACT);
		char *q = docker_escape(text);
		buf_printf(&path, "%cfilters=%s", sep, q);
		sep = '&';
		free(q);
		free(text);
	}
	if (since_s > 0) {
		buf_printf(&path, "%csince=%lld", sep, (long long)since_s);
		sep = '&';
	}
	if (until_s > 0)
		buf_printf(&path, "%cuntil=%lld", sep, (long long)until_s);

	struct events e = {
	    .d = d, .on_event = on_event, .arg = arg, .lines = {.on_object = event_line}};
	e.lines.arg = &e;
	struct docker_req r = {
	    .method = "GET", .path = path.data, .is_long = true, .on_data = events_data, .arg = &e};
	int rc = docker_request(d, &r, NULL);
	buf_free(&e.lines.pending);
	buf_free(&path);
	return rc;
}
