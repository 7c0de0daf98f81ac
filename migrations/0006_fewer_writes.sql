-- ofelia schema: one index keyed by job per execution instead of three
-- (issue 13, "Disk writes" in docs/design.md).
--
-- Never edit a migration that has been released: add NNNN+1_name.sql.
--
-- Every commit writes each page it changed, whole, to the WAL. An index
-- whose key starts with the job's name has each job's newest entries on a
-- leaf of their own, so a commit that records the slots of ten jobs changed
-- ten leaves of each such index (more when a full leaf in the middle of the
-- tree is split): three of them were two thirds of what an execution wrote.
--
-- A job's executions are now ordered by the time each one is for: its slot,
-- else its start, else when it was recorded (the expression depends-on
-- already used). Executions with a slot are found, in that order, through
-- executions_slot, the unique index that keeps a slot from running twice;
-- the others (manual runs, retries, triggered runs) through the partial
-- index below, which a job that only runs its slots never writes. A job's
-- history, its latest run and retention by count merge the two in order
-- (src/store/store_sql.c); depends-on takes the later of one probe of each.
DROP INDEX executions_job_created;
DROP INDEX executions_job_time;
CREATE INDEX executions_job_unslotted
    ON executions (job_name, coalesce(start_time, created_at))
    WHERE scheduled_time IS NULL;
