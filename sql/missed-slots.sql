-- missed-slots: slots that did not run, newest first, with the reason ofelia
-- recorded: 'skipped' (overlap or no free runner), 'missed' (ofelia was down
-- at that time) or 'expired' (missed, and past the job's catch-up-deadline).
--
--   sqlite3 ofelia.db < sql/missed-slots.sql
--
-- Output: CSV with a header row. Columns:
--   scheduled_time, job_name, status, reason
.headers on
.mode csv
SELECT scheduled_time,
       job_name,
       status,
       error AS reason
  FROM executions
 WHERE status IN ('skipped', 'missed', 'expired')
 ORDER BY scheduled_time DESC, job_name;
