/* Reload: SIGHUP and POST /api/scheduler/reload. Reading and parsing the
 * config runs on a thread of its own (a big file took seconds, and the API
 * went dark while the loop parsed it); what it loaded is applied on the
 * loop thread (scheduler_sync), then every request waiting for it is
 * answered.
 *
 * At most one load runs. Requests that come while it runs wait for the next
 * one, which starts as soon as it ends: the file may have changed since
 * the running load read it. A storm of SIGHUPs thus costs two loads, not
 * one per signal, and never more than one thread. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop/loop.h"
#include "scheduler/scheduler_int.h"
#include "util/log.h"
#include "util/xalloc.h"

struct waiter {
	scheduler_reloaded_fn *done;
	void *arg;
	struct waiter *next;
};

/* What the load thread posts back. */
struct loaded {
	void *config; /* NULL when it did not load */
	char err[512];
};

struct sreload {
	struct scheduler_reloader r;
	struct loop_mailbox *mailbox;
	bool running;
	pthread_t thread;
	struct waiter *current; /* answered by the running load */
	struct waiter *pending; /* wait for the next one */
	struct loaded *result;  /* the thread's, once posted */
};

static void *load_thread(void *arg)
{
	struct sreload *rl = arg;
	struct loaded *l = xcalloc(1, sizeof *l);
	pthread_setname_np(pthread_self(), "ofelia-reload");
	l->config = rl->r.load(rl->r.arg, l->err, sizeof l->err);
	loop_mailbox_post(rl->mailbox, l);
	return NULL;
}

static void start(struct scheduler *s)
{
	struct sreload *rl = s->reload;
	rl->current = rl->pending;
	rl->pending = NULL;
	rl->running = true;
	if (pthread_create(&rl->thread, NULL, load_thread, rl) != 0) {
		struct loaded *l = xcalloc(1, sizeof *l);
		snprintf(l->err, sizeof l->err, "cannot start a thread to read the config");
		rl->running = false;
		loop_mailbox_post(rl->mailbox, l);
	}
}

static void answer(struct waiter *w, int rc, const struct scheduler_changes *ch, const char *err)
{
	static const struct scheduler_changes none;
	if (ch == NULL)
		ch = &none;
	while (w) {
		struct waiter *next = w->next;
		if (w->done)
			w->done(w->arg, rc, ch, err);
		free(w);
		w = next;
	}
}

static void on_loaded(void *msg, void *arg)
{
	struct scheduler *s = arg;
	struct sreload *rl = s->reload;
	struct loaded *l = msg;
	struct scheduler_changes ch = {0};
	char err[512];
	int rc = -1;

	if (rl->running)
		pthread_join(rl->thread, NULL);
	rl->running = false;
	snprintf(err, sizeof err, "%s", l->err);
	if (s->shutting_down) {
		snprintf(err, sizeof err, "ofelia is shutting down");
		if (l->config)
			rl->r.discard(rl->r.arg, l->config);
	} else if (l->config) {
		/* apply takes the config over. */
		rc = rl->r.apply(rl->r.arg, l->config, &ch, err, sizeof err);
	}
	free(l);
	struct waiter *done = rl->current;
	rl->current = NULL;
	if (rl->pending && !s->shutting_down)
		start(s);
	answer(done, rc, &ch, err);
}

void scheduler_set_reload(struct scheduler *s, const struct scheduler_reloader *r)
{
	if (s->reload == NULL) {
		s->reload = xcalloc(1, sizeof *s->reload);
		s->reload->mailbox = loop_mailbox_new(s->loop, on_loaded, s);
	}
	s->reload->r = *r;
}

int scheduler_reload(struct scheduler *s, scheduler_reloaded_fn *done, void *arg, char *err,
                     size_t errlen)
{
	struct sreload *rl = s->reload;
	if (rl == NULL) {
		snprintf(err, errlen, "reload is not available");
		return -1;
	}
	if (s->shutting_down) {
		snprintf(err, errlen, "ofelia is shutting down");
		return -1;
	}
	struct waiter *w = xcalloc(1, sizeof *w);
	*w = (struct waiter){done, arg, NULL};
	struct waiter **p = &rl->pending;
	while (*p)
		p = &(*p)->next;
	*p = w;
	if (!rl->running)
		start(s);
	return 0;
}

bool scheduler_reloading(const struct scheduler *s)
{
	return s->reload && s->reload->running;
}

void sched_reload_free(struct scheduler *s)
{
	struct sreload *rl = s->reload;
	if (rl == NULL)
		return;
	/* The thread's result is handed to on_loaded (mailboxes drain when
	 * freed), which answers the waiters and frees what was loaded. */
	if (rl->running) {
		pthread_join(rl->thread, NULL);
		rl->running = false;
	}
	s->shutting_down = true;
	loop_mailbox_free(rl->mailbox);
	answer(rl->current, -1, NULL, "ofelia is shutting down");
	answer(rl->pending, -1, NULL, "ofelia is shutting down");
	free(rl);
	s->reload = NULL;
}
