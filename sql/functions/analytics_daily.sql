-- Roll the source's PAM events up into wheels.pam_daily, one row per UTC day: yesterday,
-- plus every earlier day whose hourly rows changed after that day's row was
-- computed (late events the hourly rollup picked up; on a first run, all history
-- the hourly rollup holds). Idempotent upsert; a day without events has no row.
-- A day the hourly rollup has covered (all its hours before rollup_state's mark,
-- every hourly row with its histogram) is added up from its 24 hourly rows:
-- counts, intents and maximum are sums (a max) of hours, and the hours' exact
-- response-time histograms add up to the day's, so its percentiles and average
-- are the ones the day's rows give (_pam_stats_of_hours). Only distinct users
-- still read the day's rows: a user active in two hours is one user, so no
-- hourly number adds up to it. A day not yet covered (the hourly rollup never
-- ran, or is behind, or a row is from before sql/0014) is measured from its rows
-- as before, to the same numbers. An event later than the hourly rollup's
-- recompute window is in neither the hour nor, so, the day's counts (only in
-- its distinct users, if its day is recomputed): the day is the sum of its hours.
CREATE OR REPLACE FUNCTION wheels.analytics_daily(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql
-- UTC days whatever the caller's TimeZone; work_mem keeps the sorts of a day
-- read from its rows (2.4M user ids on a busy day), or of a day's user ids where
-- no index gives them in order (supabase-wheels), in memory.
SET timezone = 'UTC'
SET work_mem = '256MB'
-- No JIT: the planner cannot count generate_series' rows, so its cost estimate
-- passes the JIT thresholds and compiling took 0.2-0.4 s of a 0.07 s run.
SET jit = off
AS $$
DECLARE
    today date := as_of::date;
    days_computed int;
    days_removed int;
    source_rows bigint;
    first_day date;
    last_day date;
    result text;
BEGIN
    -- One run at a time (invariant 11): a second run waits, then recomputes the
    -- same days to the same rows, instead of racing on them.
    PERFORM wheels.lock_job('analytics_daily');

    -- The hours this run adds up are final for it: an analytics_hourly writing them
    -- now commits first (its upsert holds ROW EXCLUSIVE), and one starting later
    -- waits for this run to commit, so its computed_at is later than this run's
    -- and the day is recomputed next time (below). Under a second either way.
    LOCK TABLE wheels.pam_hourly IN SHARE MODE;

    -- computed_at here is now(), this transaction's start, so it is never later
    -- than the snapshot that read the logs; an hourly row's computed_at is later
    -- than the snapshot that computed it. So an hour changed by events this run
    -- did not see always compares later, and its day is recomputed next time.
    WITH due AS (
        SELECT today - 1 AS day
        UNION
        SELECT s.hour::date
        FROM wheels.pam_hourly s
        LEFT JOIN wheels.pam_daily d ON d.day = s.hour::date
        WHERE s.hour < today AND (d.day IS NULL OR s.computed_at > d.computed_at)
    ), days AS (
        SELECT due.day,
               coalesce(due.day + 1 <= (SELECT r.rolled_up_to FROM wheels.rollup_state r
                                        WHERE r.rollup = 'analytics_hourly'), false)
               AND NOT EXISTS (SELECT 1 FROM wheels.pam_hourly s
                               WHERE s.hour >= due.day AND s.hour < due.day + 1 AND s.response_times IS NULL)
                   AS from_hours
        FROM due
    ), daily AS (
        SELECT days.day, m.*
        FROM days
        CROSS JOIN LATERAL wheels._pam_stats_of_hours(days.day, days.day + 1) m
        WHERE days.from_hours
        UNION ALL
        SELECT days.day, m.*
        FROM days
        CROSS JOIN LATERAL wheels._pam_stats(days.day, days.day + 1) m
        WHERE NOT days.from_hours
    ), upserted AS (
        INSERT INTO wheels.pam_daily AS d (
            day, messages, responses, distinct_users, successes, failures, success_rate,
            response_time_avg_ms, response_time_p50_ms, response_time_p95_ms, response_time_p99_ms,
            response_time_max_ms, intents, computed_at)
        SELECT day, messages, responses, distinct_users, successes, failures, success_rate,
               response_time_avg_ms, response_time_p50_ms, response_time_p95_ms, response_time_p99_ms,
               response_time_max_ms, intents, now()
        FROM daily
        ON CONFLICT (day) DO UPDATE SET
            messages = excluded.messages, responses = excluded.responses,
            distinct_users = excluded.distinct_users, successes = excluded.successes,
            failures = excluded.failures, success_rate = excluded.success_rate,
            response_time_avg_ms = excluded.response_time_avg_ms,
            response_time_p50_ms = excluded.response_time_p50_ms,
            response_time_p95_ms = excluded.response_time_p95_ms,
            response_time_p99_ms = excluded.response_time_p99_ms,
            response_time_max_ms = excluded.response_time_max_ms,
            intents = excluded.intents, computed_at = excluded.computed_at
        RETURNING 1
    ), removed AS (
        -- A recomputed day whose events are gone (deleted by hand) loses its row.
        DELETE FROM wheels.pam_daily d
        USING days
        WHERE d.day = days.day AND NOT EXISTS (SELECT 1 FROM daily WHERE daily.day = d.day)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM upserted), (SELECT count(*) FROM removed),
           (SELECT coalesce(sum(daily.source_rows), 0) FROM daily),
           (SELECT min(daily.day) FROM daily), (SELECT max(daily.day) FROM daily)
    INTO days_computed, days_removed, source_rows, first_day, last_day;

    result := format('analytics_daily: %s upserted from %s%s%s',
                     wheels.plural(days_computed, 'day', 'days'), wheels.plural(source_rows, 'row', 'rows'),
                     CASE WHEN days_computed > 0 THEN format(', %s .. %s', first_day, last_day) ELSE '' END,
                     CASE WHEN days_removed > 0 THEN format(', %s removed', wheels.plural(days_removed, 'emptied day', 'emptied days')) ELSE '' END);
    RAISE LOG '%', result;
    RETURN result;
END
$$;
