-- wheels-jobs schema, part 2: what the analytics rollups and cleanup jobs need
-- (issue 3: analytics_hourly, analytics_daily, fuel_consumption, cleanup).
-- Their tunables, with defaults an operator can change without a deploy, and the
-- hourly rollup's progress so it can be incremental.
-- depends: 0001_schema

------------------------------------------------------------------------------
-- Settings, read by the jobs through wheels.setting(name).
------------------------------------------------------------------------------
INSERT INTO wheels.settings (name, value, description) VALUES
    ('analytics_recompute_hours', '3',
     'analytics_hourly re-computes this many most recent complete hours on every run, so late PAM events are counted'),
    ('analytics_retention_days', '90',
     'cleanup deletes pam_analytics_logs rows older than this many days (the rollups keep their numbers)'),
    ('queue_archive_retention_days', '30',
     'cleanup deletes archived email intents (pgmq.a_email_intents) older than this many days'),
    ('cron_history_retention_days', '7',
     'cleanup deletes pg_cron run history (cron.job_run_details) older than this many days; pg_cron never does'),
    ('cleanup_batch_size', '5000',
     'cleanup deletes at most this many rows per statement, so no statement runs or holds locks for long');

------------------------------------------------------------------------------
-- Rollup progress
------------------------------------------------------------------------------
-- One row per incremental rollup. No row means "never ran with data": the first
-- run then backfills the whole log table.
CREATE TABLE wheels.rollup_state (
    rollup        text PRIMARY KEY CHECK (rollup IN ('analytics_hourly')),
    rolled_up_to  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE wheels.rollup_state IS 'How far each incremental rollup got: every hour before rolled_up_to is in its table.';

COMMENT ON COLUMN analytics_summary.intents IS 'Events per intent in the hour ({"intent": count}); events without an intent are not counted.';
COMMENT ON COLUMN analytics_summary.computed_at IS 'When this hour''s numbers last changed; analytics_daily recomputes a day whose hours changed after its own row.';
COMMENT ON COLUMN analytics_daily.computed_at IS 'When this day was last computed (start of that analytics_daily run).';
