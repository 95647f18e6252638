-- Roll the source's PAM events up into wheels.pam_hourly, one row per complete UTC hour,
-- in one set-based statement. Incremental: the hours since the last run plus the
-- `analytics_recompute_hours` most recent ones (late events); the first run with
-- data backfills all history. Idempotent: an hour's row depends only on its log
-- rows; an hour without rows has no row. `as_of` stands for now() (tests, replays).
-- What the PAM event feed's trigger calls when it cannot copy a statement's
-- events (sources/supabase-wheels/contract.sql): they are missing from the
-- rollups until `cli.py migrate --reinstall-source` copies the feed afresh, so
-- a failed analytics_hourly run says so (status and the dashboard show it;
-- source check counts the rows: copy_drift). Never raises: the app's write
-- goes through.
CREATE OR REPLACE FUNCTION wheels.pam_feed_trouble(what text, problem text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    line text := format('%s could not copy PAM events into wheels.pam_event_feed (they are missing from the '
                        'rollups until `cli.py migrate --reinstall-source`): %s', what, problem);
BEGIN
    RAISE WARNING 'wheels-jobs: %', line;
    INSERT INTO wheels.job_runs (job, runner, started_at, finished_at, outcome, result)
    VALUES ('analytics_hourly', 'source trigger', now(), clock_timestamp(), 'failed', line);
EXCEPTION WHEN OTHERS THEN
    NULL;  -- the warning is all there is
END
$$;

CREATE OR REPLACE FUNCTION wheels.analytics_hourly(
    recompute_hours int DEFAULT NULL,
    as_of timestamptz DEFAULT now()
) RETURNS text
LANGUAGE plpgsql
-- UTC hours whatever the caller's TimeZone; work_mem keeps a busy hour's sorts in memory.
SET timezone = 'UTC'
SET work_mem = '64MB'
-- No JIT: the planner cannot count generate_series' rows, so its cost estimate
-- passes the JIT thresholds and compiling took 0.2-0.4 s of a 0.07 s run.
SET jit = off
AS $$
DECLARE
    window_hours int := coalesce(recompute_hours, wheels.setting('analytics_recompute_hours')::int);
    -- The hour in progress is left out: its row would be a partial number that looks final.
    upto timestamptz := date_trunc('hour', as_of);
    since timestamptz;
    hours_computed int;
    hours_changed int;
    hours_removed int;
    source_rows bigint;
    result text;
BEGIN
    -- One run at a time (invariant 11): a second run waits, then finds the work
    -- done, instead of racing on the same hours' rows.
    PERFORM wheels.lock_job('analytics_hourly');

    SELECT least(s.rolled_up_to, upto - make_interval(hours => window_hours)) INTO since
    FROM wheels.rollup_state s WHERE s.rollup = 'analytics_hourly';
    IF NOT FOUND THEN
        SELECT date_trunc('hour', min(l.occurred_at)) INTO since FROM wheels_source.pam_events l;
        IF since IS NULL THEN
            RETURN 'analytics_hourly: no events yet, nothing to roll up';
        END IF;
    END IF;

    -- The measures of each hour of generate_series, from range scans of the primary
    -- key: nothing sorts the whole range (a GROUP BY of date_trunc would); only each
    -- hour's response times are sorted, for its percentiles.
    -- computed_at is clock_timestamp(), taken after this statement's snapshot, and
    -- only moves when the numbers change: analytics_daily relies on both, and
    -- adds the hours' numbers and response-time histograms up into days.
    WITH hourly AS (
        SELECT h.hour, m.*
        FROM generate_series(since, upto - interval '1 hour', interval '1 hour') AS h(hour)
        CROSS JOIN LATERAL wheels._pam_stats(h.hour, h.hour + interval '1 hour') m
    ), upserted AS (
        INSERT INTO wheels.pam_hourly AS s (
            hour, messages, responses, distinct_users, successes, failures, success_rate,
            response_time_avg_ms, response_time_p50_ms, response_time_p95_ms, response_time_p99_ms,
            response_time_max_ms, intents, events, response_times, response_time_counts, computed_at)
        SELECT hour, messages, responses, distinct_users, successes, failures, success_rate,
               response_time_avg_ms, response_time_p50_ms, response_time_p95_ms, response_time_p99_ms,
               response_time_max_ms, intents, hourly.source_rows, response_times, response_time_counts, clock_timestamp()
        FROM hourly
        ON CONFLICT (hour) DO UPDATE SET
            messages = excluded.messages, responses = excluded.responses,
            distinct_users = excluded.distinct_users, successes = excluded.successes,
            failures = excluded.failures, success_rate = excluded.success_rate,
            response_time_avg_ms = excluded.response_time_avg_ms,
            response_time_p50_ms = excluded.response_time_p50_ms,
            response_time_p95_ms = excluded.response_time_p95_ms,
            response_time_p99_ms = excluded.response_time_p99_ms,
            response_time_max_ms = excluded.response_time_max_ms,
            intents = excluded.intents, events = excluded.events, response_times = excluded.response_times,
            response_time_counts = excluded.response_time_counts, computed_at = excluded.computed_at
        WHERE (s.messages, s.responses, s.distinct_users, s.successes, s.failures, s.success_rate,
               s.response_time_avg_ms, s.response_time_p50_ms, s.response_time_p95_ms,
               s.response_time_p99_ms, s.response_time_max_ms, s.intents, s.events, s.response_times,
               s.response_time_counts)
              IS DISTINCT FROM
              (excluded.messages, excluded.responses, excluded.distinct_users, excluded.successes,
               excluded.failures, excluded.success_rate, excluded.response_time_avg_ms,
               excluded.response_time_p50_ms, excluded.response_time_p95_ms,
               excluded.response_time_p99_ms, excluded.response_time_max_ms, excluded.intents,
               excluded.events, excluded.response_times, excluded.response_time_counts)
        RETURNING 1
    ), removed AS (
        -- An hour whose rows are gone (deleted by hand) loses its row, as if never seen.
        DELETE FROM wheels.pam_hourly s
        WHERE s.hour >= since AND s.hour < upto
          AND NOT EXISTS (SELECT 1 FROM hourly WHERE hourly.hour = s.hour)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM hourly), (SELECT coalesce(sum(hourly.source_rows), 0) FROM hourly),
           (SELECT count(*) FROM upserted), (SELECT count(*) FROM removed)
    INTO hours_computed, source_rows, hours_changed, hours_removed;

    INSERT INTO wheels.rollup_state AS r (rollup, rolled_up_to)
    VALUES ('analytics_hourly', upto)
    ON CONFLICT (rollup) DO UPDATE
        SET rolled_up_to = greatest(r.rolled_up_to, excluded.rolled_up_to), updated_at = now();

    result := format('analytics_hourly: %s upserted (%s changed) from %s, %s .. %s%s',
                  wheels.plural(hours_computed, 'hour', 'hours'), hours_changed,
                  wheels.plural(source_rows, 'row', 'rows'),
                  to_char(since, 'YYYY-MM-DD HH24:MI'), to_char(upto, 'YYYY-MM-DD HH24:MI"Z"'),
                  CASE WHEN hours_removed > 0 THEN format(', %s removed', wheels.plural(hours_removed, 'emptied hour', 'emptied hours')) ELSE '' END);
    RAISE LOG '%', result;
    RETURN result;
END
$$;
