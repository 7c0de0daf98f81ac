/* runner: run one execution of a job on the calling thread (a thread of the
 * runner pool) and report its output and outcome through callbacks; a local
 * job's command is spawned at its instant by a launcher thread (launch.c).
 * Each job type is a const ops struct (local.c, and the Docker types);
 * runner_exec_new is the only place that switches on the type. Runners never
 * touch the loop or the store: the sink forwards what they report. */
#ifndef OFELIA_RUNNER_RUNNER_H
#define OFELIA_RUNNER_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job/job.h"

/* Longest output line stored whole; longer ones arrive in pieces. */
#define RUNNER_MAX_LINE (16 * 1024)

struct runner_result {
	enum job_status status; /* SUCCESS, FAILED, STOPPED or INTERRUPTED */
	bool has_exit_code;
	int exit_code;
	char error[512]; /* "" when none */
};

/* Callbacks, all made on the runner's thread, in this order: on_started
 * (once, maybe not: a stop before the execution's time), on_container or
 * on_process (maybe), on_line and on_idle (any number), on_done (once,
 * last). */
struct runner_sink {
	/* on_started: the execution's time has come and it starts (a local job:
	 * its process was just spawned, or could not be). May be NULL. */
	void (*on_started)(void *arg);
	/* on_line gets one line without its newline, valid UTF-8 without NUL
	 * (util/lines.h); more: a piece of a longer line whose next piece
	 * follows. It may block to slow down a job that writes faster than the
	 * store keeps up. */
	void (*on_line)(void *arg, bool is_error, const char *line, size_t len, bool more);
	/* on_idle: no more output for now; a good moment to hand lines over. */
	void (*on_idle)(void *arg);
	/* on_container: the Docker container, exec or service id is known. */
	void (*on_container)(void *arg, const char *id);
	/* on_process: a local job's process (and process group) pid has
	 * started; key identifies it (runner_process_key). */
	void (*on_process)(void *arg, long pid, const char *key);
	/* on_done: the outcome; no callback follows. */
	void (*on_done)(void *arg, const struct runner_result *r);
	void *arg;
};

/* Settings every execution needs from the global config. */
struct runner_settings {
	const char *default_user; /* exec/run/service user when the job sets none */
	const char *docker_host;  /* NULL = DOCKER_HOST or the default socket */
	int64_t stop_grace_ns;    /* a stop signal's grace period before a kill */
};

struct runner_exec;
struct runner_pool;

/* runner_exec_new prepares one execution of job (taken over: freed with the
 * execution) for the pool. reattach_id, when not NULL, resumes an execution
 * a previous process left running in that container instead of starting
 * one; settings and sink are copied. The caller frees it with
 * runner_exec_free after on_done. */
struct runner_exec *runner_exec_new(struct job *job, const char *exec_id,
                                    const struct runner_settings *settings,
                                    const struct runner_sink *sink, const char *reattach_id);
void runner_exec_free(struct runner_exec *x);
/* runner_exec_set_due makes the execution start at due_ns (wall clock, Unix
 * ns) rather than as soon as a thread takes it: the thread prepares what it
 * can, then waits for that instant (the scheduler hands slots over a little
 * ahead of their time, so that at the due instant only the spawn is left). A
 * stop before then ends it without starting it. Call before submitting. */
void runner_exec_set_due(struct runner_exec *x, int64_t due_ns);
/* runner_exec_stop asks the execution to stop, from any thread; it ends with
 * status (STOPPED, or FAILED for max-runtime) and error reason. The first
 * request wins. */
void runner_exec_stop(struct runner_exec *x, enum job_status status, const char *reason);

/* runner_pool_new makes a pool of threads that run submitted executions.
 * Threads are made when an execution finds none free, up to max_threads
 * (0: no limit); a thread idle for a while ends, down to a few. */
struct runner_pool *runner_pool_new(int max_threads);
/* runner_pool_submit runs x on a free thread, a new one when none is free,
 * or queues it until one is (only at max_threads). */
void runner_pool_submit(struct runner_pool *p, struct runner_exec *x);
/* runner_pool_free waits for the executions in flight, then joins the
 * threads; NULL is fine. */
void runner_pool_free(struct runner_pool *p);

/* runner_pool_threads tells how many threads the pool has now. */
int runner_pool_threads(struct runner_pool *p);

/* runner_run_inline runs x on the calling thread (`ofelia run`). */
void runner_run_inline(struct runner_exec *x);

/* Room for a process key. */
#define RUNNER_KEY_MAX 128

/* runner_process_key writes the identity of process pid: the boot id and
 * its start time from /proc, "<boot id>:<clock ticks>". -1 when there is no
 * such process. */
int runner_process_key(long pid, char *out, size_t len);
/* runner_process_alive tells whether pid still names the live process key
 * identifies (not a zombie, not a later process given the same pid). */
bool runner_process_alive(long pid, const char *key);
/* runner_kill_orphan kills what is left of a local execution a previous
 * ofelia process started: the process group pid when pid and key still name
 * its first process, and every process whose environment carries
 * OFELIA_EXECUTION_ID=exec_id. It waits up to 3 s for the group's first
 * process to end. Returns how many it signalled (what says what happened in
 * words), or -1 when that process did not end. */
int runner_kill_orphan(const char *exec_id, long pid, const char *key, char *what, size_t len);

#endif
