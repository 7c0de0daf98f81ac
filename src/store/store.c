/* The connection: open, recognise and migrate the database, transactions,
 * settings, and the helpers the other store files share.
 *
 * DESIGN. One connection, owned by the loop thread (hence SQLITE_OPEN_NOMUTEX).
 * WAL lets sqlite3 CLI users read while ofelia writes; every write transaction
 * is BEGIN IMMEDIATE, because a deferred one that reads first can fail with
 * SQLITE_BUSY_SNAPSHOT whatever the busy timeout. A write either commits
 * before its function returns, with the log lines queued so far (group
 * commit: store_log.c), or runs inside the caller's store_tx_begin.
 *
 * A file is ours when its application_id says so; an empty file becomes ours.
 * Anything else is refused before the first write, so a mistyped --db never
 * damages someone else's database. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/clock.h"
#include "util/embedded.h"
#include "util/log.h"
#include "util/xalloc.h"

int store_seterr(struct store *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
	return -1;
}

int store_fail(struct store *s, const char *what)
{
	return store_seterr(s, "%s: %s", what, sqlite3_errmsg(s->db));
}

int store_done(struct store *s, sqlite3_stmt *q, const char *what)
{
	int rc = sqlite3_step(q);
	int ret = 0;

	if (rc != SQLITE_DONE) {
		ret = store_fail(s, what);
		if (rc == SQLITE_CONSTRAINT_UNIQUE)
			ret = STORE_CONFLICT;
	}
	sqlite3_reset(q);
	return ret;
}

/* exec runs SQL text that is not worth preparing: pragmas, migrations. */
static int exec(struct store *s, const char *sql, const char *what)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(s, what);
	return 0;
}

/* pragma_int reads a one-number answer such as PRAGMA user_version. */
static int pragma_int(struct store *s, const char *sql, int64_t *out)
{
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) != SQLITE_OK)
		return store_fail(s, sql);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(q, 0);
	else
		store_fail(s, sql);
	sqlite3_finalize(q);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Time values as the schema keeps them: ISO-8601 UTC text, NULL for none. */
void store_bind_time(sqlite3_stmt *q, int i, int64_t ns)
{
	char text[CLOCK_TEXT_MAX];

	if (ns == 0) {
		sqlite3_bind_null(q, i);
		return;
	}
	clock_format_iso(ns, text);
	sqlite3_bind_text(q, i, text, -1, SQLITE_TRANSIENT);
}

void store_bind_text(sqlite3_stmt *q, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(q, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(q, i);
}

int64_t store_col_time(sqlite3_stmt *q, int i)
{
	const char *text = (const char *)sqlite3_column_text(q, i);
	int64_t ns;

	if (text == NULL || clock_parse_rfc3339(text, &ns) < 0)
		return 0;
	return ns;
}

char *store_col_strdup(sqlite3_stmt *q, int i)
{
	const char *text = (const char *)sqlite3_column_text(q, i);
	return text ? xstrndup(text, (size_t)sqlite3_column_bytes(q, i)) : NULL;
}

/* ---- transactions ---- */

static void rollback(struct store *s)
{
	/* An I/O error or a full disk may already have rolled it back. */
	if (sqlite3_get_autocommit(s->db))
		return;
	sqlite3_step(s->stmt[ST_ROLLBACK]);
	sqlite3_reset(s->stmt[ST_ROLLBACK]);
}

/* commit writes the queued log lines into the open transaction and commits
 * it; on any failure it rolls back and the queue stays for the next try. */
static int commit(struct store *s)
{
	if (store_queue_write(s) < 0 || store_done(s, s->stmt[ST_COMMIT], "commit") != 0) {
		rollback(s);
		return -1;
	}
	store_queue_committed(s);
	return 0;
}

int store_write_begin(struct store *s)
{
	enum store_stmt id = s->in_tx ? ST_SAVEPOINT : ST_BEGIN;
	return store_done(s, s->stmt[id], "begin") == 0 ? 0 : -1;
}

/* release ends the savepoint of one call inside an explicit transaction. */
static int release(struct store *s, int rc)
{
	/* An I/O error may have rolled back the whole transaction. */
	if (sqlite3_get_autocommit(s->db))
		return rc < 0 ? rc : store_seterr(s, "the transaction was rolled back");
	if (rc < 0)
		store_done(s, s->stmt[ST_ROLLBACK_TO], "rollback to");
	if (store_done(s, s->stmt[ST_RELEASE], "release") != 0)
		return -1;
	return rc;
}

int store_write_end(struct store *s, int rc)
{
	if (s->in_tx)
		return release(s, rc);
	if (rc < 0) {
		rollback(s);
		return rc;
	}
	return commit(s) < 0 ? -1 : rc;
}

int store_tx_begin(struct store *s)
{
	if (s->in_tx)
		return store_seterr(s, "begin: a transaction is already open");
	if (store_write_begin(s) < 0)
		return -1;
	s->in_tx = true;
	return 0;
}

int store_tx_commit(struct store *s)
{
	if (!s->in_tx)
		return store_seterr(s, "commit: no transaction is open");
	s->in_tx = false;
	if (sqlite3_get_autocommit(s->db)) {
		char prior[sizeof s->err];
		memcpy(prior, s->err, sizeof prior);
		return store_seterr(s, "commit: the transaction was rolled back by an error (%s)",
		                    prior);
	}
	return commit(s);
}

void store_tx_rollback(struct store *s)
{
	s->in_tx = false;
	rollback(s);
}

/* ---- opening ---- */

/* migration returns the embedded migrations/NNNN_*.sql numbered version. */
static const struct embedded_file *migration(int version)
{
	char prefix[32];
	int n = snprintf(prefix, sizeof prefix, "migrations/%04d_", version);

	for (size_t i = 0; i < embedded_count; i++)
		if (strncmp(embedded_files[i].name, prefix, (size_t)n) == 0)
			return &embedded_files[i];
	return NULL;
}

/* latest_version is the highest migration number. Numbers are handed out
 * to parallel branches ahead of time, so one may be missing for a while: a
 * missing number is an empty migration. */
static int latest_version(void)
{
	int v = 0;
	for (size_t i = 0; i < embedded_count; i++)
		if (strncmp(embedded_files[i].name, "migrations/", 11) == 0) {
			int n = atoi(embedded_files[i].name + 11);
			v = n > v ? n : v;
		}
	return v;
}

/* identify decides from the header fields and the schema, without writing,
 * whether the file is an ofelia database (or empty), and reads its version. */
static int identify(struct store *s, int latest)
{
	int64_t app, version, objects;

	if (pragma_int(s, "PRAGMA application_id", &app) < 0 ||
	    pragma_int(s, "PRAGMA user_version", &version) < 0 ||
	    pragma_int(s, "SELECT count(*) FROM sqlite_schema", &objects) < 0) {
		if (sqlite3_errcode(s->db) == SQLITE_NOTADB)
			return store_seterr(s, "not an SQLite database; refusing to touch it");
		return -1;
	}
	bool empty = app == 0 && version == 0 && objects == 0;
	if (app != STORE_APPLICATION_ID && !empty)
		return store_seterr(s,
		                    "not an ofelia database (application_id %#llx, %lld schema "
		                    "objects); refusing to touch it",
		                    (unsigned long long)app, (long long)objects);
	if (version > latest)
		return store_seterr(s,
		                    "schema version %lld was written by a newer ofelia (this one "
		                    "knows up to %d); refusing to open it",
		                    (long long)version, latest);
	if (s->read_only && version < latest)
		return store_seterr(s,
		                    "schema version %lld needs migrating to %d; open it once "
		                    "read-write (start ofelia) first",
		                    (long long)version, latest);
	s->version = (int)version;
	return 0;
}

static int configure(struct store *s, enum store_sync sync)
{
	sqlite3_stmt *q;
	bool wal = false;

	if (sqlite3_db_readonly(s->db, "main") == 1)
		return store_seterr(s, "the file is read-only; fix its permissions, or open it "
		                       "read-only for reports");
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL) != SQLITE_OK)
		return store_fail(s, "journal_mode");
	if (sqlite3_step(q) == SQLITE_ROW)
		wal = strcmp((const char *)sqlite3_column_text(q, 0), "wal") == 0;
	if (!wal)
		store_seterr(s, "journal_mode: cannot switch to WAL: %s", sqlite3_errmsg(s->db));
	sqlite3_finalize(q);
	if (!wal)
		return -1;
	return exec(s,
	            sync == STORE_SYNC_FULL ? "PRAGMA synchronous = FULL"
	                                    : "PRAGMA synchronous = NORMAL",
	            "synchronous");
}

/* apply runs one migration in its own transaction. The version is read
 * again under the write lock, so two processes opening a new file at once
 * cannot both apply it. */
static int apply(struct store *s, int version)
{
	const struct embedded_file *f = migration(version);
	char sql[64];
	int64_t now;

	if (exec(s, "BEGIN IMMEDIATE", "begin migration") < 0)
		return -1;
	if (pragma_int(s, "PRAGMA user_version", &now) < 0)
		goto fail;
	if (now != s->version) {
		store_seterr(s, "the schema changed while opening (another process?)");
		goto fail;
	}
	/* The first migration makes the file ofelia's. */
	snprintf(sql, sizeof sql, "PRAGMA application_id = %d", STORE_APPLICATION_ID);
	if ((version == 1 && exec(s, sql, "application_id") < 0) ||
	    (f && exec(s, f->data, f->name) < 0))
		goto fail;
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version);
	if (exec(s, sql, "user_version") < 0 || exec(s, "COMMIT", "commit migration") < 0)
		goto fail;
	s->version = version;
	return 0;
fail:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int prepare(struct store *s)
{
	for (int i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v3(s->db, store_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		                       &s->stmt[i], NULL) != SQLITE_OK)
			return store_seterr(s, "prepare \"%.60s\": %s", store_sql[i],
			                    sqlite3_errmsg(s->db));
	return store_outbox_init(s);
}

static int setup(struct store *s, const struct store_options *o)
{
	int latest = latest_version();

	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, 5000);
	if (identify(s, latest) < 0)
		return -1;
	if (!s->read_only) {
		if (configure(s, o->sync) < 0 || exec(s, "PRAGMA foreign_keys = ON", "pragma") < 0)
			return -1;
		while (s->version < latest)
			if (apply(s, s->version + 1) < 0)
				return -1;
	}
	return prepare(s);
}

/* teardown releases s without flushing anything. */
static void teardown(struct store *s)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	store_outbox_fini(s);
	sqlite3_close(s->db);
	store_queue_fini(&s->queue);
	free(s);
}

struct store *store_open(const struct store_options *o, char *err, size_t errlen)
{
	struct store *s = xcalloc(1, sizeof *s);
	int flags = SQLITE_OPEN_NOMUTEX;

	s->read_only = o->read_only;
	flags |= o->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(o->path, &s->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", o->path, sqlite3_errmsg(s->db));
		teardown(s);
		return NULL;
	}
	if (setup(s, o) < 0 || (!o->read_only && store_checkpointer_start(s, o->path) < 0)) {
		snprintf(err, errlen, "%s: %s", o->path, s->err);
		teardown(s);
		return NULL;
	}
	return s;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->in_tx)
		store_tx_rollback(s);
	size_t pending = store_pending(s);
	if (pending && store_flush(s) < 0)
		log_warnx("store: %zu log lines lost at close: %s", pending, s->err);
	store_checkpointer_stop(s);
	teardown(s);
}

const char *store_errmsg(const struct store *s)
{
	return s->err;
}

int store_schema_version(const struct store *s)
{
	return s->version;
}

int store_check(struct store *s)
{
	sqlite3_stmt *q = s->stmt[ST_CHECK];
	int rc = sqlite3_step(q);

	if (rc != SQLITE_ROW)
		store_fail(s, "check");
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* ---- settings ---- */

int store_setting_get(struct store *s, const char *key, char **value)
{
	sqlite3_stmt *q = s->stmt[ST_SETTING_GET];
	int rc;

	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	*value = rc == SQLITE_ROW ? store_col_strdup(q, 0) : NULL;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		store_fail(s, "setting get");
	sqlite3_reset(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int store_setting_put(struct store *s, const char *key, const char *value)
{
	sqlite3_stmt *q = s->stmt[ST_SETTING_PUT];

	if (store_write_begin(s) < 0)
		return -1;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	store_bind_text(q, 2, value);
	store_bind_time(q, 3, clock_now_ns());
	return store_write_end(s, store_done(s, q, "setting put"));
}
