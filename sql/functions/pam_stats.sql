-- The rollup measures of PAM events: wheels.pam_hourly and wheels.pam_daily store them.

-- percentile_cont(ARRAY[0.5, 0.95, 0.99]) of the values a histogram holds
-- (times ascending and distinct, each counts[i] times), to the bit: percentile_cont
-- takes the sorted values at rows floor(f * (n - 1)) and ceil(f * (n - 1)) and
-- interpolates in float8 as below; the cumulative counts find those rows. No row
-- for an empty histogram (percentile_cont of no values is NULL). This is what lets
-- a day's exact percentiles come from its hours' histograms; an hour's come from
-- here too, so both are one computation (tests/test_jobs_analytics.py compares it
-- with percentile_cont). One SELECT: inlined into the caller like _pam_stats.
CREATE OR REPLACE FUNCTION wheels._histogram_percentiles(times int[], counts int[])
RETURNS TABLE (p50 float8, p95 float8, p99 float8)
LANGUAGE sql IMMUTABLE AS $$
    SELECT b.lo50 + (x.x50 - floor(x.x50)) * (b.hi50 - b.lo50),
           b.lo95 + (x.x95 - floor(x.x95)) * (b.hi95 - b.lo95),
           b.lo99 + (x.x99 - floor(x.x99)) * (b.hi99 - b.lo99)
    FROM (SELECT sum(c) AS n FROM unnest(counts) c) t
    CROSS JOIN LATERAL (
        SELECT 0.5::float8 * (t.n - 1)::float8 AS x50, 0.95::float8 * (t.n - 1)::float8 AS x95,
               0.99::float8 * (t.n - 1)::float8 AS x99) x
    CROSS JOIN LATERAL (
        -- The value at (0-based) row r is the first whose cumulative count passes r.
        SELECT min(h.v) FILTER (WHERE h.upto > floor(x.x50)) AS lo50, min(h.v) FILTER (WHERE h.upto > ceil(x.x50)) AS hi50,
               min(h.v) FILTER (WHERE h.upto > floor(x.x95)) AS lo95, min(h.v) FILTER (WHERE h.upto > ceil(x.x95)) AS hi95,
               min(h.v) FILTER (WHERE h.upto > floor(x.x99)) AS lo99, min(h.v) FILTER (WHERE h.upto > ceil(x.x99)) AS hi99
        FROM (SELECT u.v::float8 AS v, sum(u.c) OVER (ORDER BY u.v) AS upto
              FROM unnest(times, counts) AS u(v, c)) h) b
    WHERE t.n > 0
$$;

-- The measures of the source's PAM events in [range_start, range_end), from the
-- rows: analytics_hourly's hours, and a day analytics_daily cannot take from
-- its hours. No row when there are no events. A one-SELECT SQL table function
-- without SET clauses: the planner inlines it into the caller's LATERAL join, so
-- it costs nothing over writing the query out.
-- Average, maximum and the histogram of response times (which gives the
-- percentiles, exact, and the average, as _pam_stats_of_hours does) read
-- responses only (the app logs times on other event types too); distinct users
-- counts all events, and the success rate every event that says success or
-- failure.
-- Two reads of the range. One groups its rows by what the measures tell apart
-- (kind, success, response time, intent): a busy hour's 100k events make about
-- 5,000 groups, and the counts, the histogram and the intents all come from
-- them. The other counts distinct users, which no grouping of those shares:
-- count(DISTINCT) sorts the range's ids, at an hour's size faster than a hashed
-- DISTINCT. At a million users that sort of a busy hour's 97k ids alone costs
-- about what a plain GROUP BY of the hour with percentile_cont does
-- (docs/SCALING.md, "The busy hour against a plain GROUP BY"); the grouped read
-- replaced three reads (counts, histogram, intents), 15 percent faster.
CREATE OR REPLACE FUNCTION wheels._pam_stats(range_start timestamptz, range_end timestamptz)
RETURNS SETOF wheels.pam_measures
LANGUAGE sql STABLE AS $$
    WITH grouped AS (
        SELECT l.kind, l.succeeded, l.response_time_ms, l.intent, count(*) AS n
        FROM wheels_source.pam_events l
        WHERE l.occurred_at >= range_start AND l.occurred_at < range_end
        GROUP BY l.kind, l.succeeded, l.response_time_ms, l.intent
    )
    SELECT a.source_rows::bigint, a.messages::int, a.responses::int, u.distinct_users::int,
           a.successes::int, a.failures::int,
           round(a.successes / nullif(a.successes + a.failures, 0), 4),
           round(h.time_sum / nullif(h.timed, 0), 1),
           round(p.p50::numeric, 1), round(p.p95::numeric, 1), round(p.p99::numeric, 1),
           a.max_ms, i.intents, coalesce(h.times, '{}'), coalesce(h.counts, '{}')
    FROM (
        SELECT sum(g.n) AS source_rows,
               coalesce(sum(g.n) FILTER (WHERE g.kind = 'message'), 0) AS messages,
               coalesce(sum(g.n) FILTER (WHERE g.kind = 'response'), 0) AS responses,
               coalesce(sum(g.n) FILTER (WHERE g.succeeded), 0) AS successes,
               coalesce(sum(g.n) FILTER (WHERE NOT g.succeeded), 0) AS failures,
               max(g.response_time_ms) FILTER (WHERE g.kind = 'response') AS max_ms
        FROM grouped g
    ) a
    CROSS JOIN (
        SELECT array_agg(t.v ORDER BY t.v) AS times, array_agg(t.n::int ORDER BY t.v) AS counts,
               sum(t.v::bigint * t.n) AS time_sum, sum(t.n) AS timed
        FROM (SELECT g.response_time_ms AS v, sum(g.n) AS n
              FROM grouped g
              WHERE g.kind = 'response' AND g.response_time_ms IS NOT NULL
              GROUP BY g.response_time_ms) t
    ) h
    LEFT JOIN LATERAL wheels._histogram_percentiles(h.times, h.counts) p ON true
    CROSS JOIN (
        SELECT coalesce(jsonb_object_agg(t.intent, t.n), '{}') AS intents
        FROM (SELECT g.intent, sum(g.n)::bigint AS n
              FROM grouped g
              WHERE g.intent IS NOT NULL
              GROUP BY g.intent) t
    ) i
    CROSS JOIN (
        SELECT count(DISTINCT l.user_id) AS distinct_users
        FROM wheels_source.pam_events l
        WHERE l.occurred_at >= range_start AND l.occurred_at < range_end
    ) u
    WHERE a.source_rows > 0
$$;

-- The distinct users of the source's PAM events in [range_start, range_end): a day's,
-- for _pam_stats_of_hours. DISTINCT ON only ever runs as a Unique over ids in
-- order, so where an index leads with user_id and holds occurred_at (the demo's
-- pam_analytics_logs_user_events_idx) the ids come from an index-only scan of
-- the day's partition: 0.35 s for a 2.4M-event day at a million users, where
-- hashing or sorting its 927k ids takes 1.5 s. PL/pgSQL with custom plans only:
-- each plan sees the bounds as values and is made for the one day partition they
-- prune to (a generic plan, which PL/pgSQL may switch to after five calls, sorts
-- the ids of every partition it might meet: 2 s instead of 0.4 at 1M users).
-- For a day-partitioned log (the demo's, supabase-wheels' PAM event feed),
-- random reads are costed as the cached reads they are here (as
-- fuel_consumption does), so the planner prefers that scan to a sort also at
-- smaller sizes (it sorted a 600k-event day at the default 4, 3.5x slower).
-- Not for a log read whole (a source whose pam_events is an unpartitioned app
-- log with an index on user_id alone): there the cheaper random reads made the
-- planner walk the whole log by that index, 2.9 s instead of 0.36 s for a sort
-- of a 100k-user day.
-- Called once a day.
CREATE OR REPLACE FUNCTION wheels._pam_distinct_users(range_start timestamptz, range_end timestamptz) RETURNS int
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    page_cost text := current_setting('random_page_cost');
    users int;
BEGIN
    IF EXISTS (SELECT 1 FROM wheels.partitioned_logs()) THEN
        PERFORM set_config('random_page_cost', '1.1', true);
    END IF;
    users := (SELECT count(*)
              FROM (SELECT DISTINCT ON (l.user_id) l.user_id
                    FROM wheels_source.pam_events l
                    WHERE l.occurred_at >= range_start AND l.occurred_at < range_end AND l.user_id IS NOT NULL) d);
    PERFORM set_config('random_page_cost', page_cost, true);
    RETURN users;
END
$$;

-- The same measures of [range_start, range_end) from the hourly rows that cover
-- it (the caller checks they do: analytics_daily), and distinct users from the
-- rows: equal to _pam_stats of the range as of when those hours were rolled up.
-- Counts, successes, failures, intents and the maximum add up over hours; the
-- histograms add up to the range's, which gives its exact percentiles and average
-- (the sum and count of the same integers avg() divides). Distinct users do not
-- add up (a user active in two hours is one user), so they are counted from the
-- rows (_pam_distinct_users). No row when the hours hold no events.
CREATE OR REPLACE FUNCTION wheels._pam_stats_of_hours(range_start timestamptz, range_end timestamptz)
RETURNS SETOF wheels.pam_measures
LANGUAGE sql STABLE AS $$
    SELECT a.events::bigint, a.messages::int, a.responses::int, u.distinct_users,
           a.successes::int, a.failures::int,
           round(a.successes::numeric / nullif(a.successes + a.failures, 0), 4),
           round(h.time_sum / nullif(h.timed, 0), 1),
           round(p.p50::numeric, 1), round(p.p95::numeric, 1), round(p.p99::numeric, 1),
           a.max_ms, i.intents, coalesce(h.times, '{}'), coalesce(h.counts, '{}')
    FROM (
        SELECT sum(s.events) AS events, sum(s.messages) AS messages, sum(s.responses) AS responses,
               sum(s.successes) AS successes, sum(s.failures) AS failures,
               max(s.response_time_max_ms) AS max_ms
        FROM wheels.pam_hourly s
        WHERE s.hour >= range_start AND s.hour < range_end
    ) a
    CROSS JOIN (
        SELECT array_agg(t.v ORDER BY t.v) AS times, array_agg(t.n::int ORDER BY t.v) AS counts,
               sum(t.v::bigint * t.n) AS time_sum, sum(t.n) AS timed
        FROM (SELECT r.v, sum(r.c) AS n
              FROM wheels.pam_hourly s
              CROSS JOIN LATERAL unnest(s.response_times, s.response_time_counts) AS r(v, c)
              WHERE s.hour >= range_start AND s.hour < range_end
              GROUP BY r.v) t
    ) h
    LEFT JOIN LATERAL wheels._histogram_percentiles(h.times, h.counts) p ON true
    CROSS JOIN (
        SELECT coalesce(jsonb_object_agg(t.intent, t.n), '{}') AS intents
        FROM (SELECT e.key AS intent, sum(e.value::bigint) AS n
              FROM wheels.pam_hourly s
              CROSS JOIN LATERAL jsonb_each_text(s.intents) AS e
              WHERE s.hour >= range_start AND s.hour < range_end
              GROUP BY e.key) t
    ) i
    CROSS JOIN (SELECT wheels._pam_distinct_users(range_start, range_end) AS distinct_users) u
    WHERE a.events > 0
$$;
