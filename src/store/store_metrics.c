/* Metrics kept in the database, so they survive restarts and retention:
 * job_counters (runs per job and status), job_durations (a Prometheus-style
 * histogram, per bucket) and job_metrics (duration sum and count, last
 * success and failure). They are bumped in the transaction that records the
 * outcome, so they always agree with what was committed.
 *
 * The histogram, the sum and the average take executions whose end ofelia
 * saw: success, failed and stopped. An interrupted execution is only counted:
 * its duration is unknown (ofelia was down when it ended). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

const double store_duration_buckets[STORE_BUCKET_COUNT - 1] = {
    0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600, 1800, 3600,
};

/* bucket_label writes the le text of bucket i: "0.1" ... "3600", "+Inf". */
static void bucket_label(int i, char out[16])
{
	if (i == STORE_BUCKET_COUNT - 1)
		snprintf(out, 16, "+Inf");
	else
		snprintf(out, 16, "%g", store_duration_buckets[i]);
}

/* bucket_of returns the first bucket whose bound is >= the duration. */
static int bucket_of(int64_t duration_ns)
{
	for (int i = 0; i < STORE_BUCKET_COUNT - 1; i++)
		if ((double)duration_ns <= store_duration_buckets[i] * NS_PER_SEC)
			return i;
	return STORE_BUCKET_COUNT - 1;
}

void store_metrics_bucket(int64_t duration_ns, char le[16])
{
	bucket_label(bucket_of(duration_ns), le);
}

int store_metrics_count(struct store *s, const char *job, enum job_status status)
{
	sqlite3_stmt *q = store_stmt(s, ST_METRIC_COUNT);

	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, job_status_name(status), -1, SQLITE_STATIC);
	return store_done(s, q, "metrics count");
}

static int bump_bucket(struct store *s, const char *job, int64_t duration_ns)
{
	sqlite3_stmt *q = store_stmt(s, ST_METRIC_BUCKET);
	char le[16];

	bucket_label(bucket_of(duration_ns), le);
	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, le, -1, SQLITE_STATIC);
	return store_done(s, q, "metrics bucket");
}

static int bump_sum(struct store *s, const struct store_execution *e)
{
	sqlite3_stmt *q = store_stmt(s, ST_METRIC_SUM);
	int64_t end = e->end_ns ? e->end_ns : clock_now_ns();

	sqlite3_bind_text(q, 1, e->job_name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, e->duration_ns);
	sqlite3_bind_int(q, 3, 1);
	store_bind_time(q, 4, e->status == JOB_STATUS_SUCCESS ? end : 0);
	store_bind_time(q, 5, e->status == JOB_STATUS_FAILED ? end : 0);
	return store_done(s, q, "metrics sum");
}

int store_metrics_finished(struct store *s, const struct store_execution *e)
{
	if (store_metrics_count(s, e->job_name, e->status) < 0)
		return -1;
	if (e->status != JOB_STATUS_SUCCESS && e->status != JOB_STATUS_FAILED &&
	    e->status != JOB_STATUS_STOPPED)
		return 0;
	if (bump_bucket(s, e->job_name, e->duration_ns) < 0 || bump_sum(s, e) < 0)
		return -1;
	return 0;
}

int store_job_metrics(struct store *s, const char *job, struct store_job_metrics *out)
{
	sqlite3_stmt *q = store_stmt(s, ST_METRIC_JOB);
	int rc;

	memset(out, 0, sizeof *out);
	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		out->total_runs = sqlite3_column_int64(q, 0);
		out->successful_runs = sqlite3_column_int64(q, 1);
		out->failed_runs = sqlite3_column_int64(q, 2);
		out->average_duration_ns = sqlite3_column_int64(q, 3);
		out->last_success_ns = store_col_time(q, 4);
		out->last_failure_ns = store_col_time(q, 5);
	} else if (rc != SQLITE_DONE) {
		store_fail(s, "job metrics");
	}
	sqlite3_reset(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int by_name(const void *key, const void *row)
{
	return strcmp(key, ((const struct store_metrics_row *)row)->job_name);
}

/* metrics_counters builds one row per job from job_counters, by name: every
 * job with a histogram or sums has counted an outcome first. */
static int metrics_counters(struct store *s, struct store_metrics_row **out, size_t *n)
{
	sqlite3_stmt *q = store_stmt(s, ST_METRIC_ALL_COUNTERS);
	struct store_metrics_row *v = NULL;
	size_t count = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *job = (const char *)sqlite3_column_text(q, 0);
		enum job_status status;
		if (count == 0 || strcmp(v[count - 1].job_name, job) != 0) {
			if (count == cap) {
				cap = cap ? cap * 2 : 16;
				v = xreallocarray(v, cap, sizeof *v);
			}
			memset(&v[count], 0, sizeof v[count]);
			v[count++].job_name = xstrdup(job);
		}
		if (job_status_parse((const char *)sqlite3_column_text(q, 1), &status) == 0)
			v[count - 1].by_status[status] = sqlite3_column_int64(q, 2);
	}
	if (rc != SQLITE_DONE)
		store_fail(s, "metrics counters");
	sqlite3_reset(q);
	*out = v;
	*n = count;
	return rc == SQLITE_DONE ? 0 : -1;
}

static int metrics_buckets(struct store *s, struct store_metrics_row *v, size_t n)
{
	sqlite3_stmt *q = store_stmt(s, ST_METRIC_ALL_BUCKETS);
	char le[16];
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_metrics_row *row =
		    bsearch(sqlite3_column_text(q, 0), v, n, sizeof *v, by_name);
		const char *text = (const char *)sqlite3_column_text(q, 1);
		for (int i = 0; row && i < STORE_BUCKET_COUNT; i++) {
			bucket_label(i, le);
			if (strcmp(le, text) == 0)
				row->buckets[i] = sqlite3_column_int64(q, 2);
		}
	}
	if (rc != SQLITE_DONE)
		store_fail(s, "metrics buckets");
	sqlite3_reset(q);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int metrics_sums(struct store *s, struct store_metrics_row *v, size_t n)
{
	sqlite3_stmt *q = store_stmt(s, ST_METRIC_ALL_SUMS);
	int rc;

	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_metrics_row *row =
		    bsearch(sqlite3_column_text(q, 0), v, n, sizeof *v, by_name);
		if (row == NULL)
			continue;
		row->duration_sum_ns = sqlite3_column_int64(q, 1);
		row->duration_count = sqlite3_column_int64(q, 2);
		row->last_success_ns = store_col_time(q, 3);
	}
	if (rc != SQLITE_DONE)
		store_fail(s, "metrics sums");
	sqlite3_reset(q);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_metrics_all(struct store *s, struct store_metrics_row **out, size_t *n)
{
	struct store_metrics_row *v;
	size_t count;

	if (metrics_counters(s, &v, &count) < 0 || metrics_buckets(s, v, count) < 0 ||
	    metrics_sums(s, v, count) < 0) {
		store_metrics_free(v, count);
		return -1;
	}
	*out = v;
	*n = count;
	return 0;
}

void store_metrics_free(struct store_metrics_row *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].job_name);
	free(v);
}
