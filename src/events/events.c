#include <stdlib.h>

#include "events/events.h"
#include "util/clock.h"
#include "util/xalloc.h"

struct events_sub {
	struct events_sub *next;
	void (*on_event)(const struct event *ev, void *arg);
	void *arg;
	bool dead; /* unsubscribed while a publish was walking the list */
};

struct events {
	struct events_sub *subs;
	int publishing; /* depth: a subscriber may publish in turn */
	bool has_dead;
};

static const char *type_names[] = {
    "job.started",
    "job.completed",
    "job.failed",
    "job.added",
    "job.updated",
    "job.removed",
    "scheduler.started",
    "scheduler.stopped",
    "log.line",
    "notification.delivered",
    "notification.failed",
    "notification.dead",
    "job.retrying",
    "job.triggered",
    "job.waiting",
};

struct events *events_new(void)
{
	return xcalloc(1, sizeof(struct events));
}

void events_free(struct events *e)
{
	if (e == NULL)
		return;
	while (e->subs) {
		struct events_sub *s = e->subs;
		e->subs = s->next;
		free(s);
	}
	free(e);
}

const char *events_type_name(enum event_type t)
{
	return type_names[t];
}

struct events_sub *events_subscribe(struct events *e,
                                    void (*on_event)(const struct event *ev, void *arg), void *arg)
{
	struct events_sub *s = xcalloc(1, sizeof *s);
	s->on_event = on_event;
	s->arg = arg;
	s->next = e->subs;
	e->subs = s;
	return s;
}

static void sweep(struct events *e)
{
	struct events_sub **p = &e->subs;
	while (*p) {
		if ((*p)->dead) {
			struct events_sub *s = *p;
			*p = s->next;
			free(s);
		} else {
			p = &(*p)->next;
		}
	}
	e->has_dead = false;
}

void events_unsubscribe(struct events *e, struct events_sub *sub)
{
	sub->dead = true;
	e->has_dead = true;
	if (e->publishing == 0)
		sweep(e);
}

bool events_active(const struct events *e)
{
	for (const struct events_sub *s = e->subs; s; s = s->next)
		if (!s->dead)
			return true;
	return false;
}

void events_publish(struct events *e, enum event_type type, json_t *payload)
{
	struct event ev = {type, clock_now_ns(), payload};
	e->publishing++;
	for (struct events_sub *s = e->subs; s; s = s->next)
		if (!s->dead)
			s->on_event(&ev, s->arg);
	e->publishing--;
	if (e->publishing == 0 && e->has_dead)
		sweep(e);
	json_decref(payload);
}
