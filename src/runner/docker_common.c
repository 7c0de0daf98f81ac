/* The parts the Docker job types share: the handle, stops (see the design
 * note in docker_common.h), errors and output lines.
 *
 * Lock order: the execution's stop_lock, then rd->lock. The wake op takes
 * both; the runner thread never holds rd->lock while it calls into the
 * execution (runner_exec_stop takes stop_lock and calls wake). */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "runner/docker_common.h"
#include "util/clock.h"
#include "util/duration.h"
#include "util/lines.h"
#include "util/log.h"

int runner_docker_open(struct runner_exec *x, struct runner_docker *rd, struct runner_result *r)
{
	char err[256];
	memset(rd, 0, sizeof *rd);
	rd->x = x;
	rd->done_fd = -1;
	rd->d = docker_new(x->settings.docker_host, err, sizeof err);
	if (rd->d == NULL) {
		runner_set_result(r, JOB_STATUS_FAILED, "%s" RUNNER_DOCKER_ERROR, err);
		return -1;
	}
	pthread_mutex_init(&rd->lock, NULL);
	docker_set_deadline(rd->d, x->deadline_ns);
	pthread_mutex_lock(&x->stop_lock);
	x->type_state = rd;
	pthread_mutex_unlock(&x->stop_lock);
	/* A stop that came before rd was published found nothing to wake. */
	if (atomic_load(&x->stop_requested))
		docker_cancel(rd->d);
	return 0;
}

void runner_docker_close(struct runner_docker *rd)
{
	struct runner_exec *x = rd->x;
	pthread_mutex_lock(&x->stop_lock);
	x->type_state = NULL;
	pthread_mutex_unlock(&x->stop_lock);
	docker_free(rd->d);
	pthread_mutex_destroy(&rd->lock);
}

void runner_docker_wake(struct runner_exec *x)
{
	pthread_mutex_lock(&x->stop_lock);
	struct runner_docker *rd = x->type_state;
	if (rd) {
		pthread_mutex_lock(&rd->lock);
		if (!rd->streaming && !rd->stopping)
			docker_cancel(rd->d);
		pthread_mutex_unlock(&rd->lock);
	}
	pthread_mutex_unlock(&x->stop_lock);
}

/* max_runtime records the stop max-runtime asks for, worded as local jobs
 * word it. */
static void max_runtime(struct runner_exec *x)
{
	char limit[DURATION_TEXT_MAX], reason[128];
	duration_format(x->job->max_runtime_ns, limit);
	snprintf(reason, sizeof reason, "max-runtime of %s exceeded; the job was stopped", limit);
	runner_exec_stop(x, JOB_STATUS_FAILED, reason);
}

static bool past_deadline(const struct runner_exec *x)
{
	return x->deadline_ns && clock_mono_ns() >= x->deadline_ns;
}

/* enter_stopping makes the handle usable for the calls that carry out the
 * stop: no cancel reaches it from now on, and the deadline is lifted. */
static void enter_stopping(struct runner_docker *rd)
{
	pthread_mutex_lock(&rd->lock);
	rd->stopping = true;
	docker_cancel_clear(rd->d);
	pthread_mutex_unlock(&rd->lock);
	docker_set_deadline(rd->d, 0);
}

bool runner_docker_stopping(struct runner_docker *rd)
{
	enum docker_status st = docker_status(rd->d);
	if (st == DOCKER_E_TIMEOUT && past_deadline(rd->x))
		max_runtime(rd->x);
	else if (st != DOCKER_E_CANCELLED || !atomic_load(&rd->x->stop_requested))
		return false;
	enter_stopping(rd);
	return true;
}

bool runner_docker_pause(struct runner_docker *rd, int64_t wait_ns)
{
	struct runner_exec *x = rd->x;
	int64_t until = clock_mono_ns() + wait_ns;
	bool watch = !rd->stopping;
	if (watch && x->deadline_ns && x->deadline_ns < until)
		until = x->deadline_ns;
	/* After a stop the wake fd stays readable: only sleep then. */
	struct pollfd p = {watch ? x->wake_fd : -1, POLLIN, 0};
	int64_t left = until - clock_mono_ns();
	if (left > 0 && poll(&p, 1, (int)((left + NS_PER_MS - 1) / NS_PER_MS)) < 0 &&
	    errno != EINTR)
		log_warn("runner: poll");
	if (watch && past_deadline(x))
		max_runtime(x);
	if (watch && atomic_load(&x->stop_requested))
		enter_stopping(rd);
	return rd->stopping;
}

bool runner_docker_wait_done(int done_fd, int64_t timeout_ns)
{
	struct pollfd p = {done_fd, POLLIN, 0};
	int64_t until = clock_mono_ns() + timeout_ns;
	for (;;) {
		int64_t left = until - clock_mono_ns();
		if (left <= 0)
			return false;
		int n = poll(&p, 1, (int)((left + NS_PER_MS - 1) / NS_PER_MS));
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return false;
	}
}

/* watch is the watcher thread: it waits for a stop request, the deadline or
 * the end of the stream, and carries out a stop with a handle of its own. */
static void *watch(void *arg)
{
	struct runner_docker *rd = arg;
	struct runner_exec *x = rd->x;

	while (!atomic_load(&x->stop_requested)) {
		if (past_deadline(x)) {
			max_runtime(x);
			break;
		}
		int timeout = -1;
		if (x->deadline_ns) {
			int64_t left = x->deadline_ns - clock_mono_ns();
			timeout = left <= 0 ? 0 : (int)((left + NS_PER_MS - 1) / NS_PER_MS);
		}
		/* Without a wake fd (descriptors ran out) a stop is noticed by
		 * polling. */
		if (x->wake_fd < 0 && (timeout < 0 || timeout > 100))
			timeout = 100;
		struct pollfd p[2] = {{x->wake_fd, POLLIN, 0}, {rd->done_fd, POLLIN, 0}};
		if (poll(p, 2, timeout) < 0 && errno != EINTR) {
			log_warn("runner: poll");
			return NULL;
		}
		if (p[1].revents)
			return NULL;
	}
	pthread_mutex_lock(&rd->lock);
	rd->stopping = true;
	pthread_mutex_unlock(&rd->lock);

	char err[256];
	struct docker *wd = docker_new(x->settings.docker_host, err, sizeof err);
	if (wd == NULL) {
		/* Not expected: the runner's own handle was made from the same address. */
		snprintf(rd->note, sizeof rd->note, "cannot stop it: %s", err);
		return NULL;
	}
	rd->on_stop(rd, wd, rd->done_fd);
	docker_free(wd);
	return NULL;
}

bool runner_docker_stream_begin(struct runner_docker *rd, runner_docker_stop_fn *on_stop,
                                void *type_arg)
{
	struct runner_exec *x = rd->x;
	if (past_deadline(x))
		max_runtime(x);
	pthread_mutex_lock(&rd->lock);
	bool stop = rd->stopping || atomic_load(&x->stop_requested);
	rd->streaming = !stop;
	pthread_mutex_unlock(&rd->lock);
	if (stop) {
		enter_stopping(rd);
		return false;
	}
	/* The watcher enforces max-runtime now; a deadline would cut the stream. */
	docker_set_deadline(rd->d, 0);
	rd->on_stop = on_stop;
	rd->type_arg = type_arg;
	rd->done_fd = eventfd(0, EFD_CLOEXEC);
	if (rd->done_fd >= 0 && pthread_create(&rd->watcher, NULL, watch, rd) == 0) {
		rd->watching = true;
		return true;
	}
	/* Without a watcher a stop cancels the stream: its end is lost, but
	 * the stop still happens. */
	log_error("runner: cannot start the watcher of execution %s", x->id);
	pthread_mutex_lock(&rd->lock);
	rd->streaming = false;
	pthread_mutex_unlock(&rd->lock);
	return true;
}

void runner_docker_stream_end(struct runner_docker *rd)
{
	if (rd->watching) {
		uint64_t one = 1;
		ssize_t ignored = write(rd->done_fd, &one, sizeof one);
		(void)ignored;
		pthread_join(rd->watcher, NULL);
		rd->watching = false;
	}
	if (rd->done_fd >= 0) {
		close(rd->done_fd);
		rd->done_fd = -1;
	}
	pthread_mutex_lock(&rd->lock);
	rd->streaming = false;
	pthread_mutex_unlock(&rd->lock);
}

void runner_docker_fail(struct runner_docker *rd, struct runner_result *r, enum job_status status,
                        const char *fmt, ...)
{
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	runner_set_result(r, status, "%s: %s" RUNNER_DOCKER_ERROR, what, docker_errmsg(rd->d));
}

void runner_docker_outcome(struct runner_docker *rd, struct runner_result *r, bool has_code,
                           int code)
{
	enum job_status status;
	char reason[256];

	r->has_exit_code = has_code;
	r->exit_code = has_code ? code : 0;
	if (runner_stop_requested(rd->x, &status, reason, sizeof reason))
		runner_set_result(r, status, "%s%s%s", reason, rd->note[0] ? "; " : "", rd->note);
	else if (has_code && code == 0)
		runner_set_result(r, JOB_STATUS_SUCCESS, NULL);
	else if (has_code)
		runner_set_result(r, JOB_STATUS_FAILED, "exit status %d", code);
	else
		runner_set_result(r, JOB_STATUS_FAILED, "the engine reported no exit code");
}

void runner_docker_on_line(void *arg, const struct docker_line *line)
{
	struct runner_docker *rd = arg;
	const struct runner_sink *k = &rd->x->sink;
	bool is_error = line->stream == DOCKER_STDERR;
	const char *p = line->data;
	size_t left = line->len;

	do {
		size_t n = left;
		if (n > RUNNER_MAX_LINE) {
			n = lines_utf8_valid_prefix(p, RUNNER_MAX_LINE);
			if (n == 0)
				n = RUNNER_MAX_LINE;
		}
		k->on_line(k->arg, is_error, p, n, n < left || line->more);
		p += n;
		left -= n;
	} while (left > 0);
	/* The engine's stream says nothing of the chunks it came in, so every
	 * line is handed over at once: live views see it without delay. */
	k->on_idle(k->arg);
}

const char *runner_docker_user(const struct runner_exec *x)
{
	const char *u = x->job->user && *x->job->user ? x->job->user : x->settings.default_user;
	return u && *u && strcmp(u, "default") != 0 ? u : NULL;
}

int runner_docker_stop_timeout_s(const struct runner_exec *x)
{
	int64_t ns =
	    x->job->stop_timeout_ns > 0 ? x->job->stop_timeout_ns : x->settings.stop_grace_ns;
	return ns > 0 ? (int)((ns + NS_PER_SEC - 1) / NS_PER_SEC) : -1;
}
