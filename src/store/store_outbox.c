/* Notifications: the durable outbox (migrations/0003_notifications.sql).
 *
 * An outcome's notices are inserted by store_outbox_owe inside the
 * transaction that records the outcome (store_exec.c calls it from the
 * execution's finish and from each slot outcome), so they commit together.
 * Which notices an outcome owes is not the store's business: a planner the
 * daemon installs (src/outbox, which asks src/notify) lists them from the
 * job's stored definition. Everything after that (taking due rows,
 * recording each attempt) is plain reads and single-row writes here.
 *
 * The statements live apart from store_sql.c, prepared at open like those. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

#define NOTICE_COLUMNS                                                                             \
	"id, idempotency_key, execution_id, job_name, channel, target, event, state, attempts, "   \
	"next_attempt_at, last_attempt_at, last_error, detail, created_at, finished_at"

enum {
	O_DEFINITION,
	O_COOLDOWN,
	O_INSERT,
	O_COUNT,
	O_DUE,
	O_NEXT_DUE,
	O_RESULT,
	O_LIST,
	O_LIST_STATE,
	O_LIST_JOB,
	O_LIST_STATE_JOB,
	O_OF_EXECUTION,
	O_COUNTERS,
	O_PENDING,
	O_PRUNE,
	O_STMT_COUNT
};

static const char *const sql[O_STMT_COUNT] = {
    [O_DEFINITION] = "SELECT definition FROM jobs WHERE name = ?1",
    /* Suppressed notices do not count: the cooldown runs from the last one
     * sent, as netresearch's dedup does. */
    [O_COOLDOWN] = "SELECT 1 FROM notifications WHERE job_name = ?1 AND channel = ?2 "
                   "AND target = ?3 AND fingerprint = ?4 AND created_at >= ?5 "
                   "AND state <> 'suppressed' LIMIT 1",
    [O_INSERT] = "INSERT INTO notifications (idempotency_key, execution_id, job_name, channel, "
                 "target, event, state, next_attempt_at, fingerprint, detail, created_at, "
                 "finished_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
                 "ON CONFLICT (idempotency_key) DO NOTHING",
    [O_COUNT] = "INSERT INTO notification_counters (channel, state, count) VALUES (?1, ?2, 1) "
                "ON CONFLICT (channel, state) DO UPDATE SET count = count + 1",
    [O_DUE] = "SELECT " NOTICE_COLUMNS " FROM notifications WHERE state = 'pending' "
              "AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
    [O_NEXT_DUE] = "SELECT id, next_attempt_at FROM notifications WHERE state = 'pending' "
                   "ORDER BY next_attempt_at, id LIMIT ?1",
    [O_RESULT] = "UPDATE notifications SET state = ?2, attempts = attempts + 1, "
                 "last_attempt_at = ?3, next_attempt_at = ?4, "
                 "last_error = coalesce(?5, last_error), finished_at = ?6 "
                 "WHERE id = ?1 AND state = 'pending'",
    [O_LIST] = "SELECT " NOTICE_COLUMNS " FROM notifications WHERE id < ?1 "
               "ORDER BY id DESC LIMIT ?2",
    [O_LIST_STATE] = "SELECT " NOTICE_COLUMNS " FROM notifications WHERE state = ?3 "
                     "AND id < ?1 ORDER BY id DESC LIMIT ?2",
    [O_LIST_JOB] = "SELECT " NOTICE_COLUMNS " FROM notifications WHERE job_name = ?4 "
                   "AND id < ?1 ORDER BY id DESC LIMIT ?2",
    [O_LIST_STATE_JOB] = "SELECT " NOTICE_COLUMNS " FROM notifications WHERE state = ?3 "
                         "AND job_name = ?4 AND id < ?1 ORDER BY id DESC LIMIT ?2",
    [O_OF_EXECUTION] = "SELECT " NOTICE_COLUMNS " FROM notifications WHERE execution_id = ?1 "
                       "ORDER BY id",
    [O_COUNTERS] = "SELECT channel, state, count FROM notification_counters "
                   "ORDER BY channel, state",
    [O_PENDING] = "SELECT count(*) FROM notifications WHERE state = 'pending'",
    [O_PRUNE] = "DELETE FROM notifications WHERE rowid IN (SELECT rowid FROM notifications "
                "WHERE created_at < ?1 AND state <> 'pending' ORDER BY created_at LIMIT ?2)",
};

struct store_outbox {
	sqlite3_stmt *stmt[O_STMT_COUNT];
	store_planner_fn *planner;
	void *arg;
};

int store_outbox_init(struct store *s)
{
	s->outbox = xcalloc(1, sizeof *s->outbox);
	return store_sql_check(s, sql, O_STMT_COUNT);
}

void store_outbox_fini(struct store *s)
{
	if (s->outbox == NULL)
		return;
	store_finalize_all(s->outbox->stmt, O_STMT_COUNT);
	free(s->outbox);
	s->outbox = NULL;
}

void store_set_planner(struct store *s, store_planner_fn *fn, void *arg)
{
	s->outbox->planner = fn;
	s->outbox->arg = arg;
}

static sqlite3_stmt *stmt(struct store *s, int id)
{
	return store_prepared(s, &s->outbox->stmt[id], sql[id]);
}

/* ---- owing ---- */

/* fingerprint hashes a failure (FNV-1a 64) for notification-cooldown. */
static void fingerprint(const char *job, const char *error, char out[17])
{
	uint64_t h = 1469598103934665603ULL;
	const char *parts[] = {job, "\n", error ? error : ""};
	for (int i = 0; i < 3; i++)
		for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
			h ^= *p;
			h *= 1099511628211ULL;
		}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static int count(struct store *s, const char *channel, const char *state)
{
	sqlite3_stmt *q = stmt(s, O_COUNT);
	sqlite3_bind_text(q, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, state, -1, SQLITE_STATIC);
	return store_done(s, q, "notification counter");
}

/* cooling tells whether an equal failure was notified within cooldown. */
static int cooling(struct store *s, const char *job, const struct store_notice *n,
                   const char *print, int64_t now)
{
	sqlite3_stmt *q = stmt(s, O_COOLDOWN);
	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, n->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, n->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, print, -1, SQLITE_STATIC);
	store_bind_time(q, 5, now - n->cooldown_ns);
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(s, "notification cooldown");
	return rc == SQLITE_ROW;
}

/* insert writes one notice; *fresh tells whether it is new. */
static int insert(struct store *s, const char *key, const char *exec_id, const char *job,
                  const struct store_notice *n, const char *event, bool suppressed,
                  const char *print, const char *detail, int64_t now)
{
	sqlite3_stmt *q = stmt(s, O_INSERT);
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	store_bind_text(q, 2, exec_id);
	sqlite3_bind_text(q, 3, job, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, n->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, n->target ? n->target : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 6, event, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, suppressed ? "suppressed" : "pending", -1, SQLITE_STATIC);
	store_bind_time(q, 8, suppressed ? 0 : now);
	store_bind_text(q, 9, print);
	store_bind_text(q, 10, detail);
	store_bind_time(q, 11, now);
	store_bind_time(q, 12, suppressed ? now : 0);
	if (store_done(s, q, "notification insert") < 0)
		return -1;
	if (sqlite3_changes(s->db) == 0)
		return 0;
	if (count(s, n->channel, suppressed ? "suppressed" : "queued") < 0)
		return -1;
	return 1;
}

static char *notice_key(const char *exec_id, const struct store_notice *n)
{
	if (n->target && *n->target)
		return xasprintf("%s:%s:%s", exec_id, n->channel, n->target);
	return xasprintf("%s:%s", exec_id, n->channel);
}

/* load_def reads the job's stored definition; NULL when there is none or it
 * does not parse (the outcome then owes nothing: its record matters more). */
static struct job *load_def(struct store *s, const char *job)
{
	sqlite3_stmt *q = stmt(s, O_DEFINITION);
	struct job *def = NULL;
	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(q, 0);
		json_error_t jerr;
		char err[256];
		json_t *o = text ? json_loads(text, 0, &jerr) : NULL;
		if (o)
			def = job_from_json(o, job, err, sizeof err);
		json_decref(o);
	}
	sqlite3_reset(q);
	return def;
}

int store_outbox_owe(struct store *s, const char *exec_id, const char *job, enum job_status status,
                     const char *error, int64_t end_ns)
{
	struct store_notice v[STORE_NOTICES_MAX];
	char print[17];
	int rc = 0;
	if (s->outbox->planner == NULL)
		return 0;
	struct job *def = load_def(s, job);
	if (def == NULL)
		return 0;
	struct store_outcome o = {exec_id, job, def, status, error, end_ns};
	size_t n = s->outbox->planner(s->outbox->arg, &o, v);
	int64_t now = clock_now_ns();
	fingerprint(job, error, print);
	for (size_t i = 0; i < n && i < STORE_NOTICES_MAX && rc == 0; i++) {
		int cool = v[i].cooldown_ns > 0 ? cooling(s, job, &v[i], print, now) : 0;
		if (cool < 0) {
			rc = -1;
			break;
		}
		char *key = notice_key(exec_id, &v[i]);
		if (insert(s, key, exec_id, job, &v[i], job_status_name(status), cool, print, NULL,
		           now) < 0)
			rc = -1;
		free(key);
	}
	job_free(def);
	return rc;
}

int store_outbox_alert(struct store *s, const char *job, const char *key, const char *detail,
                       const struct store_notice *v, size_t n)
{
	int64_t now = clock_now_ns();
	int added = 0, rc = 0;
	if (store_write_begin(s) < 0)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct store_notice one = v[i];
		char *k = one.target && *one.target
		              ? xasprintf("%s:%s:%s", key, one.channel, one.target)
		              : xasprintf("%s:%s", key, one.channel);
		int fresh = insert(s, k, NULL, job, &one, "no-success", false, NULL, detail, now);
		if (fresh < 0)
			rc = -1;
		added += fresh > 0;
		free(k);
	}
	rc = store_write_end(s, rc);
	return rc < 0 ? -1 : added;
}

/* ---- the sender's side ---- */

static struct store_notification *row(sqlite3_stmt *q)
{
	struct store_notification *v = xcalloc(1, sizeof *v);
	v->id = sqlite3_column_int64(q, 0);
	v->idempotency_key = store_col_strdup(q, 1);
	v->execution_id = store_col_strdup(q, 2);
	v->job_name = store_col_strdup(q, 3);
	v->channel = store_col_strdup(q, 4);
	v->target = store_col_strdup(q, 5);
	v->event = store_col_strdup(q, 6);
	v->state = store_col_strdup(q, 7);
	v->attempts = sqlite3_column_int(q, 8);
	v->next_attempt_ns = store_col_time(q, 9);
	v->last_attempt_ns = store_col_time(q, 10);
	v->last_error = store_col_strdup(q, 11);
	v->detail = store_col_strdup(q, 12);
	v->created_ns = store_col_time(q, 13);
	v->finished_ns = store_col_time(q, 14);
	return v;
}

static int rows(struct store *s, sqlite3_stmt *q, const char *what,
                struct store_notification ***out, size_t *n)
{
	struct store_notification **v = NULL;
	size_t k = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (k == cap) {
			cap = cap ? cap * 2 : 16;
			v = xreallocarray(v, cap, sizeof *v);
		}
		v[k++] = row(q);
	}
	if (rc != SQLITE_DONE)
		store_fail(s, what);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		store_notifications_free(v, k);
		return -1;
	}
	*out = v;
	*n = k;
	return 0;
}

int store_outbox_due(struct store *s, int64_t now_ns, int limit, struct store_notification ***out,
                     size_t *n)
{
	sqlite3_stmt *q = stmt(s, O_DUE);
	store_bind_time(q, 1, now_ns);
	sqlite3_bind_int(q, 2, limit);
	return rows(s, q, "notifications due", out, n);
}

int store_outbox_next_due(struct store *s, size_t max, int64_t *ids, int64_t *due_ns, size_t *n)
{
	sqlite3_stmt *q = stmt(s, O_NEXT_DUE);
	int rc;
	*n = 0;
	sqlite3_bind_int64(q, 1, (int64_t)max);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW && *n < max) {
		ids[*n] = sqlite3_column_int64(q, 0);
		due_ns[*n] = store_col_time(q, 1);
		(*n)++;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_fail(s, "notifications next due");
	return 0;
}

int store_outbox_result(struct store *s, int64_t id, const char *channel, const char *state,
                        int64_t now_ns, int64_t next_ns, const char *error)
{
	sqlite3_stmt *q = stmt(s, O_RESULT);
	bool pending = strcmp(state, "pending") == 0;
	if (store_write_begin(s) < 0)
		return -1;
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_text(q, 2, state, -1, SQLITE_STATIC);
	store_bind_time(q, 3, now_ns);
	store_bind_time(q, 4, pending ? next_ns : 0);
	store_bind_text(q, 5, error);
	store_bind_time(q, 6, pending ? 0 : now_ns);
	int rc = store_done(s, q, "notification result");
	if (rc == 0 && sqlite3_changes(s->db) == 1)
		rc = count(s, channel, pending ? "retried" : state);
	return store_write_end(s, rc);
}

int store_outbox_list(struct store *s, const char *state, const char *job, int64_t before_id,
                      int limit, struct store_notification ***out, size_t *n)
{
	int id = state && job ? O_LIST_STATE_JOB : state ? O_LIST_STATE : job ? O_LIST_JOB : O_LIST;
	sqlite3_stmt *q = stmt(s, id);
	sqlite3_bind_int64(q, 1, before_id > 0 ? before_id : INT64_MAX);
	sqlite3_bind_int(q, 2, limit);
	if (state)
		sqlite3_bind_text(q, 3, state, -1, SQLITE_STATIC);
	if (job)
		sqlite3_bind_text(q, 4, job, -1, SQLITE_STATIC);
	return rows(s, q, "notifications", out, n);
}

int store_outbox_of_execution(struct store *s, const char *exec_id,
                              struct store_notification ***out, size_t *n)
{
	sqlite3_stmt *q = stmt(s, O_OF_EXECUTION);
	sqlite3_bind_text(q, 1, exec_id, -1, SQLITE_STATIC);
	return rows(s, q, "notifications of an execution", out, n);
}

void store_notification_free(struct store_notification *v)
{
	if (v == NULL)
		return;
	char *strings[] = {v->idempotency_key, v->execution_id, v->job_name,
	                   v->channel,         v->target,       v->event,
	                   v->state,           v->last_error,   v->detail};
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
		free(strings[i]);
	free(v);
}

void store_notifications_free(struct store_notification **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_notification_free(v[i]);
	free(v);
}

int store_outbox_counters(struct store *s, struct store_notification_count **out, size_t *n,
                          int64_t *pending)
{
	sqlite3_stmt *q = stmt(s, O_COUNTERS);
	struct store_notification_count *v = NULL;
	size_t k = 0;
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		v = xreallocarray(v, k + 1, sizeof *v);
		snprintf(v[k].channel, sizeof v[k].channel, "%s", sqlite3_column_text(q, 0));
		snprintf(v[k].state, sizeof v[k].state, "%s", sqlite3_column_text(q, 1));
		v[k].count = sqlite3_column_int64(q, 2);
		k++;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		free(v);
		return store_fail(s, "notification counters");
	}
	q = stmt(s, O_PENDING);
	rc = sqlite3_step(q);
	*pending = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
	sqlite3_reset(q);
	if (rc != SQLITE_ROW) {
		free(v);
		return store_fail(s, "pending notifications");
	}
	*out = v;
	*n = k;
	return 0;
}

int store_outbox_prune(struct store *s, int64_t older_than_ns, int batch)
{
	sqlite3_stmt *q = stmt(s, O_PRUNE);
	if (store_write_begin(s) < 0)
		return -1;
	store_bind_time(q, 1, older_than_ns);
	sqlite3_bind_int(q, 2, batch);
	int rc = store_done(s, q, "prune notifications");
	if (rc == 0)
		rc = sqlite3_changes(s->db);
	return store_write_end(s, rc);
}
