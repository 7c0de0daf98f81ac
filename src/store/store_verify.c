/* Integrity checks. A damaged page is otherwise noticed only when a query
 * happens to read it: the daemon runs PRAGMA quick_check when it opens the
 * database (bounded in time, so a big file does not hold the start), and
 * `ofelia check` runs the full integrity_check and foreign_key_check on
 * demand, on a read-only connection beside a running daemon. */
#include <stdio.h>
#include <string.h>

#include "store/store_int.h"
#include "util/clock.h"

/* past tells SQLite to stop the check once the deadline has passed. */
static int past(void *arg)
{
	return clock_mono_ns() > *(int64_t *)arg;
}

/* each runs a check whose rows are problems (integrity_check answers "ok"
 * when there are none); counts them through on_problem. */
static int each(struct store *s, const char *sql, void (*on_problem)(void *, const char *),
                void *arg, int *problems)
{
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
		return store_fail(s, sql);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(q, 0);
		char fk[256];
		/* foreign_key_check: table, rowid, parent, fkid. */
		if (sqlite3_column_count(q) == 4) {
			snprintf(fk, sizeof fk, "%s row %lld: no %s row for its foreign key",
			         text ? text : "?", (long long)sqlite3_column_int64(q, 1),
			         (const char *)sqlite3_column_text(q, 2));
			text = fk;
		} else if (text && strcmp(text, "ok") == 0) {
			continue;
		}
		(*problems)++;
		if (on_problem)
			on_problem(arg, text ? text : "(no message)");
	}
	if (rc != SQLITE_DONE)
		store_fail(s, sql);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : -1;
}

enum store_verdict store_verify(struct store *s, bool quick, int64_t budget_ns,
                                void (*on_problem)(void *arg, const char *msg), void *arg)
{
	int64_t deadline = clock_mono_ns() + budget_ns;
	int problems = 0;

	if (budget_ns > 0)
		sqlite3_progress_handler(s->db, 1000, past, &deadline);
	int rc = each(s, quick ? "PRAGMA quick_check(20)" : "PRAGMA integrity_check(100)",
	              on_problem, arg, &problems);
	if (rc == 0 && !quick)
		rc = each(s, "PRAGMA foreign_key_check", on_problem, arg, &problems);
	sqlite3_progress_handler(s->db, 0, NULL, NULL);
	int code = sqlite3_errcode(s->db) & 0xff;
	if (rc < 0 && code == SQLITE_INTERRUPT)
		return STORE_VERDICT_CUT;
	/* Damage bad enough that the check itself cannot go on. */
	if (rc < 0 && (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)) {
		if (on_problem)
			on_problem(arg, sqlite3_errmsg(s->db));
		return STORE_VERDICT_DAMAGED;
	}
	if (rc < 0)
		return STORE_VERDICT_ERROR;
	return problems ? STORE_VERDICT_DAMAGED : STORE_VERDICT_OK;
}
