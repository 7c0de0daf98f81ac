/* Retention: executions are deleted in small batches, each its own commit,
 * so pruning a large history never holds the write lock for long. Log lines
 * go with their execution (ON DELETE CASCADE); running executions stay; the
 * metrics tables are not touched, so counters only grow. */
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

int store_prune_count(struct store *s, const char *job, int keep, int batch)
{
	sqlite3_stmt *q = store_stmt(s, ST_PRUNE_COUNT);
	sqlite3_stmt *probe = store_stmt(s, ST_PRUNE_COUNT_ANY);

	sqlite3_bind_text(probe, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int(probe, 2, keep);
	int found = any(s, probe, "prune by count");
	if (found <= 0)
		return found;
	if (store_write_begin(s) < 0)
		return -1;
	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, keep);
	sqlite3_bind_int(q, 3, batch);
	return prune(s, q, "prune by count");
}
