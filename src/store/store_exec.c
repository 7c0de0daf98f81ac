/* Executions and slots. Every fire of a schedule (a slot) gets exactly one
 * executions row: the run itself, or a skipped/missed/expired outcome. The
 * unique index executions_slot on (job_name, scheduled_time) is what makes a
 * second outcome fail, across restarts too; it surfaces as STORE_CONFLICT. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <uuid.h>

#include "store/store_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

enum {
	COL_ID,
	COL_JOB_NAME,
	COL_JOB_TYPE,
	COL_STATUS,
	COL_TRIGGER,
	COL_SCHEDULED,
	COL_START,
	COL_END,
	COL_DURATION,
	COL_EXIT_CODE,
	COL_OUTPUT,
	COL_OUTPUT_DROPPED,
	COL_ERROR,
	COL_LOG_LINES,
	COL_DROPPED_LINES,
	COL_CONTAINER,
	COL_CREATED,
	COL_PROCESS_ID,
	COL_PROCESS_START,
	COL_OWNER_PID,
	COL_OWNER_START,
	COL_ATTEMPT,
	COL_FIRST_ATTEMPT,
	COL_CAUSE,
	COL_NODE,
	COL_RESOLVED_BY,
};

/* Ids are UUIDv7 (RFC 9562): 48 bits of Unix time in milliseconds, a
 * 12-bit counter within the millisecond (RFC 9562's method 1, so the ids of
 * one process only grow), and 62 random bits. Ids made close in time sort
 * close together, so the primary key's index and execution_logs (keyed by
 * the id) grow at their right edge: a commit of several executions dirties
 * one leaf of each instead of one per execution, as random UUIDv4 did. */
static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t id_ms;
static unsigned id_seq;

void store_new_id(char id[37])
{
	uuid_t u;
	uint64_t ms = (uint64_t)(clock_now_ns() / NS_PER_MS);

	uuid_generate_random(u);
	pthread_mutex_lock(&id_lock);
	/* A clock that went back, or 4096 ids in a millisecond, borrow the
	 * next millisecond rather than break the order. */
	if (ms < id_ms || (ms == id_ms && id_seq == 0xFFF))
		ms = id_ms + (id_seq == 0xFFF);
	id_seq = ms == id_ms ? id_seq + 1 : 0;
	id_ms = ms;
	unsigned seq = id_seq;
	pthread_mutex_unlock(&id_lock);
	for (int i = 0; i < 6; i++)
		u[i] = (unsigned char)(ms >> (40 - 8 * i));
	u[6] = (unsigned char)(0x70 | (seq >> 8));
	u[7] = (unsigned char)(seq & 0xFF);
	u[8] = (unsigned char)(0x80 | (u[8] & 0x3F));
	uuid_unparse_lower(u, id);
}

int store_exec_insert(struct store *s, const char *id, const char *job, enum job_type type,
                      enum job_status status, enum job_trigger trigger, int64_t slot_ns,
                      int64_t start_ns, const char *error, const char *container,
                      int64_t created_ns, long owner_pid, const char *owner_key,
                      const struct store_exec_extra *extra)
{
	sqlite3_stmt *q = store_stmt(s, ST_EXEC_INSERT);

	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, job, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, job_type_name(type), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, job_status_name(status), -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, job_trigger_name(trigger), -1, SQLITE_STATIC);
	store_bind_time(q, 6, slot_ns);
	store_bind_time(q, 7, start_ns);
	store_bind_text(q, 8, error);
	store_bind_text(q, 9, container);
	store_bind_time(q, 10, created_ns ? created_ns : clock_now_ns());
	if (owner_pid > 0)
		sqlite3_bind_int64(q, 11, owner_pid);
	else
		sqlite3_bind_null(q, 11);
	store_bind_text(q, 12, owner_key);
	sqlite3_bind_int(q, 13, extra && extra->attempt > 1 ? extra->attempt : 1);
	store_bind_text(q, 14,
	                extra && extra->first_attempt_id && *extra->first_attempt_id
	                    ? extra->first_attempt_id
	                    : NULL);
	store_bind_text(q, 15,
	                extra && extra->cause_id && *extra->cause_id ? extra->cause_id : NULL);
	store_bind_text(q, 16, extra && extra->node ? extra->node : store_cluster_node(s));
	int rc = store_done(s, q, "execution insert");
	if (rc == STORE_CONFLICT)
		store_seterr(s, "job \"%s\": the slot already has an outcome", job);
	if (rc == 0)
		rc = store_cluster_mark_exec(s, id);
	return rc;
}

int store_exec_move_slot(struct store *s, const char *job, int64_t slot_ns, const char *schedule,
                         int64_t next_run_ns)
{
	sqlite3_stmt *q = store_stmt(s, ST_EXEC_JOB_SLOT);

	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	store_bind_time(q, 2, slot_ns);
	store_bind_text(q, 3, schedule);
	store_bind_time(q, 4, next_run_ns);
	int rc = store_done(s, q, "job slot");
	return rc == 0 ? store_cluster_mark_job(s, job) : rc;
}

/* begun inserts e's row. The counters are outcomes, and the job's row moves
 * with the end. A run begun from a pending row takes the row's place in the
 * same commit. */
static int begun(struct store *s, const struct store_execution *e)
{
	struct store_exec_extra extra = {e->attempt, e->first_attempt_id, e->cause_id, e->node};
	int rc = store_exec_insert(s, e->id, e->job_name, e->job_type, JOB_STATUS_RUNNING,
	                           e->trigger, e->scheduled_ns, e->start_ns, NULL, e->container_id,
	                           e->created_ns, e->owner_pid, e->owner_key, &extra);
	if (rc != 0)
		return rc;
	return e->pending ? store_pending_take(s, e->id) : 0;
}

int store_execution_begin(struct store *s, const struct store_execution *e)
{
	if (store_write_begin(s) < 0)
		return -1;
	return store_write_end(s, begun(s, e));
}

static int outcome(struct store *s, const char *job, enum job_type type, int64_t slot_ns,
                   enum job_status status, const char *reason, const char *schedule,
                   int64_t next_run_ns)
{
	char id[37];
	int rc;

	if (status != JOB_STATUS_SKIPPED && status != JOB_STATUS_MISSED &&
	    status != JOB_STATUS_EXPIRED)
		return store_seterr(s, "slot outcome: status %s is not skipped, missed or expired",
		                    job_status_name(status));
	store_new_id(id);
	rc = store_exec_insert(s, id, job, type, status, JOB_TRIGGER_SCHEDULE, slot_ns, 0, reason,
	                       NULL, 0, 0, NULL, NULL);
	if (rc != 0)
		return rc;
	if (store_exec_move_slot(s, job, slot_ns, schedule, next_run_ns) < 0 ||
	    store_metrics_count(s, job, status) < 0)
		return -1;
	return store_outbox_owe(s, id, job, status, reason, 0);
}

int store_slot_outcome(struct store *s, const char *job, enum job_type type, int64_t slot_ns,
                       enum job_status status, const char *reason, const char *schedule,
                       int64_t next_run_ns)
{
	if (store_write_begin(s) < 0)
		return -1;
	return store_write_end(
	    s, outcome(s, job, type, slot_ns, status, reason, schedule, next_run_ns));
}

int store_run_skipped(struct store *s, const char *id, const char *job, enum job_type type,
                      enum job_trigger trigger, const char *reason)
{
	if (store_write_begin(s) < 0)
		return -1;
	int rc = store_exec_insert(s, id, job, type, JOB_STATUS_SKIPPED, trigger, 0, 0, reason,
	                           NULL, 0, 0, NULL, NULL);
	if (rc == 0)
		rc = store_metrics_count(s, job, JOB_STATUS_SKIPPED);
	return store_write_end(s, rc);
}

int store_execution_set_container(struct store *s, const char *id, const char *container_id)
{
	sqlite3_stmt *q = store_stmt(s, ST_EXEC_SET_CONTAINER);

	if (store_write_begin(s) < 0)
		return -1;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	store_bind_text(q, 2, container_id);
	int rc = store_done(s, q, "execution set container");
	return store_write_end(s, rc == 0 ? store_cluster_mark_exec(s, id) : rc);
}

void store_execution_note_process(struct store *s, const char *id, long pid, const char *key)
{
	struct store_queue *qu = &s->queue;

	qu->procs = xreallocarray(qu->procs, qu->nprocs + 1, sizeof *qu->procs);
	struct store_process_note *p = &qu->procs[qu->nprocs++];
	snprintf(p->exec_id, sizeof p->exec_id, "%s", id);
	p->pid = pid;
	snprintf(p->key, sizeof p->key, "%s", key ? key : "");
}

int store_queue_write_processes(struct store *s)
{
	struct store_queue *qu = &s->queue;
	sqlite3_stmt *q = store_stmt(s, ST_EXEC_SET_PROCESS);

	for (size_t i = 0; i < qu->nprocs; i++) {
		sqlite3_bind_text(q, 1, qu->procs[i].exec_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, qu->procs[i].pid);
		store_bind_text(q, 3, qu->procs[i].key[0] ? qu->procs[i].key : NULL);
		if (store_done(s, q, "execution set process") < 0)
			return -1;
	}
	return 0;
}

/* running_one reads the job and start of a running execution. */
static int running_one(struct store *s, const char *id, char **job, char **start)
{
	sqlite3_stmt *q = store_stmt(s, ST_EXEC_RUNNING_ONE);
	int rc;

	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*job = store_col_strdup(q, 0);
		*start = store_col_strdup(q, 1);
	} else if (rc == SQLITE_DONE) {
		store_seterr(s, "execution finish: %s is not a running execution", id);
	} else {
		store_fail(s, "execution finish");
	}
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int write_final(struct store *s, const struct store_execution *e)
{
	sqlite3_stmt *q = store_stmt(s, ST_EXEC_FINISH);

	sqlite3_bind_text(q, 1, e->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, job_status_name(e->status), -1, SQLITE_STATIC);
	store_bind_time(q, 3, e->end_ns);
	sqlite3_bind_int64(q, 4, e->duration_ns);
	if (e->has_exit_code)
		sqlite3_bind_int(q, 5, e->exit_code);
	else
		sqlite3_bind_null(q, 5);
	store_bind_text(q, 6, e->output);
	sqlite3_bind_int64(q, 7, e->output_dropped);
	store_bind_text(q, 8, e->error);
	sqlite3_bind_int64(q, 9, e->log_lines);
	sqlite3_bind_int64(q, 10, e->dropped_lines);
	store_bind_text(q, 11, e->container_id);
	store_bind_text(q, 12, e->resolved_by);
	int rc = store_done(s, q, "execution finish");
	return rc == 0 ? store_cluster_mark_exec(s, e->id) : rc;
}

/* job_row writes the job's last_run and last_status and, for a slot, its
 * last_slot, slot_schedule and next_run. */
static int job_row(struct store *s, const struct store_execution *e, const char *job,
                   const char *start)
{
	sqlite3_stmt *q = store_stmt(s, ST_EXEC_JOB_FINISHED);

	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, job_status_name(e->status), -1, SQLITE_STATIC);
	store_bind_text(q, 3, start);
	if (store_done(s, q, "job finished") < 0 || store_cluster_mark_job(s, job) < 0)
		return -1;
	if (!e->scheduled_ns || !e->slot_schedule)
		return 0;
	return store_exec_move_slot(s, job, e->scheduled_ns, e->slot_schedule, e->next_run_ns);
}

/* finished writes e's final fields, the job's row (unless skip_job_row),
 * the metrics, the notices it owes (when notify) and the rows that follow
 * it, all keyed on the stored row's job. */
static int finished(struct store *s, const struct store_execution *e,
                    const struct store_pending *follow, size_t nfollow, bool notify)
{
	struct store_execution row = *e;
	char *job = NULL, *start = NULL;
	int rc = -1;

	if (running_one(s, e->id, &job, &start) < 0 || write_final(s, e) < 0)
		goto out;
	row.job_name = job;
	if ((!e->skip_job_row && job_row(s, e, job, start) < 0) ||
	    store_metrics_finished(s, &row) < 0 ||
	    (notify && store_outbox_owe(s, e->id, job, e->status, e->error, e->end_ns) < 0))
		goto out;
	for (size_t i = 0; i < nfollow; i++)
		if (store_pending_insert(s, &follow[i]) < 0)
			goto out;
	rc = 0;
out:
	free(job);
	free(start);
	return rc;
}

int store_execution_finish_then(struct store *s, const struct store_execution *e,
                                const struct store_pending *follow, size_t n, bool notify)
{
	if (e->status != JOB_STATUS_SUCCESS && e->status != JOB_STATUS_FAILED &&
	    e->status != JOB_STATUS_STOPPED && e->status != JOB_STATUS_INTERRUPTED)
		return store_seterr(s, "execution finish: status %s is not an end of a run",
		                    job_status_name(e->status));
	if (store_write_begin(s) < 0)
		return -1;
	return store_write_end(s, finished(s, e, follow, n, notify));
}

int store_execution_finish(struct store *s, const struct store_execution *e)
{
	return store_execution_finish_then(s, e, NULL, 0, true);
}

/* ---- reading ---- */

static struct store_execution *exec_row(sqlite3_stmt *q)
{
	struct store_execution *e = xcalloc(1, sizeof *e);
	const char *text;

	text = (const char *)sqlite3_column_text(q, COL_ID);
	snprintf(e->id, sizeof e->id, "%s", text ? text : "");
	e->job_name = store_col_strdup(q, COL_JOB_NAME);
	/* The schema's CHECK constraints keep these texts parseable. */
	job_type_parse((const char *)sqlite3_column_text(q, COL_JOB_TYPE), &e->job_type);
	job_status_parse((const char *)sqlite3_column_text(q, COL_STATUS), &e->status);
	job_trigger_parse((const char *)sqlite3_column_text(q, COL_TRIGGER), &e->trigger);
	e->scheduled_ns = store_col_time(q, COL_SCHEDULED);
	e->start_ns = store_col_time(q, COL_START);
	e->end_ns = store_col_time(q, COL_END);
	e->duration_ns = sqlite3_column_int64(q, COL_DURATION);
	e->has_exit_code = sqlite3_column_type(q, COL_EXIT_CODE) != SQLITE_NULL;
	e->exit_code = sqlite3_column_int(q, COL_EXIT_CODE);
	e->output = store_col_strdup(q, COL_OUTPUT);
	e->output_dropped = sqlite3_column_int64(q, COL_OUTPUT_DROPPED);
	e->error = store_col_strdup(q, COL_ERROR);
	e->log_lines = sqlite3_column_int64(q, COL_LOG_LINES);
	e->dropped_lines = sqlite3_column_int64(q, COL_DROPPED_LINES);
	e->container_id = store_col_strdup(q, COL_CONTAINER);
	e->created_ns = store_col_time(q, COL_CREATED);
	e->process_id = (long)sqlite3_column_int64(q, COL_PROCESS_ID);
	e->process_key = store_col_strdup(q, COL_PROCESS_START);
	e->owner_pid = (long)sqlite3_column_int64(q, COL_OWNER_PID);
	e->owner_key = store_col_strdup(q, COL_OWNER_START);
	e->node = store_col_strdup(q, COL_NODE);
	e->resolved_by = store_col_strdup(q, COL_RESOLVED_BY);
	e->attempt = sqlite3_column_int(q, COL_ATTEMPT);
	text = (const char *)sqlite3_column_text(q, COL_FIRST_ATTEMPT);
	snprintf(e->first_attempt_id, sizeof e->first_attempt_id, "%s", text ? text : "");
	text = (const char *)sqlite3_column_text(q, COL_CAUSE);
	snprintf(e->cause_id, sizeof e->cause_id, "%s", text ? text : "");
	return e;
}

/* exec_rows collects every row of a bound q, then resets it. */
static int exec_rows(struct store *s, sqlite3_stmt *q, const char *what,
                     struct store_execution ***out, size_t *n)
{
	struct store_execution **v = NULL;
	size_t count = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[count++] = exec_row(q);
	}
	if (rc != SQLITE_DONE)
		store_fail(s, what);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		store_executions_free(v, count);
		return -1;
	}
	*out = v;
	*n = count;
	return 0;
}

int store_execution_get(struct store *s, const char *id, struct store_execution **out)
{
	sqlite3_stmt *q = store_stmt(s, ST_EXEC_GET);
	int rc;

	*out = NULL;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*out = exec_row(q);
	else if (rc != SQLITE_DONE)
		store_fail(s, "execution get");
	sqlite3_reset(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_execution_history(struct store *s, const char *job, int64_t before_ns, int limit,
                            struct store_execution ***out, size_t *n)
{
	sqlite3_stmt *q = store_stmt(s, ST_EXEC_HISTORY);

	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	/* No bound is a bound past every stored time: one statement, one plan. */
	if (before_ns)
		store_bind_time(q, 2, before_ns);
	else
		sqlite3_bind_text(q, 2, "9999", -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 3, limit);
	return exec_rows(s, q, "execution history", out, n);
}

int store_execution_history_after(struct store *s, const char *job, const char *last_id, int limit,
                                  struct store_execution ***out, size_t *n)
{
	sqlite3_stmt *q = store_stmt(s, ST_EXEC_HISTORY_AFTER);

	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, last_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 3, limit);
	return exec_rows(s, q, "execution history", out, n);
}

int store_execution_recent(struct store *s, const char *job, int limit, enum job_status *out,
                           size_t *n)
{
	sqlite3_stmt *q = store_stmt(s, ST_EXEC_RECENT);
	size_t count = 0;
	int rc;

	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, limit);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && count < (size_t)limit)
		if (job_status_parse((const char *)sqlite3_column_text(q, 0), &out[count]) == 0)
			count++;
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		store_fail(s, "recent executions");
	sqlite3_reset(q);
	*n = count;
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int store_executions_running(struct store *s, struct store_execution ***out, size_t *n)
{
	return exec_rows(s, store_stmt(s, ST_EXEC_RUNNING), "executions running", out, n);
}

int store_execution_caused(struct store *s, const char *id, int limit,
                           struct store_execution ***out, size_t *n)
{
	sqlite3_stmt *q = store_stmt(s, ST_EXEC_CAUSED);

	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, limit);
	return exec_rows(s, q, "executions caused", out, n);
}

void store_execution_free(struct store_execution *e)
{
	if (e == NULL)
		return;
	free(e->job_name);
	free(e->output);
	free(e->error);
	free(e->container_id);
	free(e->process_key);
	free(e->owner_key);
	free(e->node);
	free(e->resolved_by);
	free(e);
}

void store_executions_free(struct store_execution **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_execution_free(v[i]);
	free(v);
}
