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

/* file_trouble tells whether an error code is the file's or the disk's
 * (the database cannot take writes) rather than the request's. */
static bool file_trouble(int code)
{
	switch (code & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_PROTOCOL:
	case SQLITE_PERM:
	case SQLITE_NOLFS:
		return true;
	}
	return false;
}

int store_fail(struct store *s, const char *what)
{
	store_seterr(s, "%s: %s", what, sqlite3_errmsg(s->db));
	if (!s->read_only && file_trouble(sqlite3_extended_errcode(s->db))) {
		s->unwritable = true;
		snprintf(s->write_err, sizeof s->write_err, "%s", s->err);
	}
	return -1;
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
	sqlite3_step(store_stmt(s, ST_ROLLBACK));
	sqlite3_reset(store_stmt(s, ST_ROLLBACK));
}

/* commit writes the queued log lines into the open transaction and commits
 * it; on any failure it rolls back and the queue stays for the next try. */
static int commit(struct store *s)
{
	if (store_queue_write(s) < 0 || store_done(s, store_stmt(s, ST_COMMIT), "commit") != 0) {
		rollback(s);
		return -1;
	}
	store_queue_committed(s);
	store_cluster_committed(s);
	s->unwritable = false;
	s->committed_ns = clock_mono_ns();
	return 0;
}

int store_write_begin(struct store *s)
{
	/* An I/O error or a full disk may have rolled the explicit transaction
	 * back: a savepoint now would open a new one, and its release would
	 * commit half of the caller's work on its own. */
	if (s->in_tx && sqlite3_get_autocommit(s->db))
		return store_seterr(s, "the transaction was rolled back by an earlier error");
	enum store_stmt id = s->in_tx ? ST_SAVEPOINT : ST_BEGIN;
	return store_done(s, store_stmt(s, id), "begin") == 0 ? 0 : -1;
}

/* release ends the savepoint of one call inside an explicit transaction. */
static int release(struct store *s, int rc)
{
	/* An I/O error may have rolled back the whole transaction. */
	if (sqlite3_get_autocommit(s->db))
		return rc < 0 ? rc : store_seterr(s, "the transaction was rolled back");
	if (rc < 0)
		store_done(s, store_stmt(s, ST_ROLLBACK_TO), "rollback to");
	if (store_done(s, store_stmt(s, ST_RELEASE), "release") != 0)
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

/* latest_version is the last of the migrations numbered 1, 2, ... */
static int latest_version(void)
{
	int v = 0;
	while (migration(v + 1))
		v++;
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

static void first_problem(void *arg, const char *msg)
{
	char *out = arg;
	if (*out == '\0')
		snprintf(out, 256, "%s", msg);
}

/* quick_check refuses a damaged database before anything writes to it. It
 * reads the whole file, which takes seconds when it is big: a file that the
 * last daemon closed cleanly and nothing touched since is not read again. */
static int quick_check(struct store *s)
{
	char first[256] = "";

	if (s->stopped_clean) {
		log_info("store: the last stop was clean and the file is untouched since: "
		         "no start-up check (`ofelia check` checks it all)");
		return 0;
	}
	if (s->version > 0)
		log_info("store: no clean stop recorded for this file (a crash, or it changed "
		         "since): checking it before the start");
	switch (store_verify(s, true, STORE_QUICK_CHECK_NS, first_problem, first)) {
	case STORE_VERDICT_OK:
		return 0;
	case STORE_VERDICT_CUT:
		log_warnx("store: the quick check of the database stopped after %llds (a big "
		          "file); run `ofelia check` for a full check",
		          STORE_QUICK_CHECK_NS / NS_PER_SEC);
		return 0;
	case STORE_VERDICT_DAMAGED:
		return store_seterr(
		    s,
		    "the database is damaged (%s); `ofelia check` lists every "
		    "problem. Restore a backup, or see docs/schema.md for a recovery",
		    first);
	case STORE_VERDICT_ERROR:
		break;
	}
	return -1;
}

static int configure(struct store *s, enum store_sync sync)
{
	sqlite3_stmt *q;
	bool wal = false;
	char sql[64];

	if (sqlite3_db_readonly(s->db, "main") == 1)
		return store_seterr(s, "the file is read-only; fix its permissions, or open it "
		                       "read-only for reports");
	/* Only a new file takes a page size; an older one keeps its own. */
	snprintf(sql, sizeof sql, "PRAGMA page_size = %d", STORE_PAGE_SIZE);
	if (s->version == 0 && exec(s, sql, "page_size") < 0)
		return -1;
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
	if ((version == 1 && exec(s, sql, "application_id") < 0) || exec(s, f->data, f->name) < 0)
		goto fail;
	/* A migration may change sqlite_schema itself (0004 widens a CHECK):
	 * a new schema cookie makes every connection read the schema again. */
	int64_t cookie;
	if (pragma_int(s, "PRAGMA schema_version", &cookie) < 0)
		goto fail;
	snprintf(sql, sizeof sql, "PRAGMA schema_version = %lld", (long long)cookie + 1);
	if (exec(s, sql, "schema_version") < 0)
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

int store_sql_check(struct store *s, const char *const *sql, int n)
{
	for (int i = 0; i < n; i++) {
		sqlite3_stmt *q;
		if (sqlite3_prepare_v2(s->db, sql[i], -1, &q, NULL) != SQLITE_OK)
			return store_seterr(s, "prepare \"%.60s\": %s", sql[i],
			                    sqlite3_errmsg(s->db));
		sqlite3_finalize(q);
	}
	return 0;
}

sqlite3_stmt *store_prepared(struct store *s, sqlite3_stmt **slot, const char *sql)
{
	if (*slot == NULL &&
	    sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK)
		log_errorx("store: prepare \"%.60s\": %s", sql, sqlite3_errmsg(s->db));
	return *slot;
}

void store_finalize_all(sqlite3_stmt **stmt, int n)
{
	for (int i = 0; i < n; i++) {
		sqlite3_finalize(stmt[i]);
		stmt[i] = NULL;
	}
}

static int prepare(struct store *s)
{
	if (store_sql_check(s, store_sql, ST_COUNT) < 0)
		return -1;
	return store_outbox_init(s) < 0 ? -1 : store_chain_init(s);
}

static int setup(struct store *s, const struct store_options *o)
{
	int latest = latest_version();

	sqlite3_extended_result_codes(s->db, 1);
	/* Opening waits for another process's migration, if any. */
	sqlite3_busy_timeout(s->db, 5000);
	if (identify(s, latest) < 0)
		return -1;
	if (o->quick_check && quick_check(s) < 0)
		return -1;
	/* Reads and writes go through read() and write(), never a mapping of
	 * the file: an I/O error is then an error code, not a SIGBUS. */
	if (exec(s, "PRAGMA mmap_size = 0", "mmap_size") < 0)
		return -1;
	/* SQLite's own cache of pages is bounded well below its 2 MiB default:
	 * otherwise it grows with the file for hours and stays; a page it
	 * dropped comes back from the system's cache of the file. */
	if (exec(s, "PRAGMA cache_size = " STORE_CACHE_KIB, "cache_size") < 0)
		return -1;
	if (!s->read_only) {
		if (configure(s, o->sync) < 0 || exec(s, "PRAGMA foreign_keys = ON", "pragma") < 0)
			return -1;
		while (s->version < latest)
			if (apply(s, s->version + 1) < 0)
				return -1;
	}
	snprintf(s->probe_sql, sizeof s->probe_sql, "PRAGMA user_version = %d", s->version);
	if (prepare(s) < 0)
		return -1;
	/* A database that opens but cannot take a write (a read-only or
	 * immutable -wal or -shm, a full disk) is refused now, with the reason,
	 * rather than failing every write later. */
	if (!s->read_only && store_probe(s) < 0)
		return store_seterr(
		    s,
		    "cannot write the database (%.200s); the database file, its "
		    "-wal and -shm files and their folder must be writable, and the "
		    "disk must have room",
		    s->write_err);
	/* The loop thread never waits long for a lock another process holds:
	 * a write that cannot have it fails, and its caller tries again later. */
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	return 0;
}

/* teardown releases s without flushing anything; after a clean run it
 * marks the lock file so that the next start can skip its check. */
static void teardown(struct store *s, bool clean)
{
	store_finalize_all(s->stmt, ST_COUNT);
	store_outbox_fini(s);
	store_cluster_fini(s);
	store_chain_fini(s);
	clean = sqlite3_close(s->db) == SQLITE_OK && clean;
	store_queue_fini(&s->queue);
	store_file_unlock(s, clean ? s->path : NULL);
	free(s->path);
	free(s);
}

struct store *store_open(const struct store_options *o, char *err, size_t errlen)
{
	struct store *s = xcalloc(1, sizeof *s);
	int flags = SQLITE_OPEN_NOMUTEX;

	s->read_only = o->read_only;
	s->path = xstrdup(o->path);
	s->lock_fd = -1;
	flags |= o->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	/* Before SQLite creates anything: the marks are read, then made. */
	if (!o->read_only && (store_file_expect(s, o) < 0 || store_file_lock(s, o) < 0)) {
		snprintf(err, errlen, "%s: %s", o->path, s->err);
		teardown(s, false);
		return NULL;
	}
	if (sqlite3_open_v2(o->path, &s->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", o->path, sqlite3_errmsg(s->db));
		teardown(s, false);
		return NULL;
	}
	int64_t wal_limit = o->wal_limit_bytes > 0 ? o->wal_limit_bytes : STORE_WAL_LIMIT;
	if (setup(s, o) < 0 ||
	    (!o->read_only &&
	     store_checkpointer_start(s, o->path, wal_limit, o->checkpoint_age_ns) < 0)) {
		snprintf(err, errlen, "%s: %s", o->path, s->err);
		teardown(s, false);
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
	bool flushed = pending == 0 || store_flush(s) == 0;
	if (!flushed)
		log_warnx("store: %zu log lines lost at close: %s", pending, s->err);
	char why[8];
	bool clean = flushed && !s->unwritable && !store_checkpointer_moved(s) &&
	             store_checkpointer_failure(s, why, sizeof why) == 0;
	store_checkpointer_stop(s);
	teardown(s, clean);
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
	sqlite3_stmt *q = store_stmt(s, ST_CHECK);

	if (store_checkpointer_moved(s))
		return store_seterr(s, "the database file was deleted or moved while ofelia was "
		                       "running: what it records now is lost when it stops");
	if (s->unwritable)
		return store_seterr(s, "the database cannot be written: %s", s->write_err);
	char why[256];
	if (store_checkpointer_failure(s, why, sizeof why) < 0)
		return store_seterr(s, "the database cannot be written: %s", why);
	int rc = sqlite3_step(q);

	if (rc != SQLITE_ROW)
		store_fail(s, "check");
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? 0 : -1;
}

bool store_writable(const struct store *s)
{
	return !s->unwritable;
}

int64_t store_last_commit_ns(const struct store *s)
{
	return s->committed_ns;
}

int store_probe(struct store *s)
{
	if (s->in_tx)
		return store_seterr(s, "probe: a transaction is open");
	if (store_write_begin(s) < 0)
		return -1;
	if (sqlite3_exec(s->db, s->probe_sql, NULL, NULL, NULL) != SQLITE_OK) {
		store_fail(s, "probe");
		rollback(s);
		return -1;
	}
	return commit(s);
}

/* ---- settings ---- */

int store_setting_get(struct store *s, const char *key, char **value)
{
	sqlite3_stmt *q = store_stmt(s, ST_SETTING_GET);
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
	sqlite3_stmt *q = store_stmt(s, ST_SETTING_PUT);

	if (store_write_begin(s) < 0)
		return -1;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
	store_bind_text(q, 2, value);
	store_bind_time(q, 3, clock_now_ns());
	return store_write_end(s, store_done(s, q, "setting put"));
}
