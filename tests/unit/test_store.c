/* The store against real SQLite files, one fresh temp dir per test. Only the
 * public header is used to drive it; sqlite3 itself serves to build foreign
 * files and to look at what was written, as a user's sqlite3 CLI would. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <sqlite3.h>

#include "store/store.h"
#include "util/clock.h"
#include "support.h"

/* 2026-01-01T00:00:00Z: whole milliseconds, as the store keeps times. */
#define T0  1767225600000000000LL
#define SEC NS_PER_SEC

static char dir[64];
static char path[128];

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/ofelia-store-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/ofelia.db", dir);
}

static void teardown(void)
{
	/* A test may have dropped root to play another user: take it back. */
	if (seteuid(getuid()) < 0)
		perror("seteuid");
	support_rmtree(dir);
}

TestSuite(store, .init = setup, .fini = teardown);

static struct store *open_mode(bool read_only, enum store_sync sync)
{
	struct store_options o = {.path = path, .sync = sync, .read_only = read_only};
	char err[512] = "";
	struct store *s = store_open(&o, err, sizeof err);
	cr_assert_not_null(s, "store_open: %s", err);
	return s;
}

static struct store *open_rw(void)
{
	return open_mode(false, STORE_SYNC_NORMAL);
}

/* refused asserts that opening fails and returns the message. */
static void refused(bool read_only, const char *want)
{
	struct store_options o = {.path = path, .read_only = read_only};
	char err[512] = "";
	struct store *s = store_open(&o, err, sizeof err);
	cr_assert_null(s);
	cr_assert(strstr(err, want), "error \"%s\" lacks \"%s\"", err, want);
}

/* ---- files and raw SQL ---- */

static char *slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	char *data = malloc(*len + 1);
	cr_assert_eq(fread(data, 1, *len, f), *len);
	fclose(f);
	return data;
}

static void write_file(const char *p, const void *data, size_t len)
{
	FILE *f = fopen(p, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* raw runs SQL on the file through its own connection. */
static void raw(const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;
	cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg);
	sqlite3_close(db);
}

/* query returns the first column of the first row as text (caller frees),
 * or NULL when there is no row or the value is NULL. */
static char *query(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	char *out = NULL;

	cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s: %s", sql,
	             sqlite3_errmsg(db));
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
		out = strdup((const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
	return out;
}

static long long query_int(const char *sql)
{
	char *text = query(sql);
	long long v = text ? atoll(text) : -1;
	free(text);
	return v;
}

static void assert_query(const char *sql, const char *want)
{
	char *got = query(sql);
	cr_assert(got && strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"", sql,
	          got ? got : "(null)", want);
	free(got);
}

/* ---- fixtures ---- */

static struct job *local_job(const char *name)
{
	struct job *def = job_new(name, JOB_LOCAL);
	def->schedule = strdup("@every 1h");
	def->command = strdup("echo hello");
	def->source = strdup("ofelia.yaml:3");
	def->history_limit = 10;
	return def;
}

static void save_job(struct store *s, const char *name)
{
	struct store_job j = {.def = local_job(name), .created_ns = T0};
	cr_assert_eq(store_job_save(s, &j), 0, "%s", store_errmsg(s));
	job_free(j.def);
}

/* begin starts an execution of job for slot (0: manual), created at created. */
static int begin(struct store *s, const char *job, int64_t slot, int64_t created, char id[37])
{
	struct store_execution e = {
	    .job_name = (char *)job,
	    .job_type = JOB_LOCAL,
	    .status = JOB_STATUS_RUNNING,
	    .trigger = slot ? JOB_TRIGGER_SCHEDULE : JOB_TRIGGER_MANUAL,
	    .scheduled_ns = slot,
	    .start_ns = created ? created : T0,
	    .created_ns = created,
	};
	store_new_id(e.id);
	memcpy(id, e.id, 37);
	return store_execution_begin(s, &e);
}

static int finish(struct store *s, const char *id, enum job_status status, int64_t duration)
{
	struct store_execution e = {
	    .status = status,
	    .end_ns = T0 + duration,
	    .duration_ns = duration,
	    .has_exit_code = status != JOB_STATUS_INTERRUPTED,
	    .exit_code = status == JOB_STATUS_SUCCESS ? 0 : 1,
	};
	memcpy(e.id, id, 37);
	return store_execution_finish(s, &e);
}

/* ---- opening and migrations ---- */

static unsigned be32(const unsigned char *p)
{
	return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

Test(store, fresh_database_is_migrated_and_marked)
{
	struct store *s = open_rw();
	int version = store_schema_version(s);
	cr_assert_geq(version, 1);
	cr_assert_eq(store_check(s), 0);
	store_close(s);

	size_t len;
	unsigned char *h = (unsigned char *)slurp(path, &len);
	cr_assert_geq(len, 100);
	cr_assert_eq(be32(h + 60), (unsigned)version, "user_version");
	cr_assert_eq(be32(h + 68), 0x4F464C41u, "application_id");
	cr_assert(h[18] == 2 && h[19] == 2, "WAL in the header");
	free(h);
	assert_query("SELECT count(*) FROM sqlite_schema WHERE name IN ('jobs', 'executions', "
	             "'execution_logs', 'job_stats', 'settings')",
	             "5");
}

Test(store, reopen_is_idempotent)
{
	struct store *s = open_rw();
	int version = store_schema_version(s);
	save_job(s, "a");
	store_close(s);

	s = open_rw();
	cr_assert_eq(store_schema_version(s), version);
	struct store_job *j;
	cr_assert_eq(store_job_get(s, "a", &j), 0);
	cr_assert_not_null(j);
	store_job_free(j);
	store_close(s);
	cr_assert_eq(query_int("PRAGMA user_version"), version);
}

/* A database of schema version 5 (its executions indexed by job three
 * times) is migrated at open: its rows stay, found through the new indexes. */
Test(store, version_5_database_is_migrated)
{
	struct store *s = open_rw();
	int version = store_schema_version(s);
	save_job(s, "a");
	store_close(s);
	raw("DROP INDEX executions_job_unslotted;"
	    "CREATE INDEX executions_job_created ON executions (job_name, created_at);"
	    "CREATE INDEX executions_job_time ON executions (job_name, "
	    "coalesce(scheduled_time, start_time, created_at)) WHERE first_attempt_id IS NULL;"
	    "INSERT INTO executions (id, job_name, job_type, status, trigger, scheduled_time, "
	    "start_time, created_at) VALUES "
	    "('e1', 'a', 'local', 'success', 'schedule', '2026-01-01T00:00:10.000Z', "
	    "'2026-01-01T00:00:10.000Z', '2026-01-01T00:00:10.000Z'), "
	    "('e2', 'a', 'local', 'success', 'manual', NULL, '2026-01-01T00:00:20.000Z', "
	    "'2026-01-01T00:00:20.000Z');"
	    "PRAGMA user_version = 5;");

	s = open_rw();
	cr_assert_eq(store_schema_version(s), version);
	struct store_execution **v;
	size_t n;
	cr_assert_eq(store_execution_history(s, "a", 0, 10, &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(v[0]->id, "e2");
	cr_assert_str_eq(v[1]->id, "e1");
	store_executions_free(v, n);
	store_close(s);
	assert_query("SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema "
	             "WHERE name LIKE 'executions_job_%' ORDER BY name)",
	             "executions_job_unslotted");
	assert_query("PRAGMA integrity_check", "ok");
}

Test(store, newer_schema_is_refused_untouched)
{
	store_close(open_rw());
	raw("PRAGMA user_version = 999");
	size_t len0, len1;
	char *before = slurp(path, &len0);
	refused(false, "newer ofelia");
	refused(true, "newer ofelia");
	char *after = slurp(path, &len1);
	cr_assert(len0 == len1 && memcmp(before, after, len0) == 0, "file changed");
	free(before);
	free(after);
}

Test(store, foreign_database_is_refused_untouched)
{
	raw("CREATE TABLE foo (x); INSERT INTO foo VALUES (1);");
	size_t len0, len1;
	char *before = slurp(path, &len0);
	refused(false, "not an ofelia database");
	char *after = slurp(path, &len1);
	cr_assert(len0 == len1 && memcmp(before, after, len0) == 0, "file changed");
	free(before);
	free(after);

	raw("PRAGMA application_id = 1234");
	refused(false, "not an ofelia database");
}

Test(store, other_application_id_is_refused)
{
	raw("PRAGMA application_id = 1234");
	refused(false, "application_id 0x4d2");
}

Test(store, non_sqlite_file_is_refused_untouched)
{
	static const char text[] = "jobs:\n  backup:\n    schedule: '@daily'\n"
	                           "this is a YAML file, not a database, and long enough to have a "
	                           "header of a hundred bytes, which SQLite reads first.\n";
	write_file(path, text, sizeof text - 1);
	refused(false, "not an SQLite database");
	refused(true, "not an SQLite database");
	size_t len;
	char *after = slurp(path, &len);
	cr_assert(len == sizeof text - 1 && memcmp(after, text, len) == 0, "file changed");
	free(after);
}

Test(store, missing_directory_is_an_error)
{
	snprintf(path, sizeof path, "%s/no/such/dir/ofelia.db", dir);
	refused(false, "unable to open");
}

Test(store, wal_mode_and_both_sync_settings)
{
	struct store *s = open_mode(false, STORE_SYNC_FULL);
	save_job(s, "a");
	char wal[160];
	snprintf(wal, sizeof wal, "%s-wal", path);
	struct stat st;
	cr_assert_eq(stat(wal, &st), 0, "a WAL file while open");
	assert_query("PRAGMA journal_mode", "wal");
	store_close(s);

	s = open_mode(false, STORE_SYNC_NORMAL);
	save_job(s, "b");
	store_close(s);
	assert_query("SELECT count(*) FROM jobs", "2");
	assert_query("PRAGMA integrity_check", "ok");
}

/* ---- jobs ---- */

Test(store, job_round_trip)
{
	struct store *s = open_rw();
	struct store_job j = {
	    .def = local_job("backup"),
	    .source_def = local_job("backup"),
	    .overridden = true,
	    .next_run_ns = T0 + 3600 * SEC,
	    .last_run_ns = T0 - 60 * SEC,
	    .last_status = JOB_STATUS_FAILED,
	    .last_slot_ns = T0 - 60 * SEC,
	    .slot_schedule = "@every 1h",
	    .created_ns = T0 - 86400 * SEC,
	};
	free(j.def->command);
	j.def->command = strdup("echo changed");
	j.def->no_overlap = true;
	j.def->max_runtime_ns = 90 * SEC;
	strv_push(&j.def->environment, "A=1");
	cr_assert_eq(store_job_save(s, &j), 0, "%s", store_errmsg(s));

	struct store_job *got;
	cr_assert_eq(store_job_get(s, "backup", &got), 0, "%s", store_errmsg(s));
	cr_assert_not_null(got);
	cr_assert(job_equal(got->def, j.def));
	cr_assert(job_equal(got->source_def, j.source_def));
	cr_assert_eq(got->def->origin, JOB_ORIGIN_CONFIG);
	cr_assert_str_eq(got->def->source, "ofelia.yaml:3");
	cr_assert(got->overridden);
	cr_assert_eq(got->next_run_ns, j.next_run_ns);
	cr_assert_eq(got->last_run_ns, j.last_run_ns);
	cr_assert_eq(got->last_status, JOB_STATUS_FAILED);
	cr_assert_eq(got->last_slot_ns, j.last_slot_ns);
	cr_assert_str_eq(got->slot_schedule, "@every 1h");
	cr_assert_eq(got->deleted_ns, 0);
	cr_assert_eq(got->created_ns, j.created_ns);
	cr_assert_gt(got->updated_ns, T0);
	store_job_free(got);

	/* The columns mirror the definition for sqlite3 users. */
	assert_query("SELECT type || '|' || schedule || '|' || command || '|' || origin || '|' || "
	             "enabled FROM jobs",
	             "local|@every 1h|echo changed|config|1");
	json_t *o = job_to_json(j.def);
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	assert_query("SELECT definition FROM jobs", text);
	free(text);
	json_decref(o);

	cr_assert_eq(store_job_get(s, "nope", &got), 0);
	cr_assert_null(got);
	job_free(j.def);
	job_free(j.source_def);
	store_close(s);
}

/* job_new's defaults, history-limit -1 included, come back as they went in. */
Test(store, job_defaults_round_trip)
{
	struct store *s = open_rw();
	struct store_job j = {.def = job_new("plain", JOB_RUN)};
	cr_assert_eq(store_job_save(s, &j), 0, "%s", store_errmsg(s));
	struct store_job *got;
	cr_assert_eq(store_job_get(s, "plain", &got), 0, "%s", store_errmsg(s));
	cr_assert(job_equal(got->def, j.def));
	store_job_free(got);
	job_free(j.def);
	store_close(s);
}

Test(store, jobs_load_keeps_deleted_and_api_jobs)
{
	struct store *s = open_rw();
	struct store_job api = {.def = local_job("zeta")};
	api.def->origin = JOB_ORIGIN_API;
	struct store_job gone = {.def = local_job("alpha"), .deleted_ns = T0};
	cr_assert_eq(store_job_save(s, &api), 0);
	cr_assert_eq(store_job_save(s, &gone), 0);
	/* Saving again replaces every column but created_at. */
	gone.deleted_ns = T0 + SEC;
	cr_assert_eq(store_job_save(s, &gone), 0);
	store_close(s);

	s = open_rw();
	struct store_job **v;
	size_t n;
	cr_assert_eq(store_jobs_load(s, &v, &n), 0, "%s", store_errmsg(s));
	cr_assert_eq(n, 2);
	cr_assert_str_eq(v[0]->def->name, "alpha");
	cr_assert_eq(v[0]->deleted_ns, T0 + SEC);
	cr_assert_null(v[0]->source_def);
	cr_assert_str_eq(v[1]->def->name, "zeta");
	cr_assert_eq(v[1]->def->origin, JOB_ORIGIN_API);
	cr_assert_eq(v[1]->last_run_ns, 0);
	store_jobs_free(v, n);
	assert_query("SELECT origin FROM jobs WHERE name = 'zeta'", "api");
	store_job_free(NULL);
	job_free(api.def);
	job_free(gone.def);
	store_close(s);
}

Test(store, job_set_next)
{
	struct store *s = open_rw();
	save_job(s, "a");
	cr_assert_eq(store_job_set_next(s, "a", T0 + 5 * SEC), 0);
	assert_query("SELECT next_run FROM jobs", "2026-01-01T00:00:05.000Z");
	cr_assert_eq(store_job_set_next(s, "a", 0), 0);
	assert_query("SELECT count(*) FROM jobs WHERE next_run IS NULL", "1");
	cr_assert_eq(store_job_set_next(s, "nope", T0), -1);
	cr_assert(strstr(store_errmsg(s), "nope"));
	store_close(s);
}

Test(store, stored_definition_that_does_not_parse_is_an_error)
{
	struct store *s = open_rw();
	save_job(s, "a");
	raw("UPDATE jobs SET definition = '{\"name\":\"a\",\"type\":\"local\",\"bogus\":1}'");
	struct store_job **v;
	size_t n;
	cr_assert_eq(store_jobs_load(s, &v, &n), -1);
	cr_assert(strstr(store_errmsg(s), "bogus"), "%s", store_errmsg(s));
	store_close(s);
}

/* ---- executions and slots ---- */

Test(store, execution_begin_and_finish)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char id[37];
	int64_t slot = T0 + 3600 * SEC;
	cr_assert_eq(begin(s, "a", slot, T0 + 3600 * SEC, id), 0, "%s", store_errmsg(s));
	cr_assert_eq(strlen(id), 36);
	cr_assert_eq(store_execution_set_container(s, id, "c0ffee"), 0);

	struct store_execution *e;
	cr_assert_eq(store_execution_get(s, id, &e), 0);
	cr_assert_not_null(e);
	cr_assert_eq(e->status, JOB_STATUS_RUNNING);
	cr_assert_eq(e->trigger, JOB_TRIGGER_SCHEDULE);
	cr_assert_eq(e->scheduled_ns, slot);
	cr_assert_str_eq(e->container_id, "c0ffee");
	cr_assert_eq(e->end_ns, 0);
	cr_assert_not(e->has_exit_code);
	store_execution_free(e);

	/* The job's row moves with the end; the slot is claimed by the row. */
	struct store_job *j;
	cr_assert_eq(store_job_get(s, "a", &j), 0);
	cr_assert_eq(j->last_run_ns, 0);
	cr_assert_eq(j->last_slot_ns, 0);
	store_job_free(j);
	int64_t latest;
	cr_assert_eq(store_job_latest_slot(s, "a", &latest), 0);
	cr_assert_eq(latest, slot);

	struct store_execution fin = {
	    .status = JOB_STATUS_FAILED,
	    .end_ns = T0 + 3602 * SEC,
	    .duration_ns = 2 * SEC,
	    .has_exit_code = true,
	    .exit_code = 3,
	    .output = "partial output",
	    .output_dropped = 10,
	    .error = "exit status 3",
	    .log_lines = 0,
	    .dropped_lines = 5,
	    .scheduled_ns = slot,
	    .slot_schedule = "@every 1h",
	    .next_run_ns = slot + 3600 * SEC,
	};
	memcpy(fin.id, id, 37);
	cr_assert_eq(store_execution_finish(s, &fin), 0, "%s", store_errmsg(s));
	cr_assert_eq(store_execution_get(s, id, &e), 0);
	cr_assert_eq(e->status, JOB_STATUS_FAILED);
	cr_assert_eq(e->end_ns, T0 + 3602 * SEC);
	cr_assert_eq(e->duration_ns, 2 * SEC);
	cr_assert(e->has_exit_code);
	cr_assert_eq(e->exit_code, 3);
	cr_assert_str_eq(e->output, "partial output");
	cr_assert_eq(e->output_dropped, 10);
	cr_assert_str_eq(e->error, "exit status 3");
	cr_assert_eq(e->dropped_lines, 5);
	cr_assert_str_eq(e->job_name, "a");
	cr_assert_eq(e->job_type, JOB_LOCAL);
	store_execution_free(e);
	cr_assert_eq(store_job_get(s, "a", &j), 0);
	cr_assert_eq(j->last_status, JOB_STATUS_FAILED);
	cr_assert_eq(j->last_run_ns, T0 + 3600 * SEC);
	cr_assert_eq(j->last_slot_ns, slot);
	cr_assert_str_eq(j->slot_schedule, "@every 1h");
	cr_assert_eq(j->next_run_ns, slot + 3600 * SEC);
	store_job_free(j);

	fin.status = JOB_STATUS_RUNNING;
	cr_assert_eq(store_execution_finish(s, &fin), -1);
	fin.status = JOB_STATUS_SKIPPED;
	cr_assert_eq(store_execution_finish(s, &fin), -1);
	fin.status = JOB_STATUS_FAILED;
	/* A second finish would count twice: refused. */
	cr_assert_eq(store_execution_finish(s, &fin), -1);
	cr_assert(strstr(store_errmsg(s), "not a running execution"));
	cr_assert_eq(store_execution_get(s, "no-such-id", &e), 0);
	cr_assert_null(e);
	store_close(s);
	assert_query("SELECT start_time || ' ' || end_time || ' ' || scheduled_time FROM "
	             "executions",
	             "2026-01-01T01:00:00.000Z 2026-01-01T01:00:02.000Z 2026-01-01T01:00:00.000Z");
}

Test(store, execution_of_unknown_job_fails)
{
	struct store *s = open_rw();
	char id[37];
	cr_assert_eq(begin(s, "ghost", 0, 0, id), -1);
	cr_assert(strstr(store_errmsg(s), "FOREIGN KEY"), "%s", store_errmsg(s));
	cr_assert_eq(store_check(s), 0);
	store_close(s);
}

Test(store, older_execution_does_not_own_last_status)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char old[37], new[37];
	cr_assert_eq(begin(s, "a", 0, T0, old), 0);
	cr_assert_eq(begin(s, "a", 0, T0 + SEC, new), 0);
	cr_assert_eq(finish(s, new, JOB_STATUS_SUCCESS, SEC), 0);
	cr_assert_eq(finish(s, old, JOB_STATUS_FAILED, 3 * SEC), 0);
	assert_query("SELECT last_status FROM jobs", "success");
	store_close(s);
}

Test(store, a_slot_has_one_outcome_across_restarts)
{
	struct store *s = open_rw();
	save_job(s, "a");
	save_job(s, "b");
	char id[37];
	int64_t slot = T0 + 60 * SEC;
	cr_assert_eq(begin(s, "a", slot, 0, id), 0);
	cr_assert_eq(begin(s, "a", slot, 0, id), STORE_CONFLICT);
	cr_assert(strstr(store_errmsg(s), "already has an outcome"));
	cr_assert_eq(store_slot_outcome(s, "a", JOB_LOCAL, slot, JOB_STATUS_SKIPPED, "overlap",
	                                "@every 1h", 0),
	             STORE_CONFLICT);
	/* The same time is another slot for another job; manual runs have none. */
	cr_assert_eq(begin(s, "b", slot, 0, id), 0);
	cr_assert_eq(begin(s, "a", 0, 0, id), 0);
	cr_assert_eq(begin(s, "a", 0, 0, id), 0);
	store_close(s);

	s = open_rw();
	cr_assert_eq(begin(s, "a", slot, 0, id), STORE_CONFLICT);
	cr_assert_eq(
	    store_slot_outcome(s, "a", JOB_LOCAL, slot, JOB_STATUS_MISSED, "down", "@every 1h", 0),
	    STORE_CONFLICT);
	store_close(s);
	assert_query("SELECT count(*) FROM executions", "4");
	assert_query("SELECT count(*) FROM job_counters", "0"); /* no outcome counted twice */
}

Test(store, slot_outcomes)
{
	struct store *s = open_rw();
	save_job(s, "a");
	static const enum job_status kinds[] = {JOB_STATUS_SKIPPED, JOB_STATUS_MISSED,
	                                        JOB_STATUS_EXPIRED};
	for (int i = 0; i < 3; i++) {
		int64_t slot = T0 + i * 3600 * SEC;
		cr_assert_eq(store_slot_outcome(s, "a", JOB_LOCAL, slot, kinds[i], "why",
		                                "0 * * * *", slot + 3600 * SEC),
		             0, "%s", store_errmsg(s));
	}
	cr_assert_eq(store_slot_outcome(s, "a", JOB_LOCAL, T0 + 9 * 3600 * SEC, JOB_STATUS_SUCCESS,
	                                "no", "0 * * * *", 0),
	             -1);

	struct store_job *j;
	cr_assert_eq(store_job_get(s, "a", &j), 0);
	cr_assert_eq(j->last_slot_ns, T0 + 2 * 3600 * SEC);
	cr_assert_eq(j->next_run_ns, T0 + 3 * 3600 * SEC);
	cr_assert_str_eq(j->slot_schedule, "0 * * * *");
	cr_assert_eq(j->last_run_ns, 0, "an outcome is not a run");
	store_job_free(j);

	struct store_execution **v;
	size_t n;
	cr_assert_eq(store_execution_history(s, "a", 0, 10, &v, &n), 0);
	cr_assert_eq(n, 3);
	for (size_t i = 0; i < n; i++) {
		cr_assert_str_eq(v[i]->error, "why");
		cr_assert_eq(v[i]->start_ns, 0);
		cr_assert_eq(v[i]->trigger, JOB_TRIGGER_SCHEDULE);
	}
	store_executions_free(v, n);

	struct store_metrics_row *m;
	cr_assert_eq(store_metrics_all(s, &m, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(m[0].by_status[JOB_STATUS_SKIPPED], 1);
	cr_assert_eq(m[0].by_status[JOB_STATUS_MISSED], 1);
	cr_assert_eq(m[0].by_status[JOB_STATUS_EXPIRED], 1);
	cr_assert_eq(m[0].duration_count, 0);
	store_metrics_free(m, n);

	struct store_job_metrics jm;
	cr_assert_eq(store_job_metrics(s, "a", &jm), 0);
	cr_assert_eq(jm.total_runs, 0, "slots that did not run are not runs");
	store_close(s);
}

/* ---- log lines ---- */

Test(store, log_lines_append_flush_and_read)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char id[37];
	cr_assert_eq(begin(s, "a", 0, 0, id), 0);
	char msg[32];
	for (int i = 1; i <= 250; i++) {
		int len = snprintf(msg, sizeof msg, "line %d, and more", i);
		/* Not NUL-terminated: only len bytes count. */
		store_log_append(s, id, i, T0 + i * NS_PER_MS, i % 2 == 0, msg, (size_t)len - 10);
	}
	cr_assert_eq(store_pending(s), 250);
	cr_assert_eq(query_int("SELECT count(*) FROM execution_logs"), 0, "not before a commit");
	cr_assert_eq(store_flush(s), 0, "%s", store_errmsg(s));
	cr_assert_eq(store_pending(s), 0);
	cr_assert_eq(store_flush(s), 0, "an empty flush is fine");

	struct store_log_line *v;
	size_t n;
	cr_assert_eq(store_log_read(s, id, 0, 100, &v, &n), 0);
	cr_assert_eq(n, 100);
	cr_assert_eq(v[0].seq, 1);
	cr_assert_str_eq(v[0].message, "line 1");
	cr_assert_not(v[0].is_error);
	cr_assert(v[1].is_error);
	cr_assert_eq(v[1].ts_ns, T0 + 2 * NS_PER_MS);
	int64_t last = v[n - 1].seq;
	store_log_lines_free(v, n);
	cr_assert_eq(store_log_read(s, id, last, 100, &v, &n), 0);
	cr_assert_eq(n, 100);
	cr_assert_eq(v[0].seq, 101);
	store_log_lines_free(v, n);
	cr_assert_eq(store_log_read(s, id, 200, 100, &v, &n), 0);
	cr_assert_eq(n, 50);
	cr_assert_eq(v[49].seq, 250);
	store_log_lines_free(v, n);
	cr_assert_eq(store_log_read(s, id, 250, 100, &v, &n), 0);
	cr_assert_eq(n, 0);
	store_log_lines_free(v, n);
	assert_query("SELECT level || ' ' || timestamp FROM execution_logs WHERE seq = 2",
	             "error 2026-01-01T00:00:00.002Z");
	store_close(s);
}

Test(store, state_changes_commit_the_queue)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char id[37];
	cr_assert_eq(begin(s, "a", 0, 0, id), 0);
	store_log_append(s, id, 1, T0, false, "one", 3);
	store_log_append(s, id, 2, T0, false, "two", 3);
	struct store_execution fin = {.status = JOB_STATUS_SUCCESS, .log_lines = 2};
	memcpy(fin.id, id, 37);
	cr_assert_eq(store_execution_finish(s, &fin), 0);
	cr_assert_eq(store_pending(s), 0);
	assert_query("SELECT group_concat(message, ',') FROM execution_logs", "one,two");
	assert_query("SELECT log_lines FROM executions", "2");

	/* A line that can never be stored does not block the others. */
	store_log_append(s, "no-such-execution", 1, T0, false, "lost", 4);
	store_log_append(s, id, 2, T0, false, "again", 5);
	store_log_append(s, id, 3, T0, false, "three", 5);
	cr_assert_eq(store_flush(s), 0, "%s", store_errmsg(s));
	cr_assert_eq(store_pending(s), 0);
	assert_query("SELECT group_concat(message, ',') FROM execution_logs", "one,two,three");
	store_close(s);
}

Test(store, log_reset_replaces_the_lines)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char id[37], other[37];
	cr_assert_eq(begin(s, "a", 0, 0, id), 0);
	cr_assert_eq(begin(s, "a", 0, 0, other), 0);
	store_log_append(s, id, 1, T0, false, "old 1", 5);
	store_log_append(s, other, 1, T0, false, "kept", 4);
	cr_assert_eq(store_flush(s), 0);
	store_log_append(s, id, 2, T0, false, "old 2", 5);
	store_log_append(s, other, 2, T0, false, "kept", 4);

	/* Stored and queued lines of id go; other's stay (committed with it). */
	cr_assert_eq(store_log_reset(s, id), 0, "%s", store_errmsg(s));
	cr_assert_eq(store_pending(s), 0);
	store_log_append(s, id, 1, T0, false, "new 1", 5);
	cr_assert_eq(store_flush(s), 0);
	store_close(s);
	char want[160];
	snprintf(want, sizeof want,
	         "SELECT group_concat(message, ',') FROM execution_logs WHERE execution_id = '%s'",
	         id);
	assert_query(want, "new 1");
	assert_query("SELECT count(*) FROM execution_logs WHERE message = 'kept'", "2");
	assert_query("SELECT count(*) FROM executions", "2");
}

Test(store, close_flushes_the_queue)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char id[37];
	cr_assert_eq(begin(s, "a", 0, 0, id), 0);
	store_log_append(s, id, 1, T0, false, "bye", 3);
	store_close(s);
	assert_query("SELECT message FROM execution_logs", "bye");
}

Test(store, many_lines_one_flush)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char id[37];
	cr_assert_eq(begin(s, "a", 0, 0, id), 0);
	for (int i = 1; i <= 20000; i++) {
		store_log_append(s, id, i, T0, false, "0123456789", 10);
		/* Lines that cannot be stored, inside a chunk of good ones. */
		if (i == 500)
			store_log_append(s, id, 10, T0, false, "seq again", 9);
		if (i == 700)
			store_log_append(s, "no-such-execution", 1, T0, false, "?", 1);
	}
	cr_assert_eq(store_pending(s), 20002);
	cr_assert_eq(store_flush(s), 0, "%s", store_errmsg(s));
	store_close(s);
	assert_query("SELECT count(*) || ' ' || max(seq) || ' ' || count(DISTINCT message) FROM "
	             "execution_logs",
	             "20000 20000 1");
}

Test(store, queue_bound_drops_the_oldest_and_counts_them)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char id[37];
	cr_assert_eq(begin(s, "a", 0, 0, id), 0);
	const int total = 100001;
	for (int i = 1; i <= total; i++)
		store_log_append(s, id, i, T0, false, "x", 1);
	size_t pending = store_pending(s);
	cr_assert_lt(pending, (size_t)total);
	cr_assert_gt(pending, 0);
	long long dropped = total - (long long)pending;

	struct store_execution fin = {.status = JOB_STATUS_SUCCESS, .log_lines = total};
	memcpy(fin.id, id, 37);
	cr_assert_eq(store_execution_finish(s, &fin), 0, "%s", store_errmsg(s));
	store_close(s);
	char want[64];
	snprintf(want, sizeof want, "%zu %lld %zu", pending, dropped, pending);
	assert_query("SELECT log_lines || ' ' || dropped_lines || ' ' || "
	             "(SELECT count(*) FROM execution_logs) FROM executions",
	             want);
	snprintf(want, sizeof want, "%lld", dropped + 1);
	assert_query("SELECT min(seq) FROM execution_logs", want);
}

/* ---- metrics ---- */

Test(store, finish_writes_metrics)
{
	struct store *s = open_rw();
	save_job(s, "a");
	save_job(s, "b");
	struct {
		enum job_status status;
		int64_t duration;
	} runs[] = {
	    {JOB_STATUS_SUCCESS, 100 * NS_PER_MS}, /* le 0.1, the bound itself */
	    {JOB_STATUS_SUCCESS, 300 * NS_PER_MS}, /* le 0.5 */
	    {JOB_STATUS_FAILED, 2 * SEC},          /* le 2.5 */
	    {JOB_STATUS_STOPPED, 7200 * SEC},      /* +Inf */
	    {JOB_STATUS_INTERRUPTED, 99999 * SEC}, /* counted only */
	};
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		char id[37];
		cr_assert_eq(begin(s, "a", 0, 0, id), 0);
		cr_assert_eq(finish(s, id, runs[i].status, runs[i].duration), 0, "%s",
		             store_errmsg(s));
	}
	store_close(s);
	s = open_rw(); /* metrics survive a restart */

	struct store_job_metrics m;
	cr_assert_eq(store_job_metrics(s, "a", &m), 0);
	cr_assert_eq(m.total_runs, 5);
	cr_assert_eq(m.successful_runs, 2);
	cr_assert_eq(m.failed_runs, 1);
	cr_assert_eq(m.average_duration_ns, (100 + 300 + 2000 + 7200000) * NS_PER_MS / 4);
	cr_assert_eq(m.last_success_ns, T0 + 300 * NS_PER_MS);
	cr_assert_eq(m.last_failure_ns, T0 + 2 * SEC);
	cr_assert_eq(store_job_metrics(s, "b", &m), 0);
	cr_assert_eq(m.total_runs, 0);
	cr_assert_eq(m.average_duration_ns, 0);
	cr_assert_eq(store_job_metrics(s, "nope", &m), 0);
	cr_assert_eq(m.last_success_ns, 0);

	struct store_metrics_row *v;
	size_t n;
	cr_assert_eq(store_metrics_all(s, &v, &n), 0);
	cr_assert_eq(n, 1, "b never ran");
	cr_assert_str_eq(v[0].job_name, "a");
	cr_assert_eq(v[0].by_status[JOB_STATUS_SUCCESS], 2);
	cr_assert_eq(v[0].by_status[JOB_STATUS_FAILED], 1);
	cr_assert_eq(v[0].by_status[JOB_STATUS_STOPPED], 1);
	cr_assert_eq(v[0].by_status[JOB_STATUS_INTERRUPTED], 1);
	cr_assert_eq(v[0].by_status[JOB_STATUS_RUNNING], 0);
	int64_t want[STORE_BUCKET_COUNT] = {[0] = 1, [1] = 1, [3] = 1, [12] = 1};
	for (int i = 0; i < STORE_BUCKET_COUNT; i++)
		cr_assert_eq(v[0].buckets[i], want[i], "bucket %d", i);
	cr_assert_eq(v[0].duration_count, 4);
	cr_assert_eq(v[0].duration_sum_ns, (100 + 300 + 2000 + 7200000) * NS_PER_MS);
	cr_assert_eq(v[0].last_success_ns, T0 + 300 * NS_PER_MS);
	store_metrics_free(v, n);
	store_close(s);

	assert_query("SELECT total_runs || ' ' || successful_runs || ' ' || failed_runs || ' ' || "
	             "last_success || ' ' || last_failure FROM job_stats WHERE job_name = 'a'",
	             "5 2 1 2026-01-01T00:00:00.300Z 2026-01-01T00:00:02.000Z");
	assert_query("SELECT total_runs || ' ' || coalesce(average_duration_ns, 'null') FROM "
	             "job_stats WHERE job_name = 'b'",
	             "0 null");
	assert_query("SELECT group_concat(le || '=' || count, ' ') FROM (SELECT * FROM "
	             "job_durations ORDER BY le = '+Inf', CAST(le AS REAL))",
	             "0.1=1 0.5=1 2.5=1 +Inf=1");
}

Test(store, bucket_bounds)
{
	cr_assert_eq(store_duration_buckets[0], 0.1);
	cr_assert_eq(store_duration_buckets[STORE_BUCKET_COUNT - 2], 3600);
}

/* ---- reading history ---- */

Test(store, history_pages_newest_first)
{
	struct store *s = open_rw();
	save_job(s, "a");
	save_job(s, "b");
	char ids[25][37], other[37];
	for (int i = 0; i < 25; i++) {
		cr_assert_eq(begin(s, "a", 0, T0 + i * SEC, ids[i]), 0);
		if (i < 24)
			cr_assert_eq(finish(s, ids[i], JOB_STATUS_SUCCESS, SEC), 0);
	}
	cr_assert_eq(begin(s, "b", 0, T0 + 100 * SEC, other), 0);

	struct store_execution **v;
	size_t n;
	cr_assert_eq(store_execution_history(s, "a", 0, 10, &v, &n), 0);
	cr_assert_eq(n, 10);
	cr_assert_str_eq(v[0]->id, ids[24]);
	cr_assert_eq(v[0]->status, JOB_STATUS_RUNNING);
	cr_assert_str_eq(v[9]->id, ids[15]);
	int64_t before = v[9]->created_ns;
	store_executions_free(v, n);
	cr_assert_eq(store_execution_history(s, "a", before, 10, &v, &n), 0);
	cr_assert_eq(n, 10);
	cr_assert_str_eq(v[0]->id, ids[14]);
	before = v[9]->created_ns;
	store_executions_free(v, n);
	cr_assert_eq(store_execution_history(s, "a", before, 10, &v, &n), 0);
	cr_assert_eq(n, 5);
	cr_assert_str_eq(v[4]->id, ids[0]);
	store_executions_free(v, n);
	cr_assert_eq(store_execution_history(s, "nope", 0, 10, &v, &n), 0);
	cr_assert_eq(n, 0);
	store_executions_free(v, n);
	store_close(s);
}

/* The strips' statuses: newest first, slot outcomes included, one job's. */
Test(store, recent_statuses_newest_first)
{
	struct store *s = open_rw();
	save_job(s, "a");
	save_job(s, "b");
	char id[37];
	cr_assert_eq(begin(s, "a", 0, T0, id), 0);
	cr_assert_eq(finish(s, id, JOB_STATUS_FAILED, SEC), 0);
	cr_assert_eq(store_slot_outcome(s, "a", JOB_LOCAL, T0 + 60 * SEC, JOB_STATUS_SKIPPED,
	                                "overlap", "@every 1h", T0 + 3600 * SEC),
	             0);
	cr_assert_eq(begin(s, "a", 0, T0 + 120 * SEC, id), 0);
	cr_assert_eq(begin(s, "b", 0, T0 + 130 * SEC, id), 0);

	enum job_status st[4];
	size_t n;
	cr_assert_eq(store_execution_recent(s, "a", 4, st, &n), 0, "%s", store_errmsg(s));
	cr_assert_eq(n, 3);
	/* By the time each is for: the outcome of slot T0 + 60 s is written
	 * now, but goes between the runs started at T0 and T0 + 120 s. */
	cr_assert_eq(st[0], JOB_STATUS_RUNNING);
	cr_assert_eq(st[1], JOB_STATUS_SKIPPED);
	cr_assert_eq(st[2], JOB_STATUS_FAILED);
	cr_assert_eq(store_execution_recent(s, "a", 2, st, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(store_execution_recent(s, "nope", 4, st, &n), 0);
	cr_assert_eq(n, 0);
	store_close(s);
}

Test(store, history_orders_same_millisecond_by_insertion)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char ids[3][37];
	for (int i = 0; i < 3; i++)
		cr_assert_eq(begin(s, "a", 0, T0, ids[i]), 0);
	struct store_execution **v;
	size_t n;
	cr_assert_eq(store_execution_history(s, "a", 0, 10, &v, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(v[0]->id, ids[2]);
	cr_assert_str_eq(v[2]->id, ids[0]);
	store_executions_free(v, n);
	store_close(s);
}

Test(store, history_after_an_id_pages_through_ties)
{
	struct store *s = open_rw();
	save_job(s, "a");
	/* Slot outcomes recorded in one go share their created_at millisecond. */
	cr_assert_eq(store_tx_begin(s), 0);
	for (int i = 0; i < 25; i++)
		cr_assert_eq(store_slot_outcome(s, "a", JOB_LOCAL, T0 + i * 60 * SEC,
		                                JOB_STATUS_MISSED, "down", "* * * * *", 0),
		             0);
	cr_assert_eq(store_tx_commit(s), 0);

	struct store_execution **v;
	size_t n, seen = 0;
	char last[37];
	cr_assert_eq(store_execution_history(s, "a", 0, 10, &v, &n), 0);
	cr_assert_eq(n, 10);
	cr_assert_eq(v[0]->scheduled_ns, T0 + 24 * 60 * SEC, "newest first");
	while (n > 0) {
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(v[i]->scheduled_ns, T0 + (int64_t)(24 - seen - i) * 60 * SEC);
		seen += n;
		memcpy(last, v[n - 1]->id, 37);
		store_executions_free(v, n);
		cr_assert_eq(store_execution_history_after(s, "a", last, 10, &v, &n), 0);
	}
	store_executions_free(v, n);
	cr_assert_eq(seen, 25);
	cr_assert_eq(store_execution_history_after(s, "a", "unknown", 10, &v, &n), 0);
	cr_assert_eq(n, 0);
	store_executions_free(v, n);
	store_close(s);
}

/* Slots and runs without one (manual runs, retries) come from two indexes
 * (migrations/0006): history, its pages, the latest run, depends-on and
 * retention by count see them merged by the time each is for. */
Test(store, history_merges_slots_and_other_runs_by_time)
{
	struct store *s = open_rw();
	save_job(s, "a");
	save_job(s, "b");
	char ids[6][37], other[37];
	/* ids[i] is for T0 + 10 s * i: slots at even i, manual runs at odd i;
	 * the slot at T0 is recorded missed last, as after a restart. */
	for (int i = 1; i < 6; i++) {
		int64_t at = T0 + i * 10 * SEC;
		cr_assert_eq(begin(s, "a", i % 2 ? 0 : at, at, ids[i]), 0);
		cr_assert_eq(
		    finish(s, ids[i], i == 4 ? JOB_STATUS_FAILED : JOB_STATUS_SUCCESS, SEC), 0);
	}
	cr_assert_eq(begin(s, "b", 0, T0 + 25 * SEC, other), 0);
	cr_assert_eq(
	    store_slot_outcome(s, "a", JOB_LOCAL, T0, JOB_STATUS_MISSED, "down", "@every 10s", 0),
	    0);
	struct store_execution **v;
	size_t n;
	cr_assert_eq(store_execution_history(s, "a", 0, 10, &v, &n), 0);
	cr_assert_eq(n, 6);
	for (int i = 1; i < 6; i++)
		cr_assert_str_eq(v[5 - i]->id, ids[i]);
	cr_assert_eq(v[5]->status, JOB_STATUS_MISSED);
	memcpy(ids[0], v[5]->id, 37);
	store_executions_free(v, n);

	/* Pages of two, after an id, cross from one index to the other. */
	char last[37] = "";
	size_t seen = 0;
	do {
		if (*last)
			cr_assert_eq(store_execution_history_after(s, "a", last, 2, &v, &n), 0);
		else
			cr_assert_eq(store_execution_history(s, "a", 0, 2, &v, &n), 0);
		for (size_t i = 0; i < n; i++)
			cr_assert_str_eq(v[i]->id, ids[5 - seen - i]);
		seen += n;
		if (n)
			memcpy(last, v[n - 1]->id, 37);
		store_executions_free(v, n);
	} while (n > 0);
	cr_assert_eq(seen, 6);
	/* Before a time. */
	cr_assert_eq(store_execution_history(s, "a", T0 + 25 * SEC, 10, &v, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(v[0]->id, ids[2]);
	cr_assert_str_eq(v[1]->id, ids[1]);
	store_executions_free(v, n);

	int64_t start;
	enum job_status status;
	cr_assert_eq(store_job_latest_run(s, "a", &start, &status), 0);
	cr_assert_eq(start, T0 + 50 * SEC);
	int64_t slot;
	cr_assert_eq(store_job_latest_slot(s, "a", &slot), 0);
	cr_assert_eq(slot, T0 + 40 * SEC);

	struct store_dep_state dep;
	cr_assert_eq(store_dependency_state(s, "a", T0 + 45 * SEC, &dep), 0);
	cr_assert(dep.found);
	cr_assert_str_eq(dep.id, ids[4]);
	cr_assert_eq(dep.status, JOB_STATUS_FAILED);
	cr_assert_eq(store_dependency_state(s, "a", T0 + 39 * SEC, &dep), 0);
	cr_assert_str_eq(dep.id, ids[3]);
	cr_assert_eq(dep.at_ns, T0 + 30 * SEC);
	cr_assert_eq(store_dependency_state(s, "a", T0 - SEC, &dep), 0);
	cr_assert_not(dep.found);

	/* Keep the 2 newest: the 4 oldest go, 3 per batch, from both indexes. */
	cr_assert_eq(store_prune_count(s, "a", 2, 3), 3);
	cr_assert_eq(store_prune_count(s, "a", 2, 3), 1);
	cr_assert_eq(store_prune_count(s, "a", 2, 3), 0);
	cr_assert_eq(store_execution_history(s, "a", 0, 10, &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(v[0]->id, ids[5]);
	cr_assert_str_eq(v[1]->id, ids[4]);
	store_executions_free(v, n);
	store_close(s);
	assert_query("SELECT count(*) FROM executions WHERE job_name = 'b'", "1");
}

Test(store, running_executions)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char a[37], b[37], c[37];
	cr_assert_eq(begin(s, "a", 0, T0 + 2 * SEC, a), 0);
	cr_assert_eq(begin(s, "a", 0, T0 + SEC, b), 0);
	cr_assert_eq(begin(s, "a", 0, T0 + 3 * SEC, c), 0);
	cr_assert_eq(finish(s, c, JOB_STATUS_SUCCESS, SEC), 0);
	store_close(s);

	s = open_rw();
	struct store_execution **v;
	size_t n;
	cr_assert_eq(store_executions_running(s, &v, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(v[0]->id, b, "oldest first");
	cr_assert_str_eq(v[1]->id, a);
	store_executions_free(v, n);
	cr_assert_eq(finish(s, a, JOB_STATUS_INTERRUPTED, 0), 0);
	cr_assert_eq(finish(s, b, JOB_STATUS_INTERRUPTED, 0), 0);
	cr_assert_eq(store_executions_running(s, &v, &n), 0);
	cr_assert_eq(n, 0);
	store_executions_free(v, n);
	store_close(s);
}

/* ---- settings ---- */

Test(store, settings)
{
	struct store *s = open_rw();
	char *v;
	cr_assert_eq(store_setting_get(s, "jwt-secret", &v), 0);
	cr_assert_null(v);
	cr_assert_eq(store_setting_put(s, "jwt-secret", "s3cret"), 0);
	cr_assert_eq(store_setting_put(s, "jwt-secret", "other"), 0);
	store_close(s);
	s = open_rw();
	cr_assert_eq(store_setting_get(s, "jwt-secret", &v), 0);
	cr_assert_str_eq(v, "other");
	free(v);
	store_close(s);
	assert_query("SELECT count(*) FROM settings", "1");
}

/* ---- retention ---- */

Test(store, prune_by_age)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char ids[6][37];
	for (int i = 0; i < 6; i++) {
		cr_assert_eq(begin(s, "a", 0, T0 + i * 86400 * SEC, ids[i]), 0);
		store_log_append(s, ids[i], 1, T0, false, "x", 1);
		if (i != 1)
			cr_assert_eq(finish(s, ids[i], JOB_STATUS_SUCCESS, SEC), 0);
	}
	/* Days 0-3 are old; day 1 is still running. */
	int64_t cutoff = T0 + 4 * 86400 * SEC;
	cr_assert_eq(store_prune_age(s, cutoff, 2), 2);
	cr_assert_eq(store_prune_age(s, cutoff, 2), 1);
	cr_assert_eq(store_prune_age(s, cutoff, 2), 0);
	store_close(s);
	assert_query("SELECT count(*) FROM executions", "3");
	assert_query("SELECT count(*) FROM executions WHERE status = 'running'", "1");
	assert_query("SELECT count(*) FROM execution_logs", "3");
	assert_query("SELECT total_runs FROM job_stats", "5"); /* counters only grow */
	cr_assert_null(query("PRAGMA foreign_key_check"));
}

Test(store, prune_by_count)
{
	struct store *s = open_rw();
	save_job(s, "a");
	save_job(s, "b");
	char ids[10][37], other[37];
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(begin(s, "a", 0, T0 + i * SEC, ids[i]), 0);
		store_log_append(s, ids[i], 1, T0, false, "x", 1);
		if (i != 0)
			cr_assert_eq(finish(s, ids[i], JOB_STATUS_SUCCESS, SEC), 0);
	}
	cr_assert_eq(begin(s, "b", 0, T0, other), 0);
	cr_assert_eq(finish(s, other, JOB_STATUS_SUCCESS, SEC), 0);

	/* 9 finished, keep 3: 6 go, oldest first, 4 per batch; the running
	 * oldest one stays. */
	cr_assert_eq(store_prune_count(s, "a", 3, 4), 4);
	assert_query("SELECT count(*) FROM executions WHERE job_name = 'a' AND created_at < "
	             "'2026-01-01T00:00:05'",
	             "1");
	cr_assert_eq(store_prune_count(s, "a", 3, 4), 2);
	cr_assert_eq(store_prune_count(s, "a", 3, 4), 0);
	cr_assert_eq(store_prune_count(s, "nope", 3, 4), 0);

	struct store_execution **v;
	size_t n;
	cr_assert_eq(store_execution_history(s, "a", 0, 100, &v, &n), 0);
	cr_assert_eq(n, 4);
	cr_assert_str_eq(v[0]->id, ids[9]);
	cr_assert_str_eq(v[2]->id, ids[7]);
	cr_assert_str_eq(v[3]->id, ids[0]);
	store_executions_free(v, n);
	store_close(s);
	assert_query("SELECT count(*) FROM execution_logs", "4");
	assert_query("SELECT count(*) FROM executions WHERE job_name = 'b'", "1");
}

/* ---- transactions ---- */

Test(store, explicit_transactions)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char id[37];
	cr_assert_eq(begin(s, "a", 0, 0, id), 0);

	cr_assert_eq(store_tx_begin(s), 0);
	cr_assert_eq(store_tx_begin(s), -1, "no nesting");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(store_slot_outcome(s, "a", JOB_LOCAL, T0 + i * SEC, JOB_STATUS_MISSED,
		                                "down", "* * * * * *", 0),
		             0);
	store_log_append(s, id, 1, T0, false, "x", 1);
	cr_assert_eq(store_flush(s), 0);
	cr_assert_eq(store_pending(s), 1, "lines wait for the commit");
	store_tx_rollback(s);
	cr_assert_eq(query_int("SELECT count(*) FROM executions WHERE status = 'missed'"), 0);
	cr_assert_eq(store_pending(s), 1, "a rollback keeps the queue");

	cr_assert_eq(store_tx_begin(s), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(store_slot_outcome(s, "a", JOB_LOCAL, T0 + i * SEC, JOB_STATUS_MISSED,
		                                "down", "* * * * * *", 0),
		             0);
	/* A conflict inside the transaction leaves the rest of it alone. */
	cr_assert_eq(
	    store_slot_outcome(s, "a", JOB_LOCAL, T0, JOB_STATUS_MISSED, "down", "* * * * * *", 0),
	    STORE_CONFLICT);
	cr_assert_eq(query_int("SELECT count(*) FROM executions WHERE status = 'missed'"), 0);
	cr_assert_eq(store_tx_commit(s), 0, "%s", store_errmsg(s));
	cr_assert_eq(store_tx_commit(s), -1);
	cr_assert_eq(store_pending(s), 0);
	store_close(s);
	assert_query("SELECT count(*) FROM executions WHERE status = 'missed'", "3");
	assert_query("SELECT count(*) FROM execution_logs", "1");
}

/* ---- read-only use and failures ---- */

Test(store, read_only_open)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char id[37];
	cr_assert_eq(begin(s, "a", T0, 0, id), 0);
	store_close(s);
	size_t len0, len1;
	char *before = slurp(path, &len0);

	s = open_mode(true, STORE_SYNC_NORMAL);
	cr_assert_eq(store_check(s), 0);
	struct store_job **v;
	size_t n;
	cr_assert_eq(store_jobs_load(s, &v, &n), 0);
	cr_assert_eq(n, 1);
	store_jobs_free(v, n);
	cr_assert_eq(store_setting_put(s, "k", "v"), -1);
	cr_assert(strstr(store_errmsg(s), "readonly"), "%s", store_errmsg(s));
	cr_assert_eq(store_job_set_next(s, "a", T0), -1);
	cr_assert_eq(begin(s, "a", T0 + SEC, 0, id), -1);
	store_log_append(s, id, 1, T0, false, "x", 1);
	cr_assert_eq(store_flush(s), -1);
	cr_assert_eq(store_check(s), 0, "still usable");
	store_close(s);

	char *after = slurp(path, &len1);
	cr_assert(len0 == len1 && memcmp(before, after, len0) == 0, "file changed");
	free(before);
	free(after);
	assert_query("SELECT count(*) FROM executions", "1");
}

Test(store, read_only_open_needs_an_ofelia_database)
{
	refused(true, "unable to open");
	write_file(path, "", 0);
	refused(true, "needs migrating");
}

Test(store, write_protected_file_is_refused)
{
	store_close(open_rw());
	cr_assert_eq(chmod(path, 0444), 0);
	cr_assert_eq(chmod(dir, 0777), 0);
	/* Root writes through file modes: test as nobody, in this forked test. */
	if (geteuid() == 0 && seteuid(65534) < 0)
		cr_skip_test("cannot drop root");
	refused(false, "read-only");
	struct store *s = open_mode(true, STORE_SYNC_NORMAL);
	cr_assert_eq(store_check(s), 0);
	store_close(s);
}

Test(store, full_disk_keeps_the_queue_and_the_data)
{
	struct store *s = open_rw();
	save_job(s, "a");
	char id[37];
	cr_assert_eq(begin(s, "a", 0, 0, id), 0);
	cr_assert_eq(store_flush(s), 0);

	/* The file size limit makes every write past it fail, as a full disk
	 * does; SIGXFSZ would otherwise kill the process. */
	struct rlimit old, tight;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	char wal[160];
	snprintf(wal, sizeof wal, "%s-wal", path);
	struct stat st;
	cr_assert_eq(stat(wal, &st), 0);
	signal(SIGXFSZ, SIG_IGN);
	tight = old;
	tight.rlim_cur = (rlim_t)st.st_size + 4096;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &tight), 0);

	char msg[200];
	memset(msg, 'z', sizeof msg);
	for (int i = 1; i <= 2000; i++)
		store_log_append(s, id, i, T0, false, msg, sizeof msg);
	cr_assert_eq(store_flush(s), -1);
	cr_assert(strstr(store_errmsg(s), "disk") || strstr(store_errmsg(s), "full"), "%s",
	          store_errmsg(s));
	cr_assert_eq(store_pending(s), 2000, "the queue stays for the next try");
	cr_assert_eq(store_setting_put(s, "k", "v"), -1);
	/* Readiness shows a store that cannot write, until a write works. */
	cr_assert_eq(store_check(s), -1);
	cr_assert(strstr(store_errmsg(s), "cannot be written"), "%s", store_errmsg(s));
	cr_assert_not(store_writable(s));
	cr_assert_eq(store_probe(s), -1);

	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert_eq(store_probe(s), 0, "%s", store_errmsg(s));
	cr_assert_eq(store_check(s), 0);
	cr_assert_eq(store_flush(s), 0, "%s", store_errmsg(s));
	cr_assert_eq(store_pending(s), 0);
	cr_assert_eq(store_setting_put(s, "k", "v"), 0);
	store_close(s);
	assert_query("SELECT count(*) FROM execution_logs", "2000");
	assert_query("SELECT count(*) FROM jobs", "1");
	assert_query("PRAGMA integrity_check", "ok");
}

/* ---- retries and workflows ---- */

Test(store, pending_rows_run_once)
{
	struct store *s = open_rw();
	save_job(s, "a");
	save_job(s, "b");
	char first[37];
	int64_t slot = T0 + 3600 * SEC;
	cr_assert_eq(begin(s, "a", slot, slot, first), 0, "%s", store_errmsg(s));

	/* The end commits its retry and owes no notice. */
	struct store_pending retry = {.job_name = "a",
	                              .kind = STORE_PENDING_RETRY,
	                              .trigger = JOB_TRIGGER_RETRY,
	                              .due_ns = slot + 10 * SEC,
	                              .attempt = 2,
	                              .reason = "attempt 2 of 3"};
	store_new_id(retry.id);
	memcpy(retry.first_attempt_id, first, 37);
	memcpy(retry.cause_id, first, 37);
	struct store_execution fin = {.status = JOB_STATUS_FAILED, .end_ns = slot + SEC};
	memcpy(fin.id, first, 37);
	cr_assert_eq(store_execution_finish_then(s, &fin, &retry, 1, false), 0, "%s",
	             store_errmsg(s));

	struct store_dep_state st;
	cr_assert_eq(store_dependency_state(s, "a", slot, &st), 0);
	cr_assert(st.found && st.retry_pending);
	cr_assert_str_eq(st.id, first);
	cr_assert_eq(st.status, JOB_STATUS_FAILED);
	cr_assert_eq(store_dependency_state(s, "a", slot - SEC, &st), 0);
	cr_assert_not(st.found);

	struct store_pending **v;
	size_t n;
	cr_assert_eq(store_pending_load(s, &v, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(v[0]->id, retry.id);
	cr_assert_eq(v[0]->kind, STORE_PENDING_RETRY);
	cr_assert_eq(v[0]->due_ns, retry.due_ns);
	cr_assert_str_eq(v[0]->first_attempt_id, first);
	cr_assert_str_eq(v[0]->reason, "attempt 2 of 3");

	/* Its execution takes the row's place; a second begin of it fails. */
	struct store_execution e = {.job_name = "a",
	                            .job_type = JOB_LOCAL,
	                            .trigger = JOB_TRIGGER_RETRY,
	                            .start_ns = retry.due_ns,
	                            .created_ns = retry.due_ns,
	                            .attempt = 2,
	                            .pending = true};
	memcpy(e.id, retry.id, 37);
	memcpy(e.first_attempt_id, first, 37);
	memcpy(e.cause_id, first, 37);
	cr_assert_eq(store_execution_begin(s, &e), 0, "%s", store_errmsg(s));
	cr_assert_neq(store_execution_begin(s, &e), 0);
	store_pendings_free(v, n);
	cr_assert_eq(store_pending_load(s, &v, &n), 0);
	cr_assert_eq(n, 0);
	free(v);

	/* The chain is read through its last attempt. */
	cr_assert_eq(store_dependency_state(s, "a", slot, &st), 0);
	cr_assert_eq(st.status, JOB_STATUS_RUNNING);
	cr_assert_str_eq(st.last_id, retry.id);
	cr_assert_eq(st.attempts, 2);
	fin.status = JOB_STATUS_SUCCESS;
	memcpy(fin.id, retry.id, 37);
	fin.end_ns = retry.due_ns + SEC;
	cr_assert_eq(store_execution_finish(s, &fin), 0, "%s", store_errmsg(s));
	cr_assert_eq(store_dependency_state(s, "a", slot + 100 * SEC, &st), 0);
	cr_assert(st.found && !st.retry_pending);
	cr_assert_eq(st.status, JOB_STATUS_SUCCESS);
	struct store_execution **caused;
	cr_assert_eq(store_execution_caused(s, first, 10, &caused, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(caused[0]->id, retry.id);
	cr_assert_eq(caused[0]->attempt, 2);
	cr_assert_str_eq(caused[0]->cause_id, first);
	store_executions_free(caused, n);

	/* A waiting slot moves the job's slot; its outcome goes under its id. */
	struct store_pending wait = {.job_name = "b",
	                             .kind = STORE_PENDING_WAIT,
	                             .trigger = JOB_TRIGGER_SCHEDULE,
	                             .due_ns = slot + 60 * SEC,
	                             .slot_ns = slot};
	store_new_id(wait.id);
	cr_assert_eq(store_slot_wait(s, &wait, "@every 1h", slot + 3600 * SEC), 0);
	struct store_job *j;
	cr_assert_eq(store_job_get(s, "b", &j), 0);
	cr_assert_eq(j->last_slot_ns, slot);
	store_job_free(j);
	cr_assert_eq(store_pending_resolve(s, &wait, JOB_LOCAL, JOB_STATUS_SKIPPED,
	                                   "dependency a did not succeed"),
	             0, "%s", store_errmsg(s));
	cr_assert_neq(store_pending_resolve(s, &wait, JOB_LOCAL, JOB_STATUS_SKIPPED, "again"), 0);
	store_close(s);
	char sql[256];
	snprintf(sql, sizeof sql,
	         "SELECT status || ' ' || trigger || ' ' || error FROM executions WHERE id = '%s'",
	         wait.id);
	assert_query(sql, "skipped schedule dependency a did not succeed");
	assert_query("SELECT count(*) FROM pending_runs", "0");
	assert_query("SELECT count(*) FROM job_counters WHERE job_name = 'b' AND status = "
	             "'skipped'",
	             "1");
}

Test(store, trigger_dependency_is_a_stored_trigger)
{
	struct store *s = open_rw();
	save_job(s, "a");
	struct store_execution e = {.job_name = "a",
	                            .job_type = JOB_LOCAL,
	                            .trigger = JOB_TRIGGER_DEPENDENCY,
	                            .start_ns = T0,
	                            .created_ns = T0};
	store_new_id(e.id);
	memcpy(e.cause_id, e.id, 37);
	cr_assert_eq(store_execution_begin(s, &e), 0, "%s", store_errmsg(s));
	store_close(s);
	assert_query("SELECT trigger FROM executions", "dependency");
	assert_query("PRAGMA integrity_check", "ok");
	assert_query("PRAGMA writable_schema", "0");
}

/* Ids are UUIDv7 (issue 13): version 7, RFC 4122 variant, and each one
 * sorts after the one before, so the indexes keyed by id grow at one edge. */
Test(store, ids_are_time_ordered_uuidv7)
{
	char prev[37] = "", id[37];
	for (int i = 0; i < 10000; i++) {
		store_new_id(id);
		cr_assert_eq(strlen(id), 36);
		cr_assert_eq(id[14], '7', "%s", id);
		cr_assert(strchr("89ab", id[19]) != NULL, "%s", id);
		cr_assert_gt(strcmp(id, prev), 0, "%s after %s", id, prev);
		memcpy(prev, id, sizeof prev);
	}
}
