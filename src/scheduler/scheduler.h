/* scheduler: decides when each job runs and records every outcome.
 *
 * It lives on the loop thread. Due times sit in a min-heap armed as one loop
 * timer: "tick, then wait until the next deadline"; nothing scans all jobs.
 * Every fire is a slot (job, scheduled time) with exactly one outcome in the
 * store: an execution, or skipped / missed / expired. Executions run on a
 * bounded pool of runner threads that post their output back; the store
 * commits a state change before it is announced as an event.
 *
 * At start it recovers from the store, in order: executions a previous
 * process left running are resolved; next runs are computed from each job's
 * last recorded slot; slots missed while ofelia was down follow the job's
 * catch-up policy (docs/scheduling.md). */
#ifndef OFELIA_SCHEDULER_SCHEDULER_H
#define OFELIA_SCHEDULER_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "job/job.h"
#include "runner/runner.h"
#include "tz/tz.h"
#include "util/strv.h"

struct loop;
struct store;
struct events;
struct scheduler;

/* Retries and workflows: the defaults of every job (docs/scheduling.md). */
struct scheduler_flow {
	int max_retries;
	int64_t retry_delay_ns;
	bool retry_exponential;
	int64_t retry_max_delay_ns;
	bool retry_interrupted;
	int64_t dependency_timeout_ns;
};

struct scheduler_options {
	const struct tz *zone; /* zone schedules run in unless they name one */
	int max_concurrent;    /* executions at once (more wait in the queue); 0 = no limit */
	int max_queue;         /* slots waiting for a thread; beyond, skipped */
	enum job_catch_up catch_up;
	int64_t catch_up_deadline_ns;
	int history_limit; /* default per job; 0 = no limit */
	int64_t history_max_age_ns;
	int64_t max_output_bytes;
	int64_t max_log_lines;
	int64_t max_log_bytes;
	int64_t max_runtime_ns; /* default per job; 0 = no limit */
	int64_t shutdown_grace_ns;
	struct scheduler_flow flow;
	struct runner_settings runner;
};

/* What a reload or a sync changed. */
struct scheduler_changes {
	int added;
	int updated;
	int removed;
};

/* Results of the API operations, mapped to HTTP by the caller. */
enum scheduler_rc {
	SCHED_OK = 0,
	SCHED_NOT_FOUND,   /* no such job or execution */
	SCHED_INVALID,     /* the request is wrong; err says why, code says how */
	SCHED_CONFLICT,    /* e.g. stopping an execution that has finished */
	SCHED_UNAVAILABLE, /* shutting down */
	SCHED_BUSY,        /* every thread busy and the queue full */
	SCHED_STORE_ERROR, /* the database refused a write */
};

/* scheduler_new makes a scheduler that records into store and publishes on
 * events; nothing runs until scheduler_start. Options are copied. */
struct scheduler *scheduler_new(struct loop *loop, struct store *store, struct events *events,
                                const struct scheduler_options *o);
/* scheduler_free releases everything; call after scheduler_shutdown has
 * finished (or before scheduler_start). NULL is fine. */
void scheduler_free(struct scheduler *s);

/* scheduler_start recovers from the store, merges the config's jobs (defs,
 * origin config; copied), plans every job and arms the timer. Returns 0, or
 * -1 with the reason in err. */
int scheduler_start(struct scheduler *s, struct job *const *defs, size_t n, char *err,
                    size_t errlen);

/* scheduler_sync makes the jobs of one origin (config or docker-label) equal
 * to defs (copied): new ones are added, changed ones updated, missing ones
 * removed. Running executions are not disturbed. */
int scheduler_sync(struct scheduler *s, enum job_origin origin, struct job *const *defs, size_t n,
                   struct scheduler_changes *out);

/* The daemon's reload, in two steps: load reads and parses the config on a
 * thread of its own (it must not touch the scheduler) and returns it, or
 * NULL with the reason in err; apply takes it over on the loop thread and
 * calls scheduler_sync. discard frees a loaded config that is not applied
 * (shutdown). SIGHUP and POST /api/scheduler/reload both go through
 * scheduler_reload. */
struct scheduler_reloader {
	void *(*load)(void *arg, char *err, size_t errlen);
	int (*apply)(void *arg, void *config, struct scheduler_changes *out, char *err,
	             size_t errlen);
	void (*discard)(void *arg, void *config);
	void *arg;
};
void scheduler_set_reload(struct scheduler *s, const struct scheduler_reloader *r);
/* Called on the loop thread when a reload has ended: rc 0 with what
 * changed, or -1 with the reason. */
typedef void scheduler_reloaded_fn(void *arg, int rc, const struct scheduler_changes *ch,
                                   const char *err);
/* scheduler_reload starts a reload, or joins the next one when one is
 * already loading; done(arg, ...) (may be NULL) is called when it has
 * ended, also at shutdown. -1 with the reason in err when no reload can
 * start. */
int scheduler_reload(struct scheduler *s, scheduler_reloaded_fn *done, void *arg, char *err,
                     size_t errlen);
/* scheduler_reloading tells whether a config is being loaded now. */
bool scheduler_reloading(const struct scheduler *s);

/* scheduler_run_job starts job now (trigger manual, no slot). The execution
 * is committed as running before this returns; its id and start time are
 * written to id and *start_ns. When every runner thread is busy the run
 * waits in the queue instead (*queued, *start_ns 0): it is recorded when it
 * starts, under the id given now; SCHED_BUSY when the queue is full. */
enum scheduler_rc scheduler_run_job(struct scheduler *s, const char *name, char id[37],
                                    int64_t *start_ns, bool *queued, char *err, size_t errlen);
/* scheduler_queued_run tells whether id is a manual run waiting in the
 * queue, and of which job (copied into job). */
bool scheduler_queued_run(struct scheduler *s, const char *id, char *job, size_t joblen);
/* scheduler_stop_execution stops a running execution (status stopped). */
enum scheduler_rc scheduler_stop_execution(struct scheduler *s, const char *id, char *err,
                                           size_t errlen);
/* scheduler_put_job updates job name from a partial JSON definition, or,
 * when there is no such job and body has a "type", creates it with origin
 * api (*created is set). *code gets "INVALID_SCHEDULE" or
 * "VALIDATION_ERROR" with SCHED_INVALID. */
enum scheduler_rc scheduler_put_job(struct scheduler *s, const char *name, json_t *body,
                                    bool *created, const char **code, char *err, size_t errlen);
/* scheduler_delete_job removes a job; its history stays in the store. */
enum scheduler_rc scheduler_delete_job(struct scheduler *s, const char *name, char *err,
                                       size_t errlen);
/* scheduler_toggle_job flips enabled and reports the new value. */
enum scheduler_rc scheduler_toggle_job(struct scheduler *s, const char *name, bool *enabled,
                                       char *err, size_t errlen);

/* scheduler_stop_running stops every running execution now (status
 * stopped, error reason), e.g. on a second SIGTERM. */
void scheduler_stop_running(struct scheduler *s, const char *reason);

/* scheduler_pause stops new runs (slots that fall are recorded skipped);
 * running executions finish. scheduler_resume plans from now. */
void scheduler_pause(struct scheduler *s);
void scheduler_resume(struct scheduler *s);

struct scheduler_status {
	bool running; /* not paused, not shutting down */
	int64_t start_ns;
	int total_jobs;
	int active_jobs; /* enabled */
	int running_executions;
	char next_job[256]; /* "" when nothing is planned */
	int64_t next_ns;
};

void scheduler_status(struct scheduler *s, struct scheduler_status *out);
/* scheduler_job_running tells how many executions of a job are running. */
int scheduler_job_running(struct scheduler *s, const char *name);
/* scheduler_job_times gives what the scheduler knows of a job now: its
 * next slot, the start of its latest run and that run's status (running
 * until its end is committed). The job's row in the store takes these with
 * each outcome, so while a run lasts the row still shows the one before.
 * false for an unknown job. */
bool scheduler_job_times(struct scheduler *s, const char *name, int64_t *next_ns,
                         int64_t *last_run_ns, enum job_status *last_status);
/* scheduler_job_live tells whether name is a job the scheduler serves now
 * (the store also keeps deleted jobs, and label jobs whose container has not
 * been seen since the start). */
bool scheduler_job_live(struct scheduler *s, const char *name);
/* scheduler_version changes whenever a job is added, changed, removed, run
 * or planned: callers cache views of the jobs against it. */
uint64_t scheduler_version(const struct scheduler *s);

/* scheduler_links_check tells whether the jobs of origin, replaced by
 * defs[0..n), would keep the live jobs' depends-on, on-success and
 * on-failure free of loops; -1 with the loop named in err. */
int scheduler_links_check(struct scheduler *s, enum job_origin origin, struct job *const *defs,
                          size_t n, char *err, size_t errlen);
/* scheduler_job_chain returns a new object for job name's page:
 * "dependencies" (its dependsOn, onSuccess and onFailure), "dependents"
 * (the jobs whose depends-on, on-success and on-failure name it) and
 * "pending" (its retries, triggered runs and waiting slots); NULL when the
 * job is unknown. */
json_t *scheduler_job_chain(struct scheduler *s, const char *name);
/* scheduler_pending_view returns a new object for a retry, triggered run
 * or waiting slot not yet begun (status "pending", its due time, kind and
 * reason), under the id its execution will have; NULL when id is none. */
json_t *scheduler_pending_view(struct scheduler *s, const char *id);

/* scheduler_run_once records one manual execution of def (copied) without
 * planning anything else (`ofelia run`); on_done(status, arg) is called on
 * the loop thread when it has finished and been committed. */
int scheduler_run_once(struct scheduler *s, const struct job *def,
                       void (*on_done)(enum job_status status, void *arg), void *arg, char *err,
                       size_t errlen);

/* ---- the cluster's gate (docs/cluster.md) ----
 *
 * With a gate the scheduler is one node of a cluster. It starts as a
 * follower: it keeps the jobs its store mirrors from the leader, runs the
 * executions it left running itself, and starts nothing. When told it
 * leads (scheduler_lead) it reloads the jobs from the store, resolves the
 * executions other nodes left running (reattached where this engine sees
 * their container, else interrupted), applies its own config and label
 * jobs, and plans. While it leads, every slot is claimed through the gate
 * before it gets an outcome (run, skipped, missed or expired): the claim of
 * a slot is asked claim_ahead before its time, so the answer is in when
 * the slot comes due; a slot still waiting for its answer starts when the
 * answer comes. A slot another node claimed is that node's to record; one
 * refused (this node no longer leads) is the next leader's. Nothing starts
 * unless the gate says, at the slot, that this node still leads. Without a
 * gate none of this happens: a single ofelia. */

enum scheduler_answer {
	SCHED_CLAIM_GRANTED,
	SCHED_CLAIM_TAKEN,   /* owner (owner_id) claimed it */
	SCHED_CLAIM_REFUSED, /* this node does not lead */
};

struct scheduler_claim {
	const char *job;
	int64_t slot_ns;
	const char *id; /* the execution that will run it */
	enum scheduler_answer answer;
	const char *owner;
	const char *owner_id; /* "" when none */
};

struct scheduler_gate {
	/* claim asks for v[0..n) (borrowed for the call) as batch; the answers
	 * come back through scheduler_claimed. */
	void (*claim)(void *arg, uint64_t batch, const struct scheduler_claim *v, size_t n);
	/* leading tells whether this node's leadership is certainly valid now. */
	bool (*leading)(void *arg);
	const char *node; /* this node's name (copied) */
	int64_t claim_ahead_ns;
	void *arg;
};

/* scheduler_set_gate makes s a cluster node (before scheduler_start). */
void scheduler_set_gate(struct scheduler *s, const struct scheduler_gate *g);
/* scheduler_lead tells s that this node starts or stops leading. Stopping:
 * nothing new starts, slots claimed and not yet started are recorded
 * skipped, running executions finish and are recorded. */
void scheduler_lead(struct scheduler *s, bool leading);
/* scheduler_claimed hands s the answers of a batch (v borrowed). */
void scheduler_claimed(struct scheduler *s, uint64_t batch, const struct scheduler_claim *v,
                       size_t n);
/* scheduler_mirrored tells s that the store took these job rows from
 * another node. */
void scheduler_mirrored(struct scheduler *s, const struct strv *jobs);
/* scheduler_leads tells whether s starts executions: true without a gate. */
bool scheduler_leads(const struct scheduler *s);
/* scheduler_touch moves the version (the store took rows from another
 * node: cached views of the jobs are stale). */
void scheduler_touch(struct scheduler *s);

/* scheduler_shutdown stops dispatching, gives running executions the grace
 * period, stops what is left, records everything, then calls on_done on the
 * loop thread. */
void scheduler_shutdown(struct scheduler *s, void (*on_done)(void *arg), void *arg);

#endif
