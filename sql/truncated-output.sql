-- truncated-output: executions that lost output, newest first: log lines
-- past max-log-lines (or dropped while the database could not be written)
-- are counted in dropped_lines; output_dropped counts the bytes of stdout and
-- stderr beyond the max-output kept in executions.output.
--
--   sqlite3 ofelia.db < sql/truncated-output.sql
--
-- Output: CSV with a header row. Columns:
--   created_at, job_name, execution_id, log_lines, dropped_lines, output_dropped
.headers on
.mode csv
SELECT created_at,
       job_name,
       id AS execution_id,
       log_lines,
       dropped_lines,
       output_dropped
  FROM executions
 WHERE dropped_lines > 0 OR output_dropped > 0
 ORDER BY created_at DESC;
