/* The runner pool (issue 13): threads made on demand, up to an optional
 * limit; executions handed over ahead of their time start at it, and a stop
 * before then ends them without starting them. Local jobs run `true`, or
 * `date +%s%N` where the start of the command itself is checked. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/job.h"
#include "runner/runner.h"
#include "runner/runner_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

/* What the executions of one test reported; on_started blocks until the
 * test opens the gate, so the threads stay busy while it counts them. */
struct seen {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	int started, done;
	int64_t started_ns; /* the last on_started, wall clock */
	struct runner_result last;
};

static struct seen seen = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void reset(bool open)
{
	pthread_mutex_lock(&seen.lock);
	seen.open = open;
	seen.started = seen.done = 0;
	seen.started_ns = 0;
	pthread_mutex_unlock(&seen.lock);
}

static void on_started(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&seen.lock);
	seen.started++;
	seen.started_ns = clock_now_ns();
	pthread_cond_broadcast(&seen.cond);
	while (!seen.open)
		pthread_cond_wait(&seen.cond, &seen.lock);
	pthread_mutex_unlock(&seen.lock);
}

static void on_line(void *arg, bool is_error, const char *line, size_t len, bool more)
{
	(void)arg, (void)is_error, (void)line, (void)len, (void)more;
}

static void on_idle(void *arg)
{
	(void)arg;
}

static void on_done(void *arg, const struct runner_result *r)
{
	(void)arg;
	pthread_mutex_lock(&seen.lock);
	seen.done++;
	seen.last = *r;
	pthread_cond_broadcast(&seen.cond);
	pthread_mutex_unlock(&seen.lock);
}

static struct runner_exec *exec_of_true(void)
{
	static const struct runner_settings settings = {.stop_grace_ns = NS_PER_SEC};
	struct runner_sink sink = {
	    .on_started = on_started, .on_line = on_line, .on_idle = on_idle, .on_done = on_done};
	struct job *j = job_new("t", JOB_LOCAL);
	j->command = xstrdup("true");
	return runner_exec_new(j, "00000000-0000-7000-8000-000000000000", &settings, &sink, NULL);
}

static void wait_started(int n)
{
	pthread_mutex_lock(&seen.lock);
	while (seen.started < n)
		pthread_cond_wait(&seen.cond, &seen.lock);
	pthread_mutex_unlock(&seen.lock);
}

static void open_gate(void)
{
	pthread_mutex_lock(&seen.lock);
	seen.open = true;
	pthread_cond_broadcast(&seen.cond);
	pthread_mutex_unlock(&seen.lock);
}

/* Without a limit every execution gets a thread at once: a burst is not
 * queued behind a fixed pool. */
Test(runner, a_burst_gets_a_thread_each)
{
	struct runner_exec *x[12];
	reset(false);
	struct runner_pool *p = runner_pool_new(0);
	cr_assert_eq(runner_pool_threads(p), 0, "no thread before the first execution");
	for (int i = 0; i < 12; i++)
		runner_pool_submit(p, x[i] = exec_of_true());
	wait_started(12);
	cr_assert_eq(runner_pool_threads(p), 12);
	open_gate();
	runner_pool_free(p);
	cr_assert_eq(seen.done, 12);
	cr_assert_eq(seen.last.status, JOB_STATUS_SUCCESS, "%s", seen.last.error);
	for (int i = 0; i < 12; i++)
		runner_exec_free(x[i]);
}

/* max-concurrent bounds the threads; the rest wait their turn. */
Test(runner, a_limit_queues_the_rest)
{
	struct runner_exec *x[5];
	reset(false);
	struct runner_pool *p = runner_pool_new(2);
	for (int i = 0; i < 5; i++)
		runner_pool_submit(p, x[i] = exec_of_true());
	wait_started(2);
	cr_assert_eq(runner_pool_threads(p), 2);
	cr_assert_eq(seen.started, 2, "only two start while two run");
	open_gate();
	runner_pool_free(p);
	cr_assert_eq(seen.done, 5);
	for (int i = 0; i < 5; i++)
		runner_exec_free(x[i]);
}

/* Handed over ahead of its time, an execution starts at that time. */
Test(runner, an_execution_starts_at_its_due_time)
{
	reset(true);
	struct runner_pool *p = runner_pool_new(0);
	struct runner_exec *x = exec_of_true();
	int64_t due = clock_now_ns() + 150 * NS_PER_MS;
	runner_exec_set_due(x, due);
	runner_pool_submit(p, x);
	runner_pool_free(p);
	cr_assert_eq(seen.done, 1);
	cr_assert_eq(seen.last.status, JOB_STATUS_SUCCESS, "%s", seen.last.error);
	cr_assert_geq(seen.started_ns, due, "started %lld ns early",
	              (long long)(due - seen.started_ns));
	runner_exec_free(x);
}

/* A stop before the due time ends it unstarted, without waiting for it. */
Test(runner, a_stop_before_the_due_time_starts_nothing)
{
	reset(true);
	struct runner_pool *p = runner_pool_new(0);
	struct runner_exec *x = exec_of_true();
	runner_exec_set_due(x, clock_now_ns() + 3600 * NS_PER_SEC);
	runner_pool_submit(p, x);
	runner_exec_stop(x, JOB_STATUS_STOPPED, "stopped by the test");
	runner_pool_free(p);
	cr_assert_eq(seen.done, 1);
	cr_assert_eq(seen.started, 0);
	cr_assert_eq(seen.last.status, JOB_STATUS_STOPPED);
	cr_assert(strstr(seen.last.error, "before it started"), "%s", seen.last.error);
	runner_exec_free(x);
}

static void on_started_at(void *arg)
{
	*(int64_t *)arg = clock_now_ns();
}

/* Runners wake a little before their instant and watch the clock for the
 * rest, one at a time. None of several due together, or in quick
 * succession, may start before its instant. An exec job is used because its
 * on_started follows the wait directly, with no spawn in between to hide an
 * early start; it then fails at once, as no Docker engine is there. */
Test(runner, no_execution_starts_before_its_due_time)
{
	enum { N = 16 };
	static const struct runner_settings settings = {
	    .docker_host = "unix:///nonexistent/docker.sock", .stop_grace_ns = NS_PER_SEC};
	struct runner_exec *x[N];
	int64_t due[N], started[N] = {0};
	struct runner_pool *p = runner_pool_new(0);
	int64_t first = clock_now_ns() + 50 * NS_PER_MS;

	for (int i = 0; i < N; i++) {
		struct runner_sink sink = {.on_started = on_started_at,
		                           .on_line = on_line,
		                           .on_idle = on_idle,
		                           .on_done = on_done,
		                           .arg = &started[i]};
		struct job *j = job_new("t", JOB_EXEC);
		j->container = xstrdup("c");
		j->command = xstrdup("true");
		x[i] = runner_exec_new(j, "00000000-0000-7000-8000-000000000000", &settings, &sink,
		                       NULL);
		/* Half due together, half a tenth of a millisecond apart. */
		due[i] = first + (i < N / 2 ? 0 : (i - N / 2) * 100 * 1000);
		runner_exec_set_due(x[i], due[i]);
		runner_pool_submit(p, x[i]);
	}
	runner_pool_free(p);
	for (int i = 0; i < N; i++) {
		cr_assert_gt(started[i], 0, "execution %d never started", i);
		cr_assert_geq(started[i], due[i], "execution %d started %lld ns early", i,
		              (long long)(due[i] - started[i]));
		runner_exec_free(x[i]);
	}
}

/* What one local execution of `date +%s%N` reported. */
struct stamped {
	int64_t printed_ns; /* the time its command printed; 0 = none */
	int lines, done;
	struct runner_result result;
};

static void on_stamp_line(void *arg, bool is_error, const char *line, size_t len, bool more)
{
	struct stamped *s = arg;
	char text[32];
	(void)more;
	if (is_error || len >= sizeof text)
		return;
	memcpy(text, line, len);
	text[len] = '\0';
	s->printed_ns = strtoll(text, NULL, 10);
	s->lines++;
}

static void on_stamp_done(void *arg, const struct runner_result *r)
{
	struct stamped *s = arg;
	s->result = *r;
	s->done++;
}

static struct runner_exec *exec_of_date(struct stamped *s, int64_t due_ns)
{
	static const struct runner_settings settings = {.stop_grace_ns = NS_PER_SEC};
	struct runner_sink sink = {
	    .on_line = on_stamp_line, .on_idle = on_idle, .on_done = on_stamp_done, .arg = s};
	struct job *j = job_new("t", JOB_LOCAL);
	j->command = xstrdup("date +%s%N");
	struct runner_exec *x =
	    runner_exec_new(j, "00000000-0000-7000-8000-000000000000", &settings, &sink, NULL);
	runner_exec_set_due(x, due_ns);
	return x;
}

/* threads_named counts this process's threads called name. */
static int threads_named(const char *name)
{
	char path[300], comm[64];
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof comm, f) && strncmp(comm, name, strlen(name)) == 0)
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* Local commands are spawned at their instant by the launchers: a burst due
 * together, and launches queued out of order (an earlier one arriving after
 * a later one is being waited for), each start once, never before their
 * instant, with their own output; the burst is shared by a few launchers,
 * not a thread each. */
Test(runner, launchers_start_each_local_command_at_its_instant)
{
	enum { BURST = 24 };
	struct stamped s[BURST + 2] = {{0}};
	struct runner_exec *x[BURST + 2];
	int64_t due[BURST + 2];
	struct runner_pool *p = runner_pool_new(0);
	int64_t now = clock_now_ns();

	/* The later first, so that the earlier one changes the queue's head. */
	due[BURST] = now + 2 * NS_PER_SEC;
	due[BURST + 1] = now + 100 * NS_PER_MS;
	runner_pool_submit(p, x[BURST] = exec_of_date(&s[BURST], due[BURST]));
	usleep(20000);
	runner_pool_submit(p, x[BURST + 1] = exec_of_date(&s[BURST + 1], due[BURST + 1]));
	for (int i = 0; i < BURST; i++) {
		due[i] = now + 300 * NS_PER_MS;
		runner_pool_submit(p, x[i] = exec_of_date(&s[i], due[i]));
	}
	usleep(1000 * 1000);
	int launchers = threads_named("ofelia-launch");
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	runner_pool_free(p);

	cr_assert_geq(launchers, 1);
	cr_assert_leq(launchers,
	              cpus < 2   ? 2
	              : cpus > 4 ? 4
	                         : cpus,
	              "%d launchers for %ld CPUs", launchers, cpus);
	for (int i = 0; i < BURST + 2; i++) {
		cr_assert_eq(s[i].done, 1, "execution %d", i);
		cr_assert_eq(s[i].result.status, JOB_STATUS_SUCCESS, "execution %d: %s", i,
		             s[i].result.error);
		cr_assert_eq(s[i].lines, 1, "execution %d printed %d lines", i, s[i].lines);
		cr_assert_geq(s[i].printed_ns, due[i], "execution %d started %lld ns early", i,
		              (long long)(due[i] - s[i].printed_ns));
		runner_exec_free(x[i]);
	}
	cr_assert_lt(s[BURST + 1].printed_ns, due[BURST],
	             "the earlier launch waited for the later one");
}

/* A stop reaches a launch still queued: that one ends unstarted, the rest
 * of its burst starts. */
Test(runner, a_stop_takes_one_launch_out_of_its_burst)
{
	enum { N = 8, STOPPED = 3 };
	struct stamped s[N] = {{0}};
	struct runner_exec *x[N];
	struct runner_pool *p = runner_pool_new(0);
	int64_t due = clock_now_ns() + 400 * NS_PER_MS;

	for (int i = 0; i < N; i++)
		runner_pool_submit(p, x[i] = exec_of_date(&s[i], due));
	usleep(50000);
	runner_exec_stop(x[STOPPED], JOB_STATUS_STOPPED, "stopped by the test");
	runner_pool_free(p);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(s[i].done, 1, "execution %d", i);
		if (i == STOPPED) {
			cr_assert_eq(s[i].result.status, JOB_STATUS_STOPPED);
			cr_assert(strstr(s[i].result.error, "before it started"), "%s",
			          s[i].result.error);
			cr_assert_eq(s[i].lines, 0, "the stopped one ran");
		} else {
			cr_assert_eq(s[i].result.status, JOB_STATUS_SUCCESS, "execution %d: %s", i,
			             s[i].result.error);
			cr_assert_geq(s[i].printed_ns, due);
		}
		runner_exec_free(x[i]);
	}
}

/* A spawn that hangs, as an exec from a hung network mount would. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool released;
} hang = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};

static void hanging_spawn(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&hang.lock);
	while (!hang.released)
		pthread_cond_wait(&hang.cond, &hang.lock);
	pthread_mutex_unlock(&hang.lock);
}

static void stamping_spawn(void *arg)
{
	*(int64_t *)arg = clock_now_ns();
}

struct launch_call {
	struct runner_exec *x;
	void (*spawn)(void *arg);
	void *arg;
	int rc;
	struct runner_result r;
};

static void *call_launch(void *arg)
{
	struct launch_call *c = arg;
	c->rc = runner_launch(c->x, c->spawn, c->arg, &c->r);
	return NULL;
}

/* hung_then has one launch hang, and another, due 300 ms later, queued
 * before that one hangs (queued_before) or while it hangs; the other must be
 * spawned at its time by another launcher (the test times out if not).
 * Criterion runs each test in a process of its own, so each starts with no
 * launcher. */
static void hung_then(bool queued_before)
{
	int64_t now = clock_now_ns(), spawned_at = 0;
	struct launch_call hung = {.x = exec_of_true(), .spawn = hanging_spawn};
	struct launch_call other = {
	    .x = exec_of_true(), .spawn = stamping_spawn, .arg = &spawned_at};
	pthread_t t[2];

	runner_exec_set_due(hung.x, now + 50 * NS_PER_MS);
	runner_exec_set_due(other.x, now + 300 * NS_PER_MS);
	cr_assert_eq(pthread_create(&t[0], NULL, call_launch, &hung), 0);
	if (!queued_before)
		usleep(150 * 1000);
	cr_assert_eq(pthread_create(&t[1], NULL, call_launch, &other), 0);
	pthread_join(t[1], NULL);
	cr_assert_eq(other.rc, 0);
	cr_assert_geq(spawned_at, now + 300 * NS_PER_MS, "spawned before its time");

	pthread_mutex_lock(&hang.lock);
	hang.released = true;
	pthread_cond_broadcast(&hang.cond);
	pthread_mutex_unlock(&hang.lock);
	pthread_join(t[0], NULL);
	cr_assert_eq(hung.rc, 0);
	runner_exec_free(hung.x);
	runner_exec_free(other.x);
}

/* A spawn that hangs, as an exec from a hung network mount would, holds up
 * only its own command. */
Test(runner, a_hung_spawn_holds_up_no_launch_queued_behind_it, .timeout = 30)
{
	hung_then(true);
}

Test(runner, a_hung_spawn_holds_up_no_launch_queued_meanwhile, .timeout = 30)
{
	hung_then(false);
}

/* Nor does it hold up the commands started before it in its burst: their
 * runners are woken before the last spawn of the burst, so a hang there
 * keeps none of them from reading output or being stopped. */
Test(runner, a_hung_spawn_holds_up_no_command_of_its_burst, .timeout = 30)
{
	enum { QUICK = 10 };
	int64_t due = clock_now_ns() + 200 * NS_PER_MS, spawned_at[QUICK] = {0};
	struct launch_call quick[QUICK], hung = {.x = exec_of_true(), .spawn = hanging_spawn};
	pthread_t t[QUICK + 1];

	for (int i = 0; i < QUICK; i++) {
		quick[i] = (struct launch_call){
		    .x = exec_of_true(), .spawn = stamping_spawn, .arg = &spawned_at[i]};
		runner_exec_set_due(quick[i].x, due);
		cr_assert_eq(pthread_create(&t[i], NULL, call_launch, &quick[i]), 0);
	}
	usleep(50 * 1000);
	runner_exec_set_due(hung.x, due);
	cr_assert_eq(pthread_create(&t[QUICK], NULL, call_launch, &hung), 0);
	for (int i = 0; i < QUICK; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(quick[i].rc, 0);
		cr_assert_geq(spawned_at[i], due, "spawned before its time");
	}

	pthread_mutex_lock(&hang.lock);
	hang.released = true;
	pthread_cond_broadcast(&hang.cond);
	pthread_mutex_unlock(&hang.lock);
	pthread_join(t[QUICK], NULL);
	cr_assert_eq(hung.rc, 0);
	runner_exec_free(hung.x);
	for (int i = 0; i < QUICK; i++)
		runner_exec_free(quick[i].x);
}
