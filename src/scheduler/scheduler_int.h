/* Private to the scheduler: the job and execution records and the functions
 * its files (scheduler.c: timer, plan, catch-up; exec.c: executions;
 * jobs.c: job changes and retention; chain.c: retries, triggered runs,
 * waiting slots; links.c: the links between jobs) share. Loop thread only,
 * except the runner-side fields of struct sexec, which are marked. */
#ifndef OFELIA_SCHEDULER_SCHEDULER_INT_H
#define OFELIA_SCHEDULER_SCHEDULER_INT_H

#include <pthread.h>

#include "cron/cron.h"
#include "scheduler/scheduler.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/map.h"

#define HEAP_NONE ((size_t)-1)

/* A due slot older than this when the timer gets to it was not run at its
 * time (ofelia was down, stopped or suspended): it goes through catch-up. */
#define LATE_SLOT_NS (60LL * 1000000000LL)

/* The tick claims a slot (commits its execution as running) this long
 * before its time and hands it to a runner thread, which prepares the
 * command and waits for the instant: at the slot's time only the spawn is
 * left. Each further slot due at the same instant adds CLAIM_PER_SLOT_NS,
 * about what claiming it and making its thread take, so that a burst is
 * ready at its instant too (up to CLAIM_LEAD_MAX_NS). A slot is decided
 * then: a job changed or disabled within the lead before its slot still
 * runs that slot. */
#define CLAIM_LEAD_NS     (20LL * 1000000LL)
#define CLAIM_PER_SLOT_NS (250LL * 1000LL)
#define CLAIM_LEAD_MAX_NS (1000LL * 1000000LL)

/* full tells whether max-concurrent executions run (never without one). */
#define SCHED_FULL(s) ((s)->o.max_concurrent > 0 && (s)->running >= (s)->o.max_concurrent)

struct sjob {
	struct job *def;        /* the effective definition */
	struct job *source_def; /* as config or labels gave it; NULL for API jobs */
	bool overridden;        /* changed through the API since */
	bool deleted;           /* a tombstone: removed through the API */
	bool held;              /* a label job not yet seen by discovery: kept, not planned */
	struct cron *cron;      /* NULL when not planned (disabled, deleted, held) */
	int64_t next_ns;        /* 0 = nothing planned */
	size_t heap_at;
	int running;
	int queued_runs; /* manual runs waiting in the queue */
	int64_t last_slot_ns;
	char *slot_schedule; /* the schedule last_slot_ns belongs to */
	/* The latest slot handed to an outcome, the queue or the owed list (not
	 * all recorded yet): a re-plan goes on after it, so a queued slot is
	 * never taken for one missed while ofelia was down. */
	int64_t handled_ns;
	int64_t last_run_ns;
	enum job_status last_status;
	/* The job's row in the store takes last_run_ns ... next_ns with an end
	 * that changes its status, or once ROW_EVERY_NS, and at shutdown
	 * (exec.c): row_stale while it lags. */
	enum job_status row_status;
	int64_t row_saved_ns; /* monotonic */
	bool row_stale;
	int64_t created_ns;
	int retrying; /* pending retries (chain.c): no-overlap counts them as running */

	/* gate.c: the claim of a slot (in a cluster) */
	int64_t claim_slot; /* the slot asked for; 0 = none */
	uint64_t claim_batch;
	int claim_state;   /* enum sclaim_state */
	char claim_id[37]; /* the execution that runs it */
	bool awaiting;     /* due, off the heap until the answer comes */
};

enum sclaim_state { SCLAIM_ASKED = 1, SCLAIM_GRANTED, SCLAIM_TAKEN, SCLAIM_REFUSED };

/* What a catch-up asked to record for one slot once its claim is in. */
struct sbacklog_slot {
	int64_t slot_ns;
	enum job_status status; /* RUNNING: run it (catch-up); else skipped/missed/expired */
	char *reason;
	char id[37];
};

/* Catch-up slots of one job whose claims were asked together. */
struct sbacklog {
	uint64_t batch;
	char *job;
	struct sbacklog_slot *v;
	size_t n;
	struct sbacklog *next;
};

/* The rows that follow an execution's end (chain.c): committed with it. */
struct sfollow {
	struct store_pending *v; /* owned, with their strings */
	size_t n;
	bool notify; /* false when a retry follows: the end owes no notice */
};

struct sexec {
	char id[37];
	char *job_name;
	enum job_type job_type;
	enum job_trigger trigger;
	int64_t slot_ns;
	char *schedule; /* the schedule the slot belongs to; NULL without a slot */
	int64_t start_ns;
	int64_t due_ns; /* a slot claimed ahead: the runner starts it then; 0 = at once */
	struct scheduler *s;
	struct runner_exec *rx;
	char *foreign; /* the node that started it, when another node did (a takeover) */

	/* loop thread */
	int64_t seq;
	int64_t log_lines;
	int64_t log_bytes; /* of the lines stored, against max_log_bytes */
	int64_t dropped_lines;
	int64_t output_dropped;
	struct buf output; /* tail of the output, trimmed to max_output_bytes */
	char *container_id;
	struct store_execution *unsaved; /* the end to record: waiting for its commit, or refused */
	void (*on_done)(enum job_status status, void *arg);
	void *done_arg;
	struct sexec *retry_next;
	struct sexec *launch_next;
	/* retries and workflows */
	int attempt;           /* 1, 2, ... */
	char first_id[37];     /* the first attempt this one retries; "" */
	char cause_id[37];     /* the attempt before, or what triggered it; "" */
	struct sfollow follow; /* what its end commits (kept while the store is down) */

	/* runner thread: the batch being filled */
	struct smsg *batch;
	/* shared: bytes posted but not yet stored, for backpressure */
	pthread_mutex_t lock;
	pthread_cond_t drained;
	int64_t inflight;
};

/* A slot outcome the store could not take yet (owed.c), or one written in
 * the open batch (status MISSED and no reason: an execution begun). */
struct sowed {
	char *job_name;
	enum job_type type;
	int64_t slot_ns;
	enum job_status status;
	char *reason;
};

/* A slot, or a manual run (slot 0, its id given to the caller already),
 * waiting for a runner thread. */
struct spending {
	char *job_name;
	int64_t slot_ns;
	enum job_trigger trigger;
	char id[37];  /* manual runs; "" for slots */
	bool pending; /* a pending_runs row (chain.c) of that id */
};

/* A pending_runs row the scheduler holds (chain.c). */
struct spend {
	struct store_pending *p;
	size_t heap_at;
	bool queued;  /* in the run queue, waiting for a thread */
	bool blocked; /* due, but no-overlap or a full queue holds it */
};

struct scheduler {
	struct loop *loop;
	struct store *store;
	struct events *events;
	struct scheduler_options o;

	struct map jobs;     /* name -> struct sjob */
	struct map shadowed; /* names another origin's job was ignored for, warned once */
	struct sjob **heap;
	size_t heap_len, heap_cap;
	struct loop_timer *timer;
	int64_t lead_ns; /* how long before the earliest slot the timer fires (sched_arm) */

	struct loop_mailbox *mailbox;
	struct runner_pool *pool;
	struct map execs;     /* id -> struct sexec, running */
	struct sexec *launch; /* begun in the open transaction, launched after its commit */
	int running;
	struct spending *queue; /* ring */
	size_t queue_head, queue_len;

	struct loop_timer *flush_timer;
	struct loop_timer *prune_timer;
	struct map prune_dirty; /* job names with finished executions since the last prune */
	bool prune_soon;        /* the prune timer is armed for the near future */
	struct loop_timer *retry_timer;
	struct sexec *retry;        /* finishes the store refused */
	struct sexec *ending;       /* finishes waiting for the next commit (newest first) */
	struct sexec *ending_batch; /* finishes written in the open batch */

	/* owed.c */
	struct sowed *owed; /* outcomes waiting for the store */
	size_t nowed, owed_cap;
	int64_t owed_dropped;
	struct sowed *batch; /* slots written in the open batch */
	size_t nbatch, batch_cap;
	bool batch_open;
	bool store_down; /* a write failed; the retry timer finds out when it works */
	char down_reason[256];
	struct loop_timer *store_timer;

	/* chain.c: retries, triggered runs, slots waiting for dependencies */
	struct map pending;       /* id -> struct spend */
	struct spend **pend_heap; /* by due time; queued and blocked rows are not in it */
	size_t pend_len, pend_cap;
	size_t nwaits; /* rows of kind wait, re-checked when an outcome is recorded */
	struct loop_timer *pend_timer;
	struct loop_timer *poke_timer; /* re-checks waits on the next turn */
	bool links_dirty;              /* a definition changed: dependents are listed again */
	struct map dependents;         /* name -> struct strv of jobs whose depends-on names it */
	char links_loop[512];          /* a loop through the live jobs' links, or "" */
	bool pend_resync;              /* a batch did not commit: read the rows again */

	long self_pid; /* this process, as executions record their owner */
	char self_key[RUNNER_KEY_MAX];

	/* gate.c: the cluster */
	bool gated;   /* a cluster node: claims and leadership apply */
	bool leading; /* gated: told it leads */
	bool led;     /* has led once since the start (run-on-startup) */
	struct scheduler_gate gate;
	char *node;
	uint64_t next_batch;
	struct sbacklog *backlog;
	struct job **sources[3]; /* the latest definitions per origin (sync) */
	size_t nsources[3];
	bool has_source[3];

	bool started, paused, shutting_down;
	bool final_try; /* the store was tried once more for the ends it refused */
	int64_t start_ns;
	uint64_t version;
	struct sreload *reload; /* reload.c; NULL until scheduler_set_reload */
	struct loop_timer *grace_timer;
	void (*shutdown_done)(void *arg);
	void *shutdown_arg;
};

/* scheduler.c */
/* sched_fire gives the slot at j->next_ns its outcome and moves j to the
 * next; sched_skip_slot moves j to the next without one. */
void sched_fire(struct scheduler *s, struct sjob *j, int64_t now_ns);
void sched_skip_slot(struct scheduler *s, struct sjob *j);
void sched_record_outcome(struct scheduler *s, struct sjob *j, int64_t slot_ns,
                          enum job_status status, const char *reason);
void sched_heap_update(struct scheduler *s, struct sjob *j);
void sched_heap_remove(struct scheduler *s, struct sjob *j);
void sched_arm(struct scheduler *s);
void sched_plan(struct scheduler *s, struct sjob *j, int64_t now_ns, bool from_now);
void sched_unplan(struct scheduler *s, struct sjob *j);
int64_t sched_effective_deadline(const struct scheduler *s, const struct sjob *j);

/* exec.c */
/* sched_exec_begin records an execution as running (with id, or a new one
 * when NULL) and makes it ready to launch. */
struct sexec *sched_exec_begin(struct scheduler *s, struct sjob *j, const struct job *def,
                               int64_t slot_ns, enum job_trigger trigger, const char *id, char *err,
                               size_t errlen);
void sched_launch(struct scheduler *s, bool committed);
void sched_on_message(void *msg, void *arg);
void sched_on_flush(void *arg);
/* sched_endings_write writes the ends waiting for a commit into the open
 * batch (the tick's); sched_endings_settle announces them once the batch
 * committed, or leaves them to the retry timer. */
void sched_endings_write(struct scheduler *s);
void sched_endings_settle(struct scheduler *s, bool committed);
void sched_on_retry(void *arg);
void sched_dequeue(struct scheduler *s);
/* sched_drop_queued records a queued slot or manual run that will not run
 * (skipped, with reason). */
void sched_drop_queued(struct scheduler *s, const struct spending *p, const char *reason);
void sched_maybe_done(struct scheduler *s);
void sched_stop_all(struct scheduler *s, const char *reason);
/* sched_resolve_orphans resolves the executions left running: this node's
 * own (others false) or, at a takeover, those other nodes started. */
void sched_resolve_orphans(struct scheduler *s, bool others);
void sched_exec_free(struct sexec *ex);

/* owed.c: a batch is one transaction of slot writes; when its commit fails
 * the slots it noted are owed (recorded missed once the store is back). */
int sched_batch_begin(struct scheduler *s);
int sched_batch_end(struct scheduler *s);
void sched_batch_note(struct scheduler *s, const char *job, enum job_type type, int64_t slot_ns,
                      enum job_status status, const char *reason);
void sched_owe(struct scheduler *s, const char *job, enum job_type type, int64_t slot_ns,
               enum job_status status, const char *reason);
/* sched_store_failed notes the store's last error as the reason it is down
 * and starts the retry timer. sched_owe_store owes a slot as missed for
 * that reason. */
void sched_store_failed(struct scheduler *s);
void sched_owe_store(struct scheduler *s, const char *job, enum job_type type, int64_t slot_ns);
int sched_record_owed(struct scheduler *s);
void sched_on_store_retry(void *arg);
void sched_owed_free(struct scheduler *s);

/* gate.c: the claim step of a cluster node (docs/cluster.md) */
enum sgate_verdict { SGATE_GO, SGATE_WAIT, SGATE_DROP };
/* sched_gate_ahead asks for the claims of the slots due by now + ahead. */
void sched_gate_ahead(struct scheduler *s, int64_t now_ns);
/* sched_gate_at decides the due slot of j: go (claimed by this node,
 * which still leads), wait (for the answer; j is off the heap), or drop
 * (not this node's to record; j moves to its next slot). */
enum sgate_verdict sched_gate_at(struct scheduler *s, struct sjob *j, int64_t now_ns);
/* sched_gate_catch_up asks to record the missed slots m lists (the latest
 * run when run is true) once they are claimed. */
void sched_gate_catch_up(struct scheduler *s, struct sjob *j, struct sbacklog_slot *v, size_t n);
/* sched_gate_wake returns the time the timer must fire for j's claim, or
 * its slot (INT64_MAX when it has none). */
int64_t sched_gate_wake(const struct scheduler *s, const struct sjob *j);
/* sched_gate_id is the execution id the claim of j's due slot named. */
const char *sched_gate_id(const struct scheduler *s, const struct sjob *j);
/* sched_gate_may_start tells whether s may start an execution now: always
 * without a gate, else only while its leadership is certainly valid. */
bool sched_gate_may_start(const struct scheduler *s);
/* sched_following tells whether s is a cluster node that does not lead. */
bool sched_following(const struct scheduler *s);
/* sched_keep_source remembers the definitions of an origin (copied). */
void sched_keep_source(struct scheduler *s, enum job_origin origin, struct job *const *defs,
                       size_t n);
void sched_gate_free(struct scheduler *s);
/* exec.c: sched_exec_begin_pending begins the execution of a pending row
 * (retry, triggered run, a waiting slot): its row goes in the same commit. */
struct sexec *sched_exec_begin_pending(struct scheduler *s, struct sjob *j,
                                       const struct store_pending *p, char *err, size_t errlen);
void sched_follow_fini(struct sfollow *f);

/* chain.c */
void sched_chain_init(struct scheduler *s);
void sched_chain_free(struct scheduler *s);
/* sched_chain_start loads the pending rows at start (late ones follow the
 * job's catch-up policy) and arms them. */
void sched_chain_start(struct scheduler *s);
/* sched_chain_gate_slot checks a slot of a job with depends-on: 0 when
 * it may run now; 1 when it was recorded waiting or skipped. A waiting
 * slot's execution gets id (its cluster claim's) when given. */
int sched_chain_gate_slot(struct scheduler *s, struct sjob *j, int64_t slot_ns,
                          enum job_trigger trigger, const char *id);
/* sched_chain_unqueued takes back a pending row dropped from the run
 * queue (this node stopped leading): it waits, blocked, for a kick. */
void sched_chain_unqueued(struct scheduler *s, const char *id);
/* sched_chain_follow lists what the end e commits: a retry, or the runs it
 * triggers (nothing for `ofelia run`, once). sched_chain_adopt arms them
 * and announces them once committed. */
void sched_chain_follow(struct scheduler *s, const struct store_execution *e, bool once,
                        struct sfollow *out);
void sched_chain_adopt(struct scheduler *s, const struct store_execution *e, struct sfollow *f);
/* sched_chain_poke re-checks the waiting rows on the next loop turn (an
 * outcome was recorded); sched_chain_kick retries the blocked ones (a
 * runner thread or a job's no-overlap freed up, the scheduler resumed). */
void sched_chain_poke(struct scheduler *s);
void sched_chain_kick(struct scheduler *s);
/* sched_chain_resync reads the pending rows again on a coming turn: a
 * batch that took or added some did not commit. */
void sched_chain_resync(struct scheduler *s);
/* sched_chain_dequeued begins a pending row that waited in the run queue. */
void sched_chain_dequeued(struct scheduler *s, const char *id);
/* sched_pending_json is the API's view of a pending row (a new object). */
json_t *sched_pending_json(const struct store_pending *p, bool queued);

/* links.c */
void sched_links_init(struct scheduler *s);
void sched_links_free(struct scheduler *s);
/* sched_chain_links_changed notes that a definition changed. */
void sched_chain_links_changed(struct scheduler *s);
/* sched_links_refresh lists the links again after a change, and says
 * once when they hold a loop (labels cannot be refused one). */
void sched_links_refresh(struct scheduler *s);
/* sched_links_dependents lists the live @triggered jobs whose depends-on
 * names `name` (borrowed; NULL when none). */
const struct strv *sched_links_dependents(struct scheduler *s, const char *name);
/* sched_links_reach tells whether `to` is reachable from `from` through
 * the live jobs' links. */
bool sched_links_reach(struct scheduler *s, const char *from, const char *to);
/* sched_chain_check_one checks the links of def, an API edit of was (NULL
 * for a new job): names it adds must be live jobs, and no loop; -1 with the
 * reason in err. */
int sched_chain_check_one(struct scheduler *s, const struct job *def, const struct job *was,
                          char *err, size_t errlen);

/* reload.c */
void sched_reload_free(struct scheduler *s);

/* jobs.c */
struct sjob *sched_job_from_row(struct store_job *row);
/* sched_job_take_row makes j's definition and state the row's (taken). */
void sched_job_take_row(struct sjob *j, struct store_job *row);
void sched_job_free(struct sjob *j);
int sched_job_save(struct scheduler *s, struct sjob *j);
void sched_publish_job(struct scheduler *s, int type, const struct sjob *j);
/* sched_sync_apply is scheduler_sync without keeping the sources. */
int sched_sync_apply(struct scheduler *s, enum job_origin origin, struct job *const *defs, size_t n,
                     struct scheduler_changes *out);
void sched_on_prune(void *arg);

#endif
