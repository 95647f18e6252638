-- Roll the source's PAM events up into wheels.pam_daily, one row per UTC day: yesterday,
-- plus every earlier day whose hourly rows changed after that day's row was
-- computed (late events the hourly rollup picked up; on a first run, all history
-- the hourly rollup holds). Idempotent upsert; a day without events has no row.
-- Daily percentiles and distinct users come from the day's own log rows, never
-- from the hourly rows: neither is additive, and distinct users cannot be rebuilt
-- from hours at all (a user active in two hours is one user). A 1%-accurate
-- histogram in the hourly rows would make the day's percentiles cheaper, but the
-- day still needs its rows for distinct users, and exact beats approximate at a
-- cost of about a second a day at 02:00 (measured: docs/BENCHMARKS.md).
CREATE OR REPLACE FUNCTION wheels.analytics_daily(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql
-- UTC days whatever the caller's TimeZone; work_mem keeps a whole day's sorts
-- (2.4M values on a busy day) in memory.
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

    -- computed_at here is now(), this transaction's start, so it is never later
    -- than the snapshot that read the logs; an hourly row's computed_at is later
    -- than the snapshot that computed it. So an hour changed by events this run
    -- did not see always compares later, and its day is recomputed next time.
    WITH days AS (
        SELECT today - 1 AS day
        UNION
        SELECT s.hour::date
        FROM wheels.pam_hourly s
        LEFT JOIN wheels.pam_daily d ON d.day = s.hour::date
        WHERE s.hour < today AND (d.day IS NULL OR s.computed_at > d.computed_at)
    ), daily AS (
        SELECT days.day, m.*
        FROM days
        CROSS JOIN LATERAL wheels._pam_stats(days.day, days.day + 1) m
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
