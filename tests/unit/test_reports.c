/* The sql/ reports, run as a user runs them (sqlite3 FILE < sql/NAME.sql)
 * on a database filled through the store API, with their exact output
 * checked. Run from the repository root, where sql/ is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "support.h"

#define SEC  NS_PER_SEC
#define MIN  (60 * SEC)
#define HOUR (3600 * SEC)

/* 2025-03-01T00:00:00Z and the day after. */
#define D1 1740787200000000000LL
#define D2 (D1 + 24 * HOUR)

static char dir[64];
static char path[128];
static struct store *st;
static int64_t now; /* whole milliseconds, as stored */

/* Ids of the executions the reports name. */
static char recent_failed[37], recent_interrupted[37], running[37], truncated[37];

static void save_job(const char *name, const char *schedule)
{
	struct store_job j = {.def = job_new(name, JOB_LOCAL), .next_run_ns = D2 + HOUR};
	j.def->schedule = strdup(schedule);
	j.def->command = strdup("true");
	j.def->history_limit = 10;
	cr_assert_eq(store_job_save(st, &j), 0, "%s", store_errmsg(st));
	job_free(j.def);
}

/* record writes one execution of job from start to end; end 0 leaves it
 * running. */
static void record(const char *job, int64_t start, int64_t end, enum job_status status,
                   int exit_code, const char *error, char id[37])
{
	struct store_execution e = {
	    .job_name = (char *)job,
	    .job_type = JOB_LOCAL,
	    .trigger = end ? JOB_TRIGGER_SCHEDULE : JOB_TRIGGER_MANUAL,
	    .start_ns = start,
	    .created_ns = start,
	    .container_id = end ? NULL : "abc123",
	};
	store_new_id(e.id);
	cr_assert_eq(store_execution_begin(st, &e), 0, "%s", store_errmsg(st));
	if (id)
		memcpy(id, e.id, 37);
	if (end == 0)
		return;
	e.status = status;
	e.end_ns = end;
	/* ofelia did not see an interrupted run end: it has no duration. */
	e.duration_ns = status == JOB_STATUS_INTERRUPTED ? 0 : end - start;
	e.has_exit_code = status != JOB_STATUS_INTERRUPTED;
	e.exit_code = exit_code;
	e.error = (char *)error;
	cr_assert_eq(store_execution_finish(st, &e), 0, "%s", store_errmsg(st));
}

static void success(const char *job, int64_t start, int64_t duration)
{
	record(job, start, start + duration, JOB_STATUS_SUCCESS, 0, NULL, NULL);
}

static void slot(const char *job, int64_t at, enum job_status status, const char *reason)
{
	cr_assert_eq(
	    store_slot_outcome(st, job, JOB_LOCAL, at, status, reason, "0 * * * *", at + HOUR), 0,
	    "%s", store_errmsg(st));
}

/* populate writes, in time order: two days of history in 2025, recent
 * failures, a run still going and slots that did not run. */
static void populate(void)
{
	save_job("backup", "@every 1h");
	save_job("cleanup", "0 * * * *");
	save_job("report", "@daily");

	success("backup", D1 + 1 * HOUR, 10 * SEC);
	success("backup", D1 + 2 * HOUR, 20 * SEC);
	record("backup", D1 + 3 * HOUR, D1 + 3 * HOUR + 5 * SEC, JOB_STATUS_FAILED, 1,
	       "exit status 1", NULL);
	for (int i = 1; i <= 20; i++)
		success("report", D1 + 4 * HOUR + i * MIN, i * SEC);
	slot("cleanup", D1 + 5 * HOUR, JOB_STATUS_SKIPPED,
	     "overlap: the run of 04:00, still going");
	slot("cleanup", D1 + 6 * HOUR, JOB_STATUS_MISSED, "ofelia was not running");
	slot("cleanup", D1 + 7 * HOUR, JOB_STATUS_EXPIRED, "missed by more than 1h");

	struct store_execution e = {
	    .job_name = "backup",
	    .job_type = JOB_LOCAL,
	    .start_ns = D2 + HOUR,
	    .created_ns = D2 + HOUR,
	};
	store_new_id(e.id);
	memcpy(truncated, e.id, 37);
	cr_assert_eq(store_execution_begin(st, &e), 0);
	e.status = JOB_STATUS_SUCCESS;
	e.end_ns = D2 + HOUR + 30 * SEC;
	e.duration_ns = 30 * SEC;
	e.has_exit_code = true;
	e.log_lines = 1000;
	e.dropped_lines = 5;
	e.output_dropped = 100;
	cr_assert_eq(store_execution_finish(st, &e), 0);

	record("report", now - 3 * HOUR, now - 30 * MIN, JOB_STATUS_INTERRUPTED, 0,
	       "ofelia stopped while it ran", recent_interrupted);
	record("backup", now - HOUR, now - HOUR + 2 * SEC, JOB_STATUS_FAILED, 2, "exit status 2",
	       recent_failed);
	record("cleanup", now - 90 * SEC, 0, JOB_STATUS_RUNNING, 0, NULL, running);
}

static void open_store(void)
{
	snprintf(dir, sizeof dir, "/tmp/ofelia-reports-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/ofelia.db", dir);
	struct store_options o = {.path = path};
	char err[256];
	st = store_open(&o, err, sizeof err);
	cr_assert_not_null(st, "%s", err);
	now = clock_now_ns() / NS_PER_MS * NS_PER_MS;
}

static void setup(void)
{
	open_store();
	populate();
}

static void teardown(void)
{
	store_close(st);
	support_rmtree(dir);
}

TestSuite(reports, .init = setup, .fini = teardown);

/* report runs sql/NAME.sql with the sqlite3 CLI while the store is open
 * and returns its output with CSV's CRLF line ends made LF (caller frees). */
static char *report(const char *name)
{
	char cmd[512], chunk[4096];
	struct buf out = BUF_INIT;
	size_t n;

	snprintf(cmd, sizeof cmd, "sql/%s.sql", name);
	cr_assert_eq(access(cmd, R_OK), 0, "%s: run the tests from the repository root", cmd);
	snprintf(cmd, sizeof cmd, "sqlite3 -batch -bail -init /dev/null '%s' < sql/%s.sql", path,
	         name);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
		for (size_t i = 0; i < n; i++)
			if (chunk[i] != '\r')
				buf_putc(&out, chunk[i]);
	cr_assert_eq(pclose(p), 0, "%s failed", cmd);
	return buf_steal(&out);
}

static void assert_report(const char *name, const char *want)
{
	char *got = report(name);
	cr_assert_str_eq(got, want, "sql/%s.sql:\n--- got\n%s--- want\n%s", name, got, want);
	free(got);
}

static const char *iso(int64_t ns, char out[CLOCK_TEXT_MAX])
{
	clock_format_iso(ns, out);
	return out;
}

Test(reports, failures_24h)
{
	char want[1024], a[CLOCK_TEXT_MAX], b[CLOCK_TEXT_MAX];
	snprintf(want, sizeof want,
	         "time,job_name,status,exit_code,error,execution_id\n"
	         "%s,report,interrupted,,\"ofelia stopped while it ran\",%s\n"
	         "%s,backup,failed,2,\"exit status 2\",%s\n",
	         iso(now - 30 * MIN, a), recent_interrupted, iso(now - HOUR + 2 * SEC, b),
	         recent_failed);
	assert_report("failures-24h", want);
}

Test(reports, success_rate)
{
	char want[1024], backup_day[CLOCK_TEXT_MAX], report_day[CLOCK_TEXT_MAX];
	iso(now - HOUR, backup_day);
	iso(now - 3 * HOUR, report_day);
	backup_day[10] = report_day[10] = '\0';
	snprintf(want, sizeof want,
	         "day,job_name,runs,successes,success_pct\n"
	         "%s,backup,1,0,0.0\n"
	         "%s,report,1,0,0.0\n"
	         "2025-03-02,backup,1,1,100.0\n"
	         "2025-03-01,backup,3,2,66.7\n"
	         "2025-03-01,report,20,20,100.0\n",
	         backup_day, report_day);
	assert_report("success-rate", want);
}

Test(reports, slowest_jobs)
{
	/* backup: 2, 5, 10, 20, 30 s: rank ceil(4.75) = 5; report: 1..20 s:
	 * rank 19 (the interrupted run has no duration). */
	assert_report("slowest-jobs", "job_name,runs,p95_seconds,max_seconds\n"
	                              "backup,5,30.0,30.0\n"
	                              "report,20,19.0,20.0\n");
}

Test(reports, running)
{
	char *got = report("running");
	char start[CLOCK_TEXT_MAX], head[256];
	snprintf(head, sizeof head,
	         "execution_id,job_name,trigger,start_time,running_seconds,container_id\n"
	         "%s,cleanup,manual,%s,",
	         running, iso(now - 90 * SEC, start));
	cr_assert(strncmp(got, head, strlen(head)) == 0, "got:\n%s", got);
	double secs = strtod(got + strlen(head), NULL);
	cr_assert(secs >= 90 && secs < 3600, "running_seconds %f", secs);
	cr_assert(strstr(got + strlen(head), ",abc123\n"), "got:\n%s", got);
	free(got);
}

Test(reports, missed_slots)
{
	assert_report("missed-slots",
	              "scheduled_time,job_name,status,reason\n"
	              "2025-03-01T07:00:00.000Z,cleanup,expired,\"missed by more than 1h\"\n"
	              "2025-03-01T06:00:00.000Z,cleanup,missed,\"ofelia was not running\"\n"
	              "2025-03-01T05:00:00.000Z,cleanup,skipped,\"overlap: the run of 04:00, "
	              "still going\"\n");
}

Test(reports, job_stats)
{
	char want[2048], a[CLOCK_TEXT_MAX], b[CLOCK_TEXT_MAX], c[CLOCK_TEXT_MAX], d[CLOCK_TEXT_MAX],
	    e[CLOCK_TEXT_MAX];
	/* backup: 10 + 20 + 5 + 30 + 2 s over 5 runs. report: 1..20 s over
	 * 20 (the interrupted run counts as a run, not in the average). */
	snprintf(want, sizeof want,
	         "job_name,type,schedule,enabled,next_run,last_run,last_status,total_runs,"
	         "successful_runs,failed_runs,average_seconds,last_success,last_failure\n"
	         "backup,local,\"@every 1h\",1,2025-03-02T01:00:00.000Z,%s,failed,5,3,2,13.4,"
	         "2025-03-02T01:00:30.000Z,%s\n"
	         "cleanup,local,\"0 * * * *\",1,2025-03-01T08:00:00.000Z,%s,running,0,0,0,,,\n"
	         "report,local,@daily,1,2025-03-02T01:00:00.000Z,%s,interrupted,21,20,0,10.5,"
	         "%s,\n",
	         iso(now - HOUR, a), iso(now - HOUR + 2 * SEC, b), iso(now - 90 * SEC, c),
	         iso(now - 3 * HOUR, d), iso(D1 + 4 * HOUR + 20 * MIN + 20 * SEC, e));
	assert_report("job-stats", want);
}

Test(reports, truncated_output)
{
	char want[512];
	snprintf(want, sizeof want,
	         "created_at,job_name,execution_id,log_lines,dropped_lines,output_dropped\n"
	         "2025-03-02T01:00:00.000Z,backup,%s,1000,5,100\n",
	         truncated);
	assert_report("truncated-output", want);
}

/* ---- chains, on a database of their own ---- */

static char first_try[37], second_try[37], triggered[37], lone[37];
static struct store_pending pending_retry;

/* chained writes one finished execution of job, caused by cause ("" for
 * none), as attempt of first ("" for a first attempt); its end commits
 * the retry *follow of it when not NULL. */
static void chained(const char *job, enum job_trigger trigger, int attempt, const char *first,
                    const char *cause, int64_t start, enum job_status status,
                    struct store_pending *follow, char id[37])
{
	struct store_execution e = {
	    .job_name = (char *)job,
	    .job_type = JOB_LOCAL,
	    .trigger = trigger,
	    .start_ns = start,
	    .created_ns = start,
	    .attempt = attempt,
	};
	store_new_id(e.id);
	snprintf(e.first_attempt_id, 37, "%s", first);
	snprintf(e.cause_id, 37, "%s", cause);
	cr_assert_eq(store_execution_begin(st, &e), 0, "%s", store_errmsg(st));
	memcpy(id, e.id, 37);
	e.status = status;
	e.end_ns = start + 2 * SEC;
	e.duration_ns = 2 * SEC;
	e.has_exit_code = true;
	e.exit_code = status == JOB_STATUS_SUCCESS ? 0 : 1;
	e.error = status == JOB_STATUS_SUCCESS ? NULL : "exit status 1";
	if (follow) {
		memcpy(follow->first_attempt_id, e.id, 37);
		memcpy(follow->cause_id, e.id, 37);
	}
	cr_assert_eq(store_execution_finish_then(st, &e, follow, follow ? 1 : 0, follow == NULL), 0,
	             "%s", store_errmsg(st));
}

static void chains_setup(void)
{
	open_store();
	save_job("backup", "@every 1h");
	save_job("notify", "@triggered");
	save_job("sync", "@every 1h");
	/* backup fails, its retry succeeds and triggers notify (on-success). */
	chained("backup", JOB_TRIGGER_SCHEDULE, 1, "", "", D1, JOB_STATUS_FAILED, NULL, first_try);
	chained("backup", JOB_TRIGGER_RETRY, 2, first_try, first_try, D1 + MIN, JOB_STATUS_SUCCESS,
	        NULL, second_try);
	chained("notify", JOB_TRIGGER_DEPENDENCY, 1, "", second_try, D1 + MIN + 3 * SEC,
	        JOB_STATUS_SUCCESS, NULL, triggered);
	/* sync fails an hour later; its retry waits for its delay. */
	pending_retry = (struct store_pending){.job_name = "sync",
	                                       .kind = STORE_PENDING_RETRY,
	                                       .trigger = JOB_TRIGGER_RETRY,
	                                       .due_ns = D1 + HOUR + 5 * MIN,
	                                       .attempt = 2,
	                                       .reason = "attempt 2 of 2",
	                                       .created_ns = D1 + HOUR + 2 * SEC};
	store_new_id(pending_retry.id);
	chained("sync", JOB_TRIGGER_SCHEDULE, 1, "", "", D1 + HOUR, JOB_STATUS_FAILED,
	        &pending_retry, lone);
}

TestSuite(chains, .init = chains_setup, .fini = teardown);

Test(chains, chains)
{
	char want[2048];
	snprintf(want, sizeof want,
	         "chain_id,depth,execution_id,job_name,trigger,attempt,status,start_time,end_time,"
	         "due_time,error\n"
	         "%s,0,%s,sync,schedule,1,failed,2025-03-01T01:00:00.000Z,"
	         "2025-03-01T01:00:02.000Z,,\"exit status 1\"\n"
	         "%s,1,%s,sync,retry,2,pending,,,2025-03-01T01:05:00.000Z,\"attempt 2 of 2\"\n"
	         "%s,0,%s,backup,schedule,1,failed,2025-03-01T00:00:00.000Z,"
	         "2025-03-01T00:00:02.000Z,,\"exit status 1\"\n"
	         "%s,1,%s,backup,retry,2,success,2025-03-01T00:01:00.000Z,"
	         "2025-03-01T00:01:02.000Z,,\n"
	         "%s,2,%s,notify,dependency,1,success,2025-03-01T00:01:03.000Z,"
	         "2025-03-01T00:01:05.000Z,,\n",
	         lone, lone, lone, pending_retry.id, first_try, first_try, first_try, second_try,
	         first_try, triggered);
	assert_report("chains", want);
}
