-- ofelia schema, version 3: notifications, the durable outbox.
--
-- Every notification an outcome owes is a row, inserted in the same
-- transaction that records the outcome (an execution's end, a skipped,
-- missed or expired slot), so a crash between the end and the sending loses
-- nothing. A sender thread delivers the due rows; each attempt's result is
-- written back: delivered, pending again with a later next_attempt_at (after
-- a failure that may pass), or dead (attempts or age used up, or a failure
-- retrying cannot fix), with the last error kept. docs/notifications.md.

CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    -- Sent to receivers (the Idempotency-Key header, the mail's Message-ID),
    -- so a notice delivered twice (at-least-once) can be recognised:
    -- "<execution id>:<channel>[:<webhook>]", or for a dead-man alert
    -- "no-success:<job>:<time of the last success>".
    idempotency_key TEXT NOT NULL UNIQUE,
    execution_id    TEXT REFERENCES executions (id) ON DELETE CASCADE,  -- NULL: dead-man alert
    job_name        TEXT NOT NULL,
    channel         TEXT NOT NULL
                    CHECK (channel = 'slack' OR channel = 'mail' OR channel = 'save'
                           OR channel = 'webhook'),
    target          TEXT NOT NULL DEFAULT '',   -- the webhook's name; '' for the others
    event           TEXT NOT NULL
                    CHECK (event = 'success' OR event = 'failed' OR event = 'skipped'
                           OR event = 'stopped' OR event = 'interrupted' OR event = 'missed'
                           OR event = 'expired' OR event = 'no-success'),
    state           TEXT NOT NULL
                    CHECK (state = 'pending' OR state = 'delivered' OR state = 'dead'
                           OR state = 'suppressed'),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,            -- when pending: due from then on
    last_attempt_at TEXT,
    last_error      TEXT,            -- the last failure, secrets masked
    fingerprint     TEXT,            -- job and error, for notification-cooldown
    detail          TEXT,            -- a dead-man alert's message
    created_at      TEXT NOT NULL,
    finished_at     TEXT             -- delivered, dead or suppressed at
);

-- The sender's queue: pending rows by due time.
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE state = 'pending';
-- An execution's notifications (the API), and the cascade on prune.
CREATE INDEX notifications_execution ON notifications (execution_id);
-- GET /api/notifications?status=...&job=..., newest (highest id) first.
CREATE INDEX notifications_state ON notifications (state);
CREATE INDEX notifications_job ON notifications (job_name);
-- Retention.
CREATE INDEX notifications_created ON notifications (created_at);
-- notification-cooldown: the newest notice of a job, channel and failure.
CREATE INDEX notifications_cooldown
    ON notifications (job_name, channel, target, fingerprint, created_at);

-- Counters for /metrics, kept across restarts and retention: how many
-- notices were queued, delivered, retried (a failed attempt that will be
-- tried again), dead and suppressed, by channel.
CREATE TABLE notification_counters (
    channel TEXT NOT NULL,
    state   TEXT NOT NULL
            CHECK (state = 'queued' OR state = 'delivered' OR state = 'retried'
                   OR state = 'dead' OR state = 'suppressed'),
    count   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel, state)
) WITHOUT ROWID;

-- Failed deliveries for sqlite3 users: dead notices, and pending ones that
-- have failed at least once.
CREATE VIEW notification_failures AS
SELECT n.id, n.job_name, n.channel, n.target, n.event, n.state, n.attempts,
       n.last_error, n.created_at, n.last_attempt_at, n.next_attempt_at, n.execution_id
  FROM notifications n
 WHERE n.state = 'dead' OR (n.state = 'pending' AND n.attempts > 0);
