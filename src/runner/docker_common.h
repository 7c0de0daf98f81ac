/* What the three Docker job types (docker_exec.c, docker_run.c,
 * docker_service.c) share: the execution's engine handle, errors in the
 * DOCKER_ERROR form, output lines handed to the sink, and stopping.
 *
 * How a stop reaches a blocked Docker call. Short calls (inspect, create,
 * pull, start, remove) are cancelled: runner_docker_wake calls docker_cancel
 * on the runner's handle, the call fails with DOCKER_E_CANCELLED (or
 * DOCKER_E_TIMEOUT once max-runtime passes), and runner_docker_stopping turns
 * that into a stop the runner then carries out. The one long call of a run
 * or exec job (the output stream and the wait) is not cancelled, since a cut
 * stream loses output: a watcher thread (runner_docker_stream_begin) waits
 * for the stop request or the deadline and stops the container or the
 * exec's process with a handle of its own; the stream then ends by itself,
 * with every line. */
#ifndef OFELIA_RUNNER_DOCKER_COMMON_H
#define OFELIA_RUNNER_DOCKER_COMMON_H

#include <pthread.h>
#include <stdbool.h>

#include "docker/docker.h"
#include "runner/runner_int.h"

/* The suffix of every error that comes from the engine, the code API users
 * see. */
#define RUNNER_DOCKER_ERROR " [DOCKER_ERROR]"

struct runner_docker;

/* What the watcher does once a stop is due: stop the container or signal
 * the exec's process, using wd (the watcher's own handle); it may wait on
 * done_fd (readable once the stream has ended). */
typedef void runner_docker_stop_fn(struct runner_docker *rd, struct docker *wd, int done_fd);

struct runner_docker {
	struct runner_exec *x;
	struct docker *d; /* the runner thread's handle */

	pthread_mutex_t lock;
	bool streaming; /* the watcher, not a cancel, handles stops */
	bool stopping;  /* the stop is being carried out: no more cancels */

	pthread_t watcher;
	bool watching;
	int done_fd; /* eventfd: the stream has ended */
	runner_docker_stop_fn *on_stop;
	void *type_arg; /* the job type's own state, for on_stop */

	char note[256]; /* what a stop could not do; appended to its reason */
};

/* runner_docker_open makes the execution's handle and publishes rd for the
 * wake op; -1 with r filled when the engine address is bad. */
int runner_docker_open(struct runner_exec *x, struct runner_docker *rd, struct runner_result *r);
/* runner_docker_close releases what open made (the watcher has ended). */
void runner_docker_close(struct runner_docker *rd);
/* runner_docker_wake is the wake op of the Docker types. */
void runner_docker_wake(struct runner_exec *x);

/* runner_docker_stopping examines the handle after a failed call: true when
 * the call failed because of a stop request or max-runtime, which is then
 * recorded and the handle made usable again (later calls are no longer
 * cancelled); false for a real failure. */
bool runner_docker_stopping(struct runner_docker *rd);
/* runner_docker_pause waits up to wait_ns, or less when a stop request or
 * the deadline comes; true once the execution is stopping (recorded as in
 * runner_docker_stopping). For runners that poll the engine. */
bool runner_docker_pause(struct runner_docker *rd, int64_t wait_ns);

/* runner_docker_stream_begin starts the watcher for the long call; on_stop
 * is the type's way to stop. Returns false, without a watcher, when a stop
 * came first: the caller then stops by itself (the stop is recorded). */
bool runner_docker_stream_begin(struct runner_docker *rd, runner_docker_stop_fn *on_stop,
                                void *type_arg);
/* runner_docker_stream_end tells the watcher the stream is over and joins it. */
void runner_docker_stream_end(struct runner_docker *rd);

/* runner_docker_fail fills r with FAILED (or INTERRUPTED when status says
 * so): "<what>: <the engine's message> [DOCKER_ERROR]". */
void runner_docker_fail(struct runner_docker *rd, struct runner_result *r, enum job_status status,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* runner_docker_outcome fills r at the end: a stop request wins (with its
 * reason and the note), else the exit code decides. */
void runner_docker_outcome(struct runner_docker *rd, struct runner_result *r, bool has_code,
                           int code);

/* runner_docker_on_line is a docker_on_line_fn that hands a line (arg: rd)
 * to the sink, in pieces of RUNNER_MAX_LINE. */
void runner_docker_on_line(void *arg, const struct docker_line *line);
/* runner_docker_user returns the user to run as: the job's, else the global
 * default-user; NULL for "default" (the image's own user). Borrowed. */
const char *runner_docker_user(const struct runner_exec *x);
/* runner_docker_stop_timeout_s returns the seconds a stop signal gets before
 * the kill: the job's stop-timeout, else the global stop grace; -1 leaves
 * it to the container's own setting. */
int runner_docker_stop_timeout_s(const struct runner_exec *x);
/* runner_docker_wait_done waits up to timeout_ns for done_fd (true when the
 * stream has ended). */
bool runner_docker_wait_done(int done_fd, int64_t timeout_ns);

#endif
