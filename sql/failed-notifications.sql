-- failed-notifications: notices that could not be delivered: dead ones
-- (given up) and pending ones whose last attempt failed (they will be
-- tried again), newest first. From the notification_failures view.
--
--   sqlite3 ofelia.db < sql/failed-notifications.sql
--
-- Output: CSV with a header row. Columns:
--   created_at    when the outcome was recorded (ISO-8601 UTC)
--   job_name, channel ('slack', 'mail', 'save', 'webhook'), target (the
--   webhook's name), event (what it reports: 'failed', 'no-success', ...),
--   state         'dead', or 'pending' with a next_attempt_at
--   attempts      deliveries tried so far
--   last_error    the last failure, secrets masked
--   next_attempt_at, execution_id (empty for a dead-man alert)
.headers on
.mode csv
SELECT created_at,
       job_name,
       channel,
       nullif(target, '') AS target,
       event,
       state,
       attempts,
       last_error,
       next_attempt_at,
       execution_id
  FROM notification_failures
 ORDER BY created_at DESC, id DESC;
