/* Retries and workflows: what an execution's end makes due later, and
 * slots that wait for their dependencies (docs/scheduling.md).
 *
 * DESIGN. Everything due later is a pending_runs row in the store, written
 * in the same commit as the end that caused it (a retry after a failed
 * attempt; the runs on-success / on-failure trigger) or as the slot's fire
 * (a slot whose depends-on are not settled yet). The scheduler holds a copy
 * of each row here, in a heap by due time armed as one timer, like slots. A
 * row leaves in the commit that records what became of it: its execution
 * begins under the row's id, or its outcome (skipped, missed, expired) is
 * recorded under that id. Nothing lives only in memory: after a kill -9
 * the rows are read again at start and each runs once.
 *
 * A row that falls due goes through the same rules as a slot: a paused
 * scheduler keeps it (it runs after resume); no-overlap holds a retry until
 * the job's running execution ends, and skips a triggered run; when every
 * runner thread is busy it waits in the run queue. Rows that passed while
 * ofelia was down follow the job's catch-up policy at start. Waits are
 * checked again whenever an outcome is recorded (an event on the next loop
 * turn), and give up at their deadline: no polling. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/events.h"
#include "loop/loop.h"
#include "scheduler/scheduler_int.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/log.h"
#include "util/xalloc.h"

/* A store that failed a batch is read again this soon. */
#define RESYNC_NS (1 * NS_PER_SEC)

/* ---- the heap of rows by due time ---- */

static bool before(const struct spend *a, const struct spend *b)
{
	if (a->p->due_ns != b->p->due_ns)
		return a->p->due_ns < b->p->due_ns;
	return strcmp(a->p->id, b->p->id) < 0;
}

static void heap_set(struct scheduler *s, size_t i, struct spend *sp)
{
	s->pend_heap[i] = sp;
	sp->heap_at = i;
}

static void sift_up(struct scheduler *s, size_t i)
{
	struct spend *sp = s->pend_heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(sp, s->pend_heap[parent]))
			break;
		heap_set(s, i, s->pend_heap[parent]);
		i = parent;
	}
	heap_set(s, i, sp);
}

static void sift_down(struct scheduler *s, size_t i)
{
	struct spend *sp = s->pend_heap[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= s->pend_len)
			break;
		if (child + 1 < s->pend_len && before(s->pend_heap[child + 1], s->pend_heap[child]))
			child++;
		if (!before(s->pend_heap[child], sp))
			break;
		heap_set(s, i, s->pend_heap[child]);
		i = child;
	}
	heap_set(s, i, sp);
}

static void heap_remove(struct scheduler *s, struct spend *sp)
{
	size_t i = sp->heap_at;
	if (i == HEAP_NONE)
		return;
	sp->heap_at = HEAP_NONE;
	struct spend *last = s->pend_heap[--s->pend_len];
	if (i == s->pend_len)
		return;
	heap_set(s, i, last);
	sift_up(s, i);
	sift_down(s, last->heap_at);
}

static void heap_add(struct scheduler *s, struct spend *sp)
{
	if (sp->heap_at != HEAP_NONE) {
		sift_up(s, sp->heap_at);
		sift_down(s, sp->heap_at);
		return;
	}
	if (s->pend_len == s->pend_cap) {
		s->pend_cap = s->pend_cap ? s->pend_cap * 2 : 16;
		s->pend_heap = xreallocarray(s->pend_heap, s->pend_cap, sizeof *s->pend_heap);
	}
	heap_set(s, s->pend_len++, sp);
	sift_up(s, sp->heap_at);
}

static void arm(struct scheduler *s)
{
	if (s->pend_len == 0 || s->shutting_down)
		loop_timer_stop(s->pend_timer);
	else
		loop_timer_at(s->pend_timer, s->pend_heap[0]->p->due_ns);
}

/* ---- rows held ---- */

/* hold takes p (owned) into the scheduler's rows and its heap. */
static struct spend *hold(struct scheduler *s, struct store_pending *p)
{
	struct spend *sp = xcalloc(1, sizeof *sp);
	sp->p = p;
	sp->heap_at = HEAP_NONE;
	map_put(&s->pending, p->id, sp);
	struct sjob *j = map_get(&s->jobs, p->job_name);
	if (j && p->kind == STORE_PENDING_RETRY)
		j->retrying++;
	if (p->kind == STORE_PENDING_WAIT)
		s->nwaits++;
	heap_add(s, sp);
	s->version++;
	return sp;
}

/* let_go forgets a row whose fate is committed (or to be read again). */
static void let_go(struct scheduler *s, struct spend *sp)
{
	heap_remove(s, sp);
	map_remove(&s->pending, sp->p->id);
	struct sjob *j = map_get(&s->jobs, sp->p->job_name);
	if (j && sp->p->kind == STORE_PENDING_RETRY && j->retrying > 0)
		j->retrying--;
	if (sp->p->kind == STORE_PENDING_WAIT && s->nwaits > 0)
		s->nwaits--;
	store_pending_free(sp->p);
	free(sp);
	s->version++;
}

static void let_all_go(struct scheduler *s)
{
	struct map_iter it;
	void *v;
	map_iter_init(&s->pending, &it);
	while (map_iter_next(&s->pending, &it, NULL, &v))
		let_go(s, v);
}

void sched_follow_fini(struct sfollow *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].job_name);
		free(f->v[i].reason);
	}
	free(f->v);
	memset(f, 0, sizeof *f);
}

/* ---- settings: the job's own, else the global ones ---- */

static int max_retries(const struct scheduler *s, const struct job *d)
{
	return d->max_retries >= 0 ? d->max_retries : s->o.flow.max_retries;
}

static bool retries_interrupted(const struct scheduler *s, const struct job *d)
{
	return d->retry_interrupted >= 0 ? d->retry_interrupted : s->o.flow.retry_interrupted;
}

static int64_t dependency_timeout(const struct scheduler *s, const struct job *d)
{
	return d->dependency_timeout_ns >= 0 ? d->dependency_timeout_ns
	                                     : s->o.flow.dependency_timeout_ns;
}

/* retry_delay is the wait after failed attempt number `attempt` (1, 2,
 * ...): retry-delay, doubled for each retry before it when exponential
 * and bounded by retry-max-delay, as netresearch computes it. */
static int64_t retry_delay(const struct scheduler *s, const struct job *d, int attempt)
{
	int64_t delay = d->retry_delay_ns >= 0 ? d->retry_delay_ns : s->o.flow.retry_delay_ns;
	int64_t max =
	    d->retry_max_delay_ns >= 0 ? d->retry_max_delay_ns : s->o.flow.retry_max_delay_ns;
	bool exponential =
	    d->retry_exponential >= 0 ? d->retry_exponential : s->o.flow.retry_exponential;
	if (!exponential)
		return delay;
	for (int i = 1; i < attempt && delay < max; i++)
		delay = delay > INT64_MAX / 2 ? INT64_MAX : delay * 2;
	return delay < max ? delay : max;
}

/* ---- depends-on ---- */

enum gate { GATE_PASS, GATE_FAIL, GATE_WAIT };

/* queued_before tells whether job has a run in the run queue from a slot
 * at or before at_ns (or a run with no slot: it will be later than at). */
static bool queued_before(const struct scheduler *s, const char *job, int64_t at_ns)
{
	for (size_t i = 0; i < s->queue_len; i++) {
		const struct spending *p = &s->queue[(s->queue_head + i) % (size_t)s->o.max_queue];
		if (!p->pending && p->slot_ns && p->slot_ns <= at_ns &&
		    strcmp(p->job_name, job) == 0)
			return true;
	}
	return false;
}

/* pending_before finds a waiting slot or a triggered run of job from at or
 * before at_ns: it has not settled yet. */
static const struct store_pending *pending_before(const struct scheduler *s, const char *job,
                                                  int64_t at_ns)
{
	struct map_iter it;
	void *v;
	map_iter_init(&s->pending, &it);
	while (map_iter_next(&s->pending, &it, NULL, &v)) {
		const struct store_pending *p = ((const struct spend *)v)->p;
		int64_t t = p->slot_ns ? p->slot_ns : p->created_ns;
		if (p->kind != STORE_PENDING_RETRY && t <= at_ns && strcmp(p->job_name, job) == 0)
			return p;
	}
	return NULL;
}

/* gate decides whether j may run at at_ns: each dependency's latest
 * execution at or before at_ns (its first attempt's slot, else its start)
 * must have succeeded, in its last attempt. A dependency that failed, was
 * skipped or never ran fails the gate; one still running, retrying, or
 * with a slot at or before at_ns not yet run makes it wait. why says which. */
static enum gate gate(struct scheduler *s, const struct sjob *j, int64_t at_ns, char *why,
                      size_t whylen)
{
	enum gate verdict = GATE_PASS;
	char at[CLOCK_TEXT_MAX], when[CLOCK_TEXT_MAX];
	clock_format_rfc3339(at_ns, at);
	for (size_t i = 0; i < j->def->depends_on.n; i++) {
		const char *name = j->def->depends_on.v[i];
		const struct sjob *d = map_get(&s->jobs, name);
		struct store_dep_state st;
		if (d == NULL || d->deleted || d->held) {
			snprintf(why, whylen, "dependency %s is not defined%s", name,
			         d && d->held ? " (its container has not been seen)" : "");
			return GATE_FAIL;
		}
		if (verdict == GATE_WAIT)
			continue;
		const struct store_pending *p;
		if (d->next_ns && d->next_ns <= at_ns) {
			clock_format_rfc3339(d->next_ns, when);
			snprintf(why, whylen,
			         "waiting for dependency %s: its slot of %s has not run yet", name,
			         when);
			verdict = GATE_WAIT;
			continue;
		}
		if (queued_before(s, name, at_ns)) {
			snprintf(why, whylen,
			         "waiting for dependency %s: its run waits for a runner "
			         "thread",
			         name);
			verdict = GATE_WAIT;
			continue;
		}
		if ((p = pending_before(s, name, at_ns)) != NULL) {
			snprintf(why, whylen,
			         "waiting for dependency %s: its run %s is pending (%s)", name,
			         p->id, store_pending_kind_name(p->kind));
			verdict = GATE_WAIT;
			continue;
		}
		if (store_dependency_state(s->store, name, at_ns, &st) < 0) {
			snprintf(why, whylen, "waiting for dependency %s: cannot read it: %s", name,
			         store_errmsg(s->store));
			verdict = GATE_WAIT;
			continue;
		}
		if (!st.found) {
			snprintf(why, whylen, "dependency %s has no execution at or before %s",
			         name, at);
			return GATE_FAIL;
		}
		if (st.status == JOB_STATUS_RUNNING || st.retry_pending) {
			snprintf(why, whylen, "waiting for dependency %s: its execution %s is %s",
			         name, st.last_id,
			         st.status == JOB_STATUS_RUNNING ? "running" : "retrying");
			verdict = GATE_WAIT;
			continue;
		}
		if (st.status != JOB_STATUS_SUCCESS) {
			clock_format_rfc3339(st.at_ns, when);
			snprintf(why, whylen,
			         "dependency %s did not succeed: its latest execution %s (of "
			         "%s) ended %s",
			         name, st.last_id, when, job_status_name(st.status));
			return GATE_FAIL;
		}
	}
	return verdict;
}

/* ---- what becomes of a row ---- */

static void poke_later(struct scheduler *s);

/* resolve records that the row will not run, and lets it go. */
static void resolve(struct scheduler *s, struct spend *sp, enum job_status status,
                    const char *reason)
{
	struct sjob *j = map_get(&s->jobs, sp->p->job_name);
	enum job_type type = j ? j->def->type : JOB_LOCAL;
	if (store_pending_resolve(s->store, sp->p, type, status, reason) < 0) {
		log_errorx("job %s: cannot record that pending run %s did not run (kept): %s",
		           sp->p->job_name, sp->p->id, store_errmsg(s->store));
		sched_store_failed(s);
		sp->blocked = true;
		heap_remove(s, sp);
		return;
	}
	log_kv(LOG_WARN, "pending run not run", "job", sp->p->job_name, "execution", sp->p->id,
	       "kind", store_pending_kind_name(sp->p->kind), "status", job_status_name(status),
	       "reason", reason, NULL);
	let_go(s, sp);
	poke_later(s);
}

/* begin_row starts the row's execution now, or queues it for a thread. */
static void begin_row(struct scheduler *s, struct sjob *j, struct spend *sp)
{
	char err[256];
	if (SCHED_FULL(s)) {
		if (s->queue_len >= (size_t)s->o.max_queue) {
			/* Kept: a thread that frees up kicks it again. */
			sp->blocked = true;
			heap_remove(s, sp);
			return;
		}
		size_t at = (s->queue_head + s->queue_len) % (size_t)s->o.max_queue;
		s->queue[at] = (struct spending){xstrdup(j->def->name), sp->p->slot_ns,
		                                 sp->p->trigger, "", true};
		memcpy(s->queue[at].id, sp->p->id, sizeof s->queue[at].id);
		s->queue_len++;
		sp->queued = true;
		heap_remove(s, sp);
		return;
	}
	if (sched_exec_begin_pending(s, j, sp->p, err, sizeof err) == NULL) {
		log_errorx("job %s: pending run %s not started (kept): %s", j->def->name, sp->p->id,
		           err);
		sp->blocked = true;
		heap_remove(s, sp);
		return;
	}
	let_go(s, sp);
}

/* may_start applies no-overlap to a row about to run: true when it may;
 * otherwise a retry is held until the job's execution ends and anything
 * else is recorded skipped, as a slot is. */
static bool may_start(struct scheduler *s, struct sjob *j, struct spend *sp)
{
	bool retry = sp->p->kind == STORE_PENDING_RETRY;
	if (!j->def->no_overlap || (j->running == 0 && (retry || j->retrying == 0)))
		return true;
	if (retry) {
		sp->blocked = true;
		heap_remove(s, sp);
		return false;
	}
	resolve(s, sp, JOB_STATUS_SKIPPED,
	        j->running > 0 ? "the previous run was still running (no-overlap)"
	                       : "a retry of the previous run was pending (no-overlap)");
	return false;
}

/* wait_reason says why a wait ended without its dependencies settled. */
static void expired_wait(struct scheduler *s, const struct sjob *j, const struct spend *sp,
                         const char *why, char *out, size_t outlen)
{
	char timeout[DURATION_TEXT_MAX];
	duration_format(dependency_timeout(s, j->def), timeout);
	int64_t at = sp->p->slot_ns ? sp->p->slot_ns : sp->p->created_ns;
	if (sp->p->due_ns < at + dependency_timeout(s, j->def))
		snprintf(out, outlen, "its dependencies did not settle before its next slot (%s)",
		         why);
	else
		snprintf(out, outlen,
		         "its dependencies did not settle within dependency-timeout %s "
		         "(%s)",
		         timeout, why);
}

/* process decides what becomes of one row at now: due tells whether its
 * due time has come (a wait is also looked at when an outcome changes). */
static void process(struct scheduler *s, struct spend *sp, int64_t now, bool due)
{
	struct sjob *j = map_get(&s->jobs, sp->p->job_name);
	char why[512], reason[768];

	if (s->shutting_down || sp->queued)
		return;
	if (j == NULL || j->deleted || j->held || !j->def->enabled) {
		if (due || sp->p->kind == STORE_PENDING_WAIT)
			resolve(s, sp, JOB_STATUS_SKIPPED,
			        "the job was removed or disabled before it could run");
		return;
	}
	if (s->paused) {
		if (due) {
			sp->blocked = true;
			heap_remove(s, sp);
		}
		return;
	}
	if (sp->p->kind == STORE_PENDING_RETRY) {
		if (due && may_start(s, j, sp))
			begin_row(s, j, sp);
		return;
	}
	if (sp->p->kind == STORE_PENDING_TRIGGER && !due)
		return;
	if (j->def->depends_on.n > 0) {
		int64_t at = sp->p->slot_ns ? sp->p->slot_ns : sp->p->created_ns;
		switch (gate(s, j, at, why, sizeof why)) {
		case GATE_PASS:
			break;
		case GATE_FAIL:
			resolve(s, sp, JOB_STATUS_SKIPPED, why);
			return;
		case GATE_WAIT:
			if (sp->p->kind == STORE_PENDING_TRIGGER) {
				int64_t until = now + dependency_timeout(s, j->def);
				if (store_pending_wait(s->store, sp->p->id, until, why) < 0) {
					sched_store_failed(s);
					sp->blocked = true;
					heap_remove(s, sp);
					return;
				}
				sp->p->kind = STORE_PENDING_WAIT;
				sp->p->due_ns = until;
				free(sp->p->reason);
				sp->p->reason = xstrdup(why);
				s->nwaits++;
				heap_add(s, sp);
				s->version++;
				return;
			}
			if (now < sp->p->due_ns)
				return;
			expired_wait(s, j, sp, why, reason, sizeof reason);
			resolve(s, sp, JOB_STATUS_SKIPPED, reason);
			return;
		}
	}
	if (may_start(s, j, sp))
		begin_row(s, j, sp);
}

/* ---- turns of the loop ---- */

static void resync(struct scheduler *s);

/* gated_off tells whether a cluster node must leave its rows alone now:
 * rows are the node's own (never replicated), so each runs once
 * cluster-wide as long as only a certain leader runs or resolves them. A
 * follower's rows wait for the kick of its next leadership; a leader
 * unsure of its lease looks again on timer in a second. */
static bool gated_off(struct scheduler *s, struct loop_timer *timer)
{
	if (sched_gate_may_start(s))
		return false;
	if (!sched_following(s) && !s->shutting_down)
		loop_timer_after(timer, RESYNC_NS);
	return true;
}

static void on_pend(void *arg)
{
	struct scheduler *s = arg;
	int64_t now = clock_now_ns();
	if (gated_off(s, s->pend_timer))
		return;
	if (s->store_down || sched_batch_begin(s) < 0) {
		loop_timer_after(s->pend_timer, RESYNC_NS);
		return;
	}
	if (s->pend_resync) {
		s->pend_resync = false;
		resync(s);
	}
	while (s->pend_len > 0 && s->pend_heap[0]->p->due_ns <= now) {
		struct spend *sp = s->pend_heap[0];
		heap_remove(s, sp);
		process(s, sp, now, true);
	}
	sched_batch_end(s);
	arm(s);
}

/* on_poke looks at every waiting row again: an outcome was recorded. */
static void on_poke(void *arg)
{
	struct scheduler *s = arg;
	struct map_iter it;
	void *v;
	int64_t now = clock_now_ns();
	if (s->nwaits == 0 || s->shutting_down || gated_off(s, s->poke_timer))
		return;
	if (s->store_down || sched_batch_begin(s) < 0) {
		loop_timer_after(s->poke_timer, RESYNC_NS);
		return;
	}
	/* Rows are let go during the walk: collect the waits first. */
	size_t n = 0;
	struct spend **waits = xcalloc(s->nwaits + 1, sizeof *waits);
	map_iter_init(&s->pending, &it);
	while (map_iter_next(&s->pending, &it, NULL, &v) && n < s->nwaits) {
		struct spend *sp = v;
		if (sp->p->kind == STORE_PENDING_WAIT && !sp->queued)
			waits[n++] = sp;
	}
	for (size_t i = 0; i < n; i++) {
		bool due = waits[i]->p->due_ns <= now;
		process(s, waits[i], now, due);
	}
	free(waits);
	sched_batch_end(s);
	arm(s);
}

static void poke_later(struct scheduler *s)
{
	if (s->nwaits > 0 && !loop_timer_armed(s->poke_timer))
		loop_timer_at(s->poke_timer, 0);
}

void sched_chain_poke(struct scheduler *s)
{
	poke_later(s);
}

void sched_chain_kick(struct scheduler *s)
{
	struct map_iter it;
	void *v;
	bool any = false;
	map_iter_init(&s->pending, &it);
	while (map_iter_next(&s->pending, &it, NULL, &v)) {
		struct spend *sp = v;
		if (sp->blocked) {
			sp->blocked = false;
			heap_add(s, sp);
			any = true;
		}
	}
	if (any)
		arm(s);
}

/* resync reads the rows again after a batch that did not commit: what
 * was taken from memory may still be in the store, and the other way. */
static void resync(struct scheduler *s)
{
	struct store_pending **v = NULL;
	size_t n = 0;
	let_all_go(s);
	if (store_pending_load(s->store, &v, &n) < 0) {
		log_errorx("cannot read the pending runs again (tried later): %s",
		           store_errmsg(s->store));
		loop_timer_after(s->pend_timer, RESYNC_NS);
		return;
	}
	for (size_t i = 0; i < n; i++)
		hold(s, v[i]);
	free(v);
}

void sched_chain_resync(struct scheduler *s)
{
	s->pend_resync = true;
	loop_timer_after(s->pend_timer, RESYNC_NS);
}

void sched_chain_dequeued(struct scheduler *s, const char *id)
{
	char err[256];
	struct spend *sp = map_get(&s->pending, id);
	if (sp == NULL)
		return;
	sp->queued = false;
	if (!sched_gate_may_start(s)) {
		sp->blocked = true;
		return;
	}
	struct sjob *j = map_get(&s->jobs, sp->p->job_name);
	if (j == NULL || j->deleted || j->held || !j->def->enabled) {
		resolve(s, sp, JOB_STATUS_SKIPPED,
		        "the job was removed or disabled before it could run");
		return;
	}
	if (!may_start(s, j, sp))
		return;
	if (sched_exec_begin_pending(s, j, sp->p, err, sizeof err) == NULL) {
		log_errorx("job %s: pending run %s not started (kept): %s", j->def->name, sp->p->id,
		           err);
		sp->blocked = true;
		return;
	}
	let_go(s, sp);
}

void sched_chain_unqueued(struct scheduler *s, const char *id)
{
	struct spend *sp = map_get(&s->pending, id);
	if (sp == NULL || !sp->queued)
		return;
	sp->queued = false;
	sp->blocked = true;
}

/* ---- slots that wait ---- */

int sched_chain_gate_slot(struct scheduler *s, struct sjob *j, int64_t slot_ns,
                          enum job_trigger trigger, const char *id)
{
	char why[512];
	switch (gate(s, j, slot_ns, why, sizeof why)) {
	case GATE_PASS:
		return 0;
	case GATE_FAIL:
		sched_record_outcome(s, j, slot_ns, JOB_STATUS_SKIPPED, why);
		return 1;
	case GATE_WAIT:
		break;
	}
	/* A slot waits at most dependency-timeout, and never past the job's
	 * next slot, so waits of a frequent job do not pile up. */
	int64_t until = slot_ns + dependency_timeout(s, j->def);
	if (j->next_ns && j->next_ns < until)
		until = j->next_ns;
	if (until <= clock_now_ns()) {
		char reason[768];
		snprintf(reason, sizeof reason, "its dependencies had not settled (%s)", why);
		sched_record_outcome(s, j, slot_ns, JOB_STATUS_SKIPPED, reason);
		return 1;
	}
	struct store_pending *p = xcalloc(1, sizeof *p);
	if (id)
		snprintf(p->id, sizeof p->id, "%s", id);
	else
		store_new_id(p->id);
	p->job_name = xstrdup(j->def->name);
	p->kind = STORE_PENDING_WAIT;
	p->trigger = trigger;
	p->due_ns = until;
	p->slot_ns = slot_ns;
	p->attempt = 1;
	p->reason = xstrdup(why);
	p->created_ns = clock_now_ns();
	if (store_slot_wait(s->store, p, j->def->schedule, j->next_ns) < 0) {
		log_errorx("job %s: cannot record that its slot waits (kept until the database "
		           "takes writes): %s",
		           j->def->name, store_errmsg(s->store));
		sched_store_failed(s);
		sched_owe_store(s, j->def->name, j->def->type, slot_ns);
		store_pending_free(p);
		return 1;
	}
	/* A batch that does not commit owes the slot as missed. */
	sched_batch_note(s, j->def->name, j->def->type, slot_ns, JOB_STATUS_MISSED, NULL);
	j->last_slot_ns = slot_ns;
	free(j->slot_schedule);
	j->slot_schedule = xstrdup(j->def->schedule);
	char until_text[CLOCK_TEXT_MAX];
	clock_format_rfc3339(until, until_text);
	log_kv(LOG_INFO, "slot waits for its dependencies", "job", j->def->name, "execution", p->id,
	       "until", until_text, "reason", why, NULL);
	if (events_active(s->events)) {
		char slot[CLOCK_TEXT_MAX];
		clock_format_rfc3339(slot_ns, slot);
		events_publish(s->events, EVENT_JOB_WAITING,
		               json_pack("{s:s,s:s,s:s,s:s,s:s}", "job", j->def->name,
		                         "executionId", p->id, "scheduledTime", slot, "until",
		                         until_text, "reason", why));
	}
	hold(s, p);
	arm(s);
	return 1;
}

/* ---- what an end commits ---- */

static struct store_pending *push(struct sfollow *f)
{
	f->v = xreallocarray(f->v, f->n + 1, sizeof *f->v);
	struct store_pending *p = &f->v[f->n++];
	memset(p, 0, sizeof *p);
	store_new_id(p->id);
	p->attempt = 1;
	return p;
}

/* trigger adds a run of target caused by e, unless target is not a live
 * job or the edge is on a loop. */
static void trigger(struct scheduler *s, const struct store_execution *e, const char *target,
                    const char *key, struct sfollow *out)
{
	struct sjob *t = map_get(&s->jobs, target);
	if (t == NULL || t->deleted || t->held) {
		log_kv(LOG_WARN, "trigger of a job that does not exist", "job", e->job_name,
		       "execution", e->id, key, target, NULL);
		return;
	}
	for (size_t i = 0; i < out->n; i++)
		if (strcmp(out->v[i].job_name, target) == 0)
			return;
	if (s->links_loop[0] && sched_links_reach(s, target, e->job_name)) {
		log_errorx("job %s: %s %s not triggered: the jobs' links form a loop (%s)",
		           e->job_name, key, target, s->links_loop);
		return;
	}
	struct store_pending *p = push(out);
	p->job_name = xstrdup(target);
	p->kind = STORE_PENDING_TRIGGER;
	p->trigger = JOB_TRIGGER_DEPENDENCY;
	p->due_ns = p->created_ns = e->end_ns;
	memcpy(p->cause_id, e->id, sizeof p->cause_id);
	p->reason = xasprintf("%s of %s", key, e->job_name);
}

void sched_chain_follow(struct scheduler *s, const struct store_execution *e, bool once,
                        struct sfollow *out)
{
	struct sjob *j = map_get(&s->jobs, e->job_name);
	memset(out, 0, sizeof *out);
	out->notify = true;
	if (once || j == NULL || j->deleted || j->held)
		return;
	const struct job *d = j->def;
	bool interrupted = e->status == JOB_STATUS_INTERRUPTED && retries_interrupted(s, d);
	bool failed = e->status == JOB_STATUS_FAILED || interrupted;
	int attempt = e->attempt > 1 ? e->attempt : 1;

	if (failed && d->enabled && attempt <= max_retries(s, d)) {
		struct store_pending *p = push(out);
		int64_t delay = retry_delay(s, d, attempt);
		char text[DURATION_TEXT_MAX];
		duration_format(delay, text);
		p->job_name = xstrdup(d->name);
		p->kind = STORE_PENDING_RETRY;
		p->trigger = JOB_TRIGGER_RETRY;
		p->due_ns = e->end_ns + delay;
		p->created_ns = e->end_ns;
		p->attempt = attempt + 1;
		memcpy(p->first_attempt_id, *e->first_attempt_id ? e->first_attempt_id : e->id,
		       sizeof p->first_attempt_id);
		memcpy(p->cause_id, e->id, sizeof p->cause_id);
		p->reason =
		    xasprintf("attempt %d of %d, %s after attempt %d ended %s", attempt + 1,
		              max_retries(s, d) + 1, text, attempt, job_status_name(e->status));
		/* One notice for the slot: its last attempt's. */
		out->notify = false;
		return;
	}
	if (e->status == JOB_STATUS_SUCCESS) {
		for (size_t i = 0; i < d->on_success.n; i++)
			trigger(s, e, d->on_success.v[i], "on-success", out);
		/* netresearch's depends-on of a @triggered job: it runs when its
		 * dependency succeeds. */
		const struct strv *deps = sched_links_dependents(s, d->name);
		for (size_t i = 0; deps && i < deps->n; i++)
			trigger(s, e, deps->v[i], "depends-on", out);
	} else if (failed) {
		for (size_t i = 0; i < d->on_failure.n; i++)
			trigger(s, e, d->on_failure.v[i], "on-failure", out);
	}
}

void sched_chain_adopt(struct scheduler *s, const struct store_execution *e, struct sfollow *f)
{
	bool live = events_active(s->events);
	for (size_t i = 0; i < f->n; i++) {
		struct store_pending *p = store_pending_clone(&f->v[i]);
		char due[CLOCK_TEXT_MAX];
		clock_format_rfc3339(p->due_ns, due);
		if (p->kind == STORE_PENDING_RETRY) {
			char attempt[16];
			snprintf(attempt, sizeof attempt, "%d", p->attempt);
			log_kv(LOG_INFO, "retry planned", "job", p->job_name, "execution", p->id,
			       "attempt", attempt, "due", due, "after", e->id, NULL);
			if (live)
				events_publish(
				    s->events, EVENT_JOB_RETRYING,
				    json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:I}", "job", p->job_name,
				              "executionId", e->id, "nextExecutionId", p->id,
				              "attempt", p->attempt, "firstAttemptId",
				              p->first_attempt_id, "dueTime", due, "delay",
				              (json_int_t)(p->due_ns - e->end_ns)));
		} else {
			log_kv(LOG_INFO, "run triggered", "job", p->job_name, "execution", p->id,
			       "cause", e->id, "by", p->reason, NULL);
			if (live)
				events_publish(s->events, EVENT_JOB_TRIGGERED,
				               json_pack("{s:s,s:s,s:s,s:s,s:s}", "job",
				                         p->job_name, "executionId", p->id,
				                         "causeId", e->id, "causeJob", e->job_name,
				                         "reason", p->reason));
		}
		hold(s, p);
	}
	sched_follow_fini(f);
	arm(s);
	poke_later(s);
}

/* ---- start and end ---- */

void sched_chain_init(struct scheduler *s)
{
	map_init(&s->pending);
	sched_links_init(s);
	s->pend_timer = loop_timer_new(s->loop, on_pend, s);
	s->poke_timer = loop_timer_new(s->loop, on_poke, s);
}

void sched_chain_free(struct scheduler *s)
{
	let_all_go(s);
	map_fini(&s->pending);
	sched_links_free(s);
	free(s->pend_heap);
	loop_timer_free(s->pend_timer);
	loop_timer_free(s->poke_timer);
}

/* late applies the job's catch-up policy to a row that fell due while
 * ofelia was down: true when it was recorded (missed or expired). */
static bool late(struct scheduler *s, struct spend *sp, int64_t now)
{
	struct sjob *j = map_get(&s->jobs, sp->p->job_name);
	if (j == NULL || now - sp->p->due_ns <= LATE_SLOT_NS)
		return false;
	enum job_catch_up policy =
	    j->def->catch_up != JOB_CATCH_UP_DEFAULT ? j->def->catch_up : s->o.catch_up;
	char deadline[DURATION_TEXT_MAX], reason[256];
	if (policy == JOB_CATCH_UP_SKIP) {
		resolve(s, sp, JOB_STATUS_MISSED,
		        "not run at its time (ofelia was down or suspended; catch-up skip)");
		return true;
	}
	if (now - sp->p->due_ns > sched_effective_deadline(s, j)) {
		duration_format(sched_effective_deadline(s, j), deadline);
		snprintf(reason, sizeof reason,
		         "not run at its time (ofelia was down or suspended) and older than "
		         "catch-up-deadline %s",
		         deadline);
		resolve(s, sp, JOB_STATUS_EXPIRED, reason);
		return true;
	}
	return false;
}

void sched_chain_start(struct scheduler *s)
{
	struct store_pending **v = NULL;
	size_t n = 0;
	int64_t now = clock_now_ns();
	if (store_pending_load(s->store, &v, &n) < 0) {
		log_errorx("cannot read the pending runs (tried again in a second): %s",
		           store_errmsg(s->store));
		loop_timer_after(s->pend_timer, RESYNC_NS);
		return;
	}
	/* Slots that began to wait during recovery (catch-up) are held already. */
	struct spend **held = xcalloc(n + 1, sizeof *held);
	size_t nheld = 0;
	for (size_t i = 0; i < n; i++) {
		if (map_get(&s->pending, v[i]->id))
			store_pending_free(v[i]);
		else
			held[nheld++] = hold(s, v[i]);
	}
	free(v);
	if (nheld > 0 && sched_batch_begin(s) == 0) {
		for (size_t i = 0; i < nheld; i++)
			late(s, held[i], now);
		sched_batch_end(s);
	}
	free(held);
	if (n > 0) {
		char count[32];
		snprintf(count, sizeof count, "%zu", n);
		log_kv(LOG_INFO, "pending runs recovered", "count", count, NULL);
	}
	arm(s);
	poke_later(s);
}

/* pending_json is the API's view of a pending row. */
json_t *sched_pending_json(const struct store_pending *p, bool queued)
{
	char due[CLOCK_TEXT_MAX], slot[CLOCK_TEXT_MAX];
	clock_format_rfc3339(p->due_ns, due);
	clock_format_rfc3339(p->slot_ns, slot);
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:i,s:o,s:o,s:o,s:b}", "executionId", p->id, "kind",
	                 store_pending_kind_name(p->kind), "trigger", job_trigger_name(p->trigger),
	                 "dueTime", due, "scheduledTime",
	                 p->slot_ns ? json_string(slot) : json_null(), "attempt",
	                 p->attempt > 1 ? p->attempt : 1, "firstAttemptId",
	                 *p->first_attempt_id ? json_string(p->first_attempt_id) : json_null(),
	                 "causeId", *p->cause_id ? json_string(p->cause_id) : json_null(), "reason",
	                 p->reason ? json_string(p->reason) : json_null(), "queued", queued);
}

json_t *scheduler_pending_view(struct scheduler *s, const char *id)
{
	const struct spend *sp = map_get(&s->pending, id);
	if (sp == NULL)
		return NULL;
	json_t *o = sched_pending_json(sp->p, sp->queued);
	json_object_set_new(o, "job", json_string(sp->p->job_name));
	json_object_set_new(o, "status", json_string("pending"));
	json_object_set_new(o, "startTime", json_null());
	return o;
}
