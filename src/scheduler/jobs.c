/* Job changes: loading jobs from the store, syncing them with the config
 * and labels (start, reload, discovery), API edits, and retention.
 *
 * Rules (docs/scheduling.md): a job belongs to one origin. When two origins
 * define the same name, an API job wins over a config job, which wins over
 * a label job (as netresearch's Ofelia). An API edit, toggle or delete of a
 * config or label job is an override: it is kept across restarts and
 * reloads for as long as the job's source definition stays the same, and
 * dropped when the source changes it (the operator edited the file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/events.h"
#include "loop/loop.h"
#include "scheduler/scheduler_int.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define PRUNE_BATCH    500
#define PRUNE_EVERY_NS (60 * NS_PER_SEC)
#define PRUNE_AGAIN_NS (100 * NS_PER_MS)

struct sjob *sched_job_from_row(struct store_job *row)
{
	if (row->def == NULL)
		return NULL;
	struct sjob *j = xcalloc(1, sizeof *j);
	j->heap_at = HEAP_NONE;
	sched_job_take_row(j, row);
	j->row_status = row->last_status;
	return j;
}

void sched_job_take_row(struct sjob *j, struct store_job *row)
{
	job_free(j->def);
	job_free(j->source_def);
	j->def = row->def;
	j->source_def = row->source_def;
	row->def = row->source_def = NULL;
	j->overridden = row->overridden;
	j->deleted = row->deleted_ns != 0;
	/* Label jobs wait for discovery to see their container again. */
	j->held = j->def->origin == JOB_ORIGIN_LABEL && !j->deleted;
	j->last_slot_ns = row->last_slot_ns;
	free(j->slot_schedule);
	j->slot_schedule = xstrdup(row->slot_schedule);
	j->last_run_ns = row->last_run_ns;
	j->last_status = row->last_status;
	j->created_ns = row->created_ns;
}

static struct sjob *job_new_from(const struct job *def)
{
	struct sjob *j = xcalloc(1, sizeof *j);
	j->def = job_clone(def);
	j->source_def = def->origin == JOB_ORIGIN_API ? NULL : job_clone(def);
	j->heap_at = HEAP_NONE;
	j->created_ns = clock_now_ns();
	return j;
}

void sched_job_free(struct sjob *j)
{
	if (j == NULL)
		return;
	job_free(j->def);
	job_free(j->source_def);
	cron_free(j->cron);
	free(j->slot_schedule);
	free(j);
}

int sched_job_save(struct scheduler *s, struct sjob *j)
{
	struct store_job row = {
	    .def = j->def,
	    .source_def = j->source_def,
	    .overridden = j->overridden,
	    .next_run_ns = j->next_ns,
	    .last_run_ns = j->last_run_ns,
	    .last_status = j->last_status,
	    .last_slot_ns = j->last_slot_ns,
	    .slot_schedule = j->slot_schedule,
	    .deleted_ns = j->deleted ? clock_now_ns() : 0,
	    .created_ns = j->created_ns,
	};
	sched_chain_links_changed(s);
	if (store_job_save(s->store, &row) < 0) {
		log_errorx("job %s: cannot store it: %s", j->def->name, store_errmsg(s->store));
		return -1;
	}
	s->version++;
	return 0;
}

void sched_publish_job(struct scheduler *s, int type, const struct sjob *j)
{
	json_t *payload = json_pack("{s:s}", "name", j->def->name);
	if (type != EVENT_JOB_REMOVED)
		json_object_set_new(payload, "job", job_to_json(j->def));
	events_publish(s->events, (enum event_type)type, payload);
}

/* rank orders origins: the higher one owns a name both define. */
static int rank(enum job_origin o)
{
	return o == JOB_ORIGIN_API ? 3 : o == JOB_ORIGIN_CONFIG ? 2 : 1;
}

/* replace_def makes def (copied) j's definition from its source. */
static void replace_def(struct sjob *j, const struct job *def)
{
	job_free(j->def);
	job_free(j->source_def);
	j->def = job_clone(def);
	j->source_def = def->origin == JOB_ORIGIN_API ? NULL : job_clone(def);
	j->overridden = false;
}

/* sync_one applies one source definition; returns the event it caused or -1. */
static int sync_one(struct scheduler *s, const struct job *def, int64_t now)
{
	struct sjob *j = map_get(&s->jobs, def->name);

	if (j == NULL) {
		j = job_new_from(def);
		map_put(&s->jobs, j->def->name, j);
		sched_plan(s, j, now, true);
		sched_job_save(s, j);
		return EVENT_JOB_ADDED;
	}
	if (!j->deleted && j->def->origin != def->origin) {
		if (rank(j->def->origin) > rank(def->origin)) {
			/* Said once: label discovery offers the same set every poll. */
			if (map_put(&s->shadowed, def->name, (void *)1) == NULL)
				log_kv(LOG_WARN,
				       "job ignored: another origin defines the same name", "job",
				       def->name, "ignored", job_origin_name(def->origin), "kept",
				       job_origin_name(j->def->origin), NULL);
			return -1;
		}
		bool held = j->held;
		replace_def(j, def);
		j->held = false;
		sched_plan(s, j, now, true);
		sched_job_save(s, j);
		return held ? EVENT_JOB_ADDED : EVENT_JOB_UPDATED;
	}
	if (j->deleted) {
		/* An API delete of a sourced job holds while its source is unchanged. */
		if (j->overridden && j->source_def && job_equal(j->source_def, def))
			return -1;
		replace_def(j, def);
		j->deleted = false;
		j->held = false;
		sched_plan(s, j, now, true);
		sched_job_save(s, j);
		return EVENT_JOB_ADDED;
	}
	if (j->source_def && job_equal(j->source_def, def)) {
		if (!j->held)
			return -1;
		/* A label job seen again after a restart: continue where it was. */
		j->held = false;
		sched_plan(s, j, now, false);
		sched_job_save(s, j);
		return EVENT_JOB_ADDED;
	}
	bool was_off = !j->def->enabled || j->held;
	replace_def(j, def);
	j->held = false;
	sched_plan(s, j, now, was_off);
	sched_job_save(s, j);
	return EVENT_JOB_UPDATED;
}

/* A change to announce once the sync is committed. */
struct change {
	int type;
	char *name;
};

int scheduler_sync(struct scheduler *s, enum job_origin origin, struct job *const *defs, size_t n,
                   struct scheduler_changes *out)
{
	/* A cluster node keeps its sources: they are its jobs when it leads. */
	if (s->gated)
		sched_keep_source(s, origin, defs, n);
	if (sched_following(s)) {
		memset(out, 0, sizeof *out);
		return 0;
	}
	return sched_sync_apply(s, origin, defs, n, out);
}

int sched_sync_apply(struct scheduler *s, enum job_origin origin, struct job *const *defs, size_t n,
                     struct scheduler_changes *out)
{
	struct map seen;
	struct map_iter it;
	void *v;
	int64_t now = clock_now_ns();
	struct change *changes = xcalloc(n + s->jobs.count + 1, sizeof *changes);
	size_t nchanges = 0;

	memset(out, 0, sizeof *out);
	map_init(&seen);
	if (sched_batch_begin(s) < 0) {
		map_fini(&seen);
		free(changes);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct job *def = job_clone(defs[i]);
		def->origin = origin;
		int ev = sync_one(s, def, now);
		if (ev >= 0)
			changes[nchanges++] = (struct change){ev, xstrdup(def->name)};
		out->added += ev == EVENT_JOB_ADDED;
		out->updated += ev == EVENT_JOB_UPDATED;
		map_put(&seen, def->name, (void *)1);
		job_free(def);
	}
	map_iter_init(&s->jobs, &it);
	while (map_iter_next(&s->jobs, &it, NULL, &v)) {
		struct sjob *j = v;
		if (j->def->origin != origin || j->deleted || map_get(&seen, j->def->name))
			continue;
		j->deleted = true;
		j->overridden = false;
		j->held = false;
		sched_unplan(s, j);
		sched_job_save(s, j);
		changes[nchanges++] = (struct change){EVENT_JOB_REMOVED, xstrdup(j->def->name)};
		out->removed++;
	}
	map_fini(&seen);
	int rc = sched_batch_end(s);
	sched_arm(s);
	sched_links_refresh(s);
	for (size_t i = 0; i < nchanges; i++) {
		if (rc == 0)
			sched_publish_job(s, changes[i].type, map_get(&s->jobs, changes[i].name));
		free(changes[i].name);
	}
	free(changes);
	if (nchanges > 0) {
		s->version++;
		log_kv(LOG_INFO, "jobs synced", "origin", job_origin_name(origin), NULL);
	}
	return rc;
}

/* ---- API edits ---- */

/* following refuses an API change on a node that does not lead (the API
 * sends those to the leader before they get here). */
static bool following(struct scheduler *s, enum scheduler_rc *rc, char *err, size_t errlen)
{
	if (!sched_following(s))
		return false;
	snprintf(err, errlen, "this node does not lead the cluster: changes go to the leader");
	*rc = SCHED_UNAVAILABLE;
	return true;
}

static struct sjob *live_job(struct scheduler *s, const char *name)
{
	struct sjob *j = map_get(&s->jobs, name);
	return j && !j->deleted && !j->held ? j : NULL;
}

/* commit_change stores an API change of j, then announces it. */
static enum scheduler_rc commit_change(struct scheduler *s, struct sjob *j, int event, char *err,
                                       size_t errlen)
{
	if (sched_job_save(s, j) < 0) {
		snprintf(err, errlen, "%s", store_errmsg(s->store));
		return SCHED_STORE_ERROR;
	}
	sched_arm(s);
	sched_publish_job(s, event, j);
	return SCHED_OK;
}

static enum scheduler_rc not_found(const char *name, char *err, size_t errlen)
{
	snprintf(err, errlen, "Job '%s' not found", name);
	return SCHED_NOT_FOUND;
}

static enum scheduler_rc create_job(struct scheduler *s, const char *name, json_t *body,
                                    const char **code, char *err, size_t errlen)
{
	struct job *def = job_from_json(body, name, err, errlen);
	if (def == NULL)
		return SCHED_INVALID;
	def->origin = JOB_ORIGIN_API;
	free(def->source);
	def->source = xstrdup("api");
	if (job_validate(def, code, err, errlen) < 0 ||
	    sched_chain_check_one(s, def, NULL, err, errlen) < 0) {
		job_free(def);
		return SCHED_INVALID;
	}
	struct sjob *j = map_get(&s->jobs, name);
	if (j) {
		/* Over a removed job or an API tombstone: its history stays. */
		replace_def(j, def);
		j->deleted = false;
		j->held = false;
	} else {
		j = job_new_from(def);
		map_put(&s->jobs, j->def->name, j);
	}
	job_free(def);
	sched_plan(s, j, clock_now_ns(), true);
	return commit_change(s, j, EVENT_JOB_ADDED, err, errlen);
}

enum scheduler_rc scheduler_put_job(struct scheduler *s, const char *name, json_t *body,
                                    bool *created, const char **code, char *err, size_t errlen)
{
	enum scheduler_rc frc;
	*created = false;
	*code = "VALIDATION_ERROR";
	if (following(s, &frc, err, errlen))
		return frc;
	struct sjob *j = live_job(s, name);
	if (j == NULL) {
		if (!json_is_object(body) || json_object_get(body, "type") == NULL)
			return not_found(name, err, errlen);
		enum scheduler_rc rc = create_job(s, name, body, code, err, errlen);
		*created = rc == SCHED_OK;
		return rc;
	}
	struct job *copy = job_clone(j->def);
	if (job_apply_json(copy, body, err, errlen) < 0 ||
	    job_validate(copy, code, err, errlen) < 0 ||
	    sched_chain_check_one(s, copy, j->def, err, errlen) < 0) {
		job_free(copy);
		return SCHED_INVALID;
	}
	if (job_equal(copy, j->def)) {
		job_free(copy);
		return SCHED_OK;
	}
	bool from_now = !j->def->enabled || strcmp(copy->schedule, j->def->schedule) != 0;
	job_free(j->def);
	j->def = copy;
	j->overridden = j->def->origin != JOB_ORIGIN_API;
	sched_plan(s, j, clock_now_ns(), from_now);
	return commit_change(s, j, EVENT_JOB_UPDATED, err, errlen);
}

enum scheduler_rc scheduler_delete_job(struct scheduler *s, const char *name, char *err,
                                       size_t errlen)
{
	enum scheduler_rc frc;
	if (following(s, &frc, err, errlen))
		return frc;
	struct sjob *j = live_job(s, name);
	if (j == NULL)
		return not_found(name, err, errlen);
	j->deleted = true;
	j->overridden = j->def->origin != JOB_ORIGIN_API;
	sched_unplan(s, j);
	return commit_change(s, j, EVENT_JOB_REMOVED, err, errlen);
}

enum scheduler_rc scheduler_toggle_job(struct scheduler *s, const char *name, bool *enabled,
                                       char *err, size_t errlen)
{
	enum scheduler_rc frc;
	if (following(s, &frc, err, errlen))
		return frc;
	struct sjob *j = live_job(s, name);
	if (j == NULL)
		return not_found(name, err, errlen);
	j->def->enabled = !j->def->enabled;
	j->overridden = j->def->origin != JOB_ORIGIN_API;
	/* A job switched back on starts from now: its off time missed nothing. */
	sched_plan(s, j, clock_now_ns(), true);
	*enabled = j->def->enabled;
	return commit_change(s, j, EVENT_JOB_UPDATED, err, errlen);
}

/* ---- retention ---- */

void sched_on_prune(void *arg)
{
	struct scheduler *s = arg;
	bool more = false;
	struct map_iter it;
	const char *name;

	if (s->o.history_max_age_ns > 0) {
		int n = store_prune_age(s->store, clock_now_ns() - s->o.history_max_age_ns,
		                        PRUNE_BATCH);
		if (n < 0)
			log_errorx("retention: %s", store_errmsg(s->store));
		more = n == PRUNE_BATCH;
		s->version += n > 0; /* cached API pages list what was pruned */
	}
	map_iter_init(&s->prune_dirty, &it);
	while (map_iter_next(&s->prune_dirty, &it, &name, NULL)) {
		struct sjob *j = map_get(&s->jobs, name);
		int limit =
		    j && j->def->history_limit >= 0 ? j->def->history_limit : s->o.history_limit;
		int n = limit > 0 ? store_prune_count(s->store, name, limit, PRUNE_BATCH) : 0;
		if (n < 0)
			log_errorx("retention of job %s: %s", name, store_errmsg(s->store));
		s->version += n > 0;
		if (n == PRUNE_BATCH) {
			more = true;
			continue;
		}
		map_remove(&s->prune_dirty, name);
	}
	s->prune_soon = more;
	loop_timer_after(s->prune_timer, more ? PRUNE_AGAIN_NS : PRUNE_EVERY_NS);
}
