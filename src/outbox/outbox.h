/* outbox: the durable side of notifications, on the loop thread. It plans
 * the notices each outcome owes (a store planner asking src/notify, so they
 * commit with the outcome), takes due notices from the store into the
 * notify sender's bounded queue, records each attempt's result (delivered,
 * retried with exponential back-off and jitter, or dead) and announces it,
 * checks the dead-man windows (alert-if-no-success-within) and prunes old
 * notices. Only the store speaks SQL; only notify makes requests. */
#ifndef OFELIA_OUTBOX_OUTBOX_H
#define OFELIA_OUTBOX_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct store;
struct events;
struct config;
struct outbox;

/* outbox_start installs the planner on store and starts the sender
 * threads with c's notification settings (copied). Due notices, those a
 * previous process left pending included, are sent from the next loop turn
 * on. NULL with the reason in err when c's notification settings do not
 * compile. */
struct outbox *outbox_start(struct loop *loop, struct store *store, struct events *events,
                            const struct config *c, char *err, size_t errlen);
/* outbox_reload takes new notification settings: a reloaded config c, and
 * labels, the settings of the service container's labels (NULL: none); on
 * an error the old ones stay and err says why. */
int outbox_reload(struct outbox *o, const struct config *c, const struct config *labels, char *err,
                  size_t errlen);
/* outbox_set_active turns the dead-man checks on or off: in a cluster
 * only the leader raises "no success" alerts (docs/cluster.md). On by
 * default. */
void outbox_set_active(struct outbox *o, bool active);
/* outbox_stop stops taking notices, aborts the deliveries in progress
 * (they stay pending for the next start) and joins the sender threads;
 * results already reported are recorded. Within a second. NULL is fine. */
void outbox_stop(struct outbox *o);
/* outbox_free stops o if needed, removes the planner and releases o. NULL
 * is fine. */
void outbox_free(struct outbox *o);

#endif
