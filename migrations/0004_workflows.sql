-- ofelia schema, version 4: retries and workflows (docs/scheduling.md).
--
-- Never edit a migration that has been released: add NNNN+1_name.sql.
--
-- A retry is an execution of its own: attempt 2, 3, ... of a slot (or of a
-- run), with the id of the first attempt and, as its cause, the attempt
-- before it. An execution triggered by on-success / on-failure (or by a
-- @triggered job's depends-on) has trigger 'dependency' and, as its cause,
-- the execution whose end triggered it. Ids of executions that retention has
-- pruned stay in these columns.
ALTER TABLE executions ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
ALTER TABLE executions ADD COLUMN first_attempt_id TEXT; -- NULL on a first attempt
ALTER TABLE executions ADD COLUMN cause_id TEXT;         -- NULL when nothing caused it

-- The chain of an execution: what it caused (sql/chains.sql), its attempts.
CREATE INDEX executions_cause ON executions (cause_id) WHERE cause_id IS NOT NULL;
CREATE INDEX executions_attempts ON executions (first_attempt_id, attempt)
    WHERE first_attempt_id IS NOT NULL;
-- depends-on: a job's latest first attempt at or before a time (a slot's
-- time, else its start, else when it was recorded).
CREATE INDEX executions_job_time
    ON executions (job_name, coalesce(scheduled_time, start_time, created_at))
    WHERE first_attempt_id IS NULL;

-- What is due later, committed with the end of the execution that caused
-- it (or, for a slot that waits for its dependencies, with its fire): the
-- scheduler arms these rows like slots, and the row goes in the same
-- transaction that records its execution (or its outcome), so after a
-- kill -9 each one runs once.
CREATE TABLE pending_runs (
    id               TEXT PRIMARY KEY,   -- the id its execution will have
    job_name         TEXT NOT NULL,
    kind             TEXT NOT NULL
                     CHECK (kind = 'retry' OR kind = 'trigger' OR kind = 'wait'),
    trigger          TEXT NOT NULL       -- the trigger its execution will have
                     CHECK (trigger = 'schedule' OR trigger = 'catch-up' OR trigger = 'retry'
                            OR trigger = 'dependency'),
    -- retry: when its delay ends; trigger: when it was triggered; wait:
    -- when it stops waiting for its dependencies (dependency-timeout)
    due_at           TEXT NOT NULL,
    scheduled_time   TEXT,               -- the slot of a waiting slot
    attempt          INTEGER NOT NULL DEFAULT 1,
    first_attempt_id TEXT,
    cause_id         TEXT,
    reason           TEXT,               -- why it is pending, for people
    created_at       TEXT NOT NULL
);
CREATE INDEX pending_runs_due ON pending_runs (due_at);
CREATE INDEX pending_runs_cause ON pending_runs (cause_id);
CREATE INDEX pending_runs_chain ON pending_runs (first_attempt_id)
    WHERE first_attempt_id IS NOT NULL;

-- The trigger 'dependency' joins the executions' CHECK. SQLite cannot alter
-- a constraint; widening a CHECK that every row still passes is the change
-- its documentation allows through writable_schema (the store bumps
-- schema_version after every migration, so connections read it again).
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'OR trigger = ''catch-up'' OR trigger = ''retry'')',
                     'OR trigger = ''catch-up'' OR trigger = ''retry'' OR trigger = ''dependency'')')
 WHERE type = 'table' AND name = 'executions';
PRAGMA writable_schema = OFF;
