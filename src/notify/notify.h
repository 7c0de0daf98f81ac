/* notify: Slack, mail, save-to-folder and webhook notifications, with
 * Ofelia's keys and payloads. It decides which notices an outcome owes
 * (notify_plan), turns one notice into a self-contained message
 * (notify_msg_new) and delivers messages on sender threads of its own, which
 * report each attempt through a callback. It never touches the store: the
 * outbox (src/outbox) keeps notices durable, feeds them here and records the
 * results. The channels are ops structs; notify_ops_of is the one switch. */
#ifndef OFELIA_NOTIFY_NOTIFY_H
#define OFELIA_NOTIFY_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job/job.h"

struct config;
struct notify_config;
struct notify_msg;
struct notify;

enum notify_channel { NOTIFY_SLACK, NOTIFY_MAIL, NOTIFY_SAVE, NOTIFY_WEBHOOK };
#define NOTIFY_CHANNEL_COUNT 4

/* notify_channel_name: "slack", "mail", "save", "webhook". */
const char *notify_channel_name(enum notify_channel c);
int notify_channel_parse(const char *s, enum notify_channel *out);

/* The events a notice can report: an execution's or a slot's status name
 * ("success", "failed", "skipped", "stopped", "interrupted", "missed",
 * "expired"), or "no-success" for the dead-man check. */
#define NOTIFY_EVENT_NO_SUCCESS "no-success"
/* notify_event_is_error tells whether an event counts as an error for the
 * only-on-error flags and a webhook's trigger. */
bool notify_event_is_error(const char *event);

/* notify_config_new takes what notifications need from c (copied: c may go
 * away) and checks the templates; NULL with the reason in err when one does
 * not parse or render. labels, when not NULL, holds the settings read from
 * the service container's labels (config_from_labels): they fill what c
 * leaves unset, and add the webhooks c does not define (c wins). */
struct notify_config *notify_config_new(const struct config *c, const struct config *labels,
                                        char *err, size_t errlen);
void notify_config_free(struct notify_config *nc);
/* notify_check is notify_config_new for `ofelia validate`: 0, or -1 with err. */
int notify_check(const struct config *c, char *err, size_t errlen);

/* The retry policy of a notice: how many attempts, the first back-off
 * (doubled each time, with jitter), and the age past which it is dead. */
struct notify_policy {
	int max_attempts;
	int64_t first_delay_ns;
	int64_t max_age_ns;
};
void notify_policy_of(const struct notify_config *nc, enum notify_channel ch, const char *target,
                      struct notify_policy *out);
/* notify_workers is the number of sender threads the config asks for. */
int notify_workers(const struct notify_config *nc);

/* One notice an outcome owes. */
struct notify_target {
	enum notify_channel channel;
	char target[128];    /* the webhook's name; "" for the other channels */
	int64_t cooldown_ns; /* > 0: suppressed when an equal failure was sent this recently */
};
#define NOTIFY_TARGETS_MAX 32

/* notify_plan writes into out (up to max) the notices the event of job def
 * owes, from the job's keys and the global ones (each job key wins), the
 * only-on-error flags, the webhooks' triggers and notify-on. Returns how
 * many. A webhook name nobody defined is listed: its notice fails visibly. */
size_t notify_plan(const struct notify_config *nc, const struct job *def, const char *event,
                   struct notify_target *out, size_t max);
/* notify_alert_within returns def's dead-man window
 * (alert-if-no-success-within), 0 when it has none. */
int64_t notify_alert_within(const struct job *def);

/* notify_wants_output tells whether a channel shows the output, so the
 * caller loads it (at most NOTIFY_OUTPUT_BYTES of each stream). */
bool notify_wants_output(enum notify_channel ch);
#define NOTIFY_OUTPUT_BYTES (1024 * 1024)

/* What one notice reports; every pointer is borrowed for the call. */
struct notify_event {
	const char *event;
	const char *execution_id; /* "" for a dead-man alert */
	const char *idempotency_key;
	int64_t start_ns, end_ns, duration_ns;
	bool has_exit_code;
	int exit_code;
	const char *error; /* NULL when none */
	const char *out;   /* stdout */
	size_t out_len;
	const char *err; /* stderr */
	size_t err_len;
};

/* notify_msg_new builds the message of one notice: the settings of the
 * channel resolved for def, and copies of ev. NULL with the reason in err
 * when the notice cannot be sent at all (a webhook nobody defines, a channel
 * the job no longer has): the caller marks it dead. */
struct notify_msg *notify_msg_new(const struct notify_config *nc, const struct job *def,
                                  enum notify_channel ch, const char *target,
                                  const struct notify_event *ev, uint64_t id, char *err,
                                  size_t errlen);
/* notify_msg_where is where m goes, with secrets masked, for logs. */
const char *notify_msg_where(const struct notify_msg *m);
void notify_msg_free(struct notify_msg *m);

/* The result of one delivery attempt. */
struct notify_result {
	uint64_t id;
	bool delivered;
	bool permanent;  /* retrying cannot help */
	char error[640]; /* secrets already masked */
};

/* notify_start starts workers sender threads with a queue of queue_max
 * messages. on_result(r, arg) is called on a sender thread after each
 * attempt, except those notify_stop aborts. */
struct notify *notify_start(int workers, size_t queue_max,
                            void (*on_result)(const struct notify_result *r, void *arg), void *arg);
/* notify_submit queues m (taking it) and returns true, or returns false
 * when the queue is full (m stays the caller's). */
bool notify_submit(struct notify *n, struct notify_msg *m);
/* notify_backlog is how many messages are queued or being delivered. */
size_t notify_backlog(struct notify *n);
/* notify_stop aborts the deliveries in progress (their results are not
 * reported), drops the queue and joins the threads; quick, so it fits the
 * shutdown grace. NULL is fine. */
void notify_stop(struct notify *n);
/* notify_free stops n if needed and releases it. NULL is fine. */
void notify_free(struct notify *n);

#endif
