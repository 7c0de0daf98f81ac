/* The execution object, the pool of runner threads, and stop requests. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "runner/runner_int.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/xalloc.h"

struct runner_pool {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct runner_exec *head, *tail;
	bool closing;
	int nthreads;
	pthread_t *threads;
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
	/* Bounded by duration_check; a sum past int64 would stop it at once. */
	int64_t now = clock_mono_ns();
	if (job->max_runtime_ns > 0 && job->max_runtime_ns < INT64_MAX - now)
		x->deadline_ns = now + job->max_runtime_ns;
	pthread_mutex_init(&x->stop_lock, NULL);
	x->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return x;
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

void runner_exec_stop(struct runner_exec *x, enum job_status status, const char *reason)
{
	pthread_mutex_lock(&x->stop_lock);
	if (!x->stop_requested) {
		x->stop_status = status;
		snprintf(x->stop_reason, sizeof x->stop_reason, "%s", reason);
		atomic_store(&x->stop_requested, true);
	}
	pthread_mutex_unlock(&x->stop_lock);
	uint64_t one = 1;
	ssize_t ignored = write(x->wake_fd, &one, sizeof one);
	(void)ignored;
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
	if (x->ops == NULL)
		runner_set_result(&r, JOB_STATUS_FAILED, "%s jobs are not supported by this build",
		                  job_type_name(x->job->type));
	else
		x->ops->run(x, &r);
	x->sink.on_done(x->sink.arg, &r);
}

static void *pool_thread(void *arg)
{
	struct runner_pool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->head == NULL && !p->closing)
			pthread_cond_wait(&p->wake, &p->lock);
		struct runner_exec *x = p->head;
		if (x == NULL) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		p->head = x->next;
		if (p->head == NULL)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		runner_run_inline(x);
	}
}

struct runner_pool *runner_pool_new(int threads)
{
	struct runner_pool *p = xcalloc(1, sizeof *p);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	p->nthreads = threads > 0 ? threads : 1;
	p->threads = xcalloc((size_t)p->nthreads, sizeof *p->threads);
	for (int i = 0; i < p->nthreads; i++)
		if (pthread_create(&p->threads[i], NULL, pool_thread, p) != 0) {
			log_error("runner: pthread_create");
			abort();
		}
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
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

void runner_pool_free(struct runner_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->closing = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p->threads);
	free(p);
}
