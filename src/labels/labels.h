/* labels: jobs discovered from Docker container labels. Threads of their
 * own list the containers labelled ofelia.enabled=true, turn their labels
 * into job definitions (config_labels_jobs) and hand the whole set to the
 * loop thread, which makes the scheduler's docker-label jobs equal to it.
 * The engine's events trigger a new listing, polling is the fallback, and
 * an unreachable engine is retried with back-off while the label jobs stay
 * as they are. docs/docker.md describes the rules. */
#ifndef OFELIA_LABELS_LABELS_H
#define OFELIA_LABELS_LABELS_H

#include <stddef.h>

struct loop;
struct scheduler;
struct scheduler_changes;
struct config;
struct labels;

/* The engine as discovery last saw it. */
enum labels_engine {
	LABELS_ENGINE_UNKNOWN,      /* not reached since the start */
	LABELS_ENGINE_CONNECTED,    /* the last call succeeded */
	LABELS_ENGINE_DISCONNECTED, /* reached before, the last call could not */
};

/* labels_start starts discovery for scheduler s, which it syncs on loop's
 * thread, with c's docker settings and label rules (c must outlive it; a
 * reload does not change them). It never waits for the engine. Call on the
 * loop thread; the caller frees the result with labels_free. */
struct labels *labels_start(struct loop *loop, struct scheduler *s, const struct config *c);
/* labels_refresh lists the containers now, on the loop thread (bounded by a
 * few seconds), and syncs the label jobs; out gets what changed. Returns 0,
 * or -1 with the reason in err when the engine cannot be asked: the label
 * jobs are then left as they are. */
int labels_refresh(struct labels *l, struct scheduler_changes *out, char *err, size_t errlen);
/* labels_engine tells the engine's state; any thread. NULL is UNKNOWN. */
enum labels_engine labels_engine(const struct labels *l);
/* labels_on_globals makes each listing whose service container's global
 * settings (config_labels_globals) differ from the last ones call
 * fn(arg, globals) on the loop thread. */
struct strv;
void labels_on_globals(struct labels *l, void (*fn)(void *arg, const struct strv *globals),
                       void *arg);
/* labels_stop ends discovery (on the loop thread): sets found from now on are
 * dropped. The threads are joined by labels_free. NULL is fine. */
void labels_stop(struct labels *l);
/* labels_free stops discovery if needed, joins its threads and releases
 * everything. NULL is fine. */
void labels_free(struct labels *l);

#endif
