-- The rollup measures of the PAM events in [range_start, range_end), exactly as
-- analytics_summary and analytics_daily store them; no row when there are no
-- events. Shared by analytics_hourly and analytics_daily so an hour and a day
-- are measured the same way. A one-SELECT SQL table function without SET
-- clauses: the planner inlines it into the caller's LATERAL join, so it costs
-- nothing over writing the query out.
-- Percentiles are exact (percentile_cont over the range's own rows) and only
-- responses carry response_time_ms; distinct users counts all events.
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
                  FROM pam_analytics_logs l
                  WHERE l.created_at >= range_start AND l.created_at < range_end AND l.user_id IS NOT NULL) users),
           a.successes::int, a.failures::int,
           round(a.successes::numeric / nullif(a.successes + a.failures, 0), 4),
           round(a.avg_ms, 1), round(a.pct_ms[1]::numeric, 1), round(a.pct_ms[2]::numeric, 1),
           round(a.pct_ms[3]::numeric, 1), a.max_ms,
           (SELECT coalesce(jsonb_object_agg(per_intent.intent, per_intent.n), '{}')
            FROM (SELECT l.intent, count(*) AS n
                  FROM pam_analytics_logs l
                  WHERE l.created_at >= range_start AND l.created_at < range_end AND l.intent IS NOT NULL
                  GROUP BY l.intent) per_intent)
    FROM (
        SELECT count(*) AS source_rows,
               count(*) FILTER (WHERE l.event_type = 'message') AS messages,
               count(*) FILTER (WHERE l.event_type = 'response') AS responses,
               count(*) FILTER (WHERE l.success) AS successes,
               count(*) FILTER (WHERE NOT l.success) AS failures,
               avg(l.response_time_ms) AS avg_ms,
               percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY l.response_time_ms) AS pct_ms,
               max(l.response_time_ms) AS max_ms
        FROM pam_analytics_logs l
        WHERE l.created_at >= range_start AND l.created_at < range_end
    ) a
    WHERE a.source_rows > 0
$$;
