/* Retries and workflows (migrations/0004_workflows.sql).
 *
 * What is due later is a pending_runs row: a retry (inserted with the end
 * of the failed attempt, store_execution_finish_then), a run triggered by
 * on-success / on-failure (with the end of its cause), a slot waiting for
 * its dependencies (with the slot's fire, store_slot_wait). A row leaves in
 * the transaction that records what became of it: its execution begins
 * (store_execution_begin with e->pending) or its outcome is recorded
 * (store_pending_resolve), under the row's own id. So a kill -9 at any
 * point leaves either the row or its execution, never both and never
 * neither: each one runs once.
 *
 * The statements live apart from store_sql.c, prepared at open like those. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

#define PENDING_COLUMNS                                                                            \
	"id, job_name, kind, trigger, due_at, scheduled_time, attempt, first_attempt_id, "         \
	"cause_id, reason, created_at"

enum {
	P_INSERT,
	P_TAKE,
	P_ALL,
	P_OF_CAUSE,
	P_WAIT,
	P_LATEST,
	P_LAST_ATTEMPT,
	P_RETRY_PENDING,
	P_STMT_COUNT
};

static const char *const sql[P_STMT_COUNT] = {
    [P_INSERT] = "INSERT INTO pending_runs (" PENDING_COLUMNS ") "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [P_TAKE] = "DELETE FROM pending_runs WHERE id = ?1",
    [P_ALL] = "SELECT " PENDING_COLUMNS " FROM pending_runs ORDER BY due_at, id",
    [P_OF_CAUSE] = "SELECT " PENDING_COLUMNS " FROM pending_runs WHERE cause_id = ?1 "
                   "ORDER BY due_at, id",
    [P_WAIT] = "UPDATE pending_runs SET kind = 'wait', due_at = ?2, reason = ?3 WHERE id = ?1",
    /* A job's latest first attempt at or before ?2, by the time it is
     * for: its slot, else its start, else when it was recorded (a run
     * that never started); the order of STORE_JOB_RUNS. */
    [P_LATEST] =
        STORE_JOB_RUNS("id, status", " AND first_attempt_id IS NULL AND scheduled_time <= ?2",
                       " AND first_attempt_id IS NULL AND " STORE_UNSLOTTED_AT " <= ?2",
                       "ORDER BY at DESC, r DESC LIMIT 1"),
    [P_LAST_ATTEMPT] = ("SELECT id, status, attempt FROM executions "
                        "WHERE first_attempt_id = ?1 ORDER BY attempt DESC LIMIT 1"),
    [P_RETRY_PENDING] = "SELECT 1 FROM pending_runs WHERE first_attempt_id = ?1 LIMIT 1",
};

struct store_chain {
	sqlite3_stmt *stmt[P_STMT_COUNT];
};

static const char *kind_names[] = {"retry", "trigger", "wait"};

int store_chain_init(struct store *s)
{
	s->chain = xcalloc(1, sizeof *s->chain);
	return store_sql_check(s, sql, P_STMT_COUNT);
}

void store_chain_fini(struct store *s)
{
	if (s->chain == NULL)
		return;
	store_finalize_all(s->chain->stmt, P_STMT_COUNT);
	free(s->chain);
	s->chain = NULL;
}

static sqlite3_stmt *stmt(struct store *s, int id)
{
	return store_prepared(s, &s->chain->stmt[id], sql[id]);
}

const char *store_pending_kind_name(enum store_pending_kind k)
{
	return kind_names[k];
}

static void copy_id(char out[37], sqlite3_stmt *q, int col)
{
	const char *text = (const char *)sqlite3_column_text(q, col);
	snprintf(out, 37, "%s", text ? text : "");
}

/* ---- rows ---- */

int store_pending_insert(struct store *s, const struct store_pending *p)
{
	sqlite3_stmt *q = stmt(s, P_INSERT);
	sqlite3_bind_text(q, 1, p->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, p->job_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, kind_names[p->kind], -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, job_trigger_name(p->trigger), -1, SQLITE_STATIC);
	store_bind_time(q, 5, p->due_ns);
	store_bind_time(q, 6, p->slot_ns);
	sqlite3_bind_int(q, 7, p->attempt > 1 ? p->attempt : 1);
	store_bind_text(q, 8, *p->first_attempt_id ? p->first_attempt_id : NULL);
	store_bind_text(q, 9, *p->cause_id ? p->cause_id : NULL);
	store_bind_text(q, 10, p->reason);
	store_bind_time(q, 11, p->created_ns ? p->created_ns : clock_now_ns());
	return store_done(s, q, "pending run insert");
}

int store_pending_take(struct store *s, const char *id)
{
	sqlite3_stmt *q = stmt(s, P_TAKE);
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	if (store_done(s, q, "pending run take") < 0)
		return -1;
	/* The row is what makes the run due once: none means it already ran
	 * (or was recorded), and the caller must not go on. */
	if (sqlite3_changes(s->db) == 0)
		return store_seterr(s, "pending run %s: no such row (already run or recorded)", id);
	return 0;
}

static struct store_pending *pending_row(sqlite3_stmt *q)
{
	struct store_pending *p = xcalloc(1, sizeof *p);
	const char *kind = (const char *)sqlite3_column_text(q, 2);
	copy_id(p->id, q, 0);
	p->job_name = store_col_strdup(q, 1);
	for (int k = 0; k < 3; k++)
		if (kind && strcmp(kind, kind_names[k]) == 0)
			p->kind = (enum store_pending_kind)k;
	/* The schema's CHECK constraints keep these texts parseable. */
	job_trigger_parse((const char *)sqlite3_column_text(q, 3), &p->trigger);
	p->due_ns = store_col_time(q, 4);
	p->slot_ns = store_col_time(q, 5);
	p->attempt = sqlite3_column_int(q, 6);
	copy_id(p->first_attempt_id, q, 7);
	copy_id(p->cause_id, q, 8);
	p->reason = store_col_strdup(q, 9);
	p->created_ns = store_col_time(q, 10);
	return p;
}

static int pending_rows(struct store *s, sqlite3_stmt *q, const char *what,
                        struct store_pending ***out, size_t *n)
{
	struct store_pending **v = NULL;
	size_t k = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (k == cap) {
			cap = cap ? cap * 2 : 16;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[k++] = pending_row(q);
	}
	if (rc != SQLITE_DONE)
		store_fail(s, what);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		store_pendings_free(v, k);
		return -1;
	}
	*out = v;
	*n = k;
	return 0;
}

int store_pending_load(struct store *s, struct store_pending ***out, size_t *n)
{
	return pending_rows(s, stmt(s, P_ALL), "pending runs", out, n);
}

int store_pending_of_cause(struct store *s, const char *cause_id, struct store_pending ***out,
                           size_t *n)
{
	sqlite3_stmt *q = stmt(s, P_OF_CAUSE);
	sqlite3_bind_text(q, 1, cause_id, -1, SQLITE_STATIC);
	return pending_rows(s, q, "pending runs of a cause", out, n);
}

struct store_pending *store_pending_clone(const struct store_pending *p)
{
	struct store_pending *c = xmalloc(sizeof *c);
	*c = *p;
	c->job_name = xstrdup(p->job_name);
	c->reason = xstrdup(p->reason);
	return c;
}

void store_pending_free(struct store_pending *p)
{
	if (p == NULL)
		return;
	free(p->job_name);
	free(p->reason);
	free(p);
}

void store_pendings_free(struct store_pending **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_pending_free(v[i]);
	free(v);
}

/* ---- writes ---- */

int store_slot_wait(struct store *s, const struct store_pending *p, const char *schedule,
                    int64_t next_run_ns)
{
	if (store_write_begin(s) < 0)
		return -1;
	int rc = store_pending_insert(s, p);
	if (rc == 0)
		rc = store_exec_move_slot(s, p->job_name, p->slot_ns, schedule, next_run_ns);
	return store_write_end(s, rc);
}

int store_pending_wait(struct store *s, const char *id, int64_t due_ns, const char *reason)
{
	sqlite3_stmt *q = stmt(s, P_WAIT);
	if (store_write_begin(s) < 0)
		return -1;
	sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
	store_bind_time(q, 2, due_ns);
	store_bind_text(q, 3, reason);
	return store_write_end(s, store_done(s, q, "pending run wait"));
}

static int resolve(struct store *s, const struct store_pending *p, enum job_type type,
                   enum job_status status, const char *reason)
{
	struct store_exec_extra extra = {p->attempt, p->first_attempt_id, p->cause_id, NULL};
	int rc = store_exec_insert(s, p->id, p->job_name, type, status, p->trigger, p->slot_ns, 0,
	                           reason, NULL, 0, 0, NULL, &extra);
	if (rc != 0)
		return rc;
	if (store_pending_take(s, p->id) < 0 || store_metrics_count(s, p->job_name, status) < 0)
		return -1;
	return store_outbox_owe(s, p->id, p->job_name, status, reason, 0);
}

int store_pending_resolve(struct store *s, const struct store_pending *p, enum job_type type,
                          enum job_status status, const char *reason)
{
	if (status != JOB_STATUS_SKIPPED && status != JOB_STATUS_MISSED &&
	    status != JOB_STATUS_EXPIRED)
		return store_seterr(s,
		                    "pending run outcome: status %s is not skipped, missed or "
		                    "expired",
		                    job_status_name(status));
	if (store_write_begin(s) < 0)
		return -1;
	return store_write_end(s, resolve(s, p, type, status, reason));
}

/* ---- depends-on ---- */

int store_dependency_state(struct store *s, const char *job, int64_t at_ns,
                           struct store_dep_state *out)
{
	sqlite3_stmt *q = stmt(s, P_LATEST);
	int rc;

	memset(out, 0, sizeof *out);
	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	store_bind_time(q, 2, at_ns);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		out->found = true;
		copy_id(out->id, q, 0);
		job_status_parse((const char *)sqlite3_column_text(q, 1), &out->status);
		out->at_ns = store_col_time(q, 2);
		memcpy(out->last_id, out->id, sizeof out->id);
		out->attempts = 1;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(s, "dependency state");
	if (!out->found)
		return 0;

	q = stmt(s, P_LAST_ATTEMPT);
	sqlite3_bind_text(q, 1, out->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		copy_id(out->last_id, q, 0);
		job_status_parse((const char *)sqlite3_column_text(q, 1), &out->status);
		out->attempts = sqlite3_column_int(q, 2);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(s, "dependency state");

	q = stmt(s, P_RETRY_PENDING);
	sqlite3_bind_text(q, 1, out->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	out->retry_pending = rc == SQLITE_ROW;
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(s, "dependency state");
	return 0;
}
