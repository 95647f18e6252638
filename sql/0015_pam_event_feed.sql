-- wheels-jobs, part 15: the PAM event feed (issue 13). On supabase-wheels the
-- PAM log is the app's: unpartitioned, with no index on created_at, and the
-- guest rule forbids adding one. Read there, every analytics_hourly run scanned
-- the whole log (1.9 s at 100k users, growing with the log). So that source's
-- statement-level triggers on the log copy each event, mapped to the
-- contract's pam_events columns, into this table of ours, in the app's own
-- transaction; wheels_source.pam_events reads it, and it is partitioned by UTC
-- day like the demo's log (the `partitions` job makes the days ahead, cleanup
-- retires whole days after pam_feed_retention_days). It keeps only what the
-- jobs read again: the hourly recompute window, yesterday in every zone for
-- analytics_daily and the digest. The app's log keeps its own retention. A
-- source whose log is already ours (demo) leaves this table empty.
-- (docs/SCALING.md, "The PAM event feed".)
-- depends: 0014_hourly_histograms

CREATE TABLE wheels.pam_event_feed (
    occurred_at timestamptz NOT NULL,
    -- The app log's own id: an UPDATE or DELETE of the app's row finds its copy by it.
    event_id bigint NOT NULL,
    user_id uuid,
    kind text,
    intent text,
    response_time_ms int,
    succeeded boolean
) PARTITION BY RANGE (occurred_at);
COMMENT ON TABLE wheels.pam_event_feed IS
    'Copies of the app''s PAM events for a source whose log is the app''s (supabase-wheels), in the contract''s '
    'pam_events columns, written by the source''s triggers; partitioned by UTC day, kept pam_feed_retention_days.';
-- Rows of a day without its partition (a clock far off, a late copy) land here:
-- an app write never fails for want of a partition; cleanup deletes them when expired.
CREATE TABLE wheels.pam_event_feed_default PARTITION OF wheels.pam_event_feed DEFAULT;
-- The rollups' hours, and an app UPDATE or DELETE finding its copies (by time, then id).
CREATE INDEX pam_event_feed_occurred_at_idx ON wheels.pam_event_feed (occurred_at);
-- A day's distinct users in order (analytics_daily), a user's messages of a day (the digest):
-- the demo log's pam_analytics_logs_user_events_idx.
CREATE INDEX pam_event_feed_user_events_idx ON wheels.pam_event_feed (user_id, kind, occurred_at);

INSERT INTO wheels.settings (name, value, description) VALUES
    ('pam_feed_retention_days', '3',
     'wheels.pam_event_feed (supabase-wheels): a day of copied PAM events is dropped this many days after it ends; '
     'the jobs read the last hours and yesterday (the app''s log keeps its own retention)');

-- partitioned_by_day may now name a table of ours, not only the app's.
UPDATE wheels.source_contract
SET meaning = 'a schema-qualified table (the app''s, or a copy of ours such as wheels.pam_event_feed) PARTITION BY RANGE '
              '(time_column) into UTC days [d, d + 1), with a DEFAULT partition, whose partitions wheels-jobs creates '
              'ahead and retires; none: an empty relation'
WHERE relation = 'partitioned_by_day' AND column_name = 'relation';
