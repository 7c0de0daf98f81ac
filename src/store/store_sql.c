/* Every statement the store runs, in one place: prepared once at open (an
 * error here fails store_open, not a request later), and checked by
 * tools/bench/bench_store for full scans of the large tables. */
#include "store/store_int.h"

#define JOB_COLUMNS                                                                                \
	"name, origin, definition, source_definition, overridden, next_run, last_run, "            \
	"last_status, last_slot, slot_schedule, deleted_at, created_at, updated_at"

#define EXEC_COLUMNS                                                                               \
	"id, job_name, job_type, status, trigger, scheduled_time, start_time, end_time, "          \
	"duration_ns, exit_code, output, output_dropped, error, log_lines, dropped_lines, "        \
	"container_id, created_at, process_id, process_start, owner_pid, owner_start, attempt, "   \
	"first_attempt_id, cause_id, node, resolved_by"

/* STORE_LOG_CHUNK rows of (execution_id, seq, timestamp, level, message). */
#define LOG_ROW  "(?, ?, ?, ?, ?)"
#define LOG_2    LOG_ROW ", " LOG_ROW
#define LOG_8    LOG_2 ", " LOG_2 ", " LOG_2 ", " LOG_2
#define LOG_32   LOG_8 ", " LOG_8 ", " LOG_8 ", " LOG_8
#define LOG_ROWS LOG_32 ", " LOG_32

/* The time and rowid of the execution ?2, for paging after it. */
#define CURSOR_AT                                                                                  \
	"(SELECT coalesce(scheduled_time, start_time, created_at) FROM executions WHERE id = ?2)"
#define CURSOR                                                                                     \
	"(SELECT coalesce(scheduled_time, start_time, created_at), rowid FROM executions "         \
	"WHERE id = ?2)"

/* Bumps one row of a per-job counter table. */
#define BUMP(table, key)                                                                           \
	"INSERT INTO " table " (job_name, " key ", count) VALUES (?1, ?2, 1) "                     \
	"ON CONFLICT (job_name, " key ") DO UPDATE SET count = count + 1"

const char *const store_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT store_write",
    [ST_RELEASE] = "RELEASE store_write",
    [ST_ROLLBACK_TO] = "ROLLBACK TO store_write",
    [ST_CHECK] = "SELECT 1",
    [ST_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
    [ST_SETTING_PUT] = "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                       "updated_at = excluded.updated_at",

    [ST_JOB_ALL] = "SELECT " JOB_COLUMNS " FROM jobs ORDER BY name",
    [ST_JOB_GET] = "SELECT " JOB_COLUMNS " FROM jobs WHERE name = ?1",
    /* An upsert, not INSERT OR REPLACE: replacing deletes the row, which
     * the executions' foreign key forbids. created_at stays the first one. */
    [ST_JOB_SAVE] = "INSERT INTO jobs (name, type, schedule, command, origin, enabled, "
                    "next_run, last_run, last_status, last_slot, slot_schedule, definition, "
                    "source_definition, overridden, deleted_at, created_at, updated_at) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                    "?16, ?17) "
                    "ON CONFLICT (name) DO UPDATE SET type = excluded.type, "
                    "schedule = excluded.schedule, command = excluded.command, "
                    "origin = excluded.origin, enabled = excluded.enabled, "
                    "next_run = excluded.next_run, last_run = excluded.last_run, "
                    "last_status = excluded.last_status, last_slot = excluded.last_slot, "
                    "slot_schedule = excluded.slot_schedule, definition = excluded.definition, "
                    "source_definition = excluded.source_definition, "
                    "overridden = excluded.overridden, deleted_at = excluded.deleted_at, "
                    "updated_at = excluded.updated_at",
    [ST_JOB_SET_NEXT] = "UPDATE jobs SET next_run = ?2 WHERE name = ?1",
    /* Never moves the job back: a state older than what the row holds is
     * left out, column by column. */
    [ST_JOB_SET_STATE] = "UPDATE jobs SET "
                         "last_run = CASE WHEN last_run IS NULL OR last_run <= ?2 "
                         "THEN coalesce(?2, last_run) ELSE last_run END, "
                         "last_status = CASE WHEN last_run IS NULL OR last_run <= ?2 "
                         "THEN coalesce(?3, last_status) ELSE last_status END, "
                         "slot_schedule = CASE WHEN last_slot IS NULL OR last_slot <= ?4 "
                         "THEN coalesce(?5, slot_schedule) ELSE slot_schedule END, "
                         "last_slot = CASE WHEN last_slot IS NULL OR last_slot <= ?4 "
                         "THEN coalesce(?4, last_slot) ELSE last_slot END, "
                         "next_run = ?6 WHERE name = ?1",
    [ST_JOB_LATEST_RUN] =
        STORE_JOB_RUNS("start_time, status", " AND start_time IS NOT NULL",
                       " AND start_time IS NOT NULL", "ORDER BY at DESC, r DESC LIMIT 1"),
    [ST_JOB_LATEST_SLOT] = "SELECT max(scheduled_time) FROM executions "
                           "WHERE job_name = ?1 AND scheduled_time IS NOT NULL",

    [ST_EXEC_INSERT] = "INSERT INTO executions (id, job_name, job_type, status, trigger, "
                       "scheduled_time, start_time, error, container_id, created_at, "
                       "owner_pid, owner_start, attempt, first_attempt_id, cause_id, node) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                       "?15, ?16)",
    /* An outcome recorded late (the store was down when its slot fell)
     * never moves the job's last slot back. */
    [ST_EXEC_JOB_SLOT] = "UPDATE jobs SET last_slot = ?2, slot_schedule = ?3, next_run = ?4 "
                         "WHERE name = ?1 AND (last_slot IS NULL OR last_slot <= ?2)",
    [ST_EXEC_SET_CONTAINER] = "UPDATE executions SET container_id = ?2 WHERE id = ?1",
    [ST_EXEC_SET_PROCESS] = "UPDATE executions SET process_id = ?2, process_start = ?3 "
                            "WHERE id = ?1",
    /* The row's own job and start, whatever the caller's struct says; no
     * RETURNING on the UPDATE, which would cost an ephemeral table per call. */
    [ST_EXEC_RUNNING_ONE] = "SELECT job_name, start_time FROM executions "
                            "WHERE id = ?1 AND status = 'running'",
    /* dropped_lines holds, until now, the lines the store's queue had to
     * drop (STORE_QUEUE_MAX_*): they are added to the runner's count and
     * taken off the lines it handed over. */
    [ST_EXEC_FINISH] = "UPDATE executions SET status = ?2, end_time = ?3, duration_ns = ?4, "
                       "exit_code = ?5, output = ?6, output_dropped = ?7, error = ?8, "
                       "log_lines = max(?9 - dropped_lines, 0), "
                       "dropped_lines = ?10 + dropped_lines, "
                       "container_id = coalesce(?11, container_id), resolved_by = ?12 "
                       "WHERE id = ?1",
    /* An older execution that ends after a newer one ended does not own
     * the job's last_run and last_status. */
    [ST_EXEC_JOB_FINISHED] = "UPDATE jobs SET last_status = ?2, last_run = coalesce(?3, "
                             "last_run) WHERE name = ?1 "
                             "AND (last_run IS NULL OR ?3 IS NULL OR last_run <= ?3)",
    [ST_EXEC_GET] = "SELECT " EXEC_COLUMNS " FROM executions WHERE id = ?1",
    /* A job's history, newest first (STORE_JOB_RUNS in store_int.h). */
    [ST_EXEC_HISTORY] =
        STORE_JOB_RUNS(EXEC_COLUMNS, " AND scheduled_time < ?2", " AND " STORE_UNSLOTTED_AT " < ?2",
                       "ORDER BY at DESC, r DESC LIMIT ?3"),
    /* After the execution ?2: each arm's range starts at its time (the
     * row value alone would not bound the index's range), then the row
     * value skips what precedes it in the same millisecond. */
    [ST_EXEC_HISTORY_AFTER] = STORE_JOB_RUNS(
        EXEC_COLUMNS, " AND scheduled_time <= " CURSOR_AT " AND (scheduled_time, rowid) < " CURSOR,
        " AND " STORE_UNSLOTTED_AT " <= " CURSOR_AT " AND (" STORE_UNSLOTTED_AT
        ", rowid) < " CURSOR,
        "ORDER BY at DESC, r DESC LIMIT ?3"),
    /* Only the status: the strips of the UI's job list read it for every
     * job, and the output column can be megabytes. */
    [ST_EXEC_RECENT] = STORE_JOB_RUNS("status", "", "", "ORDER BY at DESC, r DESC LIMIT ?2"),
    [ST_EXEC_RUNNING] = "SELECT " EXEC_COLUMNS " FROM executions "
                        "WHERE status = 'running' ORDER BY created_at",
    [ST_EXEC_CAUSED] = "SELECT " EXEC_COLUMNS " FROM executions WHERE cause_id = ?1 "
                       "ORDER BY created_at, rowid LIMIT ?2",

    [ST_LOG_INSERT] = "INSERT INTO execution_logs (execution_id, seq, timestamp, level, "
                      "message) VALUES " LOG_ROW,
    [ST_LOG_INSERT_MANY] = "INSERT INTO execution_logs (execution_id, seq, timestamp, level, "
                           "message) VALUES " LOG_ROWS,
    [ST_LOG_DROPPED] = "UPDATE executions SET dropped_lines = dropped_lines + ?2, "
                       "log_lines = max(log_lines - ?2, 0) WHERE id = ?1",
    [ST_LOG_RESET] = "DELETE FROM execution_logs WHERE execution_id = ?1",
    [ST_LOG_READ] = "SELECT seq, timestamp, level, message FROM execution_logs "
                    "WHERE execution_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",

    [ST_METRIC_COUNT] = BUMP("job_counters", "status"),
    [ST_METRIC_BUCKET] = BUMP("job_durations", "le"),
    [ST_METRIC_SUM] = "INSERT INTO job_metrics (job_name, duration_sum_ns, duration_count, "
                      "last_success, last_failure) VALUES (?1, ?2, ?3, ?4, ?5) "
                      "ON CONFLICT (job_name) DO UPDATE SET "
                      "duration_sum_ns = duration_sum_ns + excluded.duration_sum_ns, "
                      "duration_count = duration_count + excluded.duration_count, "
                      "last_success = coalesce(excluded.last_success, last_success), "
                      "last_failure = coalesce(excluded.last_failure, last_failure)",
    [ST_METRIC_JOB] = "SELECT total_runs, successful_runs, failed_runs, average_duration_ns, "
                      "last_success, last_failure FROM job_stats WHERE job_name = ?1",
    [ST_METRIC_ALL_COUNTERS] = "SELECT job_name, status, count FROM job_counters "
                               "ORDER BY job_name",
    [ST_METRIC_ALL_BUCKETS] = "SELECT job_name, le, count FROM job_durations",
    [ST_METRIC_ALL_SUMS] = "SELECT job_name, duration_sum_ns, duration_count, last_success "
                           "FROM job_metrics",

    /* Deletes cascade to execution_logs. Running executions are never
     * pruned; the oldest go first, so an interrupted prune leaves a
     * contiguous history. */
    [ST_PRUNE_AGE] = "DELETE FROM executions WHERE rowid IN ("
                     "SELECT rowid FROM executions WHERE created_at < ?1 "
                     "AND status <> 'running' ORDER BY created_at LIMIT ?2)",
    [ST_PRUNE_AGE_ANY] = "SELECT 1 FROM executions WHERE created_at < ?1 "
                         "AND status <> 'running' LIMIT 1",
    /* The newest finished execution past the keep newest, if any: its
     * time and rowid (columns 1 and 2) bound ST_PRUNE_COUNT. */
    [ST_PRUNE_COUNT_ANY] =
        STORE_JOB_RUNS("1", " AND status <> 'running'", " AND status <> 'running'",
                       "ORDER BY at DESC, r DESC LIMIT 1 OFFSET ?2"),
    /* Everything up to that execution (time ?2, rowid ?4) goes, oldest
     * first, in index order. */
    [ST_PRUNE_COUNT] = "DELETE FROM executions WHERE rowid IN (SELECT r FROM (" STORE_JOB_RUNS(
        "1",
        " AND status <> 'running' AND scheduled_time <= ?2 "
        "AND (scheduled_time, rowid) <= (?2, ?4)",
        " AND status <> 'running' AND " STORE_UNSLOTTED_AT " <= ?2 "
        "AND (" STORE_UNSLOTTED_AT ", rowid) <= (?2, ?4)",
        "ORDER BY at, r LIMIT ?3") "))",
};
