-- job-stats: every job that is not deleted, with its schedule, state and
-- lifetime numbers from the job_stats view (counters survive retention).
-- last_run and last_status are read from the job's latest run in
-- executions (the jobs row takes them with some ends only, at least once a
-- minute; after a clean stop it is current): the latest by the time it was
-- for, its slot else its start, read from the two indexes that order a
-- job's executions (executions_slot, executions_job_unslotted).
--
--   sqlite3 ofelia.db < sql/job-stats.sql
--
-- Output: CSV with a header row. Columns:
--   job_name, type, schedule, enabled (1/0), next_run, last_run, last_status,
--   total_runs, successful_runs, failed_runs,
--   average_seconds (three decimals; empty if it never ran),
--   last_success, last_failure
.headers on
.mode csv
SELECT j.name AS job_name,
       j.type,
       j.schedule,
       j.enabled,
       j.next_run,
       coalesce(r.start_time, j.last_run) AS last_run,
       coalesce(r.status, j.last_status) AS last_status,
       s.total_runs,
       s.successful_runs,
       s.failed_runs,
       round(s.average_duration_ns / 1e9, 3) AS average_seconds,
       s.last_success,
       s.last_failure
  FROM jobs j
  JOIN job_stats s ON s.job_name = j.name
  LEFT JOIN executions r
         ON r.rowid = (SELECT id FROM (
                         SELECT e.rowid AS id, e.scheduled_time AS at FROM executions e
                          WHERE e.job_name = j.name AND e.scheduled_time IS NOT NULL
                            AND e.start_time IS NOT NULL
                         UNION ALL
                         SELECT e.rowid, coalesce(e.start_time, e.created_at) FROM executions e
                          WHERE e.job_name = j.name AND e.scheduled_time IS NULL
                            AND e.start_time IS NOT NULL
                          ORDER BY at DESC, id DESC LIMIT 1))
 WHERE j.deleted_at IS NULL
 ORDER BY j.name;
