-- wheels-jobs, part 14: the day's rollup from its hours (issue 13). The daily
-- rollup read the day's rows (2.4M at a million users: 3.3 s) for its exact
-- percentiles; response_time_ms is an integer, so a count per value, kept in
-- each hourly row, is an exact histogram that adds up: the day's percentiles,
-- average, counts and intents now come from its 24 hourly rows, and only its
-- distinct users from its rows (sql/functions/analytics_daily.sql).
-- depends: 0013_ledger_without_kind_check

-- NULL in a row from before this migration: its day is read from its rows
-- until analytics_hourly recomputes the hour.
ALTER TABLE wheels.pam_hourly
    ADD COLUMN events bigint,
    ADD COLUMN response_times int[],
    ADD COLUMN response_time_counts int[];
COMMENT ON COLUMN wheels.pam_hourly.events IS 'Events in the hour, of every kind.';
COMMENT ON COLUMN wheels.pam_hourly.response_times IS
    'The distinct response times of the hour''s responses, ascending; with response_time_counts, an exact histogram '
    'the daily rollup merges for its percentiles and average ({} when the hour has no response time).';
COMMENT ON COLUMN wheels.pam_hourly.response_time_counts IS 'How many responses took each of response_times.';

-- Its result columns change (the histogram); sql/functions/pam_stats.sql creates it again.
DROP FUNCTION IF EXISTS wheels._pam_stats(timestamptz, timestamptz);

-- The measures of a range of PAM events, as wheels.pam_hourly and pam_daily
-- store them: what _pam_stats (from the rows) and _pam_stats_of_hours (from
-- the hourly rows) both return.
CREATE TYPE wheels.pam_measures AS (
    source_rows bigint,
    messages int,
    responses int,
    distinct_users int,
    successes int,
    failures int,
    success_rate numeric(5, 4),
    response_time_avg_ms numeric(10, 1),
    response_time_p50_ms numeric(10, 1),
    response_time_p95_ms numeric(10, 1),
    response_time_p99_ms numeric(10, 1),
    response_time_max_ms int,
    intents jsonb,
    response_times int[],
    response_time_counts int[]
);
