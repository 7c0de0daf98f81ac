-- success-rate: runs and successes per job per day (UTC, by start time),
-- newest day first. Runs are executions that ran to an outcome: success,
-- failed, stopped, interrupted; slots that did not run are not counted.
--
--   sqlite3 ofelia.db < sql/success-rate.sql
--
-- Output: CSV with a header row. Columns:
--   day (YYYY-MM-DD), job_name, runs, successes,
--   success_pct   successes / runs * 100, one decimal
.headers on
.mode csv
SELECT substr(start_time, 1, 10) AS day,
       job_name,
       count(*) AS runs,
       sum(status = 'success') AS successes,
       round(100.0 * sum(status = 'success') / count(*), 1) AS success_pct
  FROM executions
 WHERE status IN ('success', 'failed', 'stopped', 'interrupted')
 GROUP BY day, job_name
 ORDER BY day DESC, job_name;
