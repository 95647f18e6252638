-- wheels-jobs, part 1: our schema and what every job shares: settings, the
-- email kinds, the once-per-fact ledger, the run log and the intent queue.
--
-- A guest in the app's database (docs/ARCHITECTURE.md, invariant 9): every
-- object here lives in schema `wheels` (or is pgmq's queue), nothing is
-- created in, granted on or attached to an app object, and no API role
-- (Supabase's anon, authenticated) can use any of it: `wheels` is granted to
-- our own roles only, so even functions (EXECUTE is PUBLIC by default) are out
-- of their reach. The app's data is read only through the source contract
-- (schema wheels_source, installed by `cli.py migrate --source`).
-- Append-only: change the schema with a new numbered file.

------------------------------------------------------------------------------
-- Roles. Cluster-wide and possibly shared by several databases: created if
-- missing, never dropped by a rollback. NOLOGIN: an operator gives each a
-- password (ALTER ROLE wheels_sender LOGIN PASSWORD '...').
------------------------------------------------------------------------------
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wheels_app') THEN
        CREATE ROLE wheels_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wheels_sender') THEN
        CREATE ROLE wheels_sender NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wheels_web') THEN
        CREATE ROLE wheels_web NOLOGIN;
    END IF;
END
$$;

CREATE SCHEMA wheels;
COMMENT ON SCHEMA wheels IS 'wheels-jobs: settings, email ledger, deliveries, rollups, run log. Granted to the wheels_* roles only.';

------------------------------------------------------------------------------
-- Settings, read by the jobs through wheels.setting(name): tuning needs an
-- UPDATE, not a deploy.
------------------------------------------------------------------------------
CREATE TABLE wheels.settings (
    name         text PRIMARY KEY,
    value        text NOT NULL,
    description  text NOT NULL
);
COMMENT ON TABLE wheels.settings IS 'Tunable job settings (thresholds, retention, windows); each job reads them here, not from code.';

INSERT INTO wheels.settings (name, value, description) VALUES
    -- email jobs
    ('budget_warning_percent', '80',
     'budget_alerts: the warning threshold, in percent of the monthly limit, of a budget whose own alert_threshold is not set'),
    ('budget_over_percent', '100',
     'budget_alerts: a budget at or past this percent of its monthly limit gets one over_budget per local month'),
    ('maintenance_reminder_days', '7',
     'maintenance_reminders and daily_digest: a task due within this many local days is "due soon"; overdue notices look back as far'),
    ('digest_local_hour', '7',
     'daily_digest: the local hour (0-23) from which a user''s digest for the day is sent'),
    ('admin_emails', '',
     'daily_report: comma-separated admin addresses that get the daily report; `cli.py migrate` sets it from ADMIN_EMAILS when that is set'),
    -- analytics
    ('analytics_recompute_hours', '3',
     'analytics_hourly re-computes this many most recent complete hours on every run, so late PAM events are counted'),
    ('analytics_retention_days', '90',
     'cleanup deletes PAM events older than this many days where the source declares the event log as expiring by it (the rollups keep their numbers)'),
    -- retention of what grows per email or per event (cleanup)
    ('hourly_rollup_retention_days', '400', 'cleanup deletes hourly PAM rollup rows (wheels.pam_hourly) older than this; the daily rows stay'),
    ('email_ledger_retention_days', '400',
     'cleanup deletes email ledger rows (and their deliveries) older than this: longer than the longest once-per period (a month), so no fact is decided twice'),
    ('delivery_events_retention_days', '180', 'cleanup deletes Resend webhook events older than this'),
    ('dead_letters_retention_days', '90', 'cleanup deletes dead letters older than this (their deliveries stay recorded as dead)'),
    ('queue_archive_retention_days', '30',
     'cleanup deletes archived email intents (pgmq.a_email_intents) and finished send batches older than this'),
    ('job_runs_retention_days', '90', 'cleanup deletes the run log (wheels.job_runs) older than this'),
    ('cron_history_retention_days', '7',
     'cleanup deletes pg_cron run history (cron.job_run_details) and stale sender heartbeats older than this; pg_cron never trims it'),
    ('cleanup_batch_size', '5000', 'cleanup deletes at most this many rows per statement and commits after each'),
    ('cleanup_pause_ms', '20', 'cleanup sleeps this long between batches, so replicas and other sessions keep up'),
    ('cleanup_max_seconds', '60', 'cleanup stops after this many seconds; the next run goes on where it stopped'),
    -- the sender (all sender processes share these)
    ('sender_max_attempts', '8',
     'provider calls that failed for a transient reason (5xx, timeout) before an intent is dead-lettered; 429s do not count'),
    ('sender_rate_limit_per_s', '2', 'provider requests per second for all sender processes together; 0 = no limit'),
    -- `cli.py status`, the operator's health check
    ('email_quota_monthly', '3000', 'emails the provider plan allows per calendar month (UTC); `cli.py status` compares the month''s sent emails with it'),
    ('email_quota_daily', '100', 'emails the provider plan allows per UTC day; `cli.py status` compares today''s sent emails with it'),
    ('email_quota_warn_percent', '80',
     '`cli.py status` warns (and exits non-zero) when today''s or this month''s sent emails reach this percent of a quota'),
    ('queue_stuck_minutes', '10',
     '`cli.py status` calls a queue stuck when a visible message is older than this and no sender was seen recently'),
    ('sender_seen_minutes', '2', 'a sender process counts as running when its heartbeat is at most this old');

------------------------------------------------------------------------------
-- Time zones PostgreSQL knows. The app's time zones are not validated, and one
-- unknown name in `AT TIME ZONE` would fail a job for everybody: jobs resolve a
-- user's zone through this (unknown: UTC), and `cli.py source check` lists the
-- users concerned. A snapshot of pg_timezone_names, which is slow to read
-- (it walks the zone files on every query).
------------------------------------------------------------------------------
CREATE MATERIALIZED VIEW wheels.time_zones AS SELECT name FROM pg_timezone_names;
CREATE UNIQUE INDEX time_zones_name_idx ON wheels.time_zones (name);

------------------------------------------------------------------------------
-- Email kinds, the ledger and the intent type
------------------------------------------------------------------------------
-- The kinds of email and which preference switch governs each (NULL: not
-- optional). The one list of kinds: the sender and the web service check
-- theirs against it at start (wheels_core/kinds.py).
CREATE TABLE wheels.email_kinds (
    kind            text PRIMARY KEY,
    preference_kind text CHECK (preference_kind IN ('budget_alerts', 'maintenance', 'daily_digest')),
    description     text NOT NULL
);
COMMENT ON TABLE wheels.email_kinds IS 'Every email kind an intent may carry, and the preference kind that can switch it off.';
INSERT INTO wheels.email_kinds (kind, preference_kind, description) VALUES
    ('welcome',              NULL,            'sent once when a user signs up'),
    ('budget_warning',       'budget_alerts', 'a budget passed its warning threshold this month'),
    ('over_budget',          'budget_alerts', 'a budget passed its monthly limit'),
    ('maintenance_reminder', 'maintenance',   'a maintenance task is due within the reminder window'),
    ('maintenance_overdue',  'maintenance',   'a maintenance task is past its due date'),
    ('daily_digest',         'daily_digest',  'the morning summary of yesterday'),
    ('daily_report',         NULL,            'the team''s morning report of yesterday''s PAM and email figures, to each admin address');

-- Once per fact (docs/ARCHITECTURE.md, invariant 2): every job inserts here
-- through wheels._enqueue, ON CONFLICT DO NOTHING, and enqueues only the rows
-- it inserted, in the same transaction.
CREATE TABLE wheels.email_ledger (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL REFERENCES wheels.email_kinds (kind),
    subject     text NOT NULL,
    period      text NOT NULL,
    user_id     uuid,
    recipient   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, subject, period)
);
COMMENT ON TABLE wheels.email_ledger IS 'One row per email intent ever decided: (kind, subject, period) is the fact; id is the intent_id.';
COMMENT ON COLUMN wheels.email_ledger.subject IS 'What the email is about: a user, budget or maintenance task id, or an admin address.';
COMMENT ON COLUMN wheels.email_ledger.period IS 'Which occurrence: a month (2026-11), a local day, a due date; '''' when once ever.';
-- Serves cleanup: the oldest ledger rows first.
CREATE INDEX email_ledger_created_at_idx ON wheels.email_ledger (created_at);

-- One email a job wants to send: the fact (kind, subject, period), whom it is
-- for (a user, or for user-less kinds such as daily_report a recipient
-- address), and the per-kind `data` of docs/INTENTS.md. wheels._enqueue takes
-- an array of these, so every job enqueues set-based through one ledger rule.
CREATE TYPE wheels.intent AS (
    kind       text,
    subject    text,
    period     text,
    user_id    uuid,
    recipient  text,
    data       jsonb
);
COMMENT ON TYPE wheels.intent IS 'An email a job wants to send; wheels._enqueue turns new ones into ledger rows and queue messages.';

------------------------------------------------------------------------------
-- The jobs and their run log. wheels.jobs mirrors sql/cron/ (`cli.py migrate`
-- writes it), so the database knows each job's schedule and time limit even
-- where pg_cron lives in another database. wheels.job_runs has every run of
-- every job, by pg_cron, `cli.py jobs run`, `demo` or `up` (wheels.run_job
-- records it), so `status`, `jobs list` and the dashboard show the last run
-- and the last failure whoever ran it.
------------------------------------------------------------------------------
CREATE TABLE wheels.jobs (
    job         text PRIMARY KEY,
    schedule    text NOT NULL,
    command     text NOT NULL,
    time_limit  interval NOT NULL CHECK (time_limit > interval '0')
);
COMMENT ON TABLE wheels.jobs IS 'The jobs of sql/cron/: schedule (UTC), the command pg_cron runs, and how long a run may take before it is cancelled.';

CREATE TABLE wheels.job_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job          text NOT NULL,
    runner       text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    outcome      text NOT NULL CHECK (outcome IN ('running', 'succeeded', 'failed', 'skipped')),
    result       text,
    -- The backend running it and when it must be done: a run still going after
    -- its deadline is cancelled by the next run_job that notices.
    pid          int,
    deadline     timestamptz
);
COMMENT ON TABLE wheels.job_runs IS 'One row per job run: who ran it (pg_cron, jobs run, demo, up), when, how long, and its result line or error.';
COMMENT ON COLUMN wheels.job_runs.runner IS 'The session''s application_name: pg_cron (which sets none), or what `cli.py` sets (wheels jobs run, wheels demo, wheels up).';
-- Serves status, jobs list and the dashboard: each job's newest runs.
CREATE INDEX job_runs_job_started_at_idx ON wheels.job_runs (job, started_at);
-- Serves run_job's watchdog: runs still going.
CREATE INDEX job_runs_running_idx ON wheels.job_runs (deadline) WHERE outcome = 'running';

------------------------------------------------------------------------------
-- The source that is installed (`cli.py migrate --source`): later runs and the
-- rollback use it without being told again.
------------------------------------------------------------------------------
CREATE TABLE wheels.installed_source (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    name          text NOT NULL,
    fingerprint   text NOT NULL,
    installed_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE wheels.installed_source IS 'The source contract in wheels_source: its name (demo, supabase-wheels or a folder) and a digest of its files.';

------------------------------------------------------------------------------
-- The intent queue, and how senders learn of new messages: one NOTIFY per
-- INSERT statement, whatever its row count, on the channel pgmq's own
-- notification used. pgmq's row trigger (1.13 only; Supabase's 1.4.4 has none)
-- updated a throttle row per message: O(n^2) for a 100k-message send_batch in
-- one transaction, or, throttled, a 100 ms p50 wait for the poll.
-- Lower-case name: pgmq 1.13's notification broke on upper case.
------------------------------------------------------------------------------
DO $$ BEGIN PERFORM pgmq.create('email_intents'); END $$;

CREATE FUNCTION wheels.notify_email_intents() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pgmq.q_email_intents.INSERT', NULL);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION wheels.notify_email_intents() IS 'Wakes `sender drain` once per INSERT statement on the intent queue.';

CREATE TRIGGER notify_email_intents
AFTER INSERT ON pgmq.q_email_intents
FOR EACH STATEMENT EXECUTE FUNCTION wheels.notify_email_intents();

------------------------------------------------------------------------------
-- Least privilege (invariant 7): the sender and the web service reach the schema
-- (wheels_app only gets the demo source's logging call); what each may do
-- is granted where its objects are made (0002 sender, 0003 web, sql/functions).
------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA wheels TO wheels_sender, wheels_web;
GRANT SELECT ON wheels.email_kinds, wheels.settings TO wheels_sender, wheels_web;
GRANT SELECT ON wheels.email_ledger TO wheels_sender;
