/* bench_store: the store's throughput and latency on this machine, printed
 * as "name: value unit" lines.
 *
 *   build-store/release/bench/bench_store [DIR]
 *
 * DIR (default: a new directory under /tmp, removed afterwards) holds the
 * databases. The 1,000,000-execution database is filled with raw SQL in one
 * transaction; everything measured goes through the public store API. The
 * bench also runs EXPLAIN QUERY PLAN on every statement the store prepares
 * (store_int.h) against that database and names any full scan of executions
 * or execution_logs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store/store_int.h"
#include "util/clock.h"

#define BIG_EXECUTIONS 1000000
#define BIG_JOBS       100
#define LINES_BATCH    1000

static char dir[256];

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_store: %s: %s\n", what, msg);
	exit(1);
}

static struct store *open_db(const char *name, enum store_sync sync)
{
	char path[512], err[512];
	struct store_options o = {.path = path, .sync = sync};

	snprintf(path, sizeof path, "%s/%s", dir, name);
	struct store *s = store_open(&o, err, sizeof err);
	if (s == NULL)
		die("store_open", err);
	return s;
}

static void remove_db(const char *name)
{
	char path[512];
	static const char *suffix[] = {"", "-wal", "-shm", ".lock"};

	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s/%s%s", dir, name, suffix[i]);
		unlink(path);
	}
}

static void save_job(struct store *s, const char *name)
{
	struct store_job j = {.def = job_new(name, JOB_LOCAL)};
	j.def->schedule = strdup("@every 1m");
	j.def->command = strdup("echo bench");
	j.def->history_limit = 100;
	if (store_job_save(s, &j) < 0)
		die("store_job_save", store_errmsg(s));
	job_free(j.def);
}

static double seconds_since(int64_t t0)
{
	return (double)(clock_mono_ns() - t0) / NS_PER_SEC;
}

/* cpu_ns is the CPU time of this process: on a busy machine the rate per
 * CPU-second tells what an idle one would do, where wall time cannot. */
static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static double cpu_seconds_since(int64_t c0)
{
	return (double)(cpu_ns() - c0) / NS_PER_SEC;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int64_t percentile(int64_t *v, size_t n, double p)
{
	qsort(v, n, sizeof *v, cmp_i64);
	return v[(size_t)(p * (double)(n - 1))];
}

/* ---- writes ---- */

/* bench_log_lines floods one execution with lines, flushing every 1000 as
 * the daemon's loop does under a flood. */
static void bench_log_lines(void)
{
	const int lines = 2000000, batch = LINES_BATCH;
	struct store *s = open_db("lines.db", STORE_SYNC_NORMAL);
	struct store_execution e = {.job_name = "flood", .trigger = JOB_TRIGGER_MANUAL};
	/* The runner's work (reading, splitting) is not measured: the lines
	 * are made before the clock starts. */
	static char msg[LINES_BATCH][64];
	int len[LINES_BATCH];

	for (int i = 0; i < batch; i++)
		len[i] = snprintf(msg[i], sizeof msg[i],
		                  "2026-01-01 12:00:00 worker[42]: processed item %d", i);

	save_job(s, "flood");
	store_new_id(e.id);
	e.start_ns = clock_now_ns();
	if (store_execution_begin(s, &e) < 0)
		die("store_execution_begin", store_errmsg(s));
	int64_t t0 = clock_mono_ns(), c0 = cpu_ns();
	for (int i = 1; i <= lines; i++) {
		store_log_append(s, e.id, i, clock_now_ns(), i % 10 == 0, msg[i % batch],
		                 (size_t)len[i % batch]);
		if (i % batch == 0 && store_flush(s) < 0)
			die("store_flush", store_errmsg(s));
	}
	if (store_flush(s) < 0)
		die("store_flush", store_errmsg(s));
	double secs = seconds_since(t0), cpu = cpu_seconds_since(c0);
	printf("log_lines_stored: %d lines\n", lines);
	printf("log_line_commits: %d commits\n", lines / batch);
	printf("log_lines_per_sec: %.0f lines/s\n", lines / secs);
	printf("log_lines_per_cpu_sec: %.0f lines/cpu-s\n", lines / cpu);
	store_close(s);
	remove_db("lines.db");
}

/* bench_executions persists whole executions: begin, three lines, finish;
 * every step commits, as each is announced to the user. */
static void bench_executions(enum store_sync sync, const char *name)
{
	const int runs = sync == STORE_SYNC_FULL ? 1000 : 5000;
	struct store *s = open_db("runs.db", sync);

	save_job(s, "busy");
	int64_t t0 = clock_mono_ns(), c0 = cpu_ns();
	for (int i = 0; i < runs; i++) {
		struct store_execution e = {
		    .job_name = "busy",
		    .trigger = JOB_TRIGGER_SCHEDULE,
		    .scheduled_ns = (int64_t)(i + 1) * NS_PER_SEC,
		    .start_ns = clock_now_ns(),
		};
		store_new_id(e.id);
		if (store_execution_begin(s, &e) != 0)
			die("store_execution_begin", store_errmsg(s));
		for (int l = 1; l <= 3; l++)
			store_log_append(s, e.id, l, clock_now_ns(), false, "hello from the job",
			                 18);
		e.status = JOB_STATUS_SUCCESS;
		e.end_ns = clock_now_ns();
		e.duration_ns = e.end_ns - e.start_ns;
		e.has_exit_code = true;
		e.log_lines = 3;
		e.slot_schedule = "@every 1s";
		e.next_run_ns = e.scheduled_ns + NS_PER_SEC;
		if (store_execution_finish(s, &e) < 0)
			die("store_execution_finish", store_errmsg(s));
	}
	printf("executions_per_sec_%s: %.0f executions/s\n", name, runs / seconds_since(t0));
	printf("executions_per_cpu_sec_%s: %.0f executions/cpu-s\n", name,
	       runs / cpu_seconds_since(c0));
	store_close(s);
	remove_db("runs.db");
}

/* ---- the large database ---- */

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		die(sql, msg);
}

/* fill_big writes BIG_EXECUTIONS finished executions of job "big" one
 * minute apart (plus a few running ones and BIG_JOBS - 1 other jobs) with
 * raw SQL, and the metrics rows that match them. */
static void fill_big(void)
{
	struct store *s = open_db("big.db", STORE_SYNC_NORMAL);
	char name[32];

	save_job(s, "big");
	for (int i = 1; i < BIG_JOBS; i++) {
		snprintf(name, sizeof name, "job-%03d", i);
		save_job(s, name);
	}
	store_close(s);

	char path[512], sql[2048];
	sqlite3 *db;
	snprintf(path, sizeof path, "%s/big.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("open", sqlite3_errmsg(db));
	raw_exec(db, "PRAGMA synchronous = OFF; PRAGMA cache_size = -262144; BEGIN");
	snprintf(sql, sizeof sql,
	         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d), "
	         "t(i, at) AS (SELECT i, strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 1600000000 + i * 60, "
	         "'unixepoch') FROM n) "
	         "INSERT INTO executions (id, job_name, job_type, status, trigger, scheduled_time, "
	         "start_time, end_time, duration_ns, exit_code, output, log_lines, created_at) "
	         "SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || "
	         "substr(hex(randomblob(2)), 2) || '-a' || substr(hex(randomblob(2)), 2) || '-' || "
	         "hex(randomblob(6))), 'big', 'local', CASE WHEN i %% 10 = 0 THEN 'failed' ELSE "
	         "'success' END, 'schedule', at, at, at, 1000000 * (i %% 5000), i %% 10 = 0, "
	         "'done', 0, at FROM t",
	         BIG_EXECUTIONS);
	raw_exec(db, sql);
	raw_exec(db, "INSERT INTO executions (id, job_name, job_type, status, trigger, "
	             "start_time, created_at) SELECT lower(hex(randomblob(16))), name, 'local', "
	             "'running', 'manual', '2030-01-01T00:00:00.000Z', '2030-01-01T00:00:00.000Z' "
	             "FROM jobs LIMIT 5");
	raw_exec(db, "INSERT INTO job_counters (job_name, status, count) SELECT job_name, status, "
	             "count(*) FROM executions WHERE status <> 'running' GROUP BY 1, 2");
	raw_exec(db, "INSERT INTO job_durations (job_name, le, count) VALUES ('big', '5', 900000), "
	             "('big', '+Inf', 100000)");
	raw_exec(db, "INSERT INTO job_metrics (job_name, duration_sum_ns, duration_count, "
	             "last_success, last_failure) SELECT job_name, sum(duration_ns), count(*), "
	             "max(CASE WHEN status = 'success' THEN end_time END), "
	             "max(CASE WHEN status = 'failed' THEN end_time END) FROM executions "
	             "WHERE status <> 'running' GROUP BY 1");
	/* Written with synchronous OFF: put it on disk now, or the first
	 * checkpoint measured below pays for flushing the whole fill. */
	raw_exec(db, "COMMIT; PRAGMA synchronous = FULL; PRAGMA wal_checkpoint(TRUNCATE)");
	sqlite3_close(db);
}

/* scans_big_table tells whether a plan step reads all of executions or
 * execution_logs ("e" is the alias in the prune statement). The partial
 * index executions_running holds only running rows: scanning it is cheap. */
static bool scans_big_table(const char *detail)
{
	static const char *big[] = {"executions", "e", "execution_logs"};
	char table[64];

	if (sscanf(detail, "SCAN %63s", table) != 1 || strstr(detail, "executions_running"))
		return false;
	for (size_t i = 0; i < sizeof big / sizeof big[0]; i++)
		if (strcmp(table, big[i]) == 0)
			return true;
	return false;
}

/* check_plans prints every statement whose plan scans a large table or
 * sorts its rows in a temporary b-tree instead of reading an index in order. */
static void check_plans(void)
{
	char path[512];
	sqlite3 *db;
	int scans = 0, sorts = 0;

	snprintf(path, sizeof path, "%s/big.db", dir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("open", sqlite3_errmsg(db));
	for (int i = 0; i < ST_COUNT; i++) {
		char *sql = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", store_sql[i]);
		sqlite3_stmt *q;
		if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
			die(store_sql[i], sqlite3_errmsg(db));
		while (sqlite3_step(q) == SQLITE_ROW) {
			const char *detail = (const char *)sqlite3_column_text(q, 3);
			if (scans_big_table(detail)) {
				printf("# full scan: %s  <-  %.70s\n", detail, store_sql[i]);
				scans++;
			}
			if (strncmp(detail, "USE TEMP B-TREE", 15) == 0) {
				printf("# sort: %s  <-  %.70s\n", detail, store_sql[i]);
				sorts++;
			}
		}
		sqlite3_finalize(q);
		sqlite3_free(sql);
	}
	sqlite3_close(db);
	printf("statements_checked: %d statements\n", ST_COUNT);
	printf("full_scans_of_executions: %d statements\n", scans);
	printf("temp_sorts: %d statements\n", sorts);
}

/* bench_cold_open times what the daemon does at start: open, load the
 * jobs, find the executions left running. */
static void bench_cold_open(void)
{
	int64_t t[7];

	for (int r = 0; r < 7; r++) {
		int64_t t0 = clock_mono_ns();
		struct store *s = open_db("big.db", STORE_SYNC_NORMAL);
		struct store_job **jobs;
		struct store_execution **running;
		size_t njobs, nrunning;
		if (store_jobs_load(s, &jobs, &njobs) < 0 ||
		    store_executions_running(s, &running, &nrunning) < 0)
			die("cold open", store_errmsg(s));
		t[r] = clock_mono_ns() - t0;
		if (njobs != BIG_JOBS || nrunning != 5)
			die("cold open", "unexpected row counts");
		store_jobs_free(jobs, njobs);
		store_executions_free(running, nrunning);
		store_close(s);
	}
	printf("cold_open_1m_executions_p50: %.1f ms\n", (double)percentile(t, 7, 0.5) / NS_PER_MS);
	printf("cold_open_1m_executions_max: %.1f ms\n", (double)t[6] / NS_PER_MS);
}

/* thread_cpu_ns is this thread's CPU time: a request's own cost, without
 * the time a busy machine kept it off the CPU. */
static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* bench_reads times GET /api/job/{name}: a page of history and the job's
 * numbers, on the job with 1,000,000 executions; every tenth request pages
 * deep into the history, every tenth by time, every tenth by id. */
static void bench_reads(void)
{
	const size_t n = 20000;
	int64_t *wall = malloc(n * sizeof *wall), *cpu = malloc(n * sizeof *cpu);
	struct store *s = open_db("big.db", STORE_SYNC_NORMAL);
	const int64_t first = 1600000000LL * NS_PER_SEC;
	char deep_id[37] = "";

	for (size_t i = 0; i < n; i++) {
		struct store_execution **v;
		struct store_job_metrics m;
		size_t count;
		int64_t before = 0;
		if (i % 10 == 8)
			before = first + (int64_t)(rand() % BIG_EXECUTIONS) * 60 * NS_PER_SEC;
		int64_t t0 = clock_mono_ns(), c0 = thread_cpu_ns();
		int rc = i % 10 == 9 && deep_id[0]
		             ? store_execution_history_after(s, "big", deep_id, 20, &v, &count)
		             : store_execution_history(s, "big", before, 20, &v, &count);
		if (rc < 0 || store_job_metrics(s, "big", &m) < 0)
			die("reads", store_errmsg(s));
		cpu[i] = thread_cpu_ns() - c0;
		wall[i] = clock_mono_ns() - t0;
		if (before && count > 0)
			memcpy(deep_id, v[count - 1]->id, sizeof deep_id);
		store_executions_free(v, count);
		if (m.total_runs != BIG_EXECUTIONS)
			die("reads", "unexpected total_runs");
	}
	printf("history20_plus_metrics_p50: %.1f us\n", (double)percentile(wall, n, 0.5) / 1000);
	printf("history20_plus_metrics_p99: %.1f us\n", (double)percentile(wall, n, 0.99) / 1000);
	printf("history20_plus_metrics_cpu_p50: %.1f us\n", (double)percentile(cpu, n, 0.5) / 1000);
	printf("history20_plus_metrics_cpu_p99: %.1f us\n",
	       (double)percentile(cpu, n, 0.99) / 1000);
	free(wall);
	free(cpu);

	/* Retention, off the hot path but on the loop thread: batches of 500,
	 * by count (history-limit 1000) and by age. */
	int64_t t0 = clock_mono_ns(), c0 = thread_cpu_ns();
	if (store_prune_count(s, "big", 1000, 500) != 500)
		die("prune", store_errmsg(s));
	printf("prune_count_batch_500: %.1f ms\n", (double)(clock_mono_ns() - t0) / NS_PER_MS);
	printf("prune_count_batch_500_cpu: %.1f ms\n", (double)(thread_cpu_ns() - c0) / NS_PER_MS);
	t0 = clock_mono_ns();
	c0 = thread_cpu_ns();
	if (store_prune_age(s, first + (int64_t)BIG_EXECUTIONS / 2 * 60 * NS_PER_SEC, 500) != 500)
		die("prune", store_errmsg(s));
	printf("prune_age_batch_500: %.1f ms\n", (double)(clock_mono_ns() - t0) / NS_PER_MS);
	printf("prune_age_batch_500_cpu: %.1f ms\n", (double)(thread_cpu_ns() - c0) / NS_PER_MS);
	store_close(s);
}

/* print_synchronous shows what each store_sync really sets. */
static void print_synchronous(void)
{
	struct store *s = open_db("sync.db", STORE_SYNC_NORMAL);
	sqlite3_stmt *q;
	sqlite3_prepare_v2(s->db, "PRAGMA synchronous", -1, &q, NULL);
	sqlite3_step(q);
	printf("synchronous_normal_pragma: %d value\n", sqlite3_column_int(q, 0));
	sqlite3_finalize(q);
	store_close(s);
	s = open_db("sync.db", STORE_SYNC_FULL);
	sqlite3_prepare_v2(s->db, "PRAGMA synchronous", -1, &q, NULL);
	sqlite3_step(q);
	printf("synchronous_full_pragma: %d value\n", sqlite3_column_int(q, 0));
	sqlite3_finalize(q);
	store_close(s);
	remove_db("sync.db");
}

int main(int argc, char **argv)
{
	bool own_dir = argc < 2;

	if (own_dir) {
		snprintf(dir, sizeof dir, "/tmp/ofelia-bench-XXXXXX");
		if (mkdtemp(dir) == NULL)
			die("mkdtemp", dir);
	} else {
		snprintf(dir, sizeof dir, "%s", argv[1]);
	}
	double load = 0;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f && fscanf(f, "%lf", &load) == 1)
		printf("loadavg_1m_at_start: %.2f load\n", load);
	if (f)
		fclose(f);
	print_synchronous();
	bench_log_lines();
	bench_executions(STORE_SYNC_NORMAL, "normal");
	bench_executions(STORE_SYNC_FULL, "full");

	int64_t t0 = clock_mono_ns();
	fill_big();
	printf("fill_1m_executions: %.1f s\n", seconds_since(t0));
	check_plans();
	bench_cold_open();
	bench_reads();
	remove_db("big.db");
	if (own_dir)
		rmdir(dir);
	return 0;
}
