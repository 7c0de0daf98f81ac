-- ofelia schema, version 1.
--
-- Never edit a migration that has been released: add NNNN+1_name.sql; the
-- store applies every file above the database's user_version, in order, each
-- in its own transaction, and sets user_version to its number.
--
-- The schema is a public interface: users query it with the sqlite3 CLI (see
-- docs/schema.md and sql/). Timestamps are ISO-8601 UTC text with
-- milliseconds ('2026-01-01T00:00:00.000Z'), so sorting and SQLite's date
-- functions work on them. Durations are integer nanoseconds. The store marks
-- the file as ofelia's with PRAGMA application_id = 0x4F464C41 ('OFLA').
--
-- Value checks are written as OR chains, not IN lists: SQLite builds a
-- temporary index for an IN list of more than two constants each time a
-- statement runs, which would cost every insert an allocation.

-- One row per job ofelia has ever scheduled. Rows are never deleted, so the
-- history of a job that is gone stays joinable; deleted_at marks it gone.
CREATE TABLE jobs (
    name              TEXT PRIMARY KEY,
    type              TEXT NOT NULL
                      CHECK (type = 'exec' OR type = 'run' OR type = 'local' OR type = 'service'),
    schedule          TEXT NOT NULL,
    command           TEXT,
    origin            TEXT NOT NULL
                      CHECK (origin = 'config' OR origin = 'docker-label' OR origin = 'api'),
    enabled           INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    next_run          TEXT,              -- next slot; NULL when none (manual, disabled, deleted)
    last_run          TEXT,              -- start of the latest execution
    last_status       TEXT               -- status of the latest execution
                      CHECK (last_status = 'running' OR last_status = 'success'
                             OR last_status = 'failed' OR last_status = 'skipped'
                             OR last_status = 'stopped' OR last_status = 'interrupted'
                             OR last_status = 'missed' OR last_status = 'expired'),
    last_slot         TEXT,              -- latest slot with a recorded outcome
    slot_schedule     TEXT,              -- the schedule last_slot belongs to
    definition        TEXT NOT NULL,     -- the effective definition, as JSON
    source_definition TEXT,              -- as its config file or labels last gave it, as JSON
    overridden        INTEGER NOT NULL DEFAULT 0 CHECK (overridden IN (0, 1)),
    deleted_at        TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

-- One row per execution, and one per slot that did not run (skipped, missed,
-- expired): every slot has exactly one recorded outcome.
CREATE TABLE executions (
    id             TEXT PRIMARY KEY,      -- UUIDv4
    job_name       TEXT NOT NULL REFERENCES jobs (name),
    job_type       TEXT NOT NULL
                   CHECK (job_type = 'exec' OR job_type = 'run' OR job_type = 'local'
                          OR job_type = 'service'),
    status         TEXT NOT NULL
                   CHECK (status = 'running' OR status = 'success' OR status = 'failed'
                          OR status = 'skipped' OR status = 'stopped' OR status = 'interrupted'
                          OR status = 'missed' OR status = 'expired'),
    trigger        TEXT NOT NULL
                   CHECK (trigger = 'schedule' OR trigger = 'manual' OR trigger = 'startup'
                          OR trigger = 'catch-up' OR trigger = 'retry'),
    scheduled_time TEXT,                  -- the slot; NULL for manual runs
    start_time     TEXT,                  -- NULL for a slot that never ran
    end_time       TEXT,
    duration_ns    INTEGER,
    exit_code      INTEGER,
    output         TEXT,                  -- the last max-output bytes of stdout and stderr
    output_dropped INTEGER NOT NULL DEFAULT 0,  -- bytes of output not kept in `output`
    error          TEXT,
    log_lines      INTEGER NOT NULL DEFAULT 0,  -- lines stored in execution_logs
    dropped_lines  INTEGER NOT NULL DEFAULT 0,  -- lines past max-log-lines: counted, not stored
    container_id   TEXT,                  -- Docker container, exec or service id
    created_at     TEXT NOT NULL
);

-- A slot runs at most once, across restarts too.
CREATE UNIQUE INDEX executions_slot ON executions (job_name, scheduled_time)
    WHERE scheduled_time IS NOT NULL;
-- History of a job, newest first, paged.
CREATE INDEX executions_job_created ON executions (job_name, created_at);
-- Recovery at start and the running report, oldest first.
CREATE INDEX executions_running ON executions (created_at) WHERE status = 'running';
-- Retention by age.
CREATE INDEX executions_created ON executions (created_at);

CREATE TABLE execution_logs (
    execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,       -- 1, 2, ... within the execution
    timestamp    TEXT NOT NULL,
    level        TEXT NOT NULL CHECK (level IN ('info', 'error')),  -- stdout, stderr
    message      TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
) WITHOUT ROWID;

-- Metrics kept across restarts and retention: counters only grow.
CREATE TABLE job_counters (
    job_name TEXT NOT NULL,
    status   TEXT NOT NULL               -- an execution status
             CHECK (status = 'running' OR status = 'success' OR status = 'failed'
                    OR status = 'skipped' OR status = 'stopped' OR status = 'interrupted'
                    OR status = 'missed' OR status = 'expired'),
    count    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_name, status)
) WITHOUT ROWID;

-- Duration histogram of finished executions; `le` is the bucket's upper
-- bound in seconds ('+Inf' for the last), counts are per bucket (not
-- cumulative).
CREATE TABLE job_durations (
    job_name TEXT NOT NULL,
    le       TEXT NOT NULL,
    count    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job_name, le)
) WITHOUT ROWID;

CREATE TABLE job_metrics (
    job_name        TEXT PRIMARY KEY,
    duration_sum_ns INTEGER NOT NULL DEFAULT 0,
    duration_count  INTEGER NOT NULL DEFAULT 0,
    last_success    TEXT,
    last_failure    TEXT
) WITHOUT ROWID;

-- Runs per job from the counters: quick at any history size. Every job
-- ever scheduled has a row, with zeros until it has run.
CREATE VIEW job_stats AS
SELECT j.name AS job_name,
       (SELECT coalesce(sum(count), 0) FROM job_counters c
         WHERE c.job_name = j.name
           AND (c.status = 'success' OR c.status = 'failed' OR c.status = 'stopped'
                OR c.status = 'interrupted')) AS total_runs,
       (SELECT coalesce(sum(count), 0) FROM job_counters c
         WHERE c.job_name = j.name AND c.status = 'success') AS successful_runs,
       (SELECT coalesce(sum(count), 0) FROM job_counters c
         WHERE c.job_name = j.name AND c.status = 'failed') AS failed_runs,
       CASE WHEN m.duration_count > 0 THEN m.duration_sum_ns / m.duration_count END
           AS average_duration_ns,
       m.last_success AS last_success,
       m.last_failure AS last_failure
  FROM jobs j LEFT JOIN job_metrics m ON m.job_name = j.name;

-- Settings ofelia keeps for itself: the generated JWT secret, global
-- settings changed through the API.
CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
