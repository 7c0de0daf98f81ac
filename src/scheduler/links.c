/* The links between jobs: depends-on, on-success, on-failure. Which
 * @triggered jobs run when a job succeeds (netresearch's depends-on of a
 * job that never fires on its own), whether the live jobs' links hold a
 * loop, the checks of new definitions (a loop is refused at load, reload
 * and through the API; a name the API gives must be a live job), and the
 * links a job's page shows both ways. Rebuilt lazily when a definition
 * changes (sched_chain_links_changed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/scheduler_int.h"
#include "util/log.h"
#include "util/xalloc.h"

void sched_links_init(struct scheduler *s)
{
	map_init(&s->dependents);
	s->links_dirty = true;
}

void sched_chain_links_changed(struct scheduler *s)
{
	s->links_dirty = true;
}

static void drop_dependents(struct scheduler *s)
{
	struct map_iter it;
	void *v;
	map_iter_init(&s->dependents, &it);
	while (map_iter_next(&s->dependents, &it, NULL, &v)) {
		strv_free(v);
		free(v);
	}
	map_fini(&s->dependents);
	map_init(&s->dependents);
}

/* live_defs lists the definitions of the live jobs (borrowed). */
static struct job **live_defs(struct scheduler *s, size_t *n)
{
	struct map_iter it;
	void *v;
	struct job **defs = xcalloc(s->jobs.count + 1, sizeof *defs);
	*n = 0;
	map_iter_init(&s->jobs, &it);
	while (map_iter_next(&s->jobs, &it, NULL, &v)) {
		struct sjob *j = v;
		if (!j->deleted && !j->held)
			defs[(*n)++] = j->def;
	}
	return defs;
}

/* sched_links_refresh lists again which manual jobs depend on which, and whether the
 * live jobs' links hold a loop (said once per change). */
void sched_links_refresh(struct scheduler *s)
{
	size_t n, holder;
	enum job_link key;
	char loop[sizeof s->links_loop];
	if (!s->links_dirty)
		return;
	s->links_dirty = false;
	drop_dependents(s);
	struct job **defs = live_defs(s, &n);
	for (size_t i = 0; i < n; i++) {
		struct sjob *j = map_get(&s->jobs, defs[i]->name);
		/* Only a job that never fires on its own is run by its
		 * dependencies; a scheduled one waits for them at its slots. */
		struct cron *c = NULL;
		char err[64];
		bool manual =
		    j->cron ? cron_is_manual(j->cron)
		            : (cron_parse(defs[i]->schedule, s->o.zone, &c, err, sizeof err) == 0 &&
		               cron_is_manual(c));
		cron_free(c);
		if (!manual)
			continue;
		for (size_t k = 0; k < defs[i]->depends_on.n; k++) {
			struct strv *v = map_get(&s->dependents, defs[i]->depends_on.v[k]);
			if (v == NULL) {
				v = xcalloc(1, sizeof *v);
				map_put(&s->dependents, defs[i]->depends_on.v[k], v);
			}
			strv_push(v, defs[i]->name);
		}
	}
	int rc = job_links_cycle(defs, n, &holder, &key, loop, sizeof loop);
	free(defs);
	if (rc < 0 && strcmp(loop, s->links_loop) != 0)
		log_errorx(
		    "the jobs' depends-on, on-success and on-failure form a loop: %s; runs on "
		    "it are not triggered",
		    loop);
	snprintf(s->links_loop, sizeof s->links_loop, "%s", rc < 0 ? loop : "");
}

const struct strv *sched_links_dependents(struct scheduler *s, const char *name)
{
	sched_links_refresh(s);
	return map_get(&s->dependents, name);
}

bool sched_links_reach(struct scheduler *s, const char *from, const char *to)
{
	struct map seen;
	struct strv todo = STRV_INIT;
	bool found = false;
	map_init(&seen);
	strv_push(&todo, from);
	for (size_t i = 0; i < todo.n && !found; i++) {
		const char *name = todo.v[i];
		if (strcmp(name, to) == 0) {
			found = true;
			break;
		}
		if (map_put(&seen, name, (void *)1))
			continue;
		struct sjob *j = map_get(&s->jobs, name);
		if (j && !j->deleted && !j->held) {
			for (size_t k = 0; k < j->def->on_success.n; k++)
				strv_push(&todo, j->def->on_success.v[k]);
			for (size_t k = 0; k < j->def->on_failure.n; k++)
				strv_push(&todo, j->def->on_failure.v[k]);
		}
		const struct strv *deps = map_get(&s->dependents, name);
		for (size_t k = 0; deps && k < deps->n; k++)
			strv_push(&todo, deps->v[k]);
	}
	strv_free(&todo);
	map_fini(&seen);
	return found;
}

void sched_links_free(struct scheduler *s)
{
	drop_dependents(s);
	map_fini(&s->dependents);
}

/* ---- checks of new definitions, and the API's view ---- */

/* candidate_defs lists the live jobs with defs[0..n) in place of those of
 * their names (borrowed). */
static struct job **candidate_defs(struct scheduler *s, struct job *const *defs, size_t n,
                                   enum job_origin origin, bool whole_origin, size_t *count)
{
	struct map_iter it;
	void *v;
	struct map names;
	struct job **all = xcalloc(s->jobs.count + n + 1, sizeof *all);
	*count = 0;
	map_init(&names);
	for (size_t i = 0; i < n; i++) {
		map_put(&names, defs[i]->name, (void *)1);
		all[(*count)++] = defs[i];
	}
	map_iter_init(&s->jobs, &it);
	while (map_iter_next(&s->jobs, &it, NULL, &v)) {
		struct sjob *j = v;
		if (j->deleted || j->held || map_get(&names, j->def->name) ||
		    (whole_origin && j->def->origin == origin))
			continue;
		all[(*count)++] = j->def;
	}
	map_fini(&names);
	return all;
}

int scheduler_links_check(struct scheduler *s, enum job_origin origin, struct job *const *defs,
                          size_t n, char *err, size_t errlen)
{
	size_t count, holder;
	enum job_link key;
	char loop[512];
	struct job **all = candidate_defs(s, defs, n, origin, true, &count);
	int rc = job_links_cycle(all, count, &holder, &key, loop, sizeof loop);
	if (rc < 0)
		snprintf(
		    err, errlen,
		    "job \"%s\" (%s): %s: the jobs form a loop: %s (depends-on, on-success and "
		    "on-failure may not lead back to a job)",
		    all[holder]->name, all[holder]->source ? all[holder]->source : "api",
		    job_link_key(key), loop);
	free(all);
	return rc;
}

static bool listed(const struct strv *v, const char *name)
{
	for (size_t i = 0; v && i < v->n; i++)
		if (strcmp(v->v[i], name) == 0)
			return true;
	return false;
}

int sched_chain_check_one(struct scheduler *s, const struct job *def, const struct job *was,
                          char *err, size_t errlen)
{
	size_t count, holder;
	enum job_link key;
	char loop[512];
	for (int l = 0; l < JOB_LINK_COUNT; l++) {
		const struct strv *v = job_links(def, (enum job_link)l);
		const struct strv *before = was ? job_links(was, (enum job_link)l) : NULL;
		for (size_t i = 0; i < v->n; i++) {
			struct sjob *t = map_get(&s->jobs, v->v[i]);
			/* A name the job had (a label job not seen yet) may stay. */
			if ((t == NULL || t->deleted || t->held) && !listed(before, v->v[i])) {
				snprintf(err, errlen, "%s: no job \"%s\" is defined",
				         job_link_key((enum job_link)l), v->v[i]);
				return -1;
			}
		}
	}
	struct job *one = (struct job *)def;
	struct job **all = candidate_defs(s, &one, 1, def->origin, false, &count);
	int rc = job_links_cycle(all, count, &holder, &key, loop, sizeof loop);
	if (rc < 0)
		snprintf(err, errlen,
		         "%s: the jobs form a loop: %s (depends-on, on-success and on-failure may "
		         "not lead back to a job)",
		         job_link_key(key), loop);
	free(all);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(struct job *const *)a)->name, (*(struct job *const *)b)->name);
}

static json_t *names_json(const struct strv *v)
{
	json_t *a = json_array();
	for (size_t i = 0; i < v->n; i++)
		json_array_append_new(a, json_string(v->v[i]));
	return a;
}

static const char *const link_json[JOB_LINK_COUNT] = {"dependsOn", "onSuccess", "onFailure"};

json_t *scheduler_job_chain(struct scheduler *s, const char *name)
{
	struct sjob *j = map_get(&s->jobs, name);
	struct map_iter it;
	void *v;
	if (j == NULL)
		return NULL;
	json_t *deps = json_object(), *dependents = json_object(), *pending = json_array();
	for (int l = 0; l < JOB_LINK_COUNT; l++) {
		json_object_set_new(deps, link_json[l],
		                    names_json(job_links(j->def, (enum job_link)l)));
		json_object_set_new(dependents, link_json[l], json_array());
	}
	/* By name, so the view is the same from one call to the next. */
	size_t n;
	struct job **defs = live_defs(s, &n);
	qsort(defs, n, sizeof *defs, by_name);
	for (size_t i = 0; i < n; i++)
		for (int l = 0; l < JOB_LINK_COUNT; l++) {
			const struct strv *links = job_links(defs[i], (enum job_link)l);
			for (size_t k = 0; k < links->n; k++)
				if (strcmp(links->v[k], name) == 0)
					json_array_append_new(
					    json_object_get(dependents, link_json[l]),
					    json_string(defs[i]->name));
		}
	free(defs);
	map_iter_init(&s->pending, &it);
	while (map_iter_next(&s->pending, &it, NULL, &v)) {
		const struct spend *sp = v;
		if (strcmp(sp->p->job_name, name) == 0)
			json_array_append_new(pending, sched_pending_json(sp->p, sp->queued));
	}
	return json_pack("{s:o,s:o,s:o}", "dependencies", deps, "dependents", dependents, "pending",
	                 pending);
}
