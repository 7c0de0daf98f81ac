-- slowest-jobs: the 95th percentile and the maximum duration of each job's
-- runs, slowest first. Runs with a measured duration count: success, failed
-- and stopped (an interrupted run's end was not seen).
--
-- SQLite has no percentile function: each job's durations are ranked with a
-- window function and the nearest-rank p95 is the value at rank
-- ceil(0.95 * runs), computed as (95 * runs + 99) / 100 in integers.
--
--   sqlite3 ofelia.db < sql/slowest-jobs.sql
--
-- Output: CSV with a header row. Columns:
--   job_name, runs, p95_seconds, max_seconds (seconds, three decimals)
.headers on
.mode csv
WITH ranked AS (
    SELECT job_name,
           duration_ns,
           row_number() OVER (PARTITION BY job_name ORDER BY duration_ns) AS row_no,
           count(*) OVER (PARTITION BY job_name) AS runs,
           max(duration_ns) OVER (PARTITION BY job_name) AS max_ns
      FROM executions
     WHERE status IN ('success', 'failed', 'stopped')
       AND duration_ns IS NOT NULL
)
SELECT job_name,
       runs,
       round(duration_ns / 1e9, 3) AS p95_seconds,
       round(max_ns / 1e9, 3) AS max_seconds
  FROM ranked
 WHERE row_no = (95 * runs + 99) / 100
 ORDER BY duration_ns DESC, job_name;
