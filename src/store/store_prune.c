/* Retention: executions are deleted in small batches, each its own commit,
 * so pruning a large history never holds the write lock for long. Log lines
 * go with their execution (ON DELETE CASCADE); running executions stay; the
 * metrics tables are not touched, so counters only grow. */
#include "store/store_int.h"

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
	sqlite3_stmt *q = s->stmt[ST_PRUNE_AGE];

	if (store_write_begin(s) < 0)
		return -1;
	store_bind_time(q, 1, older_than_ns);
	sqlite3_bind_int(q, 2, batch);
	return prune(s, q, "prune by age");
}

int store_prune_count(struct store *s, const char *job, int keep, int batch)
{
	sqlite3_stmt *q = s->stmt[ST_PRUNE_COUNT];

	if (store_write_begin(s) < 0)
		return -1;
	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, keep);
	sqlite3_bind_int(q, 3, batch);
	return prune(s, q, "prune by count");
}
