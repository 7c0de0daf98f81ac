-- failures-24h: executions that failed or were interrupted in the last 24
-- hours (by when they ended), newest first.
--
--   sqlite3 ofelia.db < sql/failures-24h.sql
--
-- Output: CSV with a header row (every sql/ report is). Columns:
--   time          when the execution ended (ISO-8601 UTC)
--   job_name, status ('failed' or 'interrupted'), exit_code (empty if none),
--   error         why, as ofelia recorded it
--   execution_id  for GET /api/execution/{id} or the execution_logs table
.headers on
.mode csv
SELECT coalesce(end_time, created_at) AS time,
       job_name,
       status,
       exit_code,
       error,
       id AS execution_id
  FROM executions
 WHERE status IN ('failed', 'interrupted')
   AND coalesce(end_time, created_at) >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day')
 ORDER BY time DESC, job_name;
