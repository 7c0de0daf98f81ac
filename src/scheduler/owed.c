/* Slot outcomes the store could not take. Every slot gets one recorded
 * outcome, also when the database cannot be written (another process holds
 * its write lock, the disk is full, an I/O error): the slot is not run, and
 * its outcome, `missed` with the reason, waits here until the store takes
 * writes again. A timer tries every STORE_RETRY_NS; nothing waits on the
 * loop thread.
 *
 * Writes that belong together go in one batch (one transaction): the tick,
 * a dequeue, recovery at start. A batch notes each slot it wrote; when its
 * commit fails, nothing of it is kept (no execution is launched, no row
 * half-written), and each noted slot is owed instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop/loop.h"
#include "scheduler/scheduler_int.h"
#include "store/store.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define STORE_RETRY_NS (1 * NS_PER_SEC)
/* Owed outcomes kept in memory; past this the oldest are dropped (counted,
 * logged): a restart records them missed from the store's last slot anyway. */
#define OWED_MAX 100000

static void owed_fini(struct sowed *o)
{
	free(o->job_name);
	free(o->reason);
}

static void push(struct sowed **v, size_t *n, size_t *cap, const char *job, enum job_type type,
                 int64_t slot_ns, enum job_status status, const char *reason)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xreallocarray(*v, *cap, sizeof **v);
	}
	(*v)[(*n)++] = (struct sowed){xstrdup(job), type, slot_ns, status, xstrdup(reason)};
}

/* store_reason describes why the store refused, for an owed outcome. */
static void store_reason(struct scheduler *s, char *out, size_t len)
{
	snprintf(out, len, "not run: the database could not be written (%s)", s->down_reason);
}

/* trouble starts the retry timer, saying once that the store is down. */
static void trouble(struct scheduler *s)
{
	if (!s->store_down) {
		s->store_down = true;
		log_errorx("scheduler: the database cannot be written (%s); slots that come due "
		           "are not run, and are recorded as missed once it can",
		           s->down_reason);
	}
	if (!loop_timer_armed(s->store_timer))
		loop_timer_after(s->store_timer, STORE_RETRY_NS);
}

void sched_store_failed(struct scheduler *s)
{
	snprintf(s->down_reason, sizeof s->down_reason, "%s", store_errmsg(s->store));
	trouble(s);
}

void sched_owe(struct scheduler *s, const char *job, enum job_type type, int64_t slot_ns,
               enum job_status status, const char *reason)
{
	if (s->nowed == OWED_MAX) {
		owed_fini(&s->owed[0]);
		memmove(s->owed, s->owed + 1, (s->nowed - 1) * sizeof *s->owed);
		s->nowed--;
		if (s->owed_dropped++ % 10000 == 0)
			log_errorx(
			    "scheduler: more than %d slots wait for the database; the oldest "
			    "are dropped (%lld so far)",
			    OWED_MAX, (long long)s->owed_dropped);
	}
	push(&s->owed, &s->nowed, &s->owed_cap, job, type, slot_ns, status, reason);
	trouble(s);
}

void sched_owe_store(struct scheduler *s, const char *job, enum job_type type, int64_t slot_ns)
{
	char reason[600];
	store_reason(s, reason, sizeof reason);
	sched_owe(s, job, type, slot_ns, JOB_STATUS_MISSED, reason);
}

void sched_batch_note(struct scheduler *s, const char *job, enum job_type type, int64_t slot_ns,
                      enum job_status status, const char *reason)
{
	if (s->batch_open)
		push(&s->batch, &s->nbatch, &s->batch_cap, job, type, slot_ns, status, reason);
}

int sched_batch_begin(struct scheduler *s)
{
	if (s->store_down)
		return -1;
	if (store_tx_begin(s->store) < 0) {
		sched_store_failed(s);
		return -1;
	}
	s->batch_open = true;
	return 0;
}

int sched_batch_end(struct scheduler *s)
{
	int rc = store_tx_commit(s->store);
	s->batch_open = false;
	if (rc < 0) {
		char reason[600];
		log_errorx("scheduler: commit failed: %s", store_errmsg(s->store));
		sched_store_failed(s);
		/* Pending rows it took or added are read again (chain.c). */
		sched_chain_resync(s);
		store_reason(s, reason, sizeof reason);
		/* A begun execution is owed as missed: it never started. */
		for (size_t i = 0; i < s->nbatch; i++) {
			struct sowed *o = &s->batch[i];
			sched_owe(s, o->job_name, o->type, o->slot_ns, o->status,
			          o->reason ? o->reason : reason);
		}
	}
	for (size_t i = 0; i < s->nbatch; i++)
		owed_fini(&s->batch[i]);
	s->nbatch = 0;
	sched_launch(s, rc == 0);
	return rc;
}

/* record_all writes every owed outcome in one transaction. */
static int record_all(struct scheduler *s, size_t *recorded)
{
	*recorded = 0;
	if (store_tx_begin(s->store) < 0)
		return -1;
	for (size_t i = 0; i < s->nowed; i++) {
		struct sowed *o = &s->owed[i];
		struct sjob *j = map_get(&s->jobs, o->job_name);
		int rc =
		    store_slot_outcome(s->store, o->job_name, o->type, o->slot_ns, o->status,
		                       o->reason, j ? j->def->schedule : NULL, j ? j->next_ns : 0);
		/* A slot recorded meanwhile (a conflict) keeps its outcome. */
		if (rc < 0) {
			store_tx_rollback(s->store);
			return -1;
		}
		*recorded += rc == 0;
		if (rc == 0 && j && o->slot_ns > j->last_slot_ns)
			j->last_slot_ns = o->slot_ns;
	}
	return store_tx_commit(s->store);
}

int sched_record_owed(struct scheduler *s)
{
	size_t recorded;
	if (s->nowed == 0)
		return 0;
	if (record_all(s, &recorded) < 0) {
		snprintf(s->down_reason, sizeof s->down_reason, "%s", store_errmsg(s->store));
		return -1;
	}
	char n[32];
	snprintf(n, sizeof n, "%zu", recorded);
	log_kv(LOG_WARN, "recorded slots the database could not take when they fell", "missed", n,
	       NULL);
	for (size_t i = 0; i < s->nowed; i++)
		owed_fini(&s->owed[i]);
	s->nowed = 0;
	s->version++;
	return 0;
}

void sched_on_store_retry(void *arg)
{
	struct scheduler *s = arg;
	int rc = s->nowed ? sched_record_owed(s) : store_probe(s->store);
	if (rc < 0 && s->nowed == 0)
		snprintf(s->down_reason, sizeof s->down_reason, "%s", store_errmsg(s->store));
	if (rc < 0) {
		loop_timer_after(s->store_timer, STORE_RETRY_NS);
		return;
	}
	if (s->store_down) {
		s->store_down = false;
		log_kv(LOG_INFO, "the database takes writes again", NULL);
	}
	/* Lines and finishes that waited go now rather than at their own retry. */
	sched_on_flush(s);
	sched_on_retry(s);
}

void sched_owed_free(struct scheduler *s)
{
	for (size_t i = 0; i < s->nowed; i++)
		owed_fini(&s->owed[i]);
	for (size_t i = 0; i < s->nbatch; i++)
		owed_fini(&s->batch[i]);
	free(s->owed);
	free(s->batch);
}
