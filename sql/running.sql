-- running: executions whose status is running, oldest first. While ofelia
-- runs these are really running; if it was killed, they stay 'running' until
-- its next start resolves them (re-attached, or marked interrupted).
--
--   sqlite3 ofelia.db < sql/running.sql
--
-- Output: CSV with a header row. Columns:
--   execution_id, job_name, trigger, start_time,
--   running_seconds  now - start_time, one decimal
--   container_id     Docker container, exec or service id (empty for local jobs)
.headers on
.mode csv
SELECT id AS execution_id,
       job_name,
       trigger,
       start_time,
       round((julianday('now') - julianday(start_time)) * 86400, 1) AS running_seconds,
       container_id
  FROM executions
 WHERE status = 'running'
 ORDER BY created_at;
