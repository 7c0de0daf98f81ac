/* Private to the runner module: the execution object the job types share,
 * and the ops each type provides. */
#ifndef OFELIA_RUNNER_RUNNER_INT_H
#define OFELIA_RUNNER_RUNNER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "util/clock.h"

#include "runner/runner.h"

struct runner_exec {
	const struct runner_ops *ops;
	struct job *job;
	char id[37];
	char *reattach_id;
	struct runner_settings settings;
	char *default_user; /* owned copies behind settings */
	char *docker_host;
	struct runner_sink sink;
	int64_t deadline_ns; /* monotonic; 0 = no max-runtime */
	int64_t due_ns;      /* wall clock; when to start, 0 = at once */

	/* Stop requests come from other threads. */
	pthread_mutex_t stop_lock;
	atomic_bool stop_requested;
	enum job_status stop_status;
	char stop_reason[256];
	int wake_fd;      /* eventfd: wakes a runner blocked in poll(); -1 until
	                   * runner_exec_open_wake, under stop_lock */
	void *type_state; /* what a type needs to stop itself (e.g. a Docker handle) */

	struct runner_exec *next; /* pool queue */
};

struct runner_ops {
	/* run starts the execution, streams its output and waits for the end.
	 * Unless waits_for_due, runner_wait_due has been called before it. */
	void (*run)(struct runner_exec *x, struct runner_result *r);
	/* The type waits for the due instant itself (runner_wait_due), after
	 * preparing what it can. */
	bool waits_for_due;
	/* wake, from any thread, makes a blocked run() notice a stop request. */
	void (*wake)(struct runner_exec *x);
};

extern const struct runner_ops runner_local_ops;
/* docker_exec.c, docker_run.c, docker_service.c */
extern const struct runner_ops runner_exec_ops;
extern const struct runner_ops runner_run_ops;
extern const struct runner_ops runner_service_ops;

/* runner_stop_requested reads the stop request: true and its status and
 * reason when there is one (reason is copied into a buffer of reason_len). */
bool runner_stop_requested(struct runner_exec *x, enum job_status *status, char *reason,
                           size_t reason_len);
/* runner_wait_due waits for x's due instant (no wait without one) and
 * restarts its max-runtime clock then; a stop request ends the wait. 0
 * when it is time, -1 when a stop came first (r then says so). */
int runner_wait_due(struct runner_exec *x, struct runner_result *r);
/* runner_exec_open_wake makes x's wake fd, on its runner's thread before
 * it first waits on it: made only then, so that the runners of a burst,
 * waiting for the launcher, hold no descriptor that every spawn copies. */
void runner_exec_open_wake(struct runner_exec *x);
/* runner_exec_started starts x's max-runtime clock: its command starts now. */
void runner_exec_started(struct runner_exec *x);
/* runner_wait_until returns at due_ns (wall clock), or earlier once *stop
 * is set by a thread that then writes the eventfd wake_fd. */
void runner_wait_until(int64_t due_ns, int wake_fd, const atomic_bool *stop);

/* A thread idle this long ends (the pool's, down to a few; the launcher). */
#define RUNNER_IDLE_NS (30 * NS_PER_SEC)
/* runner_thread_start starts a detached thread with the runners' small
 * stack: 0, or -1. */
int runner_thread_start(void *(*fn)(void *), void *arg);

/* launch.c: the commands of local jobs due at the same instant are spawned
 * one after another by one thread, the launcher. runner_launch waits for
 * x's due instant and has the launcher call spawn(arg) then; it returns 0
 * once spawn has returned, or -1 when a stop came first (r then says so).
 * Without a due instant spawn runs at once on the calling thread. */
int runner_launch(struct runner_exec *x, void (*spawn)(void *arg), void *arg,
                  struct runner_result *r);
/* runner_launch_wake makes runner_launch notice a stop request (ops->wake). */
void runner_launch_wake(struct runner_exec *x);

/* runner_set_result fills r with a status and a formatted error. */
void runner_set_result(struct runner_result *r, enum job_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
