/* The timer side of the scheduler: the heap of due times, the tick that
 * fires due slots, planning a job's next slot, and catch-up of slots that
 * passed while ofelia could not run them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events/events.h"
#include "loop/loop.h"
#include "scheduler/scheduler_int.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Missed slots recorded one by one per job and recovery; older ones are
 * summed up in the oldest recorded row. */
#define MISSED_KEEP 1000
/* cron_next steps spent counting missed slots before jumping ahead. */
#define MISSED_STEPS 200000

/* ---- heap of jobs by next_ns ---- */

static bool before(const struct sjob *a, const struct sjob *b)
{
	if (a->next_ns != b->next_ns)
		return a->next_ns < b->next_ns;
	return strcmp(a->def->name, b->def->name) < 0;
}

static void heap_set(struct scheduler *s, size_t i, struct sjob *j)
{
	s->heap[i] = j;
	j->heap_at = i;
}

static void sift_up(struct scheduler *s, size_t i)
{
	struct sjob *j = s->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(j, s->heap[parent]))
			break;
		heap_set(s, i, s->heap[parent]);
		i = parent;
	}
	heap_set(s, i, j);
}

static void sift_down(struct scheduler *s, size_t i)
{
	struct sjob *j = s->heap[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= s->heap_len)
			break;
		if (child + 1 < s->heap_len && before(s->heap[child + 1], s->heap[child]))
			child++;
		if (!before(s->heap[child], j))
			break;
		heap_set(s, i, s->heap[child]);
		i = child;
	}
	heap_set(s, i, j);
}

void sched_heap_remove(struct scheduler *s, struct sjob *j)
{
	size_t i = j->heap_at;
	if (i == HEAP_NONE)
		return;
	j->heap_at = HEAP_NONE;
	struct sjob *last = s->heap[--s->heap_len];
	if (i == s->heap_len)
		return;
	heap_set(s, i, last);
	sift_up(s, i);
	sift_down(s, last->heap_at);
}

void sched_heap_update(struct scheduler *s, struct sjob *j)
{
	if (j->next_ns == 0) {
		sched_heap_remove(s, j);
		return;
	}
	if (j->heap_at == HEAP_NONE) {
		if (s->heap_len == s->heap_cap) {
			s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 64;
			s->heap = xreallocarray(s->heap, s->heap_cap, sizeof *s->heap);
		}
		heap_set(s, s->heap_len++, j);
		sift_up(s, j->heap_at);
		return;
	}
	sift_up(s, j->heap_at);
	sift_down(s, j->heap_at);
}

/* earliest finds the first time the timer is wanted in the subtree at i:
 * a slot, or, in a cluster, the time to claim one ahead of it. Subtrees
 * whose slots come after the best time so far cannot hold an earlier one. */
static void earliest(const struct scheduler *s, size_t i, int64_t *best)
{
	if (i >= s->heap_len || s->heap[i]->next_ns - s->gate.claim_ahead_ns >= *best)
		return;
	int64_t t = sched_gate_wake(s, s->heap[i]);
	if (t < *best)
		*best = t;
	earliest(s, 2 * i + 1, best);
	earliest(s, 2 * i + 2, best);
}

/* due_by counts the slots due by t in the subtree at i, up to max. */
static size_t due_by(const struct scheduler *s, size_t i, int64_t t, size_t max)
{
	if (i >= s->heap_len || max == 0 || s->heap[i]->next_ns > t)
		return 0;
	size_t n = 1 + due_by(s, 2 * i + 1, t, max - 1);
	return n + due_by(s, 2 * i + 2, t, max - n);
}

void sched_arm(struct scheduler *s)
{
	if (s->heap_len == 0 || s->shutting_down) {
		loop_timer_stop(s->timer);
		return;
	}
	int64_t when = s->heap[0]->next_ns;
	if (s->gated)
		earliest(s, 0, &when);
	/* Slots are claimed ahead of their time (on_tick), a burst earlier. */
	size_t most = (CLAIM_LEAD_MAX_NS - CLAIM_LEAD_NS) / CLAIM_PER_SLOT_NS;
	size_t burst = due_by(s, 0, s->heap[0]->next_ns, most + 1);
	s->lead_ns = CLAIM_LEAD_NS + (int64_t)(burst - 1) * CLAIM_PER_SLOT_NS;
	loop_timer_at(s->timer, when - s->lead_ns);
}

/* ---- planning ---- */

/* The last second whose nanoseconds fit in int64 (2262-04-11). */
#define SLOT_MAX_S (INT64_MAX / NS_PER_SEC - 1)

/* next_after is j's next slot in seconds, 0 when there is none that the
 * scheduler's nanoseconds can hold. */
static int64_t next_after(const struct sjob *j, int64_t after_s)
{
	int64_t t = cron_next(j->cron, after_s);
	return t == CRON_NEVER || t > SLOT_MAX_S ? 0 : t;
}

int64_t sched_effective_deadline(const struct scheduler *s, const struct sjob *j)
{
	return j->def->catch_up_deadline_ns > 0 ? j->def->catch_up_deadline_ns
	                                        : s->o.catch_up_deadline_ns;
}

void sched_record_outcome(struct scheduler *s, struct sjob *j, int64_t slot_ns,
                          enum job_status status, const char *reason)
{
	int rc = store_slot_outcome(s->store, j->def->name, j->def->type, slot_ns, status, reason,
	                            j->def->schedule, j->next_ns);
	if (rc < 0) {
		log_errorx("job %s: cannot record slot (kept until the database takes writes): %s",
		           j->def->name, store_errmsg(s->store));
		sched_store_failed(s);
		sched_owe(s, j->def->name, j->def->type, slot_ns, status, reason);
	}
	if (rc == 0) {
		sched_batch_note(s, j->def->name, j->def->type, slot_ns, status, reason);
		j->last_slot_ns = slot_ns;
		free(j->slot_schedule);
		j->slot_schedule = xstrdup(j->def->schedule);
		/* A job waiting for this one may now know its answer. */
		sched_chain_poke(s);
	}
}

static void handled(struct sjob *j, int64_t slot_ns)
{
	if (slot_ns > j->handled_ns)
		j->handled_ns = slot_ns;
}

/* The slots a job missed: the latest MISSED_KEEP of them in a ring, how
 * many there were (a lower bound when `more`), and the first one after now. */
struct missed {
	int64_t ring[MISSED_KEEP];
	int64_t in_ring; /* pushed into the ring; the last MISSED_KEEP are kept */
	int64_t count;
	bool more;
	int64_t after;
};

static void ring_push(struct missed *m, int64_t slot)
{
	m->ring[m->in_ring++ % MISSED_KEEP] = slot;
}

/* collect_missed walks j's slots from first up to now_s. Past MISSED_STEPS
 * it stops counting and looks for the latest slots only, from a window
 * before now that it widens until a slot falls in it. */
static void collect_missed(const struct sjob *j, int64_t first, int64_t now_s, struct missed *m)
{
	int64_t t = first;
	while (t && t <= now_s && m->count < MISSED_STEPS) {
		ring_push(m, t);
		m->count++;
		t = next_after(j, t);
	}
	if (t && t <= now_s) {
		m->more = true;
		int64_t window = 3600, from = now_s - window;
		while (from > t && next_after(j, from) > now_s) {
			window *= 24;
			from = now_s - window;
		}
		m->in_ring = 0;
		for (t = next_after(j, from > t ? from : t); t && t <= now_s;
		     t = next_after(j, t)) {
			ring_push(m, t);
			m->count++;
		}
	}
	m->after = t;
}

/* catch_up records the slots from first to now per the job's policy and
 * returns the first slot after now (0 when none). With `once` the latest
 * missed slot runs, unless it is older than catch-up-deadline (expired). */
static int64_t catch_up(struct scheduler *s, struct sjob *j, int64_t first, int64_t now_ns)
{
	struct missed *m = xcalloc(1, sizeof *m);
	enum job_catch_up policy =
	    j->def->catch_up != JOB_CATCH_UP_DEFAULT ? j->def->catch_up : s->o.catch_up;
	char deadline[DURATION_TEXT_MAX], reason[256], first_text[CLOCK_TEXT_MAX], count[32];
	const char *why = s->gated
	                      ? "no node of the cluster led: a failover, or etcd without quorum"
	                      : "ofelia was down or suspended";

	collect_missed(j, first, now_ns / NS_PER_SEC, m);
	int64_t kept = m->in_ring < MISSED_KEEP ? m->in_ring : MISSED_KEEP;
	int64_t latest = m->ring[(m->in_ring - 1) % MISSED_KEEP];
	duration_format(sched_effective_deadline(s, j), deadline);
	clock_format_rfc3339(first * NS_PER_SEC, first_text);
	snprintf(count, sizeof count, "%s%lld", m->more ? ">" : "", (long long)m->count);
	log_kv(LOG_WARN, "missed slots", "job", j->def->name, "count", count, "policy",
	       job_catch_up_name(policy), NULL);

	j->next_ns = m->after * NS_PER_SEC;
	handled(j, latest * NS_PER_SEC);
	/* In a cluster every slot is claimed first: the outcomes wait in a
	 * backlog until the claims are in (gate.c). */
	struct sbacklog_slot *backlog = s->gated ? xcalloc((size_t)kept, sizeof *backlog) : NULL;
	size_t nbacklog = 0;
	for (int64_t i = m->in_ring - kept; i < m->in_ring; i++) {
		int64_t slot = m->ring[i % MISSED_KEEP];
		bool run = slot == latest && policy == JOB_CATCH_UP_ONCE;
		enum job_status status = JOB_STATUS_MISSED;
		if (run && now_ns - slot * NS_PER_SEC <= sched_effective_deadline(s, j)) {
			if (backlog) {
				backlog[nbacklog++] = (struct sbacklog_slot){
				    slot * NS_PER_SEC, JOB_STATUS_RUNNING, NULL, ""};
				continue;
			}
			char err[256];
			if (j->def->depends_on.n > 0 &&
			    sched_chain_gate_slot(s, j, slot * NS_PER_SEC, JOB_TRIGGER_CATCH_UP,
			                          NULL))
				continue;
			if (sched_exec_begin(s, j, j->def, slot * NS_PER_SEC, JOB_TRIGGER_CATCH_UP,
			                     NULL, err, sizeof err) == NULL)
				log_errorx("job %s: catch-up run: %s", j->def->name, err);
		} else if (run) {
			snprintf(reason, sizeof reason,
			         "not run at its time (%s) and older than catch-up-deadline %s",
			         why, deadline);
			status = JOB_STATUS_EXPIRED;
		} else {
			if (i == m->in_ring - kept && m->count > kept)
				snprintf(
				    reason, sizeof reason,
				    "not run at its time (%s); %s%lld earlier slots since %s were "
				    "not recorded one by one",
				    why, m->more ? "more than " : "", (long long)(m->count - kept),
				    first_text);
			else
				snprintf(reason, sizeof reason, "not run at its time (%s)", why);
		}
		if (backlog)
			backlog[nbacklog++] =
			    (struct sbacklog_slot){slot * NS_PER_SEC, status, xstrdup(reason), ""};
		else
			sched_record_outcome(s, j, slot * NS_PER_SEC, status, reason);
	}
	if (backlog)
		sched_gate_catch_up(s, j, backlog, nbacklog);
	int64_t after = m->after;
	free(m);
	return after;
}

void sched_unplan(struct scheduler *s, struct sjob *j)
{
	cron_free(j->cron);
	j->cron = NULL;
	j->next_ns = 0;
	j->awaiting = false;
	sched_heap_remove(s, j);
}

/* sched_plan computes j's next slot (the caller stores it). Unless from_now, it continues from the
 * last recorded slot when that slot belongs to the current schedule, so an
 * `@every 6h` job restarted an hour after its last run runs five hours
 * later; slots that passed meanwhile go through catch-up. */
void sched_plan(struct scheduler *s, struct sjob *j, int64_t now_ns, bool from_now)
{
	char err[256];

	sched_unplan(s, j);
	if (!j->def->enabled || j->deleted || j->held)
		return;
	if (cron_parse(j->def->schedule, s->o.zone, &j->cron, err, sizeof err) < 0) {
		log_errorx("job %s: bad schedule \"%s\": %s [INVALID_SCHEDULE]", j->def->name,
		           j->def->schedule, err);
		return;
	}
	if (cron_is_manual(j->cron))
		return;
	bool resume = !from_now && j->last_slot_ns && j->slot_schedule &&
	              strcmp(j->slot_schedule, j->def->schedule) == 0;
	int64_t from = j->handled_ns > j->last_slot_ns ? j->handled_ns : j->last_slot_ns;
	int64_t base = resume ? from / NS_PER_SEC : now_ns / NS_PER_SEC;
	int64_t next = next_after(j, base);
	if (next && next * NS_PER_SEC <= now_ns)
		next = catch_up(s, j, next, now_ns);
	j->next_ns = next * NS_PER_SEC;
	sched_heap_update(s, j);
	s->version++;
}

/* ---- the tick ---- */

static void queue_push(struct scheduler *s, struct sjob *j, int64_t slot_ns)
{
	size_t at = (s->queue_head + s->queue_len) % (size_t)s->o.max_queue;
	s->queue[at] =
	    (struct spending){xstrdup(j->def->name), slot_ns, JOB_TRIGGER_SCHEDULE, "", false};
	s->queue_len++;
}

void sched_skip_slot(struct scheduler *s, struct sjob *j)
{
	(void)s;
	/* Not handled here: a plan after a gap goes over it again (and its
	 * claim says whose it is). */
	j->next_ns = next_after(j, j->next_ns / NS_PER_SEC) * NS_PER_SEC;
}

void sched_fire(struct scheduler *s, struct sjob *j, int64_t now_ns)
{
	int64_t slot_ns = j->next_ns;
	int64_t slot_s = slot_ns / NS_PER_SEC;
	char reason[256], err[256], id[37] = "";
	/* The execution a cluster claim named runs under that id. */
	const char *claimed = sched_gate_id(s, j);
	if (claimed)
		memcpy(id, claimed, sizeof id);

	handled(j, slot_ns);
	if (now_ns - slot_ns > LATE_SLOT_NS) {
		j->next_ns = catch_up(s, j, slot_s, now_ns) * NS_PER_SEC;
		return;
	}
	j->next_ns = next_after(j, slot_s) * NS_PER_SEC;
	if (s->paused) {
		sched_record_outcome(s, j, slot_ns, JOB_STATUS_SKIPPED,
		                     "the scheduler was stopped through the API");
	} else if (j->def->no_overlap && (j->running > 0 || j->retrying > 0)) {
		sched_record_outcome(s, j, slot_ns, JOB_STATUS_SKIPPED,
		                     j->running > 0
		                         ? "the previous run was still running (no-overlap)"
		                         : "a retry of the previous run was pending (no-overlap)");
	} else if (j->def->depends_on.n > 0 &&
	           sched_chain_gate_slot(s, j, slot_ns, JOB_TRIGGER_SCHEDULE, id[0] ? id : NULL)) {
		/* waiting for its dependencies, or skipped: chain.c recorded it */
	} else if (SCHED_FULL(s)) {
		if (s->queue_len < (size_t)s->o.max_queue) {
			queue_push(s, j, slot_ns);
			store_job_set_next(s->store, j->def->name, j->next_ns);
			return;
		}
		snprintf(reason, sizeof reason,
		         "%d executions were running (max-concurrent) and %d slots were "
		         "waiting (max-queue)",
		         s->o.max_concurrent, s->o.max_queue);
		sched_record_outcome(s, j, slot_ns, JOB_STATUS_SKIPPED, reason);
	} else if (sched_exec_begin(s, j, j->def, slot_ns, JOB_TRIGGER_SCHEDULE, id[0] ? id : NULL,
	                            err, sizeof err) == NULL) {
		log_errorx("job %s: slot not run: %s", j->def->name, err);
	}
}

/* owe_due owes every slot of j due by now as missed: the store cannot take
 * them (owed.c). The latest MISSED_KEEP are owed one by one, as catch-up
 * records them. */
static void owe_due(struct scheduler *s, struct sjob *j, int64_t now_ns)
{
	struct missed *m = xcalloc(1, sizeof *m);
	char reason[512];

	collect_missed(j, j->next_ns / NS_PER_SEC, now_ns / NS_PER_SEC, m);
	int64_t kept = m->in_ring < MISSED_KEEP ? m->in_ring : MISSED_KEEP;
	handled(j, m->ring[(m->in_ring - 1) % MISSED_KEEP] * NS_PER_SEC);
	for (int64_t i = m->in_ring - kept; i < m->in_ring; i++) {
		int64_t slot = m->ring[i % MISSED_KEEP];
		if (i == m->in_ring - kept && m->count > kept) {
			snprintf(reason, sizeof reason,
			         "not run: the database could not be written (%s); %s%lld earlier "
			         "slots were not recorded one by one",
			         s->down_reason, m->more ? "more than " : "",
			         (long long)(m->count - kept));
			sched_owe(s, j->def->name, j->def->type, slot * NS_PER_SEC,
			          JOB_STATUS_MISSED, reason);
		} else {
			sched_owe_store(s, j->def->name, j->def->type, slot * NS_PER_SEC);
		}
	}
	j->next_ns = m->after * NS_PER_SEC;
	free(m);
}

static void on_tick(void *arg)
{
	struct scheduler *s = arg;
	int64_t now = clock_now_ns();
	/* Slots due within the lead are claimed now (sched_arm). */
	int64_t horizon = now + s->lead_ns;

	/* Outcomes owed since the store failed go first, oldest first. */
	if (s->nowed > 0 && !s->store_down)
		sched_record_owed(s);
	/* One transaction for everything due now: the executions it begins are
	 * committed together, then launched and announced. When the store
	 * cannot take it, nothing runs: every due slot is owed as missed. */
	if (sched_batch_begin(s) < 0) {
		while (s->heap_len > 0 && s->heap[0]->next_ns <= horizon) {
			struct sjob *j = s->heap[0];
			owe_due(s, j, horizon);
			sched_heap_update(s, j);
		}
	} else {
		/* A cluster node claims what comes due soon, then gives the due
		 * slots it holds their outcomes (gate.c). */
		if (s->gated)
			sched_gate_ahead(s, horizon);
		while (s->heap_len > 0 && s->heap[0]->next_ns <= horizon) {
			struct sjob *j = s->heap[0];
			if (s->gated && now - j->next_ns <= LATE_SLOT_NS) {
				enum sgate_verdict v = sched_gate_at(s, j, now);
				if (v == SGATE_WAIT) {
					sched_heap_remove(s, j);
					j->awaiting = true;
					continue;
				}
				if (v == SGATE_DROP) {
					sched_skip_slot(s, j);
					sched_heap_update(s, j);
					continue;
				}
			}
			sched_fire(s, j, now);
			sched_heap_update(s, j);
		}
		/* Ends waiting for a commit go with the claims (exec.c). */
		sched_endings_write(s);
		sched_endings_settle(s, sched_batch_end(s) == 0);
		/* The commit took what the flush timer was armed for. */
		if (store_pending(s->store) == 0 && s->ending == NULL)
			loop_timer_stop(s->flush_timer);
	}
	sched_dequeue(s);
	s->version++;
	sched_arm(s);
}

/* ---- lifecycle ---- */

static void on_grace(void *arg)
{
	struct scheduler *s = arg;
	sched_stop_all(s, "ofelia was shutting down and the grace period ended");
}

struct scheduler *scheduler_new(struct loop *loop, struct store *store, struct events *events,
                                const struct scheduler_options *o)
{
	struct scheduler *s = xcalloc(1, sizeof *s);
	s->loop = loop;
	s->store = store;
	s->events = events;
	s->o = *o;
	if (s->o.max_concurrent < 0)
		s->o.max_concurrent = 0;
	if (s->o.max_queue < 1)
		s->o.max_queue = 1;
	if (s->o.zone == NULL)
		s->o.zone = tz_utc();
	map_init(&s->jobs);
	map_init(&s->shadowed);
	map_init(&s->execs);
	map_init(&s->prune_dirty);
	s->queue = xcalloc((size_t)s->o.max_queue, sizeof *s->queue);
	sched_chain_init(s);
	s->timer = loop_timer_new(loop, on_tick, s);
	s->flush_timer = loop_timer_new(loop, sched_on_flush, s);
	s->prune_timer = loop_timer_new(loop, sched_on_prune, s);
	s->retry_timer = loop_timer_new(loop, sched_on_retry, s);
	s->store_timer = loop_timer_new(loop, sched_on_store_retry, s);
	/* Made now: at the shutdown, every descriptor may be taken. */
	s->grace_timer = loop_timer_new(loop, on_grace, s);
	s->mailbox = loop_mailbox_new(loop, sched_on_message, s);
	s->pool = runner_pool_new(s->o.max_concurrent);
	s->start_ns = clock_now_ns();
	s->self_pid = (long)getpid();
	if (runner_process_key(s->self_pid, s->self_key, sizeof s->self_key) < 0)
		s->self_key[0] = '\0';
	return s;
}

void scheduler_free(struct scheduler *s)
{
	if (s == NULL)
		return;
	sched_reload_free(s);
	sched_chain_free(s);
	runner_pool_free(s->pool);
	loop_mailbox_free(s->mailbox);
	loop_timer_free(s->timer);
	loop_timer_free(s->flush_timer);
	loop_timer_free(s->prune_timer);
	loop_timer_free(s->retry_timer);
	loop_timer_free(s->store_timer);
	loop_timer_free(s->grace_timer);
	struct map_iter it;
	void *v;
	map_iter_init(&s->jobs, &it);
	while (map_iter_next(&s->jobs, &it, NULL, &v))
		sched_job_free(v);
	map_fini(&s->jobs);
	map_fini(&s->shadowed);
	map_iter_init(&s->execs, &it);
	while (map_iter_next(&s->execs, &it, NULL, &v))
		sched_exec_free(v);
	map_fini(&s->execs);
	map_fini(&s->prune_dirty);
	while (s->retry) {
		struct sexec *ex = s->retry;
		s->retry = ex->retry_next;
		sched_exec_free(ex);
	}
	while (s->ending) {
		struct sexec *ex = s->ending;
		s->ending = ex->retry_next;
		sched_exec_free(ex);
	}
	while (s->ending_batch) {
		struct sexec *ex = s->ending_batch;
		s->ending_batch = ex->retry_next;
		sched_exec_free(ex);
	}
	for (size_t i = 0; i < s->queue_len; i++)
		free(s->queue[(s->queue_head + i) % (size_t)s->o.max_queue].job_name);
	sched_owed_free(s);
	sched_gate_free(s);
	free(s->queue);
	free(s->heap);
	free(s);
}

int scheduler_start(struct scheduler *s, struct job *const *defs, size_t n, char *err,
                    size_t errlen)
{
	struct store_job **rows = NULL;
	size_t nrows = 0;
	struct scheduler_changes changes;
	struct map_iter it;
	void *v;

	if (store_jobs_load(s->store, &rows, &nrows) < 0) {
		snprintf(err, errlen, "cannot load jobs: %s", store_errmsg(s->store));
		return -1;
	}
	for (size_t i = 0; i < nrows; i++) {
		struct sjob *j = sched_job_from_row(rows[i]);
		if (j)
			map_put(&s->jobs, j->def->name, j);
	}
	store_jobs_free(rows, nrows);
	/* A run's end moves its job's last_slot: a run begun but never ended
	 * (ofelia was killed) has a later slot, which must not run again. */
	map_iter_init(&s->jobs, &it);
	while (map_iter_next(&s->jobs, &it, NULL, &v)) {
		struct sjob *j = v;
		int64_t latest;
		if (store_job_latest_slot(s->store, j->def->name, &latest) < 0) {
			snprintf(err, errlen, "cannot load jobs: %s", store_errmsg(s->store));
			return -1;
		}
		/* The slot was claimed under the stored definition's schedule
		 * (a sync saves the definition before its slots are planned). */
		if (latest > j->last_slot_ns) {
			j->last_slot_ns = latest;
			free(j->slot_schedule);
			j->slot_schedule = xstrdup(j->def->schedule);
		}
	}
	s->started = true;
	sched_resolve_orphans(s, false);
	/* The job's row takes its last run with some ends only (exec.c):
	 * the executions have the latest, resolved above. */
	map_iter_init(&s->jobs, &it);
	while (map_iter_next(&s->jobs, &it, NULL, &v)) {
		struct sjob *j = v;
		int64_t start;
		enum job_status status;
		if (store_job_latest_run(s->store, j->def->name, &start, &status) < 0) {
			snprintf(err, errlen, "cannot load jobs: %s", store_errmsg(s->store));
			return -1;
		}
		if (start && start >= j->last_run_ns) {
			j->last_run_ns = start;
			j->last_status = status;
		}
	}
	/* A cluster node starts as a follower: the leader's jobs, nothing planned,
	 * its own sources kept for when it leads (gate.c). */
	if (s->gated && !s->leading) {
		map_iter_init(&s->jobs, &it);
		while (map_iter_next(&s->jobs, &it, NULL, &v))
			((struct sjob *)v)->held = false;
		sched_keep_source(s, JOB_ORIGIN_CONFIG, defs, n);
		sched_launch(s, true);
		s->start_ns = clock_now_ns();
		log_kv(LOG_INFO, "scheduler started", "role", "follower", "node", s->node, NULL);
		return 0;
	}
	if (s->gated)
		s->led = true;

	int64_t now = clock_now_ns();
	if (sched_batch_begin(s) < 0) {
		snprintf(err, errlen, "cannot record recovery: %s", store_errmsg(s->store));
		return -1;
	}
	/* Jobs with depends-on go second: a slot they catch up then finds
	 * the catch-up runs of their dependencies begun. */
	for (int pass = 0; pass < 2; pass++) {
		map_iter_init(&s->jobs, &it);
		while (map_iter_next(&s->jobs, &it, NULL, &v)) {
			struct sjob *j = v;
			if ((j->def->depends_on.n > 0) != (pass == 1))
				continue;
			sched_plan(s, j, now, false);
			store_job_set_next(s->store, j->def->name, j->next_ns);
		}
	}
	int rc = sched_batch_end(s);
	if (rc < 0) {
		snprintf(err, errlen, "cannot record recovery: %s", store_errmsg(s->store));
		return -1;
	}
	if (scheduler_links_check(s, JOB_ORIGIN_CONFIG, defs, n, err, errlen) < 0)
		return -1;
	if (scheduler_sync(s, JOB_ORIGIN_CONFIG, defs, n, &changes) < 0) {
		snprintf(err, errlen, "cannot store the config's jobs: %s", store_errmsg(s->store));
		return -1;
	}
	/* run-on-startup: once at start, outside any slot, as Ofelia does. */
	map_iter_init(&s->jobs, &it);
	while (map_iter_next(&s->jobs, &it, NULL, &v)) {
		struct sjob *j = v;
		char why[256];
		if (j->def->run_on_startup && j->def->enabled && !j->deleted && !j->held &&
		    sched_exec_begin(s, j, j->def, 0, JOB_TRIGGER_STARTUP, NULL, why, sizeof why) ==
		        NULL)
			log_errorx("job %s: run-on-startup: %s", j->def->name, why);
	}
	sched_launch(s, true);
	/* Retries, triggered runs and waits the previous process left. */
	sched_chain_start(s);
	sched_dequeue(s);
	sched_arm(s);
	loop_timer_after(s->prune_timer, 5 * NS_PER_SEC);
	s->start_ns = clock_now_ns();
	struct scheduler_status st;
	scheduler_status(s, &st);
	char jobs[16], active[16];
	snprintf(jobs, sizeof jobs, "%d", st.total_jobs);
	snprintf(active, sizeof active, "%d", st.active_jobs);
	log_kv(LOG_INFO, "scheduler started", "jobs", jobs, "enabled", active, NULL);
	events_publish(s->events, EVENT_SCHEDULER_STARTED, json_pack("{s:b}", "running", 1));
	return 0;
}

void scheduler_pause(struct scheduler *s)
{
	if (s->paused)
		return;
	s->paused = true;
	s->version++;
	events_publish(s->events, EVENT_SCHEDULER_STOPPED, json_pack("{s:b}", "running", 0));
}

void scheduler_resume(struct scheduler *s)
{
	if (!s->paused)
		return;
	s->paused = false;
	s->version++;
	sched_chain_kick(s);
	events_publish(s->events, EVENT_SCHEDULER_STARTED, json_pack("{s:b}", "running", 1));
}

void scheduler_status(struct scheduler *s, struct scheduler_status *out)
{
	struct map_iter it;
	void *v;

	memset(out, 0, sizeof *out);
	out->running = s->started && !s->paused && !s->shutting_down;
	out->start_ns = s->start_ns;
	out->running_executions = s->running;
	map_iter_init(&s->jobs, &it);
	while (map_iter_next(&s->jobs, &it, NULL, &v)) {
		struct sjob *j = v;
		if (j->deleted || j->held)
			continue;
		out->total_jobs++;
		if (j->def->enabled)
			out->active_jobs++;
	}
	if (s->heap_len > 0) {
		snprintf(out->next_job, sizeof out->next_job, "%s", s->heap[0]->def->name);
		out->next_ns = s->heap[0]->next_ns;
	}
}

int scheduler_job_running(struct scheduler *s, const char *name)
{
	struct sjob *j = map_get(&s->jobs, name);
	return j ? j->running : 0;
}

bool scheduler_job_times(struct scheduler *s, const char *name, int64_t *next_ns,
                         int64_t *last_run_ns, enum job_status *last_status)
{
	struct sjob *j = map_get(&s->jobs, name);
	if (j == NULL)
		return false;
	*next_ns = j->next_ns;
	*last_run_ns = j->last_run_ns;
	*last_status = j->last_status;
	return true;
}

bool scheduler_job_live(struct scheduler *s, const char *name)
{
	struct sjob *j = map_get(&s->jobs, name);
	return j && !j->deleted && !j->held;
}

uint64_t scheduler_version(const struct scheduler *s)
{
	return s->version;
}

void scheduler_shutdown(struct scheduler *s, void (*on_done)(void *arg), void *arg)
{
	char reason[] = "ofelia was shutting down before it could run";

	if (s->shutting_down)
		return;
	s->shutting_down = true;
	s->shutdown_done = on_done;
	s->shutdown_arg = arg;
	loop_timer_stop(s->timer);
	/* Retries and triggered runs stay in the store for the next start. */
	loop_timer_stop(s->pend_timer);
	bool batch = sched_batch_begin(s) == 0;
	while (s->queue_len > 0) {
		struct spending *p = &s->queue[s->queue_head];
		sched_drop_queued(s, p, reason);
		free(p->job_name);
		s->queue_head = (s->queue_head + 1) % (size_t)s->o.max_queue;
		s->queue_len--;
	}
	if (batch)
		sched_batch_end(s);
	/* A slot claimed ahead (CLAIM_LEAD_NS) is running already: it starts at
	 * its instant and is waited for like the others. */
	events_publish(s->events, EVENT_SCHEDULER_STOPPED, json_pack("{s:b}", "running", 0));
	if (s->running == 0) {
		sched_maybe_done(s);
		return;
	}
	log_kv(LOG_INFO, "waiting for running executions", NULL);
	loop_timer_after(s->grace_timer, s->o.shutdown_grace_ns);
}
