/* Retention: executions are deleted in small batches, each its own commit,
 * so pruning a large history never holds the write lock for long. Log lines
 * go with their execution (ON DELETE CASCADE); running executions stay; the
 * metrics tables are not touched, so counters only grow. */
#include <stdlib.h>

#include "store/store_int.h"

/* any tells whether the bound query q finds a row: a prune with nothing to
 * delete reads instead of writing (a write transaction would commit the
 * queued log lines early, and every commit is disk wear). */
static int any(struct store *s, sqlite3_stmt *q, const char *what)
{
	int rc = sqlite3_step(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		store_fail(s, what);
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* prune runs one bound DELETE and returns how many executions it removed. */
static int prune(struct store *s, sqlite3_stmt *q, const char *what)
{
	int rc = store_done(s, q, what);
	if (rc == 0)
		rc = sqlite3_changes(s->db);
	return store_write_end(s, rc);
}

int store_prune_age(struct store *s, int64_t older_than_ns, int batch)
{
	sqlite3_stmt *q = store_stmt(s, ST_PRUNE_AGE);
	sqlite3_stmt *probe = store_stmt(s, ST_PRUNE_AGE_ANY);

	store_bind_time(probe, 1, older_than_ns);
	int found = any(s, probe, "prune by age");
	if (found <= 0)
		return found;
	if (store_write_begin(s) < 0)
		return -1;
	store_bind_time(q, 1, older_than_ns);
	sqlite3_bind_int(q, 2, batch);
	return prune(s, q, "prune by age");
}

/* newest_past finds the newest finished execution of job past the keep
 * newest: 1 with its time (at, owned by the caller) and rowid, 0 when there
 * is none, -1 on error. */
static int newest_past(struct store *s, const char *job, int keep, char **at, int64_t *rowid)
{
	sqlite3_stmt *q = store_stmt(s, ST_PRUNE_COUNT_ANY);

	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, keep);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*at = store_col_strdup(q, 1);
		*rowid = sqlite3_column_int64(q, 2);
	} else if (rc != SQLITE_DONE) {
		store_fail(s, "prune by count");
	}
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_prune_count(struct store *s, const char *job, int keep, int batch)
{
	sqlite3_stmt *q = store_stmt(s, ST_PRUNE_COUNT);
	char *at = NULL;
	int64_t rowid;

	int found = newest_past(s, job, keep, &at, &rowid);
	free(at);
	at = NULL;
	if (found <= 0)
		return found;
	if (store_write_begin(s) < 0)
		return -1;
	/* Found again inside the transaction, which holds the write lock. */
	found = newest_past(s, job, keep, &at, &rowid);
	if (found <= 0)
		return store_write_end(s, found);
	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, at, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 3, batch);
	sqlite3_bind_int64(q, 4, rowid);
	int rc = prune(s, q, "prune by count");
	sqlite3_clear_bindings(q);
	free(at);
	return rc;
}
