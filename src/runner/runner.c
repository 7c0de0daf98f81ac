/* The execution object, the pool of runner threads, and stop requests.
 *
 * The pool makes a thread when an execution finds none free (so a burst of
 * slots due together all start at once, as Ofelia starts a goroutine per
 * job), up to an optional limit (max-concurrent); a thread left idle for
 * RUNNER_IDLE_NS ends unless it is one of the last KEEP_IDLE. Threads have
 * a small stack (STACK_SIZE): what a runner keeps on it is a read buffer
 * and the frames of libcurl and jansson. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "runner/runner_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

#define KEEP_IDLE    2
#define WAKE_LEAD_NS (250 * 1000LL)
#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer's redzones make every frame several times larger. */
#define STACK_SIZE (2u << 20)
#else
#define STACK_SIZE (256u << 10)
#endif

struct runner_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_cond_t gone; /* a thread ended */
	struct runner_exec *head, *tail;
	size_t queued;
	bool closing;
	int max;      /* 0: no limit */
	int nthreads; /* alive */
	int idle;     /* waiting for work */
};

static const struct runner_ops *ops_for(enum job_type type)
{
	switch (type) {
	case JOB_LOCAL:
		return &runner_local_ops;
	case JOB_EXEC:
		return &runner_exec_ops;
	case JOB_RUN:
		return &runner_run_ops;
	case JOB_SERVICE:
		return &runner_service_ops;
	}
	return NULL;
}

void runner_exec_started(struct runner_exec *x)
{
	/* Bounded by duration_check; a sum past int64 would stop it at once. */
	int64_t now = clock_mono_ns();
	if (x->job->max_runtime_ns > 0 && x->job->max_runtime_ns < INT64_MAX - now)
		x->deadline_ns = now + x->job->max_runtime_ns;
}

struct runner_exec *runner_exec_new(struct job *job, const char *exec_id,
                                    const struct runner_settings *settings,
                                    const struct runner_sink *sink, const char *reattach_id)
{
	struct runner_exec *x = xcalloc(1, sizeof *x);
	x->ops = ops_for(job->type);
	x->job = job;
	snprintf(x->id, sizeof x->id, "%s", exec_id);
	x->reattach_id = xstrdup(reattach_id);
	x->default_user = xstrdup(settings->default_user);
	x->docker_host = xstrdup(settings->docker_host);
	x->settings = *settings;
	x->settings.default_user = x->default_user;
	x->settings.docker_host = x->docker_host;
	x->sink = *sink;
	runner_exec_started(x);
	pthread_mutex_init(&x->stop_lock, NULL);
	x->wake_fd = -1;
	return x;
}

void runner_exec_open_wake(struct runner_exec *x)
{
	pthread_mutex_lock(&x->stop_lock);
	if (x->wake_fd < 0) {
		x->wake_fd = eventfd(x->stop_requested ? 1 : 0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (x->wake_fd < 0)
			log_error("runner: eventfd for execution %s", x->id);
	}
	pthread_mutex_unlock(&x->stop_lock);
}

void runner_exec_free(struct runner_exec *x)
{
	if (x == NULL)
		return;
	job_free(x->job);
	free(x->reattach_id);
	free(x->default_user);
	free(x->docker_host);
	pthread_mutex_destroy(&x->stop_lock);
	if (x->wake_fd >= 0)
		close(x->wake_fd);
	free(x);
}

void runner_exec_set_due(struct runner_exec *x, int64_t due_ns)
{
	x->due_ns = due_ns;
}

/* sleep_until polls wake_fd until at_ns, on a timerfd so the wake-up comes
 * at the instant (poll's own timeout is rounded to milliseconds and
 * slackened). A change of the wall clock ends the wait early, and so does
 * *stop (whoever sets it then writes wake_fd). */
static void sleep_until(int64_t at_ns, int wake_fd, const atomic_bool *stop)
{
	if (clock_now_ns() >= at_ns)
		return;
	int tfd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC);
	struct itimerspec it = {.it_value = {at_ns / NS_PER_SEC, at_ns % NS_PER_SEC}};
	if (tfd >= 0 &&
	    timerfd_settime(tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &it, NULL) < 0) {
		close(tfd);
		tfd = -1;
	}
	while (!atomic_load(stop)) {
		int64_t left = at_ns - clock_now_ns();
		if (left <= 0)
			break;
		struct pollfd pfd[2] = {{wake_fd, POLLIN, 0}, {tfd, POLLIN, 0}};
		int timeout = tfd >= 0 ? -1 : (int)((left + NS_PER_MS - 1) / NS_PER_MS);
		int n = poll(pfd, tfd >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && pfd[1].revents)
			break;
	}
	if (tfd >= 0)
		close(tfd);
}

/* A thread asleep on a timer runs again about 0.1 ms after it fires (more
 * on a virtual machine, whose idle CPU the host must wake), which would be a
 * tenth of a job's start: so the waiter sleeps until WAKE_LEAD_NS before the
 * instant and watches the clock for the rest. One thread at a time watches;
 * others due together sleep to the instant. */
void runner_wait_until(int64_t due_ns, int wake_fd, const atomic_bool *stop)
{
	static atomic_bool watching;

	sleep_until(due_ns - WAKE_LEAD_NS, wake_fd, stop);
	/* Only close to the instant (the sleep also ends when the clock is set),
	 * and for WAKE_LEAD_NS at most, should the clock be set back meanwhile. */
	int64_t until = clock_mono_ns() + WAKE_LEAD_NS;
	if (due_ns - clock_now_ns() <= WAKE_LEAD_NS && !atomic_exchange(&watching, true)) {
		while (clock_now_ns() < due_ns && clock_mono_ns() < until && !atomic_load(stop))
			;
		atomic_store(&watching, false);
	}
	sleep_until(due_ns, wake_fd, stop);
}

int runner_wait_due(struct runner_exec *x, struct runner_result *r)
{
	char reason[256];
	enum job_status status;

	if (x->due_ns > 0 && clock_now_ns() < x->due_ns)
		runner_wait_until(x->due_ns, x->wake_fd, &x->stop_requested);
	if (runner_stop_requested(x, &status, reason, sizeof reason)) {
		runner_set_result(r, status, "%s (before it started)", reason);
		return -1;
	}
	runner_exec_started(x);
	return 0;
}

void runner_exec_stop(struct runner_exec *x, enum job_status status, const char *reason)
{
	pthread_mutex_lock(&x->stop_lock);
	if (!x->stop_requested) {
		x->stop_status = status;
		snprintf(x->stop_reason, sizeof x->stop_reason, "%s", reason);
		atomic_store(&x->stop_requested, true);
	}
	int wake_fd = x->wake_fd;
	pthread_mutex_unlock(&x->stop_lock);
	uint64_t one = 1;
	if (wake_fd >= 0) {
		ssize_t ignored = write(wake_fd, &one, sizeof one);
		(void)ignored;
	}
	if (x->ops && x->ops->wake)
		x->ops->wake(x);
}

bool runner_stop_requested(struct runner_exec *x, enum job_status *status, char *reason,
                           size_t reason_len)
{
	if (!atomic_load(&x->stop_requested))
		return false;
	pthread_mutex_lock(&x->stop_lock);
	if (status)
		*status = x->stop_status;
	if (reason)
		snprintf(reason, reason_len, "%s", x->stop_reason);
	pthread_mutex_unlock(&x->stop_lock);
	return true;
}

void runner_set_result(struct runner_result *r, enum job_status status, const char *fmt, ...)
{
	r->status = status;
	r->error[0] = '\0';
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->error, sizeof r->error, fmt, ap);
		va_end(ap);
	}
}

void runner_run_inline(struct runner_exec *x)
{
	struct runner_result r = {.status = JOB_STATUS_FAILED};
	if (x->ops == NULL) {
		runner_set_result(&r, JOB_STATUS_FAILED, "%s jobs are not supported by this build",
		                  job_type_name(x->job->type));
	} else if (x->ops->waits_for_due) {
		x->ops->run(x, &r);
	} else {
		runner_exec_open_wake(x);
		if (runner_wait_due(x, &r) == 0) {
			if (x->sink.on_started)
				x->sink.on_started(x->sink.arg);
			x->ops->run(x, &r);
		}
	}
	x->sink.on_done(x->sink.arg, &r);
}

static void *pool_thread(void *arg)
{
	struct runner_pool *p = arg;
	pthread_setname_np(pthread_self(), "ofelia-runner");
	/* A slot's wake-up comes from a timerfd at its instant; no slack on top. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (p->head == NULL && !p->closing) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += RUNNER_IDLE_NS / NS_PER_SEC;
			p->idle++;
			int rc = pthread_cond_timedwait(&p->wake, &p->lock, &until);
			p->idle--;
			if (rc == ETIMEDOUT && p->head == NULL && p->nthreads > KEEP_IDLE)
				goto out;
		}
		struct runner_exec *x = p->head;
		if (x == NULL)
			goto out;
		p->head = x->next;
		if (p->head == NULL)
			p->tail = NULL;
		p->queued--;
		pthread_mutex_unlock(&p->lock);
		runner_run_inline(x);
		pthread_mutex_lock(&p->lock);
	}
out:
	p->nthreads--;
	pthread_cond_broadcast(&p->gone);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int runner_thread_start(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	int rc = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc == 0 ? 0 : -1;
}

/* add_thread starts one more thread; the lock is held. */
static int add_thread(struct runner_pool *p)
{
	if (runner_thread_start(pool_thread, p) < 0)
		return -1;
	p->nthreads++;
	return 0;
}

struct runner_pool *runner_pool_new(int max_threads)
{
	struct runner_pool *p = xcalloc(1, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->gone, NULL);
	p->max = max_threads > 0 ? max_threads : 0;
	return p;
}

void runner_pool_submit(struct runner_pool *p, struct runner_exec *x)
{
	pthread_mutex_lock(&p->lock);
	x->next = NULL;
	if (p->tail)
		p->tail->next = x;
	else
		p->head = x;
	p->tail = x;
	p->queued++;
	if ((size_t)p->idle >= p->queued) {
		pthread_cond_signal(&p->wake);
	} else if (p->max == 0 || p->nthreads < p->max) {
		/* Without any thread nothing would ever run it. */
		if (add_thread(p) < 0 && p->nthreads == 0) {
			log_error("runner: pthread_create");
			abort();
		}
	}
	pthread_mutex_unlock(&p->lock);
}

int runner_pool_threads(struct runner_pool *p)
{
	pthread_mutex_lock(&p->lock);
	int n = p->nthreads;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void runner_pool_free(struct runner_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->closing = true;
	pthread_cond_broadcast(&p->wake);
	while (p->nthreads > 0)
		pthread_cond_wait(&p->gone, &p->lock);
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->gone);
	free(p);
}
