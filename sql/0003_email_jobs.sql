-- wheels-jobs schema, part 3: what the email jobs (budget_alerts,
-- maintenance_reminders, daily_digest) and the welcome trigger need beyond 0001:
-- their tunables, the one row type every job hands to wheels._enqueue, a
-- throttle on the queue's insert notification (batches of 100k intents), and
-- an index for the digest. The functions live in sql/functions/ (re-applied on
-- every migrate).

-- Tunables, read with wheels.setting(name); change a row, not code, to retune.
INSERT INTO wheels.settings (name, value, description) VALUES
    ('budget_warning_percent',    '80',  'budget_alerts: a category at or past this percent of its monthly limit gets one budget_warning per local month'),
    ('budget_over_percent',       '100', 'budget_alerts: a category at or past this percent of its monthly limit gets one over_budget per local month'),
    ('maintenance_reminder_days', '7',   'maintenance_reminders and daily_digest: a task due within this many local days is "due soon"; overdue notices look back as far'),
    ('digest_local_hour',         '7',   'daily_digest: the local hour (0-23) from which a user''s digest for the day is sent');

-- One email a job wants to send: the fact (kind, subject, period), whom it is
-- for, and the per-kind `data` of docs/INTENTS.md. wheels._enqueue takes an
-- array of these so every job enqueues set-based through the same ledger rule.
CREATE TYPE wheels.intent AS (
    kind     text,
    subject  text,
    period   text,
    user_id  uuid,
    data     jsonb
);
COMMENT ON TYPE wheels.intent IS 'An email a job wants to send; wheels._enqueue turns new ones into ledger rows and queue messages.';

-- pgmq's insert notification is a row trigger that, with 0001's throttle of 0,
-- UPDATEs one pgmq.notify_insert_throttle row per queued message. In one
-- transaction those updates chain versions of the same row, so a batch of N
-- intents costs O(N^2): 5,000 digests took 4.8 s, 100k would take many minutes
-- (bench/email_jobs.py). With pgmq's default 250 ms throttle a batch costs a
-- handful of updates; the first insert after a quiet 250 ms still notifies at
-- once, and the sender's poll interval covers inserts inside a throttle window.
DO $$ BEGIN PERFORM pgmq.enable_notify_insert('email_intents', 250); END $$;

-- Serves daily_digest: a user's PAM messages yesterday, without scanning a whole
-- day of every user's log rows on each 15-minute run.
CREATE INDEX pam_analytics_logs_user_messages_idx ON pam_analytics_logs (user_id, created_at) WHERE event_type = 'message';
