-- Queries of bench/jobs_analytics.py (not the jobs' own: those are sql/functions/).

-- name: generate_day
-- One UTC day of PAM events, 100,000 an hour: message/response pairs of 3,000
-- users, six intents (a sixth of messages without), skewed response times
-- (median ~0.3 s, p95 ~3.6 s, max ~5.5 s), 2 in 100 responses failed.
INSERT INTO pam_analytics_logs (created_at, user_id, event_type, intent, response_time_ms, success)
SELECT %(day)s::timestamptz + i * interval '36 milliseconds',
       md5(mod(i / 2, 3000)::text)::uuid,
       CASE WHEN mod(i, 2) = 0 THEN 'message' ELSE 'response' END,
       CASE WHEN mod(i, 2) = 0 THEN (ARRAY['trip_planning', 'budget', 'fuel', 'weather', 'maintenance', NULL])[1 + mod(hashint4(i) & 65535, 6)] END,
       CASE WHEN mod(i, 2) = 1 THEN (120 + 60 * exp(4.5 * ((hashint4(i) & 65535) / 65535.0) ^ 2))::int END,
       CASE WHEN mod(i, 2) = 1 THEN mod(hashint4(i * 7) & 65535, 50) <> 0 END
FROM generate_series(0, 2399999) AS i;

-- name: day_partition
SELECT wheels.create_day_partitions(%(day)s, %(day)s);

-- name: vacuum_logs
VACUUM ANALYZE pam_analytics_logs;

-- name: server
SELECT version() AS version, current_setting('shared_buffers') AS shared_buffers;

-- name: set_hourly_progress
INSERT INTO wheels.rollup_state (rollup, rolled_up_to) VALUES ('analytics_hourly', %(upto)s)
ON CONFLICT (rollup) DO UPDATE SET rolled_up_to = excluded.rolled_up_to;

-- name: forget_hourly_progress
DELETE FROM wheels.rollup_state;

-- name: analytics_hourly
SELECT wheels.analytics_hourly(recompute_hours => %(hours)s, as_of => %(as_of)s) AS result;

-- name: analytics_hourly_backfill
SELECT wheels.analytics_hourly(as_of => %(as_of)s) AS result;

-- name: analytics_daily
SELECT wheels.analytics_daily(as_of => %(as_of)s) AS result;

-- name: cleanup
CALL wheels.run_job('cleanup');

-- name: floor_hour
-- The floor the brief names: a plain GROUP BY with percentile_cont over one busy hour.
SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS pct,
       date_trunc('hour', created_at) AS hour
FROM pam_analytics_logs
WHERE created_at >= %(hour)s AND created_at < %(hour)s::timestamptz + interval '1 hour'
GROUP BY 2;

-- name: settings_of_the_jobs
-- What analytics_daily sets for itself (SET clauses), for the EXPLAINs below.
SELECT set_config('work_mem', '256MB', false), set_config('jit', 'off', false), set_config('timezone', 'UTC', false);

-- name: explain_hour
EXPLAIN (ANALYZE, BUFFERS)
SELECT * FROM wheels._pam_stats(%(hour)s, %(hour)s::timestamptz + interval '1 hour');

-- name: explain_day
EXPLAIN (ANALYZE, BUFFERS)
SELECT * FROM wheels._pam_stats(%(day)s, %(day)s::timestamptz + interval '1 day');

-- name: histograms_of_hours
-- The alternative to reading the day's rows: what the hourly rollup would add to
-- keep, per hour, a histogram of response times in buckets 2 percent wide (bucket b
-- holds [1.02^b, 1.02^(b+1)) ms), so a day's percentile is within 1 percent of exact.
CREATE TEMP TABLE hour_histograms AS
SELECT h.hour,
       (SELECT jsonb_object_agg(b.bucket, b.n)
        FROM (SELECT floor(ln(greatest(l.response_time_ms, 1)) / ln(1.02))::int AS bucket, count(*) AS n
              FROM pam_analytics_logs l
              WHERE l.created_at >= h.hour AND l.created_at < h.hour + interval '1 hour'
                AND l.response_time_ms IS NOT NULL
              GROUP BY 1) b) AS histogram
FROM generate_series(%(day)s::timestamptz, %(day)s::timestamptz + interval '23 hours', interval '1 hour') AS h(hour);

-- name: percentiles_from_histograms
-- A day's p50/p95/p99 from its 24 hourly histograms: the first bucket whose
-- running count reaches the rank, at the bucket's geometric middle.
WITH buckets AS (
    SELECT e.key::int AS bucket, sum(e.value::bigint) AS n
    FROM hour_histograms, jsonb_each_text(hour_histograms.histogram) AS e
    GROUP BY 1
), running AS (
    SELECT bucket, sum(n) OVER (ORDER BY bucket) AS reached, sum(n) OVER () AS total
    FROM buckets
)
SELECT array_agg((SELECT round(exp((r.bucket + 0.5) * ln(1.02))::numeric, 1)
                  FROM running r WHERE r.reached >= q.fraction * r.total
                  ORDER BY r.bucket LIMIT 1) ORDER BY q.fraction) AS pct
FROM unnest(ARRAY[0.5, 0.95, 0.99]) AS q(fraction);

-- name: exact_day_percentiles
SELECT ARRAY[response_time_p50_ms, response_time_p95_ms, response_time_p99_ms] AS pct
FROM wheels.pam_daily WHERE day = %(day)s::date;
