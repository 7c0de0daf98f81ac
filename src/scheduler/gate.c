/* The claim step of a cluster node (docs/cluster.md). The scheduler stays
 * the single node it is; this file adds the one question it asks the
 * cluster, "may I give this slot its outcome", and what it does when
 * leadership comes and goes.
 *
 * DESIGN. A slot is claimed claim_ahead before its time (sched_gate_ahead,
 * from the tick, which the timer also wakes for that), so the answer is in
 * when the slot comes due and the start is not delayed by etcd. At the
 * slot (sched_gate_at): a granted claim runs, if the gate still says this
 * node leads; a claim still unanswered takes the job off the heap until
 * its answer comes (scheduler_claimed), which then starts it. Catch-up
 * slots (missed while no node led, a gap at a takeover) are claimed in one
 * batch, each with the outcome catch-up gave it, and recorded once their
 * claims are in. A slot another node claimed is that node's: this node
 * records nothing for it, unless no row of it has reached this store,
 * when it writes the placeholder the claimer's own row replaces later.
 *
 * The perf work may pre-claim slots in the store just ahead of their time:
 * this step sits right before that point (the tick's look-ahead), so one
 * look-ahead can serve both. */
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

#define FORFEIT_REASON "claimed by this node, which stopped leading before the slot's time"

void scheduler_set_gate(struct scheduler *s, const struct scheduler_gate *g)
{
	s->gate = *g;
	free(s->node);
	s->node = xstrdup(g->node);
	s->gate.node = s->node;
	s->gated = true;
}

bool sched_following(const struct scheduler *s)
{
	return s->gated && !s->leading;
}

bool scheduler_leads(const struct scheduler *s)
{
	return !s->gated || s->leading;
}

void scheduler_touch(struct scheduler *s)
{
	s->version++;
}

/* may_start: this node leads and its lease certainly lives now. */
static bool may_start(const struct scheduler *s)
{
	return s->leading && !s->shutting_down && s->gate.leading(s->gate.arg);
}

bool sched_gate_may_start(const struct scheduler *s)
{
	return !s->gated || may_start(s);
}

const char *sched_gate_id(const struct scheduler *s, const struct sjob *j)
{
	return s->gated && j->claim_slot == j->next_ns && j->claim_state == SCLAIM_GRANTED
	           ? j->claim_id
	           : NULL;
}

int64_t sched_gate_wake(const struct scheduler *s, const struct sjob *j)
{
	if (j->next_ns == 0)
		return INT64_MAX;
	if (!s->gated || j->claim_slot == j->next_ns)
		return j->next_ns;
	return j->next_ns - s->gate.claim_ahead_ns;
}

/* ---- asking ---- */

static uint64_t ask(struct scheduler *s, const struct scheduler_claim *v, size_t n)
{
	uint64_t batch = ++s->next_batch;
	s->gate.claim(s->gate.arg, batch, v, n);
	return batch;
}

static void collect(struct scheduler *s, size_t i, int64_t limit, struct sjob ***v, size_t *n,
                    size_t *cap)
{
	if (i >= s->heap_len || s->heap[i]->next_ns > limit)
		return;
	struct sjob *j = s->heap[i];
	if (j->claim_slot != j->next_ns) {
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*v = xreallocarray(*v, *cap, sizeof **v);
		}
		(*v)[(*n)++] = j;
	}
	collect(s, 2 * i + 1, limit, v, n, cap);
	collect(s, 2 * i + 2, limit, v, n, cap);
}

/* ask_for claims the next slots of jobs v[0..n) in one batch. */
static void ask_for(struct scheduler *s, struct sjob **v, size_t n)
{
	struct scheduler_claim *req = xcalloc(n, sizeof *req);
	for (size_t i = 0; i < n; i++) {
		struct sjob *j = v[i];
		store_new_id(j->claim_id);
		j->claim_slot = j->next_ns;
		j->claim_state = SCLAIM_ASKED;
		req[i] =
		    (struct scheduler_claim){j->def->name, j->next_ns, j->claim_id, 0, NULL, NULL};
	}
	uint64_t batch = ask(s, req, n);
	for (size_t i = 0; i < n; i++)
		v[i]->claim_batch = batch;
	free(req);
}

void sched_gate_ahead(struct scheduler *s, int64_t now_ns)
{
	struct sjob **v = NULL;
	size_t n = 0, cap = 0;
	if (!may_start(s))
		return;
	collect(s, 0, now_ns + s->gate.claim_ahead_ns, &v, &n, &cap);
	if (n)
		ask_for(s, v, n);
	free(v);
}

/* ---- outcomes ---- */

/* forfeit records a slot this node claimed and will not run: it no longer
 * leads. The claim is its, so the outcome is too. */
static void forfeit(struct scheduler *s, struct sjob *j, int64_t slot_ns)
{
	sched_record_outcome(s, j, slot_ns, JOB_STATUS_SKIPPED, FORFEIT_REASON);
}

/* placeholder records a slot another node claimed when nothing of it has
 * reached this store: the claimer left (killed, cut off) before its row
 * came over. Its own row replaces this one if it ever arrives. */
static void placeholder(struct scheduler *s, struct sjob *j, int64_t slot_ns, const char *owner,
                        const char *owner_id)
{
	struct store_execution e = {0};
	char when[CLOCK_TEXT_MAX];
	if (owner_id && strlen(owner_id) == 36)
		memcpy(e.id, owner_id, 37);
	else
		store_new_id(e.id);
	clock_format_rfc3339(slot_ns, when);
	e.job_name = j->def->name;
	e.job_type = j->def->type;
	e.scheduled_ns = slot_ns;
	e.end_ns = clock_now_ns();
	e.node = (char *)owner;
	e.error = xasprintf("node %s claimed this slot, and its record of it has not reached node "
	                    "%s (it stopped leading, or ended, first); if it ran, its end was not "
	                    "seen here",
	                    owner, s->node);
	int rc = store_execution_claimed(s->store, &e, j->def->schedule, j->next_ns);
	if (rc < 0)
		log_errorx("job %s: cannot record the slot node %s claimed: %s", j->def->name,
		           owner, store_errmsg(s->store));
	else if (rc == 0) {
		if (slot_ns > j->last_slot_ns)
			j->last_slot_ns = slot_ns;
		log_kv(LOG_WARN, "slot claimed by another node, its outcome unknown here", "job",
		       j->def->name, "slot", when, "node", owner, NULL);
	}
	free(e.error);
}

enum sgate_verdict sched_gate_at(struct scheduler *s, struct sjob *j, int64_t now_ns)
{
	(void)now_ns;
	bool asked = j->claim_slot == j->next_ns;
	if (!may_start(s)) {
		if (asked && j->claim_state == SCLAIM_GRANTED)
			forfeit(s, j, j->next_ns);
		return SGATE_DROP;
	}
	if (!asked) {
		ask_for(s, &j, 1);
		return SGATE_WAIT;
	}
	switch (j->claim_state) {
	case SCLAIM_ASKED:
		return SGATE_WAIT;
	case SCLAIM_GRANTED:
		return SGATE_GO;
	default:
		return SGATE_DROP;
	}
}

void sched_gate_catch_up(struct scheduler *s, struct sjob *j, struct sbacklog_slot *v, size_t n)
{
	if (n == 0) {
		free(v);
		return;
	}
	if (!may_start(s)) {
		for (size_t i = 0; i < n; i++)
			free(v[i].reason);
		free(v);
		return;
	}
	struct scheduler_claim *req = xcalloc(n, sizeof *req);
	for (size_t i = 0; i < n; i++) {
		store_new_id(v[i].id);
		req[i] =
		    (struct scheduler_claim){j->def->name, v[i].slot_ns, v[i].id, 0, NULL, NULL};
	}
	struct sbacklog *b = xcalloc(1, sizeof *b);
	b->job = xstrdup(j->def->name);
	b->v = v;
	b->n = n;
	b->batch = ask(s, req, n);
	b->next = s->backlog;
	s->backlog = b;
	free(req);
}

static void backlog_free(struct sbacklog *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i].reason);
	free(b->v);
	free(b->job);
	free(b);
}

/* take_backlog records the catch-up slots whose claims came back. */
static void take_backlog(struct scheduler *s, struct sbacklog *b, const struct scheduler_claim *v,
                         size_t n)
{
	struct sjob *j = map_get(&s->jobs, b->job);
	for (size_t i = 0; i < n && i < b->n && j && !j->deleted; i++) {
		const struct sbacklog_slot *bs = &b->v[i];
		char err[256];
		switch (v[i].answer) {
		case SCHED_CLAIM_GRANTED:
			if (bs->status != JOB_STATUS_RUNNING)
				sched_record_outcome(s, j, bs->slot_ns, bs->status, bs->reason);
			else if (!may_start(s))
				forfeit(s, j, bs->slot_ns);
			else if (j->def->depends_on.n > 0 &&
			         sched_chain_gate_slot(s, j, bs->slot_ns, JOB_TRIGGER_CATCH_UP,
			                               v[i].id))
				; /* waiting for its dependencies, or skipped: chain.c recorded it
				   */
			else if (sched_exec_begin(s, j, j->def, bs->slot_ns, JOB_TRIGGER_CATCH_UP,
			                          v[i].id, err, sizeof err) == NULL)
				log_errorx("job %s: catch-up run: %s", j->def->name, err);
			break;
		case SCHED_CLAIM_TAKEN:
			if (s->leading)
				placeholder(s, j, bs->slot_ns, v[i].owner, v[i].owner_id);
			break;
		case SCHED_CLAIM_REFUSED:
			/* Not recorded: this node stopped leading before the claim.
			 * Like a dropped slot it is not handled, so the plan of its
			 * next leadership goes over it again (catch_up marked the
			 * whole backlog handled). */
			if (bs->slot_ns - 1 < j->handled_ns)
				j->handled_ns = bs->slot_ns - 1;
			break;
		}
	}
}

/* resume gives an awaiting job's due slot its outcome now that its claim
 * is answered, and puts the job back on the heap. */
static void resume(struct scheduler *s, struct sjob *j, int64_t now_ns)
{
	j->awaiting = false;
	if (j->cron == NULL || j->next_ns == 0)
		return;
	switch (sched_gate_at(s, j, now_ns)) {
	case SGATE_GO:
		sched_fire(s, j, now_ns);
		break;
	case SGATE_WAIT:
		j->awaiting = true;
		return;
	case SGATE_DROP:
		sched_skip_slot(s, j);
		break;
	}
	sched_heap_update(s, j);
}

void scheduler_claimed(struct scheduler *s, uint64_t batch, const struct scheduler_claim *v,
                       size_t n)
{
	int64_t now = clock_now_ns();
	bool open = sched_batch_begin(s) == 0;

	for (struct sbacklog **p = &s->backlog; *p; p = &(*p)->next)
		if ((*p)->batch == batch) {
			struct sbacklog *b = *p;
			*p = b->next;
			take_backlog(s, b, v, n);
			backlog_free(b);
			goto done;
		}
	for (size_t i = 0; i < n; i++) {
		struct sjob *j = map_get(&s->jobs, v[i].job);
		if (j == NULL || j->claim_batch != batch || j->claim_slot != v[i].slot_ns)
			continue;
		j->claim_state = v[i].answer == SCHED_CLAIM_GRANTED ? SCLAIM_GRANTED
		                 : v[i].answer == SCHED_CLAIM_TAKEN ? SCLAIM_TAKEN
		                                                    : SCLAIM_REFUSED;
		/* A claim an earlier life of this node made names its execution. */
		if (v[i].answer == SCHED_CLAIM_GRANTED && v[i].id && strlen(v[i].id) == 36)
			memcpy(j->claim_id, v[i].id, 37);
		if (v[i].answer == SCHED_CLAIM_TAKEN && s->leading)
			placeholder(s, j, v[i].slot_ns, v[i].owner, v[i].owner_id);
		if (j->awaiting)
			resume(s, j, now);
		else if (v[i].answer == SCHED_CLAIM_GRANTED && (j->cron == NULL || !may_start(s)))
			/* Stopped leading (or the job stopped) between the claim and its
			 * answer: the claim is this node's, so is the outcome. */
			forfeit(s, j, v[i].slot_ns);
	}
done:
	if (open)
		sched_batch_end(s);
	else
		sched_launch(s, true);
	sched_dequeue(s);
	s->version++;
	sched_arm(s);
}

/* ---- leadership ---- */

void sched_keep_source(struct scheduler *s, enum job_origin origin, struct job *const *defs,
                       size_t n)
{
	for (size_t i = 0; i < s->nsources[origin]; i++)
		job_free(s->sources[origin][i]);
	free(s->sources[origin]);
	s->sources[origin] = xcalloc(n ? n : 1, sizeof *s->sources[origin]);
	for (size_t i = 0; i < n; i++)
		s->sources[origin][i] = job_clone(defs[i]);
	s->nsources[origin] = n;
	s->has_source[origin] = true;
}

/* reload takes the jobs as the store has them (the leader's, mirrored). */
static int reload(struct scheduler *s, bool follower)
{
	struct store_job **rows = NULL;
	size_t n = 0;
	if (store_jobs_load(s->store, &rows, &n) < 0) {
		log_errorx("cluster: cannot load the jobs: %s", store_errmsg(s->store));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct sjob *j = map_get(&s->jobs, rows[i]->def ? rows[i]->def->name : "");
		if (rows[i]->def == NULL)
			continue;
		if (j) {
			sched_unplan(s, j);
			sched_job_take_row(j, rows[i]);
		} else if ((j = sched_job_from_row(rows[i])) != NULL) {
			map_put(&s->jobs, j->def->name, j);
		}
		/* A follower shows the leader's jobs as they are. */
		if (j && follower)
			j->held = false;
	}
	store_jobs_free(rows, n);
	s->version++;
	return 0;
}

static void promote(struct scheduler *s)
{
	struct scheduler_changes ch;
	struct map_iter it;
	void *v;

	log_kv(LOG_INFO, "leading: scheduling from the cluster's history", "node", s->node, NULL);
	reload(s, false);
	sched_resolve_orphans(s, true);
	for (int o = JOB_ORIGIN_CONFIG; o <= JOB_ORIGIN_LABEL; o++)
		if (s->has_source[o])
			sched_sync_apply(s, (enum job_origin)o, s->sources[o], s->nsources[o], &ch);
	int64_t now = clock_now_ns();
	bool open = sched_batch_begin(s) == 0;
	map_iter_init(&s->jobs, &it);
	while (map_iter_next(&s->jobs, &it, NULL, &v)) {
		struct sjob *j = v;
		sched_plan(s, j, now, false);
		store_job_set_next(s->store, j->def->name, j->next_ns);
	}
	if (open)
		sched_batch_end(s);
	/* run-on-startup: once, the first time this process leads. */
	if (!s->led) {
		map_iter_init(&s->jobs, &it);
		while (map_iter_next(&s->jobs, &it, NULL, &v)) {
			struct sjob *j = v;
			char why[256];
			if (j->def->run_on_startup && j->def->enabled && !j->deleted && !j->held &&
			    sched_exec_begin(s, j, j->def, 0, JOB_TRIGGER_STARTUP, NULL, why,
			                     sizeof why) == NULL)
				log_errorx("job %s: run-on-startup: %s", j->def->name, why);
		}
		s->led = true;
	}
	sched_launch(s, true);
	sched_dequeue(s);
	/* This node's own retries, triggered runs and waits: those left from
	 * when it led before (or from its start) and those its runs committed
	 * while it followed. */
	sched_chain_start(s);
	sched_chain_kick(s);
	sched_arm(s);
	events_publish(s->events, EVENT_SCHEDULER_STARTED, json_pack("{s:b}", "running", 1));
}

static void demote(struct scheduler *s)
{
	struct map_iter it;
	void *v;
	bool open = sched_batch_begin(s) == 0;

	map_iter_init(&s->jobs, &it);
	while (map_iter_next(&s->jobs, &it, NULL, &v)) {
		struct sjob *j = v;
		if (j->cron && j->claim_slot == j->next_ns && j->claim_state == SCLAIM_GRANTED)
			forfeit(s, j, j->next_ns);
		sched_unplan(s, j);
	}
	while (s->queue_len > 0) {
		struct spending *p = &s->queue[s->queue_head];
		sched_drop_queued(s, p,
		                  "this node stopped leading before a runner thread was free");
		struct sjob *j = map_get(&s->jobs, p->job_name);
		if (j && p->slot_ns == 0 && j->queued_runs > 0)
			j->queued_runs--;
		free(p->job_name);
		s->queue_head = (s->queue_head + 1) % (size_t)s->o.max_queue;
		s->queue_len--;
	}
	if (open)
		sched_batch_end(s);
	loop_timer_stop(s->timer);
	log_kv(LOG_WARN, "not leading: no new executions start here; running ones finish", "node",
	       s->node, NULL);
	events_publish(s->events, EVENT_SCHEDULER_STOPPED, json_pack("{s:b}", "running", 0));
}

void scheduler_lead(struct scheduler *s, bool leading)
{
	if (!s->gated || s->leading == leading)
		return;
	s->leading = leading;
	s->version++;
	if (!s->started || s->shutting_down)
		return;
	if (leading)
		promote(s);
	else
		demote(s);
}

void scheduler_mirrored(struct scheduler *s, const struct strv *jobs)
{
	bool open = false;
	for (size_t i = 0; i < jobs->n; i++) {
		struct store_job *row = NULL;
		if (store_job_get(s->store, jobs->v[i], &row) < 0 || row == NULL ||
		    row->def == NULL) {
			store_job_free(row);
			continue;
		}
		struct sjob *j = map_get(&s->jobs, jobs->v[i]);
		if (!s->leading) {
			if (j)
				sched_job_take_row(j, row);
			else if ((j = sched_job_from_row(row)) != NULL)
				map_put(&s->jobs, j->def->name, j);
			if (j)
				j->held = false;
		} else if (j == NULL && (j = sched_job_from_row(row)) != NULL) {
			/* A job the leader before this one made just before it left. */
			map_put(&s->jobs, j->def->name, j);
			if (!open)
				open = sched_batch_begin(s) == 0;
			sched_plan(s, j, clock_now_ns(), false);
			store_job_set_next(s->store, j->def->name, j->next_ns);
		}
		store_job_free(row);
	}
	if (open)
		sched_batch_end(s);
	s->version++;
	if (s->leading)
		sched_arm(s);
}

void sched_gate_free(struct scheduler *s)
{
	while (s->backlog) {
		struct sbacklog *b = s->backlog;
		s->backlog = b->next;
		backlog_free(b);
	}
	for (int o = 0; o < 3; o++) {
		for (size_t i = 0; i < s->nsources[o]; i++)
			job_free(s->sources[o][i]);
		free(s->sources[o]);
	}
	free(s->node);
}
