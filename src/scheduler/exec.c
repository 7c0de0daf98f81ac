/* Executions: begin (committed before anything runs), launch on the pool,
 * output lines posted back in batches, finish, stop, and the executions a
 * previous process left running.
 *
 * Runner threads fill a batch per execution and post it to the loop when it
 * is full or the job goes quiet. Bytes posted but not yet stored are
 * counted; past MAX_INFLIGHT the runner thread waits, which stops it reading
 * the job's pipes, which blocks the job: a job that writes faster than the
 * store keeps up is slowed down instead of growing memory. */
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

#define BATCH_LINES  1024
#define BATCH_BYTES  (256 * 1024)
#define MAX_INFLIGHT (8 * 1024 * 1024)
/* Log lines, process notes and ends wait at most this long, or for this
 * many lines, before a commit: what a slot's jobs print and their ends then
 * go to disk in one commit instead of several (docs/design.md). The API
 * shows an end once it is committed; live lines go out on the WebSocket at
 * once. */
#define FLUSH_DELAY_NS (100 * NS_PER_MS)
/* ... unless the tick commits the next claims within this long: then they
 * go with those (one commit a second for a job that runs every second). */
#define MERGE_NS    (1000 * NS_PER_MS)
#define FLUSH_LINES 4096
/* ... or this many bytes: 4096 long lines would pass the store queue's
 * bound (STORE_QUEUE_MAX_BYTES) and lose lines on a healthy store, and one
 * commit stays well within the WAL's limit (store_checkpoint.c). */
#define FLUSH_BYTES    (1024 * 1024)
#define RETRY_DELAY_NS (5 * NS_PER_SEC)
/* An end writes its job's row (last_run, last_status, last_slot, next_run)
 * when the status changes, else at most this often: the row is a page of
 * its own, and a job that runs every second would rewrite it every second
 * (docs/design.md, "Disk writes"). A restart takes the latest slot from the
 * executions rows, the API the scheduler's own view. */
#define ROW_EVERY_NS (60 * NS_PER_SEC)
/* Retention runs this soon after an execution finishes, off the hot path. */
#define PRUNE_SOON_NS (1 * NS_PER_SEC)

enum smsg_kind { SMSG_STARTED, SMSG_LINES, SMSG_CONTAINER, SMSG_PROCESS, SMSG_DONE };

/* A message from a runner thread. Lines are packed in data as a header
 * (struct packed_line) followed by the bytes. */
struct smsg {
	enum smsg_kind kind;
	struct sexec *ex;
	struct buf data;
	size_t nlines;
	char *container_id; /* or, for SMSG_PROCESS, the process key */
	long pid;
	struct runner_result result;
};

struct packed_line {
	int64_t ts_ns;
	uint32_t len;
	uint8_t is_error;
	uint8_t more; /* a piece of a longer line: no newline after it in output */
};

static struct smsg *msg_new(enum smsg_kind kind, struct sexec *ex)
{
	struct smsg *m = xcalloc(1, sizeof *m);
	m->kind = kind;
	m->ex = ex;
	return m;
}

static void msg_free(struct smsg *m)
{
	buf_free(&m->data);
	free(m->container_id);
	free(m);
}

void sched_exec_free(struct sexec *ex)
{
	if (ex == NULL)
		return;
	free(ex->foreign);
	runner_exec_free(ex->rx);
	if (ex->batch)
		msg_free(ex->batch);
	if (ex->unsaved) {
		ex->unsaved->job_name = NULL; /* borrowed from ex */
		store_execution_free(ex->unsaved);
	}
	buf_free(&ex->output);
	sched_follow_fini(&ex->follow);
	free(ex->job_name);
	free(ex->schedule);
	free(ex->container_id);
	pthread_mutex_destroy(&ex->lock);
	pthread_cond_destroy(&ex->drained);
	free(ex);
}

/* ---- runner thread side ---- */

/* inflight_cost is what a batch weighs until the loop has stored it: its
 * lines, and the message around them (a runner that posts line by line
 * would otherwise pass the bound many times over). */
static int64_t inflight_cost(const struct smsg *m)
{
	return (int64_t)(m->data.cap + sizeof *m + 64);
}

static void post_batch(struct sexec *ex)
{
	struct smsg *m = ex->batch;
	ex->batch = NULL;
	int64_t bytes = inflight_cost(m);
	pthread_mutex_lock(&ex->lock);
	ex->inflight += bytes;
	pthread_mutex_unlock(&ex->lock);
	loop_mailbox_post(ex->s->mailbox, m);
	pthread_mutex_lock(&ex->lock);
	while (ex->inflight > MAX_INFLIGHT)
		pthread_cond_wait(&ex->drained, &ex->lock);
	pthread_mutex_unlock(&ex->lock);
}

static void on_started(void *arg)
{
	struct sexec *ex = arg;
	loop_mailbox_post(ex->s->mailbox, msg_new(SMSG_STARTED, ex));
}

static void on_line(void *arg, bool is_error, const char *line, size_t len, bool more)
{
	struct sexec *ex = arg;
	if (ex->batch == NULL)
		ex->batch = msg_new(SMSG_LINES, ex);
	struct packed_line h = {clock_now_ns(), (uint32_t)len, is_error, more};
	buf_append(&ex->batch->data, &h, sizeof h);
	buf_append(&ex->batch->data, line, len);
	if (ex->batch->data.len >= BATCH_BYTES || ++ex->batch->nlines >= BATCH_LINES)
		post_batch(ex);
}

static void on_idle(void *arg)
{
	struct sexec *ex = arg;
	if (ex->batch)
		post_batch(ex);
}

static void on_container(void *arg, const char *id)
{
	struct sexec *ex = arg;
	struct smsg *m = msg_new(SMSG_CONTAINER, ex);
	m->container_id = xstrdup(id);
	loop_mailbox_post(ex->s->mailbox, m);
}

static void on_process(void *arg, long pid, const char *key)
{
	struct sexec *ex = arg;
	struct smsg *m = msg_new(SMSG_PROCESS, ex);
	m->pid = pid;
	m->container_id = xstrdup(key);
	loop_mailbox_post(ex->s->mailbox, m);
}

static void on_done(void *arg, const struct runner_result *r)
{
	struct sexec *ex = arg;
	if (ex->batch)
		post_batch(ex);
	struct smsg *m = msg_new(SMSG_DONE, ex);
	m->result = *r;
	loop_mailbox_post(ex->s->mailbox, m);
}

/* ---- begin and launch ---- */

static struct runner_sink sink_of(struct sexec *ex)
{
	return (struct runner_sink){.on_started = on_started,
	                            .on_line = on_line,
	                            .on_idle = on_idle,
	                            .on_container = on_container,
	                            .on_process = on_process,
	                            .on_done = on_done,
	                            .arg = ex};
}

/* resolved copies def with the global defaults a runner needs filled in. */
static struct job *resolved(const struct scheduler *s, const struct job *def)
{
	struct job *j = job_clone(def);
	if (j->max_runtime_ns == 0)
		j->max_runtime_ns = s->o.max_runtime_ns;
	return j;
}

/* begin records an execution as running and makes it ready to launch; p,
 * when not NULL, is the pending row it takes the place of. */
static struct sexec *begin(struct scheduler *s, struct sjob *j, const struct job *def,
                           int64_t slot_ns, enum job_trigger trigger, const char *id,
                           const struct store_pending *p, char *err, size_t errlen)
{
	if (s->shutting_down) {
		snprintf(err, errlen, "ofelia is shutting down");
		return NULL;
	}
	struct sexec *ex = xcalloc(1, sizeof *ex);
	if (id)
		snprintf(ex->id, sizeof ex->id, "%s", id);
	else
		store_new_id(ex->id);
	ex->job_name = xstrdup(def->name);
	ex->job_type = def->type;
	ex->trigger = trigger;
	ex->slot_ns = slot_ns;
	ex->start_ns = clock_now_ns();
	/* A slot claimed ahead of its time (the tick) starts at its time. */
	if (slot_ns > ex->start_ns) {
		ex->due_ns = slot_ns;
		ex->start_ns = slot_ns;
	}
	ex->s = s;
	ex->attempt = p && p->attempt > 1 ? p->attempt : 1;
	if (p) {
		memcpy(ex->first_id, p->first_attempt_id, sizeof ex->first_id);
		memcpy(ex->cause_id, p->cause_id, sizeof ex->cause_id);
	}
	pthread_mutex_init(&ex->lock, NULL);
	pthread_cond_init(&ex->drained, NULL);

	struct store_execution e = {0};
	memcpy(e.id, ex->id, sizeof e.id);
	e.job_name = ex->job_name;
	e.job_type = def->type;
	e.status = JOB_STATUS_RUNNING;
	e.trigger = trigger;
	e.scheduled_ns = slot_ns;
	e.start_ns = ex->start_ns;
	e.created_ns = ex->start_ns;
	e.owner_pid = s->self_pid;
	e.owner_key = s->self_key;
	e.attempt = ex->attempt;
	memcpy(e.first_attempt_id, ex->first_id, sizeof e.first_attempt_id);
	memcpy(e.cause_id, ex->cause_id, sizeof e.cause_id);
	e.pending = p != NULL;
	int rc = store_execution_begin(s->store, &e);
	if (rc != 0) {
		if (rc == STORE_CONFLICT) {
			snprintf(err, errlen, "the slot already has a recorded outcome");
		} else {
			snprintf(err, errlen, "cannot record the execution: %s",
			         store_errmsg(s->store));
			sched_store_failed(s);
			/* A slot is never left without an outcome; a pending row
			 * stays pending. */
			if (slot_ns && p == NULL)
				sched_owe_store(s, def->name, def->type, slot_ns);
		}
		sched_exec_free(ex);
		return NULL;
	}
	if (slot_ns) {
		sched_batch_note(s, def->name, def->type, slot_ns, JOB_STATUS_MISSED, NULL);
		ex->schedule = xstrdup(def->schedule);
	}
	if (j) {
		j->running++;
		j->last_run_ns = ex->start_ns;
		j->last_status = JOB_STATUS_RUNNING;
		if (slot_ns) {
			j->last_slot_ns = slot_ns;
			free(j->slot_schedule);
			j->slot_schedule = xstrdup(def->schedule);
		}
	}
	s->running++;
	map_put(&s->execs, ex->id, ex);
	struct runner_sink sink = sink_of(ex);
	ex->rx = runner_exec_new(resolved(s, def), ex->id, &s->o.runner, &sink, NULL);
	runner_exec_set_due(ex->rx, ex->due_ns);
	ex->launch_next = s->launch;
	s->launch = ex;
	s->version++;
	return ex;
}

struct sexec *sched_exec_begin(struct scheduler *s, struct sjob *j, const struct job *def,
                               int64_t slot_ns, enum job_trigger trigger, const char *id, char *err,
                               size_t errlen)
{
	return begin(s, j, def, slot_ns, trigger, id, NULL, err, errlen);
}

struct sexec *sched_exec_begin_pending(struct scheduler *s, struct sjob *j,
                                       const struct store_pending *p, char *err, size_t errlen)
{
	return begin(s, j, j->def, p->slot_ns, p->trigger, p->id, p, err, errlen);
}

/* chain_fields adds an execution's place in a chain to an event or view:
 * its attempt, the first attempt it retries, what caused it. */
static json_t *chain_fields(json_t *o, int attempt, const char *first, const char *cause)
{
	json_object_set_new(o, "attempt", json_integer(attempt > 1 ? attempt : 1));
	json_object_set_new(o, "firstAttemptId", *first ? json_string(first) : json_null());
	json_object_set_new(o, "causeId", *cause ? json_string(cause) : json_null());
	return o;
}

static json_t *started_payload(const struct sexec *ex)
{
	char start[CLOCK_TEXT_MAX];
	clock_format_rfc3339(ex->start_ns, start);
	return chain_fields(json_pack("{s:s,s:s,s:s,s:s,s:s}", "executionId", ex->id, "job",
	                              ex->job_name, "startTime", start, "status", "running",
	                              "trigger", job_trigger_name(ex->trigger)),
	                    ex->attempt, ex->first_id, ex->cause_id);
}

/* forget undoes the bookkeeping of an execution that ends without a
 * finish record: rolled back, or its row never written. */
static void forget(struct scheduler *s, struct sexec *ex)
{
	struct sjob *j = map_get(&s->jobs, ex->job_name);
	if (j && j->running > 0)
		j->running--;
	s->running--;
	map_remove(&s->execs, ex->id);
}

void sched_launch(struct scheduler *s, bool committed)
{
	/* s->launch is newest first; launch in the order they began. */
	struct sexec *order = NULL;
	while (s->launch) {
		struct sexec *ex = s->launch;
		s->launch = ex->launch_next;
		ex->launch_next = order;
		order = ex;
	}
	while (order) {
		struct sexec *ex = order;
		order = ex->launch_next;
		if (!committed) {
			log_errorx("job %s: execution %s not started: its record was not committed",
			           ex->job_name, ex->id);
			forget(s, ex);
			sched_exec_free(ex);
			continue;
		}
		/* Announced when the runner says it started (SMSG_STARTED). */
		runner_pool_submit(s->pool, ex->rx);
	}
}

/* ---- loop side: lines, container ids, finish ---- */

/* flush_soon arms the flush timer unless it is armed: what waits is
 * committed within FLUSH_DELAY_NS, with whatever else comes meanwhile; or,
 * when the tick claims the next slots within MERGE_NS, with those claims
 * (the timer then only backs the tick up). */
static void flush_soon(struct scheduler *s)
{
	if (s->store_down || loop_timer_armed(s->flush_timer))
		return;
	int64_t now = clock_now_ns();
	int64_t tick = s->heap_len > 0 ? s->heap[0]->next_ns - s->lead_ns : 0;
	if (tick > now && tick - now <= MERGE_NS)
		loop_timer_at(s->flush_timer, tick + FLUSH_DELAY_NS);
	else
		loop_timer_after(s->flush_timer, FLUSH_DELAY_NS);
}

/* trim_output keeps the last max bytes of the output, cut at a character. */
static void trim_output(struct sexec *ex, int64_t max)
{
	if ((int64_t)ex->output.len <= max)
		return;
	size_t cut = ex->output.len - (size_t)max;
	while (cut < ex->output.len && ((unsigned char)ex->output.data[cut] & 0xC0) == 0x80)
		cut++;
	ex->output_dropped += (int64_t)cut;
	buf_consume(&ex->output, cut);
}

static void publish_line(struct scheduler *s, struct sexec *ex, int64_t ts, bool is_error,
                         const char *line, size_t len)
{
	char when[CLOCK_TEXT_MAX];
	clock_format_rfc3339(ts, when);
	events_publish(s->events, EVENT_LOG_LINE,
	               json_pack("{s:s,s:s,s:I,s:s,s:s,s:s%}", "executionId", ex->id, "job",
	                         ex->job_name, "seq", (json_int_t)ex->seq, "timestamp", when,
	                         "level", is_error ? "error" : "info", "message", line, len));
}

static void take_lines(struct scheduler *s, struct smsg *m)
{
	struct sexec *ex = m->ex;
	bool live = events_active(s->events);
	size_t at = 0;

	while (at + sizeof(struct packed_line) <= m->data.len) {
		struct packed_line h;
		memcpy(&h, m->data.data + at, sizeof h);
		const char *line = m->data.data + at + sizeof h;
		at += sizeof h + h.len;
		ex->seq++;
		/* Past either cap, lines are counted (dropped_lines), not stored. */
		if (ex->log_lines < s->o.max_log_lines &&
		    ex->log_bytes + h.len <= s->o.max_log_bytes) {
			store_log_append(s->store, ex->id, ex->seq, h.ts_ns, h.is_error, line,
			                 h.len);
			ex->log_lines++;
			ex->log_bytes += h.len;
		} else {
			ex->dropped_lines++;
		}
		buf_append(&ex->output, line, h.len);
		if (!h.more)
			buf_putc(&ex->output, '\n');
		/* One byte more than kept: the last newline is dropped at the end. */
		if ((int64_t)ex->output.len > 2 * s->o.max_output_bytes + 65536)
			trim_output(ex, s->o.max_output_bytes + 1);
		if (live)
			publish_line(s, ex, h.ts_ns, h.is_error, line, h.len);
	}
	pthread_mutex_lock(&ex->lock);
	ex->inflight -= inflight_cost(m);
	pthread_cond_signal(&ex->drained);
	pthread_mutex_unlock(&ex->lock);

	/* While the store is down its retry timer flushes once it is back: a
	 * flush per batch would write the whole queue again and again. */
	if (s->store_down)
		return;
	if (store_pending(s->store) >= FLUSH_LINES || store_pending_bytes(s->store) >= FLUSH_BYTES)
		sched_on_flush(s);
	else
		flush_soon(s);
}

static void announce_finish(struct scheduler *s, const struct store_execution *e);

/* recorded takes a committed end into the job's state and announces it. */
static void recorded(struct scheduler *s, struct sexec *ex)
{
	struct sjob *j = map_get(&s->jobs, ex->job_name);
	if (j && ex->start_ns >= j->last_run_ns) {
		j->last_run_ns = ex->start_ns;
		j->last_status = ex->unsaved->status;
	}
	announce_finish(s, ex->unsaved);
	sched_chain_adopt(s, ex->unsaved, &ex->follow);
	if (ex->on_done)
		ex->on_done(ex->unsaved->status, ex->done_arg);
	sched_exec_free(ex);
}

/* commit_endings writes the ends that wait (oldest first) and the queued
 * lines in one transaction, then announces them. When it fails they go to
 * the retry list, which records them one by one once the store is back. */
static void commit_endings(struct scheduler *s)
{
	struct sexec *order = NULL;
	while (s->ending) {
		struct sexec *ex = s->ending;
		s->ending = ex->retry_next;
		ex->retry_next = order;
		order = ex;
	}
	bool began = store_tx_begin(s->store) == 0, ok = began;
	for (struct sexec *ex = order; ok && ex; ex = ex->retry_next)
		ok = store_execution_finish_then(s->store, ex->unsaved, ex->follow.v, ex->follow.n,
		                                 ex->follow.notify) == 0;
	if (ok)
		ok = store_tx_commit(s->store) == 0;
	else if (began)
		store_tx_rollback(s->store);
	if (!ok) {
		log_errorx("cannot record the end of %s (retrying): %s",
		           order && order->retry_next ? "several executions" : "an execution",
		           store_errmsg(s->store));
		sched_store_failed(s);
		while (order) {
			struct sexec *ex = order;
			order = ex->retry_next;
			ex->retry_next = s->retry;
			s->retry = ex;
		}
		if (!loop_timer_armed(s->retry_timer))
			loop_timer_after(s->retry_timer, RETRY_DELAY_NS);
		return;
	}
	s->version++;
	while (order) {
		struct sexec *ex = order;
		order = ex->retry_next;
		recorded(s, ex);
	}
}

void sched_endings_write(struct scheduler *s)
{
	struct sexec *order = NULL;
	while (s->ending) {
		struct sexec *ex = s->ending;
		s->ending = ex->retry_next;
		ex->retry_next = order;
		order = ex;
	}
	while (order) {
		struct sexec *ex = order;
		order = ex->retry_next;
		if (store_execution_finish_then(s->store, ex->unsaved, ex->follow.v, ex->follow.n,
		                                ex->follow.notify) == 0) {
			ex->retry_next = s->ending_batch;
			s->ending_batch = ex;
			continue;
		}
		log_errorx("job %s: cannot record the end of execution %s (retrying): %s",
		           ex->job_name, ex->id, store_errmsg(s->store));
		ex->retry_next = s->retry;
		s->retry = ex;
		if (!loop_timer_armed(s->retry_timer))
			loop_timer_after(s->retry_timer, RETRY_DELAY_NS);
	}
}

void sched_endings_settle(struct scheduler *s, bool committed)
{
	struct sexec *order = NULL;
	while (s->ending_batch) {
		struct sexec *ex = s->ending_batch;
		s->ending_batch = ex->retry_next;
		ex->retry_next = order;
		order = ex;
	}
	if (committed)
		s->version++;
	while (order) {
		struct sexec *ex = order;
		order = ex->retry_next;
		if (committed) {
			recorded(s, ex);
			continue;
		}
		ex->retry_next = s->retry;
		s->retry = ex;
		if (!loop_timer_armed(s->retry_timer))
			loop_timer_after(s->retry_timer, RETRY_DELAY_NS);
	}
}

void sched_on_flush(void *arg)
{
	struct scheduler *s = arg;
	loop_timer_stop(s->flush_timer);
	if (s->store_down)
		return;
	if (s->ending) {
		commit_endings(s);
		return;
	}
	if (store_pending(s->store) == 0)
		return;
	if (store_flush(s->store) < 0) {
		log_errorx("cannot store log lines (they are kept for the next try): %s",
		           store_errmsg(s->store));
		sched_store_failed(s);
	}
}

static json_t *finished_payload(const struct store_execution *e)
{
	char start[CLOCK_TEXT_MAX], end[CLOCK_TEXT_MAX];
	clock_format_rfc3339(e->start_ns, start);
	clock_format_rfc3339(e->end_ns, end);
	return chain_fields(json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:s}", "executionId", e->id,
	                              "job", e->job_name, "status", job_status_name(e->status),
	                              "startTime", start, "endTime", end, "duration",
	                              (json_int_t)e->duration_ns, "exitCode",
	                              e->has_exit_code ? json_integer(e->exit_code) : json_null(),
	                              "error", e->error ? json_string(e->error) : json_null(),
	                              "trigger", job_trigger_name(e->trigger)),
	                    e->attempt, e->first_attempt_id, e->cause_id);
}

static void announce_finish(struct scheduler *s, const struct store_execution *e)
{
	char duration[DURATION_TEXT_MAX];
	duration_format(e->duration_ns, duration);
	log_kv(e->status == JOB_STATUS_SUCCESS ? LOG_INFO : LOG_WARN, "execution finished", "job",
	       e->job_name, "execution", e->id, "status", job_status_name(e->status), "duration",
	       duration, "error", e->error, NULL);
	if (events_active(s->events))
		events_publish(s->events,
		               e->status == JOB_STATUS_SUCCESS ? EVENT_JOB_COMPLETED
		                                               : EVENT_JOB_FAILED,
		               finished_payload(e));
}

static struct store_execution *final_record(struct scheduler *s, struct sexec *ex,
                                            const struct runner_result *r)
{
	struct store_execution *e = xcalloc(1, sizeof *e);
	/* The last newline is no output: max-output bytes are kept before it. */
	if (ex->output.len > 0 && ex->output.data[ex->output.len - 1] == '\n')
		ex->output.data[--ex->output.len] = '\0';
	trim_output(ex, s->o.max_output_bytes);
	memcpy(e->id, ex->id, sizeof e->id);
	e->job_name = ex->job_name;
	e->job_type = ex->job_type;
	e->status = r->status;
	e->trigger = ex->trigger;
	e->scheduled_ns = ex->slot_ns;
	e->start_ns = ex->start_ns;
	e->end_ns = clock_now_ns();
	e->duration_ns = e->end_ns - e->start_ns;
	e->has_exit_code = r->has_exit_code;
	e->exit_code = r->exit_code;
	e->output = ex->output.len ? buf_steal(&ex->output) : NULL;
	e->output_dropped = ex->output_dropped;
	e->error = r->error[0] ? xstrdup(r->error) : NULL;
	e->log_lines = ex->log_lines;
	e->dropped_lines = ex->dropped_lines;
	e->container_id = xstrdup(ex->container_id);
	e->created_ns = ex->start_ns;
	/* Another node's execution, taken over: this node ends it for it. */
	if (ex->foreign) {
		e->node = xstrdup(ex->foreign);
		e->resolved_by = xstrdup(ex->s->node);
	}
	e->attempt = ex->attempt;
	memcpy(e->first_attempt_id, ex->first_id, sizeof e->first_attempt_id);
	memcpy(e->cause_id, ex->cause_id, sizeof e->cause_id);
	return e;
}

/* finish records an execution's end. Ends wait up to FLUSH_DELAY_NS to be
 * committed together, with the lines and the ends of the executions that
 * finish meanwhile (a group commit): one commit for the jobs of a slot
 * instead of one each. Nothing is announced before its commit. */
static void finish(struct scheduler *s, struct sexec *ex, const struct runner_result *r)
{
	struct sjob *j = map_get(&s->jobs, ex->job_name);

	ex->unsaved = final_record(s, ex, r);
	/* The job's row moves to the slot and the next one with the end. */
	ex->unsaved->slot_schedule = ex->schedule;
	ex->unsaved->next_run_ns = j ? j->next_ns : 0;
	if (j) {
		int64_t mono = clock_mono_ns();
		/* In a cluster the row is what the other nodes see and take over
		 * from (docs/cluster.md): written with every end. */
		if (!s->gated && !s->shutting_down && r->status == j->row_status &&
		    j->row_saved_ns && mono - j->row_saved_ns < ROW_EVERY_NS) {
			ex->unsaved->skip_job_row = true;
			j->row_stale = true;
		} else {
			j->row_status = r->status;
			j->row_saved_ns = mono;
			j->row_stale = false;
		}
	}
	forget(s, ex);
	runner_exec_free(ex->rx);
	ex->rx = NULL;
	if (j) {
		map_put(&s->prune_dirty, j->def->name, j);
		if (!s->prune_soon) {
			loop_timer_after(s->prune_timer, PRUNE_SOON_NS);
			s->prune_soon = true;
		}
	}
	s->version++;
	/* A retry or the runs it triggers commit with the end. Not for another
	 * node's execution taken over: that node may record its own end (and
	 * what follows it) when it comes back, and a retry must not run twice. */
	if (ex->foreign == NULL)
		sched_chain_follow(s, ex->unsaved, ex->on_done != NULL, &ex->follow);
	else
		ex->follow.notify = true;
	/* While the store is down the end waits with the others for it. */
	if (s->store_down) {
		ex->retry_next = s->retry;
		s->retry = ex;
		if (!loop_timer_armed(s->retry_timer))
			loop_timer_after(s->retry_timer, RETRY_DELAY_NS);
	} else {
		ex->retry_next = s->ending;
		s->ending = ex;
		/* What it causes (a retry, triggered runs), the slots that wait
		 * for it, and the other nodes of a cluster (which pull the history)
		 * do not wait for a group commit. */
		if (ex->follow.n > 0 || s->nwaits > 0 || s->gated)
			commit_endings(s);
		else
			flush_soon(s);
	}
	sched_dequeue(s);
	sched_chain_kick(s);
	sched_maybe_done(s);
}

void sched_on_retry(void *arg)
{
	struct scheduler *s = arg;
	struct sexec **p = &s->retry;
	/* The store's retry timer calls again once the store is back. */
	if (s->store_down)
		return;
	while (*p) {
		struct sexec *ex = *p;
		/* Each try writes the queued lines too: the first failure ends the
		 * round, and the store's retry timer takes over. */
		if (store_execution_finish_then(s->store, ex->unsaved, ex->follow.v, ex->follow.n,
		                                ex->follow.notify) < 0) {
			sched_store_failed(s);
			break;
		}
		*p = ex->retry_next;
		s->version++;
		recorded(s, ex);
	}
	if (s->retry)
		loop_timer_after(s->retry_timer, RETRY_DELAY_NS);
	sched_maybe_done(s);
}

void sched_on_message(void *msg, void *arg)
{
	struct scheduler *s = arg;
	struct smsg *m = msg;
	switch (m->kind) {
	case SMSG_STARTED:
		log_kv(LOG_INFO, "execution started", "job", m->ex->job_name, "execution",
		       m->ex->id, "trigger", job_trigger_name(m->ex->trigger), NULL);
		if (events_active(s->events))
			events_publish(s->events, EVENT_JOB_STARTED, started_payload(m->ex));
		break;
	case SMSG_LINES:
		take_lines(s, m);
		break;
	case SMSG_CONTAINER:
		free(m->ex->container_id);
		m->ex->container_id = xstrdup(m->container_id);
		if (store_execution_set_container(s->store, m->ex->id, m->container_id) < 0)
			log_errorx("execution %s: cannot record container %s: %s", m->ex->id,
			           m->container_id, store_errmsg(s->store));
		break;
	case SMSG_PROCESS:
		/* With the next commit: until then a restart finds the job's
		 * processes by their OFELIA_EXECUTION_ID. */
		store_execution_note_process(s->store, m->ex->id, m->pid, m->container_id);
		flush_soon(s);
		break;
	case SMSG_DONE:
		finish(s, m->ex, &m->result);
		break;
	}
	msg_free(m);
}

/* ---- queue, stop, shutdown ---- */

void sched_drop_queued(struct scheduler *s, const struct spending *p, const char *reason)
{
	struct sjob *j = map_get(&s->jobs, p->job_name);
	if (j == NULL)
		return;
	if (p->pending) {
		/* Its row stays: it runs after the next start (or leadership). */
		sched_chain_unqueued(s, p->id);
		return;
	}
	if (p->slot_ns) {
		sched_record_outcome(s, j, p->slot_ns, JOB_STATUS_SKIPPED, reason);
		return;
	}
	if (store_run_skipped(s->store, p->id, j->def->name, j->def->type, p->trigger, reason) < 0)
		log_errorx("job %s: cannot record that queued run %s was not started: %s",
		           p->job_name, p->id, store_errmsg(s->store));
}

void sched_dequeue(struct scheduler *s)
{
	if (s->queue_len == 0 || SCHED_FULL(s) || s->shutting_down)
		return;
	/* One commit for every slot this frees, as the tick does. A store that
	 * cannot take it leaves the slots queued. */
	if (sched_batch_begin(s) < 0)
		return;
	while (s->queue_len > 0 && !SCHED_FULL(s) && !s->shutting_down) {
		struct spending p = s->queue[s->queue_head];
		s->queue_head = (s->queue_head + 1) % (size_t)s->o.max_queue;
		s->queue_len--;
		struct sjob *j = map_get(&s->jobs, p.job_name);
		bool manual = p.slot_ns == 0;
		char err[256];
		if (p.pending) {
			/* chain.c checks it again and records what becomes of it. */
			sched_chain_dequeued(s, p.id);
			free(p.job_name);
			continue;
		}
		/* A manual run goes ahead on a disabled job, as it would have
		 * started at once. */
		if (j == NULL || j->deleted || (!manual && !j->def->enabled)) {
			sched_drop_queued(s, &p,
			                  "the job was removed or disabled before it could run");
		} else if (!manual && j->def->no_overlap && (j->running > 0 || j->retrying > 0)) {
			sched_record_outcome(
			    s, j, p.slot_ns, JOB_STATUS_SKIPPED,
			    j->running > 0
			        ? "the previous run was still running (no-overlap)"
			        : "a retry of the previous run was pending (no-overlap)");
		} else if (sched_exec_begin(s, j, j->def, p.slot_ns, p.trigger,
		                            manual ? p.id : NULL, err, sizeof err) == NULL) {
			log_errorx("job %s: queued %s not run: %s", p.job_name,
			           manual ? "run" : "slot", err);
		}
		if (manual && j)
			j->queued_runs--;
		free(p.job_name);
	}
	sched_batch_end(s);
}

void sched_stop_all(struct scheduler *s, const char *reason)
{
	struct map_iter it;
	void *v;
	map_iter_init(&s->execs, &it);
	while (map_iter_next(&s->execs, &it, NULL, &v)) {
		struct sexec *ex = v;
		runner_exec_stop(ex->rx, JOB_STATUS_STOPPED, reason);
	}
}

void scheduler_stop_running(struct scheduler *s, const char *reason)
{
	sched_stop_all(s, reason);
}

/* save_rows writes the rows of the jobs whose ends left them behind
 * (ROW_EVERY_NS), in one commit: after a clean stop the rows are current. */
static void save_rows(struct scheduler *s)
{
	struct map_iter it;
	void *v;
	bool any = false;

	map_iter_init(&s->jobs, &it);
	while (map_iter_next(&s->jobs, &it, NULL, &v))
		any = any || ((struct sjob *)v)->row_stale;
	if (!any || s->store_down || store_tx_begin(s->store) < 0)
		return;
	int rc = 0;
	map_iter_init(&s->jobs, &it);
	while (rc == 0 && map_iter_next(&s->jobs, &it, NULL, &v)) {
		struct sjob *j = v;
		if (!j->row_stale)
			continue;
		/* A run whose end could not be recorded leaves last_run alone. */
		bool ended = j->last_status != JOB_STATUS_RUNNING;
		rc = store_job_set_state(s->store, j->def->name, ended ? j->last_run_ns : 0,
		                         j->last_status, j->last_slot_ns, j->slot_schedule,
		                         j->next_ns);
	}
	if (rc == 0 && store_tx_commit(s->store) == 0) {
		map_iter_init(&s->jobs, &it);
		while (map_iter_next(&s->jobs, &it, NULL, &v))
			((struct sjob *)v)->row_stale = false;
		return;
	}
	if (rc < 0)
		store_tx_rollback(s->store);
	log_errorx("cannot store the jobs' last runs (the next start reads them from the "
	           "executions): %s",
	           store_errmsg(s->store));
}

void sched_maybe_done(struct scheduler *s)
{
	if (!s->shutting_down || s->running > 0 || s->shutdown_done == NULL)
		return;
	if (s->ending && !s->store_down)
		commit_endings(s);
	/* The database may take writes again by now (the disk has room): the
	 * ends it refused get one last try before they are given up. */
	if (s->retry && !s->final_try) {
		s->final_try = true;
		if (store_probe(s->store) == 0) {
			s->store_down = false;
			sched_on_retry(s); /* it calls back here, to finish */
			return;
		}
	}
	for (struct sexec *ex = s->retry; ex; ex = ex->retry_next)
		log_errorx("execution %s of job %s ended (%s) but could not be recorded; it will "
		           "show as interrupted after the next start",
		           ex->id, ex->job_name, job_status_name(ex->unsaved->status));
	if (store_flush(s->store) < 0)
		log_errorx("cannot store the last log lines: %s", store_errmsg(s->store));
	save_rows(s);
	if (sched_record_owed(s) < 0)
		log_errorx("%zu slot outcomes could not be recorded (%s); the next start records "
		           "them as missed",
		           s->nowed, store_errmsg(s->store));
	void (*done)(void *) = s->shutdown_done;
	s->shutdown_done = NULL;
	if (s->grace_timer)
		loop_timer_stop(s->grace_timer);
	done(s->shutdown_arg);
}

/* ---- executions a previous process left running ---- */

/* foreign tells whether another cluster node started e. */
static bool foreign(const struct scheduler *s, const struct store_execution *e)
{
	return s->node && e->node && strcmp(e->node, s->node) != 0;
}

/* reattach resumes an execution whose container (or exec, or service) may
 * still run: the runner attaches instead of starting, reads the output
 * again from the start, and ends it normally, or interrupted when the
 * container is gone. */
static void reattach(struct scheduler *s, struct sjob *j, struct store_execution *e)
{
	struct sexec *ex = xcalloc(1, sizeof *ex);
	memcpy(ex->id, e->id, sizeof ex->id);
	ex->job_name = xstrdup(e->job_name);
	ex->job_type = e->job_type;
	ex->trigger = e->trigger;
	ex->slot_ns = e->scheduled_ns;
	ex->start_ns = e->start_ns;
	ex->container_id = xstrdup(e->container_id);
	ex->s = s;
	if (foreign(s, e))
		ex->foreign = xstrdup(e->node);
	pthread_mutex_init(&ex->lock, NULL);
	pthread_cond_init(&ex->drained, NULL);
	/* A container's log is read again from the start and replaces what was
	 * stored; an exec's output cannot be read again, so its lines stay. */
	if (e->job_type != JOB_EXEC && store_log_reset(s->store, e->id) < 0)
		log_errorx("execution %s: cannot reset its log: %s", e->id, store_errmsg(s->store));
	j->running++;
	s->running++;
	map_put(&s->execs, ex->id, ex);
	struct runner_sink sink = sink_of(ex);
	ex->rx = runner_exec_new(resolved(s, j->def), ex->id, &s->o.runner, &sink, e->container_id);
	ex->launch_next = s->launch;
	s->launch = ex;
	log_kv(LOG_INFO, "reattaching to an execution left running", "job", e->job_name,
	       "execution", e->id, "container", e->container_id, NULL);
}

/* owned_elsewhere tells whether e belongs to another live ofelia process
 * (an `ofelia run` beside this daemon): it is that process's to finish. */
static bool owned_elsewhere(const struct scheduler *s, const struct store_execution *e)
{
	if (e->owner_pid <= 0 || e->owner_pid == s->self_pid)
		return false;
	return runner_process_alive(e->owner_pid, e->owner_key);
}

/* resolve_foreign ends an execution another node started and could not
 * finish here: its processes are on that node's host. */
static void resolve_foreign(struct scheduler *s, struct store_execution *e, int64_t now)
{
	e->status = JOB_STATUS_INTERRUPTED;
	e->end_ns = now;
	e->duration_ns = now - e->start_ns;
	free(e->error);
	e->error = xasprintf("node %s ran this execution and stopped leading (it ended, was cut "
	                     "off or lost its lease) before its end reached node %s, which took "
	                     "over; its end was not seen here",
	                     e->node, s->node);
	free(e->resolved_by);
	e->resolved_by = xstrdup(s->node);
	if (store_execution_finish(s->store, e) < 0)
		log_errorx("execution %s: cannot mark it interrupted: %s", e->id,
		           store_errmsg(s->store));
	else
		log_kv(LOG_WARN, "execution of another node interrupted by the takeover", "job",
		       e->job_name, "execution", e->id, "node", e->node, NULL);
}

void sched_resolve_orphans(struct scheduler *s, bool others)
{
	struct store_execution **v = NULL;
	size_t n = 0;
	int64_t now = clock_now_ns();

	if (store_executions_running(s->store, &v, &n) < 0) {
		log_errorx("cannot read running executions: %s", store_errmsg(s->store));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_execution *e = v[i];
		struct sjob *j = map_get(&s->jobs, e->job_name);
		char owner[32], what[160] = "";
		/* Each node resolves its own; the next leader those of the others. */
		if (foreign(s, e) != others || map_get(&s->execs, e->id))
			continue;
		if (others) {
			if (j && e->job_type != JOB_LOCAL && e->container_id && *e->container_id)
				reattach(s, j, e);
			else
				resolve_foreign(s, e, now);
			continue;
		}
		if (owned_elsewhere(s, e)) {
			snprintf(owner, sizeof owner, "%ld", e->owner_pid);
			log_kv(LOG_INFO, "execution left to the ofelia process running it", "job",
			       e->job_name, "execution", e->id, "pid", owner, NULL);
			continue;
		}
		if (j && e->job_type != JOB_LOCAL && e->container_id && *e->container_id) {
			reattach(s, j, e);
			continue;
		}
		/* A local job's processes outlive a killed ofelia: they go before
		 * anything is planned, so a no-overlap job cannot run twice. */
		if (e->job_type == JOB_LOCAL &&
		    runner_kill_orphan(e->id, e->process_id, e->process_key, what, sizeof what) < 0)
			log_errorx("execution %s of job %s: %s", e->id, e->job_name, what);
		e->status = JOB_STATUS_INTERRUPTED;
		e->end_ns = now;
		e->duration_ns = now - e->start_ns;
		free(e->error);
		e->error = xasprintf("ofelia stopped while this execution was running (the process "
		                     "was killed or the machine restarted); its end was not "
		                     "observed%s%s",
		                     *what ? "; " : "", what);
		/* A job that retries interrupted attempts gets its retry row
		 * now; sched_chain_start arms it with the others. */
		struct sfollow follow = {0};
		sched_chain_follow(s, e, false, &follow);
		int rc =
		    store_execution_finish_then(s->store, e, follow.v, follow.n, follow.notify);
		sched_follow_fini(&follow);
		if (rc < 0)
			log_errorx("execution %s: cannot mark it interrupted: %s", e->id,
			           store_errmsg(s->store));
		else
			log_kv(LOG_WARN, "execution interrupted by a restart", "job", e->job_name,
			       "execution", e->id, "processes", *what ? what : NULL, NULL);
	}
	store_executions_free(v, n);
	sched_launch(s, true);
}

/* ---- API ---- */

enum scheduler_rc scheduler_run_job(struct scheduler *s, const char *name, char id[37],
                                    int64_t *start_ns, bool *queued, char *err, size_t errlen)
{
	*queued = false;
	if (s->shutting_down) {
		snprintf(err, errlen, "ofelia is shutting down");
		return SCHED_UNAVAILABLE;
	}
	struct sjob *j = map_get(&s->jobs, name);
	if (j == NULL || j->deleted || j->held) {
		snprintf(err, errlen, "Job '%s' not found", name);
		return SCHED_NOT_FOUND;
	}
	/* max-concurrent executions run: the run waits in the queue, like a
	 * slot, and is only recorded when it starts. A full queue refuses it. */
	if (SCHED_FULL(s)) {
		if (s->queue_len >= (size_t)s->o.max_queue) {
			snprintf(err, errlen,
			         "%d executions are running (max-concurrent) and %d are waiting "
			         "(max-queue); try again later",
			         s->o.max_concurrent, s->o.max_queue);
			return SCHED_BUSY;
		}
		size_t at = (s->queue_head + s->queue_len) % (size_t)s->o.max_queue;
		s->queue[at] = (struct spending){xstrdup(name), 0, JOB_TRIGGER_MANUAL, "", false};
		store_new_id(s->queue[at].id);
		s->queue_len++;
		j->queued_runs++;
		memcpy(id, s->queue[at].id, 37);
		*start_ns = 0;
		*queued = true;
		s->version++;
		return SCHED_OK;
	}
	struct sexec *ex = sched_exec_begin(s, j, j->def, 0, JOB_TRIGGER_MANUAL, NULL, err, errlen);
	if (ex == NULL)
		return SCHED_STORE_ERROR;
	memcpy(id, ex->id, 37);
	*start_ns = ex->start_ns;
	sched_launch(s, true);
	return SCHED_OK;
}

bool scheduler_queued_run(struct scheduler *s, const char *id, char *job, size_t joblen)
{
	for (size_t i = 0; i < s->queue_len; i++) {
		const struct spending *p = &s->queue[(s->queue_head + i) % (size_t)s->o.max_queue];
		if (p->slot_ns == 0 && strcmp(p->id, id) == 0) {
			snprintf(job, joblen, "%s", p->job_name);
			return true;
		}
	}
	return false;
}

enum scheduler_rc scheduler_stop_execution(struct scheduler *s, const char *id, char *err,
                                           size_t errlen)
{
	struct sexec *ex = map_get(&s->execs, id);
	if (ex) {
		runner_exec_stop(ex->rx, JOB_STATUS_STOPPED, "stopped through the API");
		return SCHED_OK;
	}
	struct store_execution *e = NULL;
	if (store_execution_get(s->store, id, &e) < 0) {
		snprintf(err, errlen, "cannot read execution %s: %s", id, store_errmsg(s->store));
		return SCHED_STORE_ERROR;
	}
	if (e == NULL) {
		snprintf(err, errlen, "Execution '%s' not found", id);
		return SCHED_NOT_FOUND;
	}
	snprintf(err, errlen, "Execution '%s' is not running (status %s)", id,
	         job_status_name(e->status));
	store_execution_free(e);
	return SCHED_CONFLICT;
}

int scheduler_run_once(struct scheduler *s, const struct job *def,
                       void (*done)(enum job_status status, void *arg), void *arg, char *err,
                       size_t errlen)
{
	struct store_job *row = NULL;
	if (store_job_get(s->store, def->name, &row) < 0) {
		snprintf(err, errlen, "%s", store_errmsg(s->store));
		return -1;
	}
	if (row == NULL) {
		/* A job never scheduled before gets its row, so the execution has one. */
		struct store_job fresh = {.def = (struct job *)def,
		                          .source_def = (struct job *)def};
		if (store_job_save(s->store, &fresh) < 0) {
			snprintf(err, errlen, "%s", store_errmsg(s->store));
			return -1;
		}
	}
	store_job_free(row);
	struct sexec *ex = sched_exec_begin(s, NULL, def, 0, JOB_TRIGGER_MANUAL, NULL, err, errlen);
	if (ex == NULL)
		return -1;
	ex->on_done = done;
	ex->done_arg = arg;
	sched_launch(s, true);
	return 0;
}
