-- job-stats: every job that is not deleted, with its schedule, state and
-- lifetime numbers from the job_stats view (counters survive retention).
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
       j.last_run,
       j.last_status,
       s.total_runs,
       s.successful_runs,
       s.failed_runs,
       round(s.average_duration_ns / 1e9, 3) AS average_seconds,
       s.last_success,
       s.last_failure
  FROM jobs j
  JOIN job_stats s ON s.job_name = j.name
 WHERE j.deleted_at IS NULL
 ORDER BY j.name;
