/* The outbox: notices from the store to the notify sender and back.
 *
 * DESIGN. The store owns the truth: a notice is a row, pending until an
 * attempt delivers it or it dies, and only the loop thread reads or writes
 * it. This file runs there. A pump takes the due rows (up to the sender's
 * free room), builds each message from the execution, its output and the
 * job's definition, and hands it to a sender thread; the sender reports the
 * attempt through a loop mailbox, and the result is written before it is
 * announced. Rows in flight are remembered in memory only: after a crash
 * they are simply due again, so a notice is delivered at least once, and
 * receivers get an idempotency key to drop a repeat.
 *
 * A failed attempt is retried after first-delay * 2^(attempts-1), capped at
 * 15 minutes, of which the second half is random (jitter, so receivers
 * coming back are not hit by every sender at once), until the attempts or
 * the age of the notice run out, or at once dead when retrying cannot help.
 *
 * The dead-man check keeps, per job with alert-if-no-success-within, the
 * time its window ends: the last success (or the job's creation) plus the
 * window. Windows come from the store at start (so one that ended while
 * ofelia was down alerts at once), move with every success the planner
 * sees, and are read again every few minutes for jobs that changed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "events/events.h"
#include "loop/loop.h"
#include "notify/notify.h"
#include "outbox/outbox.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/log.h"
#include "util/map.h"
#include "util/xalloc.h"

#define QUEUE_MAX        64 /* messages handed to the sender at most */
#define OUTPUT_LINES_MAX 20000
#define PAGE_LINES       5000
#define MAX_BACKOFF_NS   (15 * 60 * NS_PER_SEC)
#define RESCAN_NS        (5 * 60 * NS_PER_SEC)
#define PRUNE_NS         (60 * 60 * NS_PER_SEC)
#define PRUNE_BATCH      1000
#define STORE_RETRY_NS   (5 * NS_PER_SEC)
/* Results recorded in one commit, at most: a loop turn stays short. */
#define RESULTS_PER_TURN 256

/* A notice with the sender. */
struct flight {
	int64_t id;
	enum notify_channel channel;
	char *target;
	char *job;
	char *exec_id; /* NULL for a dead-man alert */
	char *event;
	char *key;
	char *where; /* masked, for logs */
	int attempts;
	int64_t created_ns;
};

/* An attempt's result, waiting for the next pump to record it. */
struct done {
	struct flight *f;
	struct notify_result r;
	const char *state; /* what it makes of the notice: delivered, pending, dead */
	int64_t next_ns;
	char error[800];
	struct done *next;
};

/* A job's dead-man window. */
struct watch {
	int64_t within_ns;
	int64_t baseline_ns; /* the last success, or the job's creation */
	bool alerted;        /* for this baseline */
	bool seen;           /* in the last rescan */
};

struct outbox {
	struct loop *loop;
	struct store *store;
	struct events *events;
	struct notify_config *nc;
	struct notify *sender;
	struct loop_mailbox *mailbox;
	struct loop_timer *pump_timer, *deadman_timer, *rescan_timer, *prune_timer;
	struct map flights; /* id -> struct flight */
	size_t nflights;
	struct done *done, **done_tail;                /* results to record, oldest first */
	struct map watches;                            /* job -> struct watch */
	struct notify_target plan[NOTIFY_TARGETS_MAX]; /* the planner's last answer */
	int64_t history_max_age_ns;
	uint64_t rng;
	bool stopped;
	bool passive; /* a cluster follower: no dead-man alerts (outbox_set_active) */
};

static void id_text(int64_t id, char out[24])
{
	snprintf(out, 24, "%lld", (long long)id);
}

static void flight_free(struct flight *f)
{
	if (f == NULL)
		return;
	free(f->target);
	free(f->job);
	free(f->exec_id);
	free(f->event);
	free(f->key);
	free(f->where);
	free(f);
}

/* jitter returns a number in [0, n) (xorshift64: spreading retries needs
 * no cryptography). */
static int64_t jitter(struct outbox *o, int64_t n)
{
	o->rng ^= o->rng << 13;
	o->rng ^= o->rng >> 7;
	o->rng ^= o->rng << 17;
	return n > 0 ? (int64_t)(o->rng % (uint64_t)n) : 0;
}

static void arm_now(struct outbox *o)
{
	if (!o->stopped)
		loop_timer_after(o->pump_timer, 0);
}

/* ---- planning (inside the transaction that records an outcome) ---- */

static void watch_success(struct outbox *o, const char *job, int64_t now);

static size_t on_plan(void *arg, const struct store_outcome *oc, struct store_notice *out)
{
	struct outbox *o = arg;
	size_t n = notify_plan(o->nc, oc->def, job_status_name(oc->status), o->plan,
	                       NOTIFY_TARGETS_MAX < STORE_NOTICES_MAX ? NOTIFY_TARGETS_MAX
	                                                              : STORE_NOTICES_MAX);
	for (size_t i = 0; i < n; i++)
		out[i] = (struct store_notice){notify_channel_name(o->plan[i].channel),
		                               o->plan[i].target, o->plan[i].cooldown_ns};
	/* As the store keeps it (job_metrics.last_success, in milliseconds), so
	 * an alert's key is the same whether the window came from here or from
	 * the store after a restart. */
	if (oc->status == JOB_STATUS_SUCCESS)
		watch_success(o, oc->job_name, oc->end_ns / NS_PER_MS * NS_PER_MS);
	if (n)
		arm_now(o);
	return n;
}

/* ---- announcing ---- */

static void announce(struct outbox *o, enum event_type type, const struct flight *f,
                     const char *state, int attempts, const char *error, int64_t next_ns)
{
	if (!events_active(o->events))
		return;
	char next[CLOCK_TEXT_MAX];
	clock_format_rfc3339(next_ns, next);
	events_publish(o->events, type,
	               json_pack("{s:I,s:s,s:o,s:s,s:o,s:s,s:s,s:i,s:o,s:s,s:o}", "id",
	                         (json_int_t)f->id, "job", f->job, "executionId",
	                         f->exec_id ? json_string(f->exec_id) : json_null(), "channel",
	                         notify_channel_name(f->channel), "target",
	                         *f->target ? json_string(f->target) : json_null(), "event",
	                         f->event, "state", state, "attempts", attempts, "error",
	                         error ? json_string(error) : json_null(), "idempotencyKey", f->key,
	                         "nextAttempt", next_ns ? json_string(next) : json_null()));
}

/* ---- results ---- */

static int64_t backoff(struct outbox *o, const struct notify_policy *p, int attempts)
{
	int64_t d = p->first_delay_ns > 0 ? p->first_delay_ns : NS_PER_SEC;
	for (int i = 1; i < attempts && d < MAX_BACKOFF_NS; i++)
		d *= 2;
	if (d > MAX_BACKOFF_NS)
		d = MAX_BACKOFF_NS;
	return d / 2 + jitter(o, d / 2 + 1);
}

/* decide fills in what d's attempt means for its notice. */
static void decide(struct outbox *o, struct done *d, int64_t now)
{
	struct flight *f = d->f;
	int attempts = f->attempts + 1;
	d->next_ns = 0;
	if (d->r.delivered) {
		d->state = "delivered";
		d->error[0] = '\0';
		return;
	}
	struct notify_policy p;
	notify_policy_of(o->nc, f->channel, f->target, &p);
	bool old = p.max_age_ns > 0 && now - f->created_ns >= p.max_age_ns;
	if (d->r.permanent || attempts >= p.max_attempts || old) {
		d->state = "dead";
		snprintf(d->error, sizeof d->error, "%s%s", d->r.error,
		         d->r.permanent ? ""
		         : old          ? " (gave up: too old)"
		                        : " (gave up: no attempts left)");
		return;
	}
	d->state = "pending";
	d->next_ns = now + backoff(o, &p, attempts);
	snprintf(d->error, sizeof d->error, "%s", d->r.error);
}

/* tell logs and announces a recorded result. A notice's first failure is a
 * warning, its later ones are debug lines: a receiver that is down for an
 * hour does not fill the log. */
static void tell(struct outbox *o, const struct done *d, int64_t now)
{
	const struct flight *f = d->f;
	int attempts = f->attempts + 1;
	char dur[DURATION_TEXT_MAX], tries[16];
	const char *ch = notify_channel_name(f->channel);
	snprintf(tries, sizeof tries, "%d", attempts);
	if (strcmp(d->state, "delivered") == 0) {
		log_kv(LOG_INFO, "notification delivered", "job", f->job, "channel", ch, "to",
		       f->where, "event", f->event, "attempts", tries, NULL);
		announce(o, EVENT_NOTIFICATION_DELIVERED, f, "delivered", attempts, NULL, 0);
	} else if (strcmp(d->state, "dead") == 0) {
		log_kv(LOG_ERROR, "notification dead", "job", f->job, "channel", ch, "to", f->where,
		       "event", f->event, "attempts", tries, "error", d->error, NULL);
		announce(o, EVENT_NOTIFICATION_DEAD, f, "dead", attempts, d->error, 0);
	} else {
		int64_t delay = d->next_ns - now;
		duration_format(delay - delay % NS_PER_MS, dur);
		log_kv(attempts == 1 ? LOG_WARN : LOG_DEBUG, "notification failed; will retry",
		       "job", f->job, "channel", ch, "to", f->where, "event", f->event, "attempts",
		       tries, "retry_in", dur, "error", d->error, NULL);
		announce(o, EVENT_NOTIFICATION_FAILED, f, "pending", attempts, d->error,
		         d->next_ns);
	}
}

/* record_results writes the results waiting (up to RESULTS_PER_TURN) in one
 * commit, then tells them. A commit that fails leaves the notices pending:
 * they are sent again (at least once). */
static void record_results(struct outbox *o)
{
	struct done *batch = o->done, *d;
	size_t n = 0;
	int64_t now = clock_now_ns();
	if (batch == NULL)
		return;
	for (d = batch; d->next && n + 1 < RESULTS_PER_TURN; d = d->next)
		n++;
	o->done = d->next;
	if (o->done == NULL)
		o->done_tail = &o->done;
	d->next = NULL;
	bool tx = store_tx_begin(o->store) == 0;
	for (d = batch; d; d = d->next) {
		decide(o, d, now);
		if (store_outbox_result(o->store, d->f->id, notify_channel_name(d->f->channel),
		                        d->state, now, d->next_ns,
		                        d->error[0] ? d->error : NULL) < 0)
			log_errorx("notification %lld: cannot record the attempt: %s",
			           (long long)d->f->id, store_errmsg(o->store));
	}
	if (!tx || store_tx_commit(o->store) < 0)
		log_errorx("notifications: cannot record the results of %zu attempts (they will be "
		           "sent again): %s",
		           n + 1, store_errmsg(o->store));
	else
		for (d = batch; d; d = d->next)
			tell(o, d, now);
	while (batch) {
		d = batch->next;
		flight_free(batch->f);
		free(batch);
		batch = d;
	}
	if (o->done)
		arm_now(o);
}

static void on_message(void *msg, void *arg)
{
	struct outbox *o = arg;
	struct notify_result *r = msg;
	char key[24];
	id_text(r->id, key);
	struct flight *f = map_remove(&o->flights, key);
	if (f) {
		struct done *d = xcalloc(1, sizeof *d);
		o->nflights--;
		d->f = f;
		d->r = *r;
		*o->done_tail = d;
		o->done_tail = &d->next;
	}
	free(r);
	/* The results of one loop turn share one commit and one pump. */
	arm_now(o);
}

/* on_result runs on a sender thread: it only posts. */
static void on_result(const struct notify_result *r, void *arg)
{
	struct outbox *o = arg;
	struct notify_result *copy = xmalloc(sizeof *copy);
	*copy = *r;
	loop_mailbox_post(o->mailbox, copy);
}

/* ---- the pump ---- */

/* keep_tail trims b to its last max bytes, at a character boundary. */
static void keep_tail(struct buf *b, size_t max)
{
	if (b->len <= max)
		return;
	size_t cut = b->len - max;
	while (cut < b->len && ((unsigned char)b->data[cut] & 0xC0) == 0x80)
		cut++;
	buf_consume(b, cut);
}

/* load_output reads the end of an execution's stdout and stderr from its
 * stored lines (or its output column when it has none). */
static void load_output(struct outbox *o, const struct store_execution *e, struct buf *out,
                        struct buf *err)
{
	int64_t after = e->log_lines > OUTPUT_LINES_MAX ? e->log_lines - OUTPUT_LINES_MAX : 0;
	for (;;) {
		struct store_log_line *v;
		size_t n;
		if (store_log_read(o->store, e->id, after, PAGE_LINES, &v, &n) < 0) {
			log_errorx("notification: cannot read the output of %s: %s", e->id,
			           store_errmsg(o->store));
			break;
		}
		for (size_t i = 0; i < n; i++) {
			struct buf *b = v[i].is_error ? err : out;
			buf_puts(b, v[i].message);
			buf_putc(b, '\n');
			if (b->len > 2 * NOTIFY_OUTPUT_BYTES)
				keep_tail(b, NOTIFY_OUTPUT_BYTES);
			after = v[i].seq;
		}
		store_log_lines_free(v, n);
		if (n < PAGE_LINES)
			break;
	}
	if (out->len == 0 && err->len == 0 && e->output)
		buf_puts(out, e->output);
	keep_tail(out, NOTIFY_OUTPUT_BYTES);
	keep_tail(err, NOTIFY_OUTPUT_BYTES);
}

/* give_up records a notice that cannot be sent at all. */
static void give_up(struct outbox *o, const struct store_notification *n, const char *why)
{
	if (store_outbox_result(o->store, n->id, n->channel, "dead", clock_now_ns(), 0, why) < 0)
		log_errorx("notification %lld: cannot record it dead: %s", (long long)n->id,
		           store_errmsg(o->store));
	log_kv(LOG_ERROR, "notification dead", "job", n->job_name, "channel", n->channel, "target",
	       *n->target ? n->target : NULL, "event", n->event, "error", why, NULL);
	struct flight f = {n->id,    NOTIFY_SLACK,       n->target, n->job_name, n->execution_id,
	                   n->event, n->idempotency_key, NULL,      n->attempts, n->created_ns};
	notify_channel_parse(n->channel, &f.channel);
	announce(o, EVENT_NOTIFICATION_DEAD, &f, "dead", n->attempts, why, 0);
}

/* job_of sets *job to n's job from the pump's cache (name -> struct
 * store_job), read from the store the first time (NULL when there is no
 * such job); -1 when the store cannot be read. */
static int job_of(struct outbox *o, struct map *cache, const char *name, struct store_job **job)
{
	*job = map_get(cache, name);
	if (*job)
		return 0;
	if (store_job_get(o->store, name, job) < 0)
		return -1;
	if (*job)
		map_put(cache, name, *job);
	return 0;
}

enum handed { HANDED, FULL, STORE_TROUBLE };

/* hand_over builds the message of n and hands it to the sender. A notice
 * that can never be sent is dead at once; one the store cannot read now
 * waits for the next pump. */
static enum handed hand_over(struct outbox *o, struct map *cache,
                             const struct store_notification *n)
{
	enum notify_channel ch;
	struct store_job *job = NULL;
	struct store_execution *e = NULL;
	struct buf out = BUF_INIT, err = BUF_INIT;
	char why[640];
	enum handed rc = HANDED;

	if (job_of(o, cache, n->job_name, &job) < 0 ||
	    (n->execution_id && store_execution_get(o->store, n->execution_id, &e) < 0)) {
		log_errorx("notification %lld: cannot read its job or execution (trying again "
		           "soon): %s",
		           (long long)n->id, store_errmsg(o->store));
		return STORE_TROUBLE;
	}
	if (notify_channel_parse(n->channel, &ch) < 0 || job == NULL) {
		give_up(o, n, job ? "unknown channel" : "its job no longer exists");
		goto out;
	}
	struct notify_event ev = {.event = n->event,
	                          .execution_id = n->execution_id ? n->execution_id : "",
	                          .idempotency_key = n->idempotency_key,
	                          .error = n->detail};
	if (e) {
		ev.start_ns = e->start_ns;
		ev.end_ns = e->end_ns ? e->end_ns : e->created_ns;
		ev.duration_ns = e->duration_ns;
		ev.has_exit_code = e->has_exit_code;
		ev.exit_code = e->exit_code;
		ev.error = e->error;
		if (notify_wants_output(ch))
			load_output(o, e, &out, &err);
	}
	ev.out = out.data;
	ev.out_len = out.len;
	ev.err = err.data;
	ev.err_len = err.len;
	struct notify_msg *m =
	    notify_msg_new(o->nc, job->def, ch, n->target, &ev, (uint64_t)n->id, why, sizeof why);
	if (m == NULL) {
		give_up(o, n, why);
		goto out;
	}
	struct flight *f = xcalloc(1, sizeof *f);
	*f = (struct flight){n->id,
	                     ch,
	                     xstrdup(n->target),
	                     xstrdup(n->job_name),
	                     xstrdup(n->execution_id),
	                     xstrdup(n->event),
	                     xstrdup(n->idempotency_key),
	                     xstrdup(notify_msg_where(m)),
	                     n->attempts,
	                     n->created_ns};
	if (!notify_submit(o->sender, m)) {
		notify_msg_free(m);
		flight_free(f);
		rc = FULL;
		goto out;
	}
	char key[24];
	id_text(n->id, key);
	map_put(&o->flights, key, f);
	o->nflights++;
out:
	buf_free(&out);
	buf_free(&err);
	store_execution_free(e);
	return rc;
}

static void pump(struct outbox *o)
{
	struct store_notification **v;
	size_t n;
	int64_t now = clock_now_ns();
	size_t backlog = notify_backlog(o->sender);
	size_t room = backlog < QUEUE_MAX ? QUEUE_MAX - backlog : 0;

	loop_timer_stop(o->pump_timer);
	record_results(o);
	if (o->stopped)
		return;
	if (room > 0) {
		if (store_outbox_due(o->store, now, (int)(room + o->nflights), &v, &n) < 0) {
			log_errorx("notifications: cannot read the due ones: %s",
			           store_errmsg(o->store));
			loop_timer_after(o->pump_timer, STORE_RETRY_NS);
			return;
		}
		struct map cache;
		struct map_iter it;
		void *job;
		map_init(&cache);
		enum handed h = HANDED;
		for (size_t i = 0; i < n && room > 0 && h == HANDED; i++) {
			char key[24];
			id_text(v[i]->id, key);
			if (map_get(&o->flights, key))
				continue;
			if ((h = hand_over(o, &cache, v[i])) == HANDED)
				room--;
		}
		map_iter_init(&cache, &it);
		while (map_iter_next(&cache, &it, NULL, &job))
			store_job_free(job);
		map_fini(&cache);
		store_notifications_free(v, n);
		if (h == STORE_TROUBLE) {
			loop_timer_after(o->pump_timer, STORE_RETRY_NS);
			return;
		}
	}
	/* The earliest pending notice not in flight sets the timer; one due
	 * already (it became due after the query) fires at the next turn. When
	 * the sender had no room, its results pump again. */
	int64_t ids[QUEUE_MAX + 8], due[QUEUE_MAX + 8];
	size_t k;
	if (store_outbox_next_due(o->store,
	                          o->nflights + 1 < QUEUE_MAX + 8 ? o->nflights + 1 : QUEUE_MAX + 8,
	                          ids, due, &k) < 0) {
		loop_timer_after(o->pump_timer, STORE_RETRY_NS);
		return;
	}
	for (size_t i = 0; i < k; i++) {
		char key[24];
		id_text(ids[i], key);
		if (map_get(&o->flights, key))
			continue;
		if (room > 0 || due[i] > now)
			loop_timer_at(o->pump_timer, due[i]);
		break;
	}
}

static void on_pump(void *arg)
{
	pump(arg);
}

/* ---- dead-man windows ---- */

static void arm_deadman(struct outbox *o)
{
	struct map_iter it;
	const char *name;
	void *v;
	int64_t first = 0;
	map_iter_init(&o->watches, &it);
	while (map_iter_next(&o->watches, &it, &name, &v)) {
		struct watch *w = v;
		int64_t end = w->baseline_ns + w->within_ns;
		if (!w->alerted && (first == 0 || end < first))
			first = end;
	}
	if (o->stopped || o->passive || first == 0)
		loop_timer_stop(o->deadman_timer);
	else
		loop_timer_at(o->deadman_timer, first);
}

static void watch_success(struct outbox *o, const char *job, int64_t now)
{
	struct watch *w = map_get(&o->watches, job);
	if (w == NULL)
		return;
	w->baseline_ns = now;
	w->alerted = false;
	arm_deadman(o);
}

static void alert(struct outbox *o, const char *job, struct watch *w)
{
	struct store_job *row = NULL;
	struct notify_target t[NOTIFY_TARGETS_MAX];
	struct store_notice v[NOTIFY_TARGETS_MAX];
	char within[DURATION_TEXT_MAX], since[CLOCK_TEXT_MAX], key[CLOCK_TEXT_MAX];
	struct store_job_metrics m;

	if (store_job_get(o->store, job, &row) < 0 || row == NULL ||
	    store_job_metrics(o->store, job, &m) < 0) {
		log_errorx("dead-man check of job %s: cannot read it: %s", job,
		           store_errmsg(o->store));
		store_job_free(row);
		return;
	}
	size_t n = notify_plan(o->nc, row->def, NOTIFY_EVENT_NO_SUCCESS, t, NOTIFY_TARGETS_MAX);
	for (size_t i = 0; i < n; i++)
		v[i] = (struct store_notice){notify_channel_name(t[i].channel), t[i].target, 0};
	duration_format(w->within_ns, within);
	clock_format_rfc3339(w->baseline_ns, since);
	clock_format_iso(w->baseline_ns, key);
	char *detail =
	    m.last_success_ns
	        ? xasprintf("no successful run within %s (last success: %s)", within, since)
	        : xasprintf("no successful run within %s (never succeeded; watched since "
	                    "%s)",
	                    within, since);
	char *k = xasprintf("no-success:%s:%s", job, key);
	int added = store_outbox_alert(o->store, job, k, detail, v, n);
	if (added < 0) {
		log_errorx("dead-man check of job %s: cannot record the alert: %s", job,
		           store_errmsg(o->store));
	} else {
		w->alerted = true;
		if (added > 0 || n == 0)
			log_kv(LOG_WARN, "job has not succeeded in time", "job", job, "within",
			       within, "detail", detail, NULL);
		if (added > 0)
			arm_now(o);
	}
	free(k);
	free(detail);
	store_job_free(row);
}

static void on_deadman(void *arg)
{
	struct outbox *o = arg;
	struct map_iter it;
	const char *name;
	void *v;
	int64_t now = clock_now_ns();
	map_iter_init(&o->watches, &it);
	while (map_iter_next(&o->watches, &it, &name, &v)) {
		struct watch *w = v;
		if (!w->alerted && w->baseline_ns + w->within_ns <= now)
			alert(o, name, w);
	}
	arm_deadman(o);
}

/* rescan reads every job's window and its last success from the store. */
static void rescan(struct outbox *o)
{
	struct store_job **rows;
	size_t n;
	struct map_iter it;
	const char *name;
	void *v;

	if (store_jobs_load(o->store, &rows, &n) < 0) {
		log_errorx("dead-man check: cannot read the jobs: %s", store_errmsg(o->store));
		return;
	}
	map_iter_init(&o->watches, &it);
	while (map_iter_next(&o->watches, &it, &name, &v))
		((struct watch *)v)->seen = false;
	for (size_t i = 0; i < n; i++) {
		const struct job *def = rows[i]->def;
		int64_t within = notify_alert_within(def);
		struct store_job_metrics m;
		if (within <= 0 || rows[i]->deleted_ns || !def->enabled)
			continue;
		if (store_job_metrics(o->store, def->name, &m) < 0)
			continue;
		int64_t baseline = m.last_success_ns ? m.last_success_ns : rows[i]->created_ns;
		struct watch *w = map_get(&o->watches, def->name);
		if (w == NULL) {
			w = xcalloc(1, sizeof *w);
			map_put(&o->watches, def->name, w);
		}
		if (w->baseline_ns != baseline || w->within_ns != within) {
			/* A success recorded since the planner saw it moves the window
			 * only forward. */
			if (baseline > w->baseline_ns) {
				w->baseline_ns = baseline;
				w->alerted = false;
			}
			if (w->within_ns != within)
				w->alerted = false;
			w->within_ns = within;
		}
		w->seen = true;
	}
	store_jobs_free(rows, n);
	map_iter_init(&o->watches, &it);
	while (map_iter_next(&o->watches, &it, &name, &v))
		if (!((struct watch *)v)->seen)
			free(map_remove(&o->watches, name));
	arm_deadman(o);
}

void outbox_set_active(struct outbox *o, bool active)
{
	if (o == NULL || o->passive == !active)
		return;
	o->passive = !active;
	/* The windows start from the successes the store holds now, which
	 * include those of the node that led before. */
	if (active)
		rescan(o);
	else
		arm_deadman(o);
}

static void on_rescan(void *arg)
{
	struct outbox *o = arg;
	rescan(o);
	if (!o->stopped)
		loop_timer_after(o->rescan_timer, RESCAN_NS);
}

/* ---- retention ---- */

static void on_prune(void *arg)
{
	struct outbox *o = arg;
	if (o->history_max_age_ns > 0) {
		int64_t before = clock_now_ns() - o->history_max_age_ns;
		int k;
		do
			k = store_outbox_prune(o->store, before, PRUNE_BATCH);
		while (k == PRUNE_BATCH);
		if (k < 0)
			log_errorx("notifications: cannot prune old ones: %s",
			           store_errmsg(o->store));
	}
	if (!o->stopped)
		loop_timer_after(o->prune_timer, PRUNE_NS);
}

/* ---- lifetime ---- */

struct outbox *outbox_start(struct loop *loop, struct store *store, struct events *events,
                            const struct config *c, char *err, size_t errlen)
{
	struct notify_config *nc = notify_config_new(c, NULL, err, errlen);
	if (nc == NULL)
		return NULL;
	struct outbox *o = xcalloc(1, sizeof *o);
	o->loop = loop;
	o->store = store;
	o->events = events;
	o->nc = nc;
	o->history_max_age_ns = c->global.history_max_age_ns;
	o->rng = (uint64_t)clock_mono_ns() | 1;
	map_init(&o->flights);
	map_init(&o->watches);
	o->done_tail = &o->done;
	o->mailbox = loop_mailbox_new(loop, on_message, o);
	o->pump_timer = loop_timer_new(loop, on_pump, o);
	o->deadman_timer = loop_timer_new(loop, on_deadman, o);
	o->rescan_timer = loop_timer_new(loop, on_rescan, o);
	o->prune_timer = loop_timer_new(loop, on_prune, o);
	o->sender = notify_start(notify_workers(nc), QUEUE_MAX, on_result, o);
	store_set_planner(store, on_plan, o);
	/* Windows that ended while ofelia was down alert now, before the
	 * scheduler starts: a run-on-startup success must not hide them. */
	rescan(o);
	on_deadman(o);
	loop_timer_after(o->pump_timer, 0);
	loop_timer_after(o->rescan_timer, 0);
	loop_timer_after(o->prune_timer, PRUNE_NS / 60);
	return o;
}

int outbox_reload(struct outbox *o, const struct config *c, const struct config *labels, char *err,
                  size_t errlen)
{
	struct notify_config *nc = notify_config_new(c, labels, err, errlen);
	if (nc == NULL)
		return -1;
	notify_config_free(o->nc);
	o->nc = nc;
	o->history_max_age_ns = c->global.history_max_age_ns;
	loop_timer_after(o->rescan_timer, 0);
	arm_now(o);
	return 0;
}

void outbox_stop(struct outbox *o)
{
	if (o == NULL || o->stopped)
		return;
	o->stopped = true;
	loop_timer_stop(o->pump_timer);
	loop_timer_stop(o->deadman_timer);
	loop_timer_stop(o->rescan_timer);
	loop_timer_stop(o->prune_timer);
	notify_stop(o->sender);
}

void outbox_free(struct outbox *o)
{
	if (o == NULL)
		return;
	outbox_stop(o);
	store_set_planner(o->store, NULL, NULL);
	/* Results the senders posted before they stopped are recorded here. */
	loop_mailbox_free(o->mailbox);
	while (o->done)
		record_results(o);
	notify_free(o->sender);
	loop_timer_free(o->pump_timer);
	loop_timer_free(o->deadman_timer);
	loop_timer_free(o->rescan_timer);
	loop_timer_free(o->prune_timer);
	struct map_iter it;
	void *v;
	map_iter_init(&o->flights, &it);
	while (map_iter_next(&o->flights, &it, NULL, &v))
		flight_free(v);
	map_fini(&o->flights);
	map_iter_init(&o->watches, &it);
	while (map_iter_next(&o->watches, &it, NULL, &v))
		free(v);
	map_fini(&o->watches);
	notify_config_free(o->nc);
	free(o);
}
