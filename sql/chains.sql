-- chains: each execution that caused others, and everything it caused, as
-- a tree: its retries (attempt 2, 3, ...) and the runs its end triggered
-- (on-success, on-failure, a @triggered job's depends-on), each under the
-- execution that caused it; what is still pending (a retry in its delay, a
-- triggered run not yet started) is listed with status 'pending' and its
-- due time. Newest chain first.
--
--   sqlite3 ofelia.db < sql/chains.sql
--
-- Output: CSV with a header row. Columns:
--   chain_id (the execution the chain started with), depth (0 for it),
--   execution_id, job_name, trigger, attempt, status, start_time, end_time,
--   due_time (pending ones), error
.headers on
.mode csv
WITH RECURSIVE chain (chain_id, depth, id, path) AS (
    SELECT e.id, 0, e.id, e.created_at || ' ' || e.id
      FROM executions e
     WHERE e.cause_id IS NULL
       AND (e.id IN (SELECT cause_id FROM executions WHERE cause_id IS NOT NULL)
            OR e.id IN (SELECT cause_id FROM pending_runs WHERE cause_id IS NOT NULL))
    UNION ALL
    SELECT c.chain_id, c.depth + 1, e.id, c.path || '/' || e.created_at || ' ' || e.id
      FROM chain c JOIN executions e ON e.cause_id = c.id
),
tree (chain_id, depth, path, execution_id, job_name, trigger, attempt, status, start_time,
      end_time, due_time, error) AS (
    SELECT c.chain_id, c.depth, c.path, e.id, e.job_name, e.trigger, e.attempt, e.status,
           e.start_time, e.end_time, NULL, e.error
      FROM chain c JOIN executions e ON e.id = c.id
    UNION ALL
    SELECT c.chain_id, c.depth + 1, c.path || '/' || p.created_at || ' ' || p.id, p.id,
           p.job_name, p.trigger, p.attempt, 'pending', NULL, NULL, p.due_at, p.reason
      FROM chain c JOIN pending_runs p ON p.cause_id = c.id
)
SELECT t.chain_id, t.depth, t.execution_id, t.job_name, t.trigger, t.attempt, t.status,
       t.start_time, t.end_time, t.due_time, t.error
  FROM tree t JOIN executions root ON root.id = t.chain_id
 ORDER BY root.created_at DESC, t.chain_id, t.path;
