-- The rollup measures of the source's PAM events in [range_start, range_end),
-- exactly as wheels.pam_hourly and wheels.pam_daily store them; no row when
-- there are no events. Shared by analytics_hourly and analytics_daily so an hour and a day
-- are measured the same way. A one-SELECT SQL table function without SET
-- clauses: the planner inlines it into the caller's LATERAL join, so it costs
-- nothing over writing the query out.
-- Percentiles, average and maximum are exact and read responses only (the app
-- logs times on other event types too); distinct users counts all events, and
-- the success rate every event that says success or failure.
-- Distinct users is a hashed DISTINCT of its own, not count(DISTINCT), which
-- sorts: 0.5 s instead of 1.1 s for a 2.4M-row day (docs/BENCHMARKS.md).
CREATE OR REPLACE FUNCTION wheels._pam_stats(range_start timestamptz, range_end timestamptz)
RETURNS TABLE (
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
    intents jsonb
)
LANGUAGE sql STABLE AS $$
    SELECT a.source_rows, a.messages::int, a.responses::int,
           (SELECT count(*)::int
            FROM (SELECT DISTINCT l.user_id
                  FROM wheels_source.pam_events l
                  WHERE l.occurred_at >= range_start AND l.occurred_at < range_end AND l.user_id IS NOT NULL) users),
           a.successes::int, a.failures::int,
           round(a.successes::numeric / nullif(a.successes + a.failures, 0), 4),
           round(a.avg_ms, 1), round(a.pct_ms[1]::numeric, 1), round(a.pct_ms[2]::numeric, 1),
           round(a.pct_ms[3]::numeric, 1), a.max_ms,
           (SELECT coalesce(jsonb_object_agg(per_intent.intent, per_intent.n), '{}')
            FROM (SELECT l.intent, count(*) AS n
                  FROM wheels_source.pam_events l
                  WHERE l.occurred_at >= range_start AND l.occurred_at < range_end AND l.intent IS NOT NULL
                  GROUP BY l.intent) per_intent)
    FROM (
        SELECT count(*) AS source_rows,
               count(*) FILTER (WHERE l.kind = 'message') AS messages,
               count(*) FILTER (WHERE l.kind = 'response') AS responses,
               count(*) FILTER (WHERE l.succeeded) AS successes,
               count(*) FILTER (WHERE NOT l.succeeded) AS failures,
               avg(l.response_time_ms) FILTER (WHERE l.kind = 'response') AS avg_ms,
               percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY l.response_time_ms)
                   FILTER (WHERE l.kind = 'response') AS pct_ms,
               max(l.response_time_ms) FILTER (WHERE l.kind = 'response') AS max_ms
        FROM wheels_source.pam_events l
        WHERE l.occurred_at >= range_start AND l.occurred_at < range_end
    ) a
    WHERE a.source_rows > 0
$$;
