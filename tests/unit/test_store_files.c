/* The store's files and health: one daemon per database (the lock file), no
 * fresh database where one was deleted, a database deleted while open is
 * noticed, the WAL stays bounded under a flood of commits. Real files in a
 * fresh temp dir per test. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "store/store.h"
#include "support.h"
#include "util/clock.h"

static char dir[64];
static char path[128];

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/ofelia-files-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/ofelia.db", dir);
}

static void teardown(void)
{
	support_rmtree(dir);
}

TestSuite(store_files, .init = setup, .fini = teardown);

static struct store *try_open(bool lock, bool init, char *err, size_t errlen)
{
	struct store_options o = {.path = path, .lock = lock, .init = init};
	err[0] = '\0';
	return store_open(&o, err, errlen);
}

static struct store *must_open(bool lock, bool init)
{
	char err[512];
	struct store *s = try_open(lock, init, err, sizeof err);
	cr_assert_not_null(s, "store_open: %s", err);
	return s;
}

static bool exists(const char *suffix)
{
	char p[160];
	snprintf(p, sizeof p, "%s%s", path, suffix);
	return access(p, F_OK) == 0;
}

Test(store_files, a_second_daemon_is_refused_and_a_run_is_not)
{
	char err[512], pid[32];
	struct store *daemon = must_open(true, false);
	snprintf(pid, sizeof pid, "(pid %ld)", (long)getpid());

	cr_assert_null(try_open(true, false, err, sizeof err));
	cr_assert(strstr(err, "another ofelia daemon") && strstr(err, pid), "%s", err);
	/* `ofelia run` works beside the daemon. */
	struct store *run = must_open(false, false);
	store_close(run);
	cr_assert_eq(store_check(daemon), 0, "the refused open harmed nothing");
	store_close(daemon);

	/* The lock goes with the store (and with the process, kill -9 included). */
	store_close(must_open(true, false));
}

Test(store_files, a_deleted_database_is_not_made_again_unless_asked)
{
	char err[512];
	store_close(must_open(false, false));
	cr_assert(exists(".lock"));
	cr_assert_eq(unlink(path), 0);

	cr_assert_null(try_open(true, false, err, sizeof err));
	cr_assert(strstr(err, "missing") && strstr(err, ".lock") && strstr(err, "--init-db"), "%s",
	          err);
	cr_assert_not(exists(""), "nothing was created");
	cr_assert_null(try_open(false, false, err, sizeof err), "ofelia run refuses too");

	/* An emptied file is the same as a missing one. */
	close(open(path, O_CREAT | O_WRONLY, 0644));
	cr_assert_null(try_open(true, false, err, sizeof err));
	cr_assert(strstr(err, "empty"), "%s", err);

	/* A stale WAL is removed before a fresh database is made over it. */
	char wal[160];
	snprintf(wal, sizeof wal, "%s-wal", path);
	close(open(wal, O_CREAT | O_WRONLY, 0644));
	struct store *s = must_open(true, true);
	cr_assert_gt(store_schema_version(s), 0);
	store_close(s);

	/* A folder without any ofelia file gets a new database. */
	char other[160];
	snprintf(other, sizeof other, "%s/new.db", dir);
	struct store_options o = {.path = other, .lock = true};
	s = store_open(&o, err, sizeof err);
	cr_assert_not_null(s, "%s", err);
	store_close(s);
}

Test(store_files, a_database_deleted_while_open_is_noticed)
{
	struct store *s = must_open(true, false);
	cr_assert_eq(store_check(s), 0);
	cr_assert_eq(unlink(path), 0);
	/* The checkpointer looks every 500 ms. */
	for (int i = 0; i < 60 && store_check(s) == 0; i++)
		usleep(50000);
	cr_assert_eq(store_check(s), -1);
	cr_assert(strstr(store_errmsg(s), "deleted or moved"), "%s", store_errmsg(s));
	store_close(s);
}

/* begin_flood stores a job and a running execution of it, into id. */
static void begin_flood(struct store *s, char id[37])
{
	struct store_job j = {0};
	j.def = job_new("flood", JOB_LOCAL);
	j.def->schedule = strdup("@every 1h");
	j.def->command = strdup("true");
	cr_assert_eq(store_job_save(s, &j), 0, "%s", store_errmsg(s));
	job_free(j.def);
	struct store_execution e = {.job_name = "flood",
	                            .job_type = JOB_LOCAL,
	                            .status = JOB_STATUS_RUNNING,
	                            .trigger = JOB_TRIGGER_MANUAL,
	                            .start_ns = clock_now_ns()};
	store_new_id(e.id);
	cr_assert_eq(store_execution_begin(s, &e), 0, "%s", store_errmsg(s));
	memcpy(id, e.id, 37);
}

Test(store_files, the_wal_stays_bounded_under_a_flood_of_commits)
{
	struct store *s = must_open(true, false);
	char wal[160], id[37];
	begin_flood(s, id);
	snprintf(wal, sizeof wal, "%s-wal", path);
	char line[200];
	memset(line, 'x', sizeof line);
	off_t most = 0;
	/* 200k lines of 200 bytes in commits of 2000: 40 MB through the WAL. */
	for (int c = 0, seq = 1; c < 100; c++) {
		for (int i = 0; i < 2000; i++, seq++)
			store_log_append(s, id, seq, 0, false, line, sizeof line);
		cr_assert_eq(store_flush(s), 0, "%s", store_errmsg(s));
		struct stat st;
		if (stat(wal, &st) == 0 && st.st_size > most)
			most = st.st_size;
	}
	cr_assert_leq(most, STORE_WAL_LIMIT, "WAL reached %lld bytes", (long long)most);
	store_close(s);
}

/* Checkpoints wait for the WAL to fill or to age (a minute by default):
 * here the age is 200 ms, and the database file takes what was committed. */
Test(store_files, the_wal_is_copied_back_once_it_has_aged)
{
	char err[512], id[37], line[100];
	struct store_options o = {.path = path, .checkpoint_age_ns = 200 * NS_PER_MS};
	struct store *s = store_open(&o, err, sizeof err);
	cr_assert_not_null(s, "%s", err);
	begin_flood(s, id);
	memset(line, 'x', sizeof line);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	off_t first = st.st_size;
	for (int seq = 1; seq <= 200 && st.st_size == first; seq++) {
		store_log_append(s, id, seq, 0, false, line, sizeof line);
		cr_assert_eq(store_flush(s), 0, "%s", store_errmsg(s));
		usleep(20000);
		cr_assert_eq(stat(path, &st), 0);
	}
	cr_assert_gt(st.st_size, first, "the database file never took the WAL's pages");
	store_close(s);
}

static void count_problem(void *arg, const char *msg)
{
	(void)msg;
	(*(int *)arg)++;
}

Test(store_files, checks_are_time_bounded_and_report_problems)
{
	struct store *s = must_open(true, false);
	char id[37];
	begin_flood(s, id);
	for (int i = 1; i <= 20000; i++)
		store_log_append(s, id, i, 0, false, "some line of output", 19);
	cr_assert_eq(store_flush(s), 0, "%s", store_errmsg(s));
	int problems = 0;
	cr_expect_eq(store_verify(s, false, 0, count_problem, &problems), STORE_VERDICT_OK);
	cr_expect_eq(store_verify(s, true, 0, count_problem, &problems), STORE_VERDICT_OK);
	cr_expect_eq(problems, 0);
	/* A budget too short for any check: it stops, it does not fail. */
	cr_expect_eq(store_verify(s, false, 1, count_problem, &problems), STORE_VERDICT_CUT);
	cr_expect_eq(store_check(s), 0, "the store is still usable");
	store_close(s);
}
