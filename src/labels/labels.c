/* Label discovery.
 *
 * Two threads, each with its own engine handle:
 * - the lister lists the containers when asked (an event, a reconnect), when
 *   the poll interval has passed, and after a failure with back-off (0.5 s
 *   doubling to 10 s) until a listing succeeds. Events come in bursts (a
 *   compose project starting), so it waits DEBOUNCE_NS after the first one
 *   and makes one listing of the lot.
 * - the watcher keeps GET /events open, filtered by the label, and asks for
 *   a listing on each event. When the stream breaks it reconnects with
 *   back-off, replaying from the last event's second (since=), and asks for
 *   a listing on every (re)connect, since events may have been missed.
 *
 * A listing builds the whole set of label jobs and posts it to the loop
 * thread, which hands it to scheduler_sync. Each listing takes a sequence
 * number before it asks the engine, and the loop applies a set only when it
 * is newer than the last applied one: a slow listing never undoes a newer
 * one (labels_refresh lists on the loop thread itself). A listing that
 * fails posts nothing, so an unreachable engine leaves the jobs as they are.
 *
 * A listing runs every few seconds, so its messages (bad labels, two
 * containers with one job) are logged when they first appear, not each
 * time. */
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "docker/docker.h"
#include "job/job.h"
#include "labels/labels.h"
#include "loop/loop.h"
#include "scheduler/scheduler.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/map.h"
#include "util/xalloc.h"

#define ENABLED_LABEL  "ofelia.enabled=true"
#define DEBOUNCE_NS    (200 * NS_PER_MS)
#define BACKOFF_MIN_NS (500 * NS_PER_MS)
#define BACKOFF_MAX_NS (10 * NS_PER_SEC)
/* labels_refresh blocks the loop: a hung engine may not hold it longer. */
#define REFRESH_LIMIT_NS (5 * NS_PER_SEC)
/* An events stream that lasted this long was healthy: reconnect at once. */
#define STREAM_OK_NS (10 * NS_PER_SEC)

/* A docker.filters entry the engine's list cannot take (it takes labels
 * only), applied here as `docker ps --filter` would. */
enum filter_kind { FILTER_NAME, FILTER_STATUS, FILTER_ID };

struct filter {
	enum filter_kind kind;
	char *value;
	regex_t re; /* FILTER_NAME */
};

/* One listing's jobs and the service container's global settings, posted
 * to the loop. */
struct labels_set {
	uint64_t seq;
	struct job **jobs;
	size_t n;
	struct strv globals; /* config_labels_globals */
};

struct labels {
	struct loop *loop;
	struct scheduler *s;
	const struct config *c;
	struct loop_mailbox *mailbox;
	struct strv label_filters; /* for the events: ofelia.enabled=true, label= filters */
	/* for the listing: the label= filters only, so that containers with job
	 * labels but without ofelia.enabled=true can be named in the log */
	struct strv list_filters;
	struct filter *filters;
	size_t nfilters;
	json_t *event_filters;
	struct docker *list_d, *event_d, *loop_d; /* one per thread */

	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	bool stopping;
	bool dirty;       /* a listing is wanted */
	int64_t dirty_at; /* since then (monotonic) */
	bool lister_started, watcher_started;
	pthread_t lister, watcher;
	int64_t event_since_s; /* watcher thread: replay point */

	atomic_int engine;
	atomic_bool warned_unreachable;
	atomic_uint_fast64_t seq;
	uint64_t applied; /* loop thread: seq of the last set synced */

	pthread_mutex_t diag_lock;
	struct strv logged; /* the last listing's messages */

	/* loop thread: the global settings last handed to on_globals */
	struct strv globals;
	void (*on_globals)(void *arg, const struct strv *globals);
	void *globals_arg;
};

/* ---- engine state and messages ---- */

static void engine_state(struct labels *l, enum labels_engine st, struct docker *d)
{
	/* Only an engine that was there can be lost: one never reached stays
	 * UNKNOWN, which readiness does not count against a host without
	 * Docker jobs. */
	if (st == LABELS_ENGINE_DISCONNECTED && atomic_load(&l->engine) == LABELS_ENGINE_UNKNOWN) {
		if (!atomic_exchange(&l->warned_unreachable, true))
			log_kv(LOG_WARN,
			       "label discovery: cannot reach the Docker engine; retrying in the "
			       "background",
			       "host", docker_host(d), "error", docker_errmsg(d), NULL);
		return;
	}
	int was = atomic_exchange(&l->engine, (int)st);
	if (was == (int)st)
		return;
	if (st == LABELS_ENGINE_CONNECTED)
		log_kv(LOG_INFO, "label discovery: connected to the Docker engine", "host",
		       docker_host(d), NULL);
	else
		log_kv(LOG_WARN,
		       "label discovery: lost the Docker engine; label jobs are kept, retrying",
		       "host", docker_host(d), "error", docker_errmsg(d), NULL);
}

enum labels_engine labels_engine(const struct labels *l)
{
	return l ? (enum labels_engine)atomic_load(&l->engine) : LABELS_ENGINE_UNKNOWN;
}

static bool contains(const struct strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

/* report logs the messages of a listing that the previous one did not
 * have: diag's as warnings, info's at level info. */
static void report(struct labels *l, const struct config_diag *diag, const struct strv *info)
{
	struct strv now = STRV_INIT;
	for (size_t i = 0; i < diag->errors.n; i++)
		strv_push(&now, diag->errors.v[i]);
	for (size_t i = 0; i < diag->warnings.n; i++)
		strv_push(&now, diag->warnings.v[i]);
	for (size_t i = 0; i < info->n; i++)
		strv_push(&now, info->v[i]);
	pthread_mutex_lock(&l->diag_lock);
	for (size_t i = 0; i < now.n; i++) {
		if (contains(&l->logged, now.v[i]))
			continue;
		if (i < diag->errors.n + diag->warnings.n)
			log_warnx("label discovery: %s", now.v[i]);
		else
			log_kv(LOG_INFO, "label discovery", "note", now.v[i], NULL);
	}
	strv_free(&l->logged);
	l->logged = now;
	pthread_mutex_unlock(&l->diag_lock);
}

/* ---- one listing ---- */

static const char *name_of(const struct docker_container_summary *c)
{
	return c->names.n ? c->names.v[0] : c->id;
}

static bool is_running(const struct docker_container_summary *c)
{
	return c->state && strcmp(c->state, "running") == 0;
}

/* by_preference orders the containers whose jobs win a shared name:
 * running before stopped, then by name. */
static int by_preference(const void *a, const void *b)
{
	const struct docker_container_summary *x = *(const void *const *)a;
	const struct docker_container_summary *y = *(const void *const *)b;
	if (is_running(x) != is_running(y))
		return is_running(x) ? -1 : 1;
	return strcmp(name_of(x), name_of(y));
}

static bool filter_match(const struct filter *f, const struct docker_container_summary *c)
{
	switch (f->kind) {
	case FILTER_NAME:
		for (size_t i = 0; i < c->names.n; i++) {
			/* The engine matches the name with and without its '/'. */
			char *slashed = xasprintf("/%s", c->names.v[i]);
			bool hit = regexec(&f->re, c->names.v[i], 0, NULL, 0) == 0 ||
			           regexec(&f->re, slashed, 0, NULL, 0) == 0;
			free(slashed);
			if (hit)
				return true;
		}
		return false;
	case FILTER_STATUS:
		return c->state && strcmp(c->state, f->value) == 0;
	case FILTER_ID:
		return strncmp(c->id, f->value, strlen(f->value)) == 0;
	}
	return false;
}

/* matches applies the filters: any value of a key, every key. */
static bool matches(const struct labels *l, const struct docker_container_summary *c)
{
	for (int kind = FILTER_NAME; kind <= FILTER_ID; kind++) {
		bool any = false, hit = false;
		for (size_t i = 0; i < l->nfilters; i++) {
			if (l->filters[i].kind != (enum filter_kind)kind)
				continue;
			any = true;
			hit = hit || filter_match(&l->filters[i], c);
		}
		if (any && !hit)
			return false;
	}
	return true;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool label_true(const struct docker_container_summary *c, const char *key)
{
	const char *v = json_string_value(json_object_get(c->labels, key));
	bool yes = false;
	return v && job_bool_parse(v, &yes) == 0 && yes;
}

/* has_job_labels tells whether a container carries ofelia.job-* labels. */
static bool has_job_labels(const struct docker_container_summary *c)
{
	const char *key;
	json_t *value;
	json_object_foreach(c->labels, key, value)
	{
		if (strncmp(key, "ofelia.job-", 11) == 0)
			return true;
	}
	return false;
}

/* container_jobs appends the jobs of one container's labels to *jobs, and
 * its global settings to globals when it is the first service container
 * that has any. */
static void container_jobs(const struct labels *l, const struct docker_container_summary *c,
                           struct job ***jobs, size_t *n, struct strv *globals,
                           struct config_diag *diag)
{
	size_t nl = json_object_size(c->labels), k = 0;
	struct config_label *cl = xcalloc(nl + 1, sizeof *cl);
	const char *key;
	json_t *value;
	json_object_foreach(c->labels, key, value)
	{
		if (json_is_string(value))
			cl[k++] = (struct config_label){key, json_string_value(value)};
	}
	const char *swarm =
	    json_string_value(json_object_get(c->labels, "com.docker.swarm.service.name"));
	struct config_container ct = {
	    .name = name_of(c),
	    .service = c->compose_service ? c->compose_service : swarm,
	    .running = is_running(c),
	    .is_service = label_true(c, "ofelia.service"),
	};
	config_labels_jobs(&l->c->global, &ct, cl, k, jobs, n, diag);
	if (globals->n == 0)
		config_labels_globals(&ct, cl, k, globals);
	free(cl);
}

/* discover lists the containers and builds the set of their label jobs;
 * NULL when the engine could not be asked. Any thread, with its handle. */
static struct labels_set *discover(struct labels *l, struct docker *d)
{
	uint64_t seq = atomic_fetch_add(&l->seq, 1) + 1;
	struct docker_container_list list;
	if (docker_container_list(d, &l->list_filters, l->c->docker.include_stopped, &list) < 0) {
		if (docker_status(d) != DOCKER_E_CANCELLED)
			engine_state(l, LABELS_ENGINE_DISCONNECTED, d);
		return NULL;
	}
	engine_state(l, LABELS_ENGINE_CONNECTED, d);

	const struct docker_container_summary **order = xcalloc(list.n + 1, sizeof *order);
	struct config_diag diag = {STRV_INIT, STRV_INIT};
	struct strv info = STRV_INIT, services = STRV_INIT;
	size_t n = 0;
	for (size_t i = 0; i < list.n; i++) {
		const struct docker_container_summary *c = &list.v[i];
		if (!matches(l, c))
			continue;
		if (!label_true(c, "ofelia.enabled")) {
			if (has_job_labels(c))
				strv_push_owned(&info,
				                xasprintf("container \"%s\" has ofelia.job-* "
				                          "labels but not ofelia.enabled=true: "
				                          "its jobs are skipped",
				                          name_of(c)));
			continue;
		}
		if (label_true(c, "ofelia.service"))
			strv_push(&services, name_of(c));
		order[n++] = c;
	}
	qsort(order, n, sizeof *order, by_preference);
	if (services.n > 1) {
		struct buf names = BUF_INIT;
		qsort(services.v, services.n, sizeof *services.v, by_string);
		for (size_t i = 0; i < services.n; i++)
			buf_printf(&names, "%s\"%s\"", i ? ", " : "", services.v[i]);
		strv_push_owned(&diag.warnings,
		                xasprintf("%zu containers claim ofelia.service=true (%s): each may "
		                          "define local and service-run jobs; only ofelia's own "
		                          "container should carry it (docs/docker.md, trust)",
		                          services.n, names.data));
		buf_free(&names);
	}
	strv_free(&services);

	struct labels_set *set = xcalloc(1, sizeof *set);
	struct map owner; /* job name -> the container that won it */
	set->seq = seq;
	map_init(&owner);
	for (size_t i = 0; i < n; i++) {
		struct job **jobs = NULL;
		size_t nj = 0;
		container_jobs(l, order[i], &jobs, &nj, &set->globals, &diag);
		for (size_t j = 0; j < nj; j++) {
			const char *first = map_get(&owner, jobs[j]->name);
			if (first) {
				strv_push_owned(
				    &diag.warnings,
				    xasprintf("job \"%s\" is defined by containers \"%s\" "
				              "and \"%s\": the one of \"%s\" is used "
				              "(running before stopped, then by name)",
				              jobs[j]->name, first, name_of(order[i]), first));
				job_free(jobs[j]);
				continue;
			}
			map_put(&owner, jobs[j]->name, (void *)name_of(order[i]));
			set->jobs = xreallocarray(set->jobs, set->n + 1, sizeof *set->jobs);
			set->jobs[set->n++] = jobs[j];
		}
		free(jobs);
	}
	report(l, &diag, &info);
	strv_free(&info);
	map_fini(&owner);
	config_diag_free(&diag);
	free(order);
	docker_container_list_fini(&list);
	return set;
}

static void set_free(struct labels_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		job_free(set->jobs[i]);
	free(set->jobs);
	strv_free(&set->globals);
	free(set);
}

/* apply syncs the scheduler with a set unless a newer one was applied. Loop
 * thread. */
static void apply(struct labels *l, const struct labels_set *set, struct scheduler_changes *out)
{
	memset(out, 0, sizeof *out);
	if (l->stopping || set->seq <= l->applied)
		return;
	l->applied = set->seq;
	if (scheduler_sync(l->s, JOB_ORIGIN_LABEL, set->jobs, set->n, out) < 0) {
		log_errorx("label discovery: the database refused the label jobs; the next "
		           "listing tries again");
		return;
	}
	if (!strv_equal(&set->globals, &l->globals)) {
		strv_free(&l->globals);
		strv_copy(&l->globals, &set->globals);
		if (l->on_globals)
			l->on_globals(l->globals_arg, &l->globals);
	}
	if (out->added || out->updated || out->removed) {
		char added[16], updated[16], removed[16];
		snprintf(added, sizeof added, "%d", out->added);
		snprintf(updated, sizeof updated, "%d", out->updated);
		snprintf(removed, sizeof removed, "%d", out->removed);
		log_kv(LOG_INFO, "label jobs changed", "added", added, "updated", updated,
		       "removed", removed, NULL);
	}
}

static void on_set(void *msg, void *arg)
{
	struct scheduler_changes changes;
	apply(arg, msg, &changes);
	set_free(msg);
}

/* ---- threads ---- */

static void wait_until(struct labels *l, int64_t until_mono)
{
	if (until_mono == INT64_MAX) {
		pthread_cond_wait(&l->cond, &l->lock);
		return;
	}
	struct timespec ts = {until_mono / NS_PER_SEC, until_mono % NS_PER_SEC};
	pthread_cond_timedwait(&l->cond, &l->lock, &ts);
}

/* nap sleeps for ns unless discovery stops; false when it stops. */
static bool nap(struct labels *l, int64_t ns)
{
	int64_t until = clock_mono_ns() + ns;
	pthread_mutex_lock(&l->lock);
	while (!l->stopping && clock_mono_ns() < until)
		wait_until(l, until);
	bool go_on = !l->stopping;
	pthread_mutex_unlock(&l->lock);
	return go_on;
}

static void mark_dirty(struct labels *l)
{
	pthread_mutex_lock(&l->lock);
	if (!l->dirty) {
		l->dirty = true;
		l->dirty_at = clock_mono_ns();
		pthread_cond_broadcast(&l->cond);
	}
	pthread_mutex_unlock(&l->lock);
}

static void *lister_main(void *arg)
{
	struct labels *l = arg;
	int64_t poll_ns = l->c->docker.poll_interval_ns;
	int64_t backoff = BACKOFF_MIN_NS;
	int64_t due = clock_mono_ns(); /* the first listing at once */

	pthread_mutex_lock(&l->lock);
	while (!l->stopping) {
		int64_t at = due;
		if (l->dirty && l->dirty_at + DEBOUNCE_NS < at)
			at = l->dirty_at + DEBOUNCE_NS;
		if (clock_mono_ns() < at) {
			wait_until(l, at);
			continue;
		}
		l->dirty = false;
		pthread_mutex_unlock(&l->lock);
		struct labels_set *set = discover(l, l->list_d);
		if (set)
			loop_mailbox_post(l->mailbox, set);
		pthread_mutex_lock(&l->lock);
		if (set) {
			backoff = BACKOFF_MIN_NS;
			due = poll_ns > 0 ? clock_mono_ns() + poll_ns : INT64_MAX;
		} else {
			due = clock_mono_ns() + backoff;
			backoff = backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : backoff * 2;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

static void on_event(void *arg, const struct docker_event *ev)
{
	struct labels *l = arg;
	if (ev->time_ns > 0)
		l->event_since_s = ev->time_ns / NS_PER_SEC;
	mark_dirty(l);
}

static void *watcher_main(void *arg)
{
	struct labels *l = arg;
	struct docker *d = l->event_d;
	int64_t backoff = BACKOFF_MIN_NS;

	for (;;) {
		if (docker_connect(d, NULL) == 0) {
			engine_state(l, LABELS_ENGINE_CONNECTED, d);
			if (l->event_since_s == 0)
				l->event_since_s = clock_now_ns() / NS_PER_SEC;
			mark_dirty(l);
			int64_t began = clock_mono_ns();
			docker_events(d, l->event_filters, l->event_since_s, 0, on_event, l);
			if (clock_mono_ns() - began >= STREAM_OK_NS)
				backoff = BACKOFF_MIN_NS;
		}
		if (docker_status(d) == DOCKER_E_CANCELLED)
			break;
		if (docker_status(d) == DOCKER_E_CONNECT || docker_status(d) == DOCKER_E_TIMEOUT ||
		    docker_status(d) == DOCKER_E_VERSION)
			engine_state(l, LABELS_ENGINE_DISCONNECTED, d);
		if (!nap(l, backoff))
			break;
		backoff = backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : backoff * 2;
	}
	return NULL;
}

/* ---- start, refresh, stop ---- */

/* add_filter reads one docker.filters entry ("key=value"). */
static void add_filter(struct labels *l, const char *entry)
{
	const char *eq = strchr(entry, '=');
	size_t klen = eq ? (size_t)(eq - entry) : strlen(entry);
	const char *value = eq ? eq + 1 : "";
	struct filter f = {.value = xstrdup(value)};

	if (klen == 5 && strncmp(entry, "label", 5) == 0) {
		strv_push(&l->label_filters, value);
		strv_push(&l->list_filters, value);
		free(f.value);
		return;
	}
	if (klen == 4 && strncmp(entry, "name", 4) == 0) {
		f.kind = FILTER_NAME;
		if (regcomp(&f.re, value, REG_EXTENDED | REG_NOSUB) != 0) {
			log_kv(LOG_WARN, "docker filter ignored: not a regular expression",
			       "filter", entry, NULL);
			free(f.value);
			return;
		}
	} else if (klen == 6 && strncmp(entry, "status", 6) == 0) {
		f.kind = FILTER_STATUS;
	} else if (klen == 2 && strncmp(entry, "id", 2) == 0) {
		f.kind = FILTER_ID;
	} else {
		log_kv(LOG_WARN,
		       "docker filter ignored: label=, name=, status= and id= are supported",
		       "filter", entry, NULL);
		free(f.value);
		return;
	}
	l->filters = xreallocarray(l->filters, l->nfilters + 1, sizeof *l->filters);
	l->filters[l->nfilters++] = f;
}

static json_t *event_filters(const struct strv *labels)
{
	json_t *label = json_array();
	for (size_t i = 0; i < labels->n; i++)
		json_array_append_new(label, json_string(labels->v[i]));
	return json_pack("{s:[s],s:[s,s,s,s,s,s],s:o}", "type", "container", "event", "create",
	                 "start", "die", "destroy", "rename", "update", "label", label);
}

/* new_handle makes a handle for the configured engine; a bad address is
 * reported once and gives a handle-less discovery (engine unknown). */
static struct docker *new_handle(const struct config *c)
{
	char err[256];
	struct docker *d = docker_new(c->docker.host, err, sizeof err);
	if (d == NULL)
		log_errorx("label discovery is off: %s", err);
	return d;
}

struct labels *labels_start(struct loop *loop, struct scheduler *s, const struct config *c)
{
	struct labels *l = xcalloc(1, sizeof *l);
	pthread_condattr_t ca;

	l->loop = loop;
	l->s = s;
	l->c = c;
	atomic_init(&l->engine, LABELS_ENGINE_UNKNOWN);
	atomic_init(&l->seq, 0);
	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->diag_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &ca);
	pthread_condattr_destroy(&ca);
	strv_push(&l->label_filters, ENABLED_LABEL);
	for (size_t i = 0; i < c->docker.filters.n; i++)
		add_filter(l, c->docker.filters.v[i]);
	l->event_filters = event_filters(&l->label_filters);
	l->mailbox = loop_mailbox_new(loop, on_set, l);

	l->list_d = new_handle(c);
	if (l->list_d == NULL)
		return l;
	l->loop_d = new_handle(c);
	l->lister_started = pthread_create(&l->lister, NULL, lister_main, l) == 0;
	if (c->docker.events) {
		l->event_d = new_handle(c);
		l->watcher_started = pthread_create(&l->watcher, NULL, watcher_main, l) == 0;
	}
	if (!l->lister_started || (c->docker.events && !l->watcher_started))
		log_errorx("label discovery: cannot start its threads");
	return l;
}

int labels_refresh(struct labels *l, struct scheduler_changes *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (l == NULL || l->loop_d == NULL || l->stopping)
		return 0;
	docker_set_deadline(l->loop_d, clock_mono_ns() + REFRESH_LIMIT_NS);
	struct labels_set *set = discover(l, l->loop_d);
	if (set == NULL) {
		snprintf(err, errlen, "cannot list the containers: %s", docker_errmsg(l->loop_d));
		return -1;
	}
	apply(l, set, out);
	set_free(set);
	return 0;
}

void labels_stop(struct labels *l)
{
	if (l == NULL || l->stopping)
		return;
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	if (l->list_d)
		docker_cancel(l->list_d);
	if (l->event_d)
		docker_cancel(l->event_d);
}

void labels_free(struct labels *l)
{
	if (l == NULL)
		return;
	labels_stop(l);
	if (l->lister_started)
		pthread_join(l->lister, NULL);
	if (l->watcher_started)
		pthread_join(l->watcher, NULL);
	loop_mailbox_free(l->mailbox);
	docker_free(l->list_d);
	docker_free(l->event_d);
	docker_free(l->loop_d);
	for (size_t i = 0; i < l->nfilters; i++) {
		if (l->filters[i].kind == FILTER_NAME)
			regfree(&l->filters[i].re);
		free(l->filters[i].value);
	}
	free(l->filters);
	strv_free(&l->label_filters);
	strv_free(&l->list_filters);
	strv_free(&l->logged);
	strv_free(&l->globals);
	json_decref(l->event_filters);
	pthread_mutex_destroy(&l->lock);
	pthread_mutex_destroy(&l->diag_lock);
	pthread_cond_destroy(&l->cond);
	free(l);
}

void labels_on_globals(struct labels *l, void (*fn)(void *arg, const struct strv *globals),
                       void *arg)
{
	l->on_globals = fn;
	l->globals_arg = arg;
}
