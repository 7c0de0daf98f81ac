/* store: the SQLite repository. Every job, execution, log line, metric and
 * setting goes through here; nothing else in ofelia speaks SQL.
 *
 * A struct store is one connection owned by one thread (the daemon's loop
 * thread). Writes are grouped: log lines wait in memory until store_flush or
 * the next state change commits them, so a flood of output costs few
 * commits. A state change (an execution begins or finishes, a job changes) is
 * committed before the call returns: whatever the caller announces next is
 * on disk. Every statement is prepared once, at open. */
#ifndef OFELIA_STORE_STORE_H
#define OFELIA_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job/job.h"
#include "util/strv.h"

struct store;

/* Returned by writes that would give a slot a second outcome. */
#define STORE_CONFLICT 1

enum store_sync {
	STORE_SYNC_NORMAL, /* survives a killed process (WAL, synchronous=NORMAL) */
	STORE_SYNC_FULL,   /* survives a power loss too, at a cost per commit */
};

struct store_options {
	const char *path;
	enum store_sync sync;
	bool read_only;            /* reports and checks: no migration, no writes */
	int64_t wal_limit_bytes;   /* the WAL file is kept near this; 0 = STORE_WAL_LIMIT */
	int64_t checkpoint_age_ns; /* frames wait in the WAL at most about this; 0 = a minute */
	bool lock;                 /* the daemon: one per database, held until store_close */
	bool init;                 /* create a database even where one was (--init-db) */
	bool quick_check;          /* run PRAGMA quick_check first (STORE_QUICK_CHECK_NS) */
};

/* The time store_open's quick_check may take; a bigger file is checked
 * that far, with a warning, and `ofelia check` checks it all. */
#define STORE_QUICK_CHECK_NS (5 * 1000000000LL)

/* The default bound of the WAL file (ofelia.db-wal). */
#define STORE_WAL_LIMIT (4 << 20)

/* store_open opens path, creating it when missing, and applies the embedded
 * migrations in order, each in one transaction. A database written by a
 * newer ofelia, or a file that is not an ofelia database, is refused and left
 * untouched; so is a missing database whose lock file or WAL shows it was
 * deleted (unless o->init), with o->lock a database another daemon holds,
 * and with o->quick_check a damaged one. Returns NULL with the reason in
 * err. */
struct store *store_open(const struct store_options *o, char *err, size_t errlen);
/* store_close flushes queued log lines and closes; NULL is fine. */
void store_close(struct store *s);
/* store_errmsg describes the last failure on s. */
const char *store_errmsg(const struct store *s);
/* store_schema_version returns the migration level of the open database. */
int store_schema_version(const struct store *s);
/* store_check tells whether the store is healthy (readiness): 0 when the
 * database answers, its file is still in place, and the last write did not
 * fail for a reason of the file or the disk; else -1 with the reason in
 * store_errmsg. */
int store_check(struct store *s);
/* store_writable is false from a write that failed for a reason of the file
 * or the disk (full, I/O error, locked by another process, read-only) until
 * a commit succeeds. */
bool store_writable(const struct store *s);
/* store_last_commit_ns is when the last commit succeeded (monotonic ns; 0
 * before any). */
int64_t store_last_commit_ns(const struct store *s);
/* store_probe commits a write that changes nothing, to find out whether
 * the database takes writes again; 0 when it does. */
int store_probe(struct store *s);

enum store_verdict {
	STORE_VERDICT_OK,
	STORE_VERDICT_DAMAGED, /* problems were found (and passed to on_problem) */
	STORE_VERDICT_CUT,     /* the time budget ran out first */
	STORE_VERDICT_ERROR,   /* the check could not run (store_errmsg) */
};

/* store_verify runs PRAGMA quick_check (quick) or integrity_check and
 * foreign_key_check, calling on_problem (may be NULL) with each problem
 * found. budget_ns > 0 stops it after that long. */
enum store_verdict store_verify(struct store *s, bool quick, int64_t budget_ns,
                                void (*on_problem)(void *arg, const char *msg), void *arg);

/* How long a write waits for a lock another process holds before failing. */
#define STORE_BUSY_MS 200

/* Explicit transactions group several writes (e.g. the missed slots found at
 * start) into one commit; writes inside one do not commit on their own. */
int store_tx_begin(struct store *s);
int store_tx_commit(struct store *s);
void store_tx_rollback(struct store *s);

/* ---- jobs ---- */

/* A job as stored: its definition and its scheduling state. Times are Unix
 * nanoseconds; 0 means none. */
struct store_job {
	struct job *def;        /* the effective definition (owned) */
	struct job *source_def; /* as its config file or labels last gave it; NULL for API jobs */
	bool overridden;        /* changed through the API since its source gave it */
	int64_t next_run_ns;
	int64_t last_run_ns;
	enum job_status last_status; /* meaningful when last_run_ns != 0 */
	int64_t last_slot_ns;
	char *slot_schedule; /* the schedule last_slot_ns belongs to, or NULL */
	int64_t deleted_ns;
	int64_t created_ns;
	int64_t updated_ns;
};

/* store_jobs_load returns every job row, deleted ones too, ordered by name.
 * The caller frees the array with store_jobs_free. */
int store_jobs_load(struct store *s, struct store_job ***out, size_t *n);
/* store_job_get loads one job; *out is NULL when there is no such row. */
int store_job_get(struct store *s, const char *name, struct store_job **out);
/* store_job_save writes every column of the row (insert or replace),
 * committed unless inside store_tx_begin. updated_ns is set to now. */
int store_job_save(struct store *s, const struct store_job *j);
/* store_job_latest_slot finds the latest slot of name's executions, 0
 * when none: a slot whose run was begun but whose end was never recorded
 * is later than the job row's last_slot. */
int store_job_latest_slot(struct store *s, const char *name, int64_t *slot_ns);
/* store_job_latest_run finds the start and status of name's latest run
 * (its row in executions), *start_ns 0 when none: the job's row takes them
 * only with some ends (store_job_set_state). */
int store_job_latest_run(struct store *s, const char *name, int64_t *start_ns,
                         enum job_status *status);
/* store_job_set_state writes the columns of the job's row that runs move
 * (last_run, last_status, last_slot, slot_schedule, next_run), as the
 * scheduler knows them; committed unless inside store_tx_begin. */
int store_job_set_state(struct store *s, const char *name, int64_t last_run_ns,
                        enum job_status last_status, int64_t last_slot_ns,
                        const char *slot_schedule, int64_t next_run_ns);
/* store_job_set_next updates only next_run (the scheduler re-planning). */
int store_job_set_next(struct store *s, const char *name, int64_t next_run_ns);
void store_job_free(struct store_job *j);
void store_jobs_free(struct store_job **v, size_t n);

/* ---- executions ---- */

struct store_execution {
	char id[37]; /* UUIDv7 text */
	char *job_name;
	enum job_type job_type;
	enum job_status status;
	enum job_trigger trigger;
	int64_t scheduled_ns; /* the slot; 0 for a manual run */
	int64_t start_ns;     /* 0 for a slot that never ran */
	int64_t end_ns;
	int64_t duration_ns;
	bool has_exit_code;
	int exit_code;
	char *output; /* NULL when none */
	int64_t output_dropped;
	char *error; /* NULL when none */
	int64_t log_lines;
	int64_t dropped_lines;
	char *container_id;
	int64_t created_ns;
	long process_id;   /* a local job's process and process group; 0 = none */
	char *process_key; /* its identity (runner_process_key), or NULL */
	long owner_pid;    /* the ofelia process running it; 0 = unknown */
	char *owner_key;
	/* For store_execution_finish of a slot's run, borrowed: the schedule
	 * the slot belongs to and the job's next slot, which the job's row
	 * takes (NULL: the row's slot stays). */
	const char *slot_schedule;
	int64_t next_run_ns;
	/* For store_execution_finish: leave the job's row as it is (the
	 * scheduler writes it later, store_job_set_state). */
	bool skip_job_row;
	/* In a cluster (docs/cluster.md): the node that ran it (NULL: this
	 * store's own node, or no cluster), and the node that ended it for
	 * that node (NULL: the node that ran it did). */
	char *node;
	char *resolved_by;
	/* retries and workflows */
	int attempt;               /* 1, 2, ...; 0 is read as 1 */
	char first_attempt_id[37]; /* the first attempt a retry repeats; "" on a first attempt */
	char cause_id[37];         /* the attempt a retry follows, or the execution that
	                              triggered this one; "" when none */
	bool pending;              /* begun from the pending_runs row of its id: the row goes */
};

/* store_new_id writes a fresh UUIDv7 (time-ordered) into id. */
void store_new_id(char id[37]);

/* store_execution_begin inserts e (status running, its owner). The job's
 * row is left as it is (last_run, last_status, last_slot and next_run
 * move with the end, store_execution_finish): one row fewer to write per
 * execution, and the unique slot of the executions row is what claims the
 * slot. Returns 0, STORE_CONFLICT when the slot already has an outcome, or
 * -1. */
int store_execution_begin(struct store *s, const struct store_execution *e);
/* store_slot_outcome records a slot that did not run (status skipped,
 * missed or expired, reason in error) and moves the job's last_slot and
 * next_run; counted in the job's counters. Returns 0, STORE_CONFLICT, or -1. */
int store_slot_outcome(struct store *s, const char *job, enum job_type type, int64_t slot_ns,
                       enum job_status status, const char *reason, const char *schedule,
                       int64_t next_run_ns);
/* store_run_skipped records a manual run that was accepted (its id given
 * out) but never started: status skipped, reason in error, no slot. */
int store_run_skipped(struct store *s, const char *id, const char *job, enum job_type type,
                      enum job_trigger trigger, const char *reason);
/* store_execution_set_container records the Docker id of a running
 * execution as soon as it is known, so a restart can reattach. */
int store_execution_set_container(struct store *s, const char *id, const char *container_id);
/* store_execution_note_process queues the process (and process group) of
 * a running local execution and its identity, so a restart can end it; the
 * next commit writes it (until then a restart finds the processes by their
 * OFELIA_EXECUTION_ID). */
void store_execution_note_process(struct store *s, const char *id, long pid, const char *key);
/* store_log_reset deletes the stored log lines of an execution (its other
 * columns stay): a reattached container's logs are read again from the
 * start, so they replace what the previous process had stored. */
int store_log_reset(struct store *s, const char *exec_id);
/* store_log_append queues one output line of an execution (is_error: from
 * stderr); it is written by the next commit. msg need not be NUL-terminated
 * and is copied. */
void store_log_append(struct store *s, const char *exec_id, int64_t seq, int64_t ts_ns,
                      bool is_error, const char *msg, size_t len);
/* store_pending returns how many log lines (and process notes) wait for a
 * commit;
 * store_pending_bytes the bytes of their messages. */
size_t store_pending(const struct store *s);
size_t store_pending_bytes(const struct store *s);
/* store_flush commits the queued log lines. On failure they stay queued and
 * the next flush tries again. */
int store_flush(struct store *s);
/* store_execution_finish writes the final fields of e (status, end, duration,
 * exit code, output, error, line counts) with the queued log lines, the
 * job's last_run and last_status (unless a newer run began), for a slot
 * with e->slot_schedule its last_slot, slot_schedule and next_run (unless a
 * later slot has an outcome), and the metrics (counter, histogram, last
 * success/failure), in one commit. */
int store_execution_finish(struct store *s, const struct store_execution *e);

/* ---- retries and workflows (store_chain.c) ---- */

/* A row of pending_runs: a retry due after its delay, a triggered run, or
 * a slot (or a triggered run) waiting for its dependencies. */
enum store_pending_kind { STORE_PENDING_RETRY, STORE_PENDING_TRIGGER, STORE_PENDING_WAIT };

struct store_pending {
	char id[37]; /* the id its execution (or outcome) will have */
	char *job_name;
	enum store_pending_kind kind;
	enum job_trigger trigger; /* of its execution */
	int64_t due_ns;
	int64_t slot_ns; /* a waiting slot; 0 otherwise */
	int attempt;
	char first_attempt_id[37]; /* "" when none */
	char cause_id[37];         /* "" when none */
	char *reason;              /* NULL when none */
	int64_t created_ns;
};

/* store_pending_kind_name: "retry", "trigger", "wait". */
const char *store_pending_kind_name(enum store_pending_kind k);
/* store_pending_load returns every pending row, by due time. Free with
 * store_pendings_free. */
int store_pending_load(struct store *s, struct store_pending ***out, size_t *n);
/* store_pending_of_cause returns the pending rows that cause_id caused. */
int store_pending_of_cause(struct store *s, const char *cause_id, struct store_pending ***out,
                           size_t *n);
struct store_pending *store_pending_clone(const struct store_pending *p);
void store_pending_free(struct store_pending *p);
void store_pendings_free(struct store_pending **v, size_t n);

/* store_execution_finish_then is store_execution_finish that inserts the
 * rows follow[0..n) (retries, triggers) in the same commit. With notify
 * false the end owes no notification (a retry follows it). */
int store_execution_finish_then(struct store *s, const struct store_execution *e,
                                const struct store_pending *follow, size_t n, bool notify);
/* store_slot_wait records that the slot p->slot_ns of p->job_name waits for
 * its dependencies: the pending row p, and the job's last_slot and
 * next_run moved as store_execution_begin moves them. */
int store_slot_wait(struct store *s, const struct store_pending *p, const char *schedule,
                    int64_t next_run_ns);
/* store_pending_wait turns row id into a wait until due_ns, for reason. */
int store_pending_wait(struct store *s, const char *id, int64_t due_ns, const char *reason);
/* store_pending_resolve records that p will not run: an executions row
 * under p's id (status skipped, missed or expired, reason in error, p's
 * attempt, first attempt and cause), counted and owing its notices, and p
 * removed; one commit. */
int store_pending_resolve(struct store *s, const struct store_pending *p, enum job_type type,
                          enum job_status status, const char *reason);

/* Where a job stands for depends-on: its latest first attempt at or
 * before a time, and how that attempt's chain of retries ended. */
struct store_dep_state {
	bool found;
	char id[37];            /* the first attempt */
	int64_t at_ns;          /* its slot, else its start, else when it was recorded */
	enum job_status status; /* of its latest attempt */
	char last_id[37];       /* the latest attempt */
	int attempts;
	bool retry_pending; /* a retry of it is pending */
};
/* store_dependency_state fills *out for job at at_ns. */
int store_dependency_state(struct store *s, const char *job, int64_t at_ns,
                           struct store_dep_state *out);
/* store_execution_caused returns the executions whose cause is id, oldest
 * first (at most limit). */
int store_execution_caused(struct store *s, const char *id, int limit,
                           struct store_execution ***out, size_t *n);

/* store_execution_get loads one execution; *out is NULL when unknown. */
int store_execution_get(struct store *s, const char *id, struct store_execution **out);
/* store_execution_history returns up to limit executions of job, newest
 * first, created before before_ns (0: no bound), from an index. */
int store_execution_history(struct store *s, const char *job, int64_t before_ns, int limit,
                            struct store_execution ***out, size_t *n);
/* store_execution_history_after returns the next page after the execution
 * last_id (the last one of the previous page): exact where a time is not,
 * since times have milliseconds and a batch of slot outcomes shares one.
 * An unknown last_id gives an empty page. */
int store_execution_history_after(struct store *s, const char *job, const char *last_id, int limit,
                                  struct store_execution ***out, size_t *n);
/* store_execution_recent writes the statuses of job's newest executions
 * (slots that did not run included), newest first, into out (room for
 * limit) and their number into *n: what a status strip needs, without the
 * rows' output. */
int store_execution_recent(struct store *s, const char *job, int limit, enum job_status *out,
                           size_t *n);
/* store_executions_running returns the executions whose status is running
 * (at start: those a previous process left behind). */
int store_executions_running(struct store *s, struct store_execution ***out, size_t *n);
void store_execution_free(struct store_execution *e);
void store_executions_free(struct store_execution **v, size_t n);

struct store_log_line {
	int64_t seq;
	int64_t ts_ns;
	bool is_error;
	char *message;
};

/* store_log_read returns up to limit lines of an execution with seq >
 * after_seq, in order. Free with store_log_lines_free. */
int store_log_read(struct store *s, const char *exec_id, int64_t after_seq, int limit,
                   struct store_log_line **out, size_t *n);
void store_log_lines_free(struct store_log_line *v, size_t n);

/* ---- metrics ---- */

/* Upper bounds (seconds) of the duration histogram; the last bucket is +Inf. */
#define STORE_BUCKET_COUNT 13
extern const double store_duration_buckets[STORE_BUCKET_COUNT - 1];

struct store_job_metrics {
	int64_t total_runs; /* success + failed + stopped + interrupted */
	int64_t successful_runs;
	int64_t failed_runs;
	int64_t average_duration_ns; /* 0 when it never ran */
	int64_t last_success_ns;     /* 0 = never */
	int64_t last_failure_ns;
};

/* store_job_metrics reads the job_stats numbers of one job (zeros if none). */
int store_job_metrics(struct store *s, const char *job, struct store_job_metrics *out);

/* Everything /metrics shows for one job. */
struct store_metrics_row {
	char *job_name;
	int64_t by_status[JOB_STATUS_COUNT];
	int64_t buckets[STORE_BUCKET_COUNT]; /* per bucket, not cumulative */
	int64_t duration_sum_ns;
	int64_t duration_count;
	int64_t last_success_ns;
};

/* store_metrics_all returns one row per job that has metrics, by name. */
int store_metrics_all(struct store *s, struct store_metrics_row **out, size_t *n);
void store_metrics_free(struct store_metrics_row *v, size_t n);

/* ---- settings ---- */

/* store_setting_get sets *value to a copy the caller frees, or NULL. */
int store_setting_get(struct store *s, const char *key, char **value);
int store_setting_put(struct store *s, const char *key, const char *value);

/* ---- retention ---- */

/* store_prune_age deletes up to batch finished executions (with their log
 * lines) created before older_than_ns; returns how many, or -1. */
int store_prune_age(struct store *s, int64_t older_than_ns, int batch);
/* store_prune_count deletes up to batch of job's oldest finished executions
 * beyond the newest keep; returns how many, or -1. */
int store_prune_count(struct store *s, const char *job, int keep, int batch);

/* ---- notifications: the durable outbox (store_outbox.c) ---- */

/* One notification an outcome owes, as the planner lists it. */
struct store_notice {
	const char *channel; /* "slack", "mail", "save", "webhook" */
	const char *target;  /* the webhook's name, or "" */
	int64_t cooldown_ns; /* > 0: suppressed when an equal failure was notified this recently */
};
#define STORE_NOTICES_MAX 32

/* An outcome being recorded, as the planner sees it. */
struct store_outcome {
	const char *execution_id;
	const char *job_name;
	const struct job *def; /* the job's stored definition */
	enum job_status status;
	const char *error; /* NULL when none */
	int64_t end_ns; /* an execution's end (its last success, when it succeeded); 0 for a slot */
};

/* A planner writes into out (room for STORE_NOTICES_MAX) the notices an
 * outcome owes and returns how many. It runs inside the transaction that
 * records the outcome, so the notices commit with it; it must not call the
 * store. Its strings must live until it is called again. */
typedef size_t store_planner_fn(void *arg, const struct store_outcome *o, struct store_notice *out);
/* store_set_planner makes every execution end and slot outcome call fn
 * (NULL: outcomes owe nothing). */
void store_set_planner(struct store *s, store_planner_fn *fn, void *arg);

/* A notification row. State is "pending", "delivered", "dead" or
 * "suppressed"; event an outcome's status name or "no-success". */
struct store_notification {
	int64_t id;
	char *idempotency_key;
	char *execution_id; /* NULL for a dead-man alert */
	char *job_name;
	char *channel;
	char *target;
	char *event;
	char *state;
	int attempts;
	int64_t next_attempt_ns; /* 0 unless pending */
	int64_t last_attempt_ns;
	char *last_error;
	char *detail;
	int64_t created_ns;
	int64_t finished_ns;
};

/* store_outbox_due returns up to limit pending notices due at now_ns, the
 * earliest first. Free with store_notifications_free. */
int store_outbox_due(struct store *s, int64_t now_ns, int limit, struct store_notification ***out,
                     size_t *n);
/* store_outbox_next_due writes into ids and due_ns the first n (at most
 * max) pending notices by due time, earliest first: the caller skips those
 * it has in flight. */
int store_outbox_next_due(struct store *s, size_t max, int64_t *ids, int64_t *due_ns, size_t *n);
/* store_outbox_result records one attempt at notice id (of channel): state
 * "delivered", "pending" (it failed and is due again at next_ns) or "dead";
 * error is the failure (NULL when delivered). Counted in the counters. */
int store_outbox_result(struct store *s, int64_t id, const char *channel, const char *state,
                        int64_t now_ns, int64_t next_ns, const char *error);
/* store_outbox_alert records a dead-man notice of job for each of v[0..n),
 * event "no-success", keyed key (an alert already recorded under key is not
 * recorded again). Returns how many were new, or -1. */
int store_outbox_alert(struct store *s, const char *job, const char *key, const char *detail,
                       const struct store_notice *v, size_t n);
/* store_outbox_list returns up to limit notices, newest first, with id
 * below before_id (0: from the newest), of state and job (NULL: any). */
int store_outbox_list(struct store *s, const char *state, const char *job, int64_t before_id,
                      int limit, struct store_notification ***out, size_t *n);
/* store_outbox_of_execution returns the notices of one execution. */
int store_outbox_of_execution(struct store *s, const char *exec_id,
                              struct store_notification ***out, size_t *n);
void store_notification_free(struct store_notification *v);
void store_notifications_free(struct store_notification **v, size_t n);

/* Counters by channel and state ("queued", "delivered", "retried", "dead",
 * "suppressed"), and the pending notices (the sender's backlog). */
struct store_notification_count {
	char channel[16];
	char state[16];
	int64_t count;
};
int store_outbox_counters(struct store *s, struct store_notification_count **out, size_t *n,
                          int64_t *pending);
/* store_outbox_prune deletes up to batch finished notices created before
 * older_than_ns; returns how many, or -1. */
int store_outbox_prune(struct store *s, int64_t older_than_ns, int batch);

/* ---- cluster: replication between nodes (store_cluster.c) ---- */

/* store_cluster_enable makes s a cluster node's file: from now on each
 * write of an execution row is numbered as node's change (and served by
 * store_changes_read). 0, or -1 with the reason. */
int store_cluster_enable(struct store *s, const char *node);
/* store_cluster_lead says whether the node leads: job rows written while
 * it does are its changes too, and rows pulled from others no longer
 * replace its jobs. */
void store_cluster_lead(struct store *s, bool leading);
/* store_changes_read returns a page of this node's changes after cursor
 * (NULL or "" from the start): {"node","cursor","more","jobs","jobRefs",
 * "executions"}, finished executions with their log lines. The caller owns
 * it; NULL with the reason in store_errmsg. */
json_t *store_changes_read(struct store *s, const char *cursor);

/* What applying a page changed. */
struct store_applied {
	struct strv jobs; /* names of the job rows taken */
	int executions;   /* executions inserted or replaced */
};
/* store_changes_apply merges a page pulled from node source, with its
 * cursor, in one commit. out is filled (release with store_applied_fini)
 * when it returns 0. */
int store_changes_apply(struct store *s, const char *source, const json_t *page,
                        struct store_applied *out);
void store_applied_fini(struct store_applied *a);
/* store_cluster_cursor reads how far this file has taken source's changes
 * (*cursor NULL: not at all; the caller frees it). */
int store_cluster_cursor(struct store *s, const char *source, char **cursor);
/* store_execution_claimed records a slot another node claimed whose outcome
 * has not reached this file: e (id, job_name, job_type, scheduled_ns,
 * end_ns, error, node: the claimer) as interrupted, resolved by this node,
 * and moves the job's last slot. The claimer's own record replaces it when
 * it arrives. */
int store_execution_claimed(struct store *s, const struct store_execution *e, const char *schedule,
                            int64_t next_run_ns);

#endif
