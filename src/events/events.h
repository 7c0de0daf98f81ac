/* events: publish/subscribe of job and scheduler events on the loop thread.
 * The scheduler and the notification outbox publish; the WebSocket API
 * subscribes. A subscriber that lives on another thread forwards through a
 * loop mailbox. Payloads are JSON, as the API sends them. */
#ifndef OFELIA_EVENTS_EVENTS_H
#define OFELIA_EVENTS_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

enum event_type {
	EVENT_JOB_STARTED,
	EVENT_JOB_COMPLETED,
	EVENT_JOB_FAILED,
	EVENT_JOB_ADDED,
	EVENT_JOB_UPDATED,
	EVENT_JOB_REMOVED,
	EVENT_SCHEDULER_STARTED,
	EVENT_SCHEDULER_STOPPED,
	EVENT_LOG_LINE, /* one output line of a running execution */
	EVENT_NOTIFICATION_DELIVERED,
	EVENT_NOTIFICATION_FAILED, /* an attempt failed; it will be tried again */
	EVENT_NOTIFICATION_DEAD,   /* given up: attempts or age used up, or a final refusal */
	EVENT_JOB_RETRYING,        /* a failed attempt's retry is planned */
	EVENT_JOB_TRIGGERED,       /* an end triggered a run of another job */
	EVENT_JOB_WAITING,         /* a slot waits for its dependencies */
};

struct event {
	enum event_type type;
	int64_t time_ns;
	json_t *payload; /* borrowed: take a reference to keep it */
};

struct events;
struct events_sub;

struct events *events_new(void);
/* events_free drops every subscription; NULL is fine. */
void events_free(struct events *e);
/* events_type_name returns the wire name: "job.started", ..., "log.line",
 * "notification.delivered", "notification.failed", "notification.dead",
 * "job.retrying", "job.triggered", "job.waiting". */
const char *events_type_name(enum event_type t);
/* events_subscribe calls on_event for every event published from now on,
 * until events_unsubscribe. */
struct events_sub *events_subscribe(struct events *e,
                                    void (*on_event)(const struct event *ev, void *arg), void *arg);
/* events_unsubscribe removes sub; safe from inside on_event. */
void events_unsubscribe(struct events *e, struct events_sub *sub);
/* events_active tells whether anyone listens, so a publisher can skip
 * building a payload nobody reads. */
bool events_active(const struct events *e);
/* events_publish hands ev to every subscriber; it takes ownership of
 * payload. */
void events_publish(struct events *e, enum event_type type, json_t *payload);

#endif
