/* store_int: what the files of the store module share and nobody else sees:
 * the connection struct, the table of prepared statements (store_sql.c) and
 * the small helpers every query uses (store.c). */
#ifndef OFELIA_STORE_STORE_INT_H
#define OFELIA_STORE_STORE_INT_H

#include <sqlite3.h>

#include "store/store.h"
#include "util/clock.h"

/* PRAGMA application_id of an ofelia database: "OFLA". */
#define STORE_APPLICATION_ID 0x4F464C41

/* The page size of a new database. Every commit appends each page it
 * changed, whole, to the WAL, and an execution changes a few rows in many
 * b-trees (its row, its indexes, the job, the metrics, its log): small
 * pages make that a few KiB instead of tens (docs/design.md, "Disk
 * writes"). Reads of long outputs and definitions follow overflow chains,
 * which costs them little at this size. */
#define STORE_PAGE_SIZE 1024
/* SQLite's page cache per connection, as PRAGMA cache_size takes it
 * (negative: KiB). The pages an execution touches are a few dozen. */
#define STORE_CACHE_KIB "-512"

/* The log queue keeps at most this many lines, or bytes of messages, while
 * commits fail (a full disk); past either bound the oldest lines are dropped
 * and counted in their execution's dropped_lines. */
#define STORE_QUEUE_MAX_LINES 100000
#define STORE_QUEUE_MAX_BYTES (32u << 20)

/* ST_LOG_INSERT_MANY inserts this many lines at once: a flood costs one
 * statement per chunk instead of one per line. */
#define STORE_LOG_CHUNK 64

/* STORE_JOB_RUNS is a statement on one job's executions (?1) in the order
 * of the time each one is for: its slot, else its start, else when it was
 * recorded (migrations/0006). Those with a slot come from executions_slot,
 * the others from executions_job_unslotted: two SELECTs of cols, the time
 * (at) and the rowid (r), which breaks ties, joined by UNION ALL, each
 * with its own conditions (slotted / unslotted, each "" or " AND ..."),
 * then tail, which orders by "at DESC, r DESC" (or ascending): SQLite
 * answers that by merging both indexes in order, without a sort. */
#define STORE_UNSLOTTED_AT "coalesce(start_time, created_at)"
#define STORE_JOB_RUNS(cols, slotted, unslotted, tail)                                             \
	"SELECT " cols ", scheduled_time AS at, rowid AS r FROM executions "                       \
	"WHERE job_name = ?1 AND scheduled_time IS NOT NULL" slotted " UNION ALL "                 \
	"SELECT " cols ", " STORE_UNSLOTTED_AT ", rowid FROM executions "                          \
	"WHERE job_name = ?1 AND scheduled_time IS NULL" unslotted " " tail

/* Every statement the store runs; store_sql[] holds their text. */
enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_CHECK,
	ST_SETTING_GET,
	ST_SETTING_PUT,

	ST_JOB_ALL,
	ST_JOB_GET,
	ST_JOB_SAVE,
	ST_JOB_SET_NEXT,
	ST_JOB_LATEST_SLOT,
	ST_JOB_SET_STATE,
	ST_JOB_LATEST_RUN,

	ST_EXEC_INSERT,
	ST_EXEC_JOB_SLOT,
	ST_EXEC_SET_CONTAINER,
	ST_EXEC_SET_PROCESS,
	ST_EXEC_RUNNING_ONE,
	ST_EXEC_FINISH,
	ST_EXEC_JOB_FINISHED,
	ST_EXEC_GET,
	ST_EXEC_HISTORY,
	ST_EXEC_HISTORY_AFTER,
	ST_EXEC_RECENT,
	ST_EXEC_RUNNING,
	ST_EXEC_CAUSED,

	ST_LOG_INSERT,
	ST_LOG_INSERT_MANY,
	ST_LOG_DROPPED,
	ST_LOG_RESET,
	ST_LOG_READ,

	ST_METRIC_COUNT,
	ST_METRIC_BUCKET,
	ST_METRIC_SUM,
	ST_METRIC_JOB,
	ST_METRIC_ALL_COUNTERS,
	ST_METRIC_ALL_BUCKETS,
	ST_METRIC_ALL_SUMS,

	ST_PRUNE_AGE,
	ST_PRUNE_AGE_ANY,
	ST_PRUNE_COUNT,
	ST_PRUNE_COUNT_ANY,

	ST_COUNT
};

extern const char *const store_sql[ST_COUNT];

/* Statements are prepared on first use: an idle daemon runs a few of them,
 * and the others held most of its SQLite memory. store_sql_check prepares
 * each of n texts once at open (then lets it go), so an error in one fails
 * store_open, not a request later; returns 0 or -1 with the error on s. */
int store_sql_check(struct store *s, const char *const *sql, int n);
/* store_prepared returns *slot, preparing sql into it first if needed. The
 * text passed store_sql_check, so only a lack of memory or an unreadable
 * schema can fail here: that is logged and NULL returned, which SQLite
 * takes as a statement whose every step fails (SQLITE_MISUSE). */
sqlite3_stmt *store_prepared(struct store *s, sqlite3_stmt **slot, const char *sql);
/* store_finalize_all finalizes the n statements of a table and clears it. */
void store_finalize_all(sqlite3_stmt **stmt, int n);

/* A log line waiting for the next commit. */
struct store_queued_line {
	char exec_id[37];
	bool is_error;
	int64_t seq;
	int64_t ts_ns;
	char *msg; /* owned, len bytes */
	size_t len;
};

/* Lines the queue had to drop, per execution, until a commit records them. */
struct store_drop_tally {
	char exec_id[37];
	int64_t count;
};

/* A local execution's process, written by the next commit. */
struct store_process_note {
	char exec_id[37];
	long pid;
	char key[128];
};

struct store_queue {
	struct store_process_note *procs;
	size_t nprocs;
	struct store_queued_line *lines;
	size_t n, cap;
	size_t bytes; /* sum of the queued messages' lengths */
	struct store_drop_tally *drops;
	size_t ndrops;
	/* The text of the last line's millisecond: a flood shares it. */
	int64_t ts_ms;
	char ts_text[CLOCK_TEXT_MAX];
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT]; /* store_stmt; always reset after use: no read stays open */
	bool read_only;
	bool in_tx; /* inside store_tx_begin */
	int version;
	struct store_queue queue;
	struct store_checkpointer *checkpointer; /* NULL when read-only */
	char *path;                              /* the database file */
	int lock_fd;                             /* <db>.lock, held by a daemon; -1 */
	bool stopped_clean;  /* the lock's mark: the last daemon stopped cleanly, the file untouched
	                      */
	bool unwritable;     /* the last write failed for a reason of the file or disk */
	char write_err[256]; /* that failure */
	char probe_sql[64];  /* a write that changes nothing: PRAGMA user_version = N */
	int64_t committed_ns;          /* monotonic; the last commit that succeeded */
	struct store_outbox *outbox;   /* store_outbox.c */
	struct store_chain *chain;     /* store_chain.c */
	struct store_cluster *cluster; /* store_cluster.c; NULL without a cluster */
	char err[512];
};

/* store_stmt returns statement id of the main table (store_prepared). */
static inline sqlite3_stmt *store_stmt(struct store *s, enum store_stmt id)
{
	return store_prepared(s, &s->stmt[id], store_sql[id]);
}

/* store_checkpointer_moved tells whether the checkpointer found the
 * database file deleted or moved (any thread). */
bool store_checkpointer_moved(const struct store *s);
/* store_checkpointer_failure copies why the last checkpoint failed into
 * out and returns -1, or returns 0 when it did not fail (any thread). */
int store_checkpointer_failure(const struct store *s, char *out, size_t len);

/* store_file_expect refuses to create a database where one is expected
 * (its lock, WAL or shared-memory file is there) unless o->init; with init
 * it removes the stale WAL and shared-memory files (store_file.c). */
int store_file_expect(struct store *s, const struct store_options *o);
/* store_file_lock creates <db>.lock and, when o->lock, holds it for s's
 * lifetime; a daemon already holding it is named in the error. It sets
 * s->stopped_clean from the mark a clean stop left, and clears that mark.
 * store_file_unlock releases the lock; with clean_db (the database, closed
 * after a clean run) it first marks the lock file with the file's identity. */
int store_file_lock(struct store *s, const struct store_options *o);
void store_file_unlock(struct store *s, const char *clean_db);

/* store_checkpointer_start moves WAL checkpoints to a thread with its own
 * connection to path, keeping the WAL file near limit_bytes and its frames
 * no older than about age_ns (0: a minute) (store_checkpoint.c);
 * store_checkpointer_stop joins it. */
int store_checkpointer_start(struct store *s, const char *path, int64_t limit_bytes,
                             int64_t age_ns);
void store_checkpointer_stop(struct store *s);

/* store_outbox_init prepares the outbox's statements (-1 with the message
 * on s); store_outbox_fini finalizes them. store_outbox_owe inserts, in the
 * open transaction, the notices the planner says an outcome owes. */
int store_outbox_init(struct store *s);
void store_outbox_fini(struct store *s);
int store_outbox_owe(struct store *s, const char *exec_id, const char *job, enum job_status status,
                     const char *error, int64_t end_ns);

/* store_metrics_bucket writes the histogram bucket (le) of a duration. */
void store_metrics_bucket(int64_t duration_ns, char le[16]);

/* store_cluster.c: in a cluster, each write of an execution row (of a job
 * row while the node leads) is numbered as this node's change; without a
 * cluster these do nothing. store_cluster_committed notes that the open
 * transaction committed; store_cluster_fini releases the cluster state.
 * store_cluster_node is the node's name, NULL without a cluster. */
int store_cluster_mark_exec(struct store *s, const char *id);
int store_cluster_mark_job(struct store *s, const char *name);
void store_cluster_committed(struct store *s);
void store_cluster_fini(struct store *s);
const char *store_cluster_node(const struct store *s);

/* store_chain_init prepares the statements of retries and workflows (-1
 * with the message on s); store_chain_fini finalizes them.
 * store_pending_insert and store_pending_take add and remove one
 * pending_runs row in the open transaction. */
int store_chain_init(struct store *s);
void store_chain_fini(struct store *s);
int store_pending_insert(struct store *s, const struct store_pending *p);
int store_pending_take(struct store *s, const char *id);

/* The columns of an executions row beyond its outcome (store_exec.c). */
struct store_exec_extra {
	int attempt;                  /* 0 is 1 */
	const char *first_attempt_id; /* NULL or "": none */
	const char *cause_id;
	const char *node; /* the node that runs it; NULL: this store's node (or none) */
};
/* store_exec_insert writes a new executions row (created_at now unless
 * given); STORE_CONFLICT when the slot has an outcome. store_exec_move_slot
 * records slot_ns as the job's latest slot with an outcome. */
int store_exec_insert(struct store *s, const char *id, const char *job, enum job_type type,
                      enum job_status status, enum job_trigger trigger, int64_t slot_ns,
                      int64_t start_ns, const char *error, const char *container,
                      int64_t created_ns, long owner_pid, const char *owner_key,
                      const struct store_exec_extra *extra);
int store_exec_move_slot(struct store *s, const char *job, int64_t slot_ns, const char *schedule,
                         int64_t next_run_ns);

/* store_fail puts "what: <sqlite's message>" on s and returns -1. */
int store_fail(struct store *s, const char *what);
/* store_seterr puts a formatted message on s and returns -1. */
int store_seterr(struct store *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* store_done steps q once and resets it: 0 on SQLITE_DONE, STORE_CONFLICT on a
 * UNIQUE violation, else -1 with the message on s. */
int store_done(struct store *s, sqlite3_stmt *q, const char *what);

/* A write runs between store_write_begin and store_write_end: outside an
 * explicit transaction these open BEGIN IMMEDIATE and commit it together
 * with the queued log lines (rc >= 0) or roll it back (rc < 0); inside one,
 * a savepoint keeps the call all-or-nothing. Returns rc, or -1 when the
 * commit fails. */
int store_write_begin(struct store *s);
int store_write_end(struct store *s, int rc);

/* store_queue_write inserts the queued lines and drop counts into the open
 * transaction; the queue is emptied by store_queue_committed only once that
 * transaction is committed. */
int store_queue_write(struct store *s);
/* store_queue_write_processes writes the queued process notes (store_exec.c). */
int store_queue_write_processes(struct store *s);
void store_queue_committed(struct store *s);
void store_queue_fini(struct store_queue *q);

/* store_metrics_finished bumps the counters, histogram and sums of a
 * finished execution, inside the caller's transaction. */
int store_metrics_finished(struct store *s, const struct store_execution *e);
/* store_metrics_count bumps the job_counters row of (job, status). */
int store_metrics_count(struct store *s, const char *job, enum job_status status);

/* Binding and reading the store's value forms: times as ISO-8601 text
 * (0 <-> NULL), optional text, and copies of columns. */
void store_bind_time(sqlite3_stmt *q, int i, int64_t ns);
void store_bind_text(sqlite3_stmt *q, int i, const char *s);
int64_t store_col_time(sqlite3_stmt *q, int i);
char *store_col_strdup(sqlite3_stmt *q, int i);

#endif
