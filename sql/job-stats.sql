-- job-stats: every job that is not deleted, with its schedule, state and
-- lifetime numbers from the job_stats view (counters survive retention).
-- The jobs row takes last_run and last_status with each end; a run in
-- progress comes from executions (status 'running', a small index).
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
       CASE WHEN r.start_time IS NOT NULL THEN 'running' ELSE j.last_status END AS last_status,
       s.total_runs,
       s.successful_runs,
       s.failed_runs,
       round(s.average_duration_ns / 1e9, 3) AS average_seconds,
       s.last_success,
       s.last_failure
  FROM jobs j
  JOIN job_stats s ON s.job_name = j.name
  LEFT JOIN (SELECT job_name, max(start_time) AS start_time
               FROM executions WHERE status = 'running' GROUP BY job_name) r
         ON r.job_name = j.name AND (j.last_run IS NULL OR r.start_time >= j.last_run)
 WHERE j.deleted_at IS NULL
 ORDER BY j.name;
