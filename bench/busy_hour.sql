-- Queries of bench/busy_hour.py: one busy hour of a million users' PAM events,
-- the rollup's read of it against a plain GROUP BY, and what each part costs.

-- name: partitions
SELECT wheels.create_day_partitions('2026-11-24', '2026-11-25');

-- name: day
-- A UTC day of 2.4M events (a million users' day, bench/scale.py's rate):
-- 100,000 in its 03:00 hour, the rest from 04:00 on. A user is one of 2^20 ids,
-- so the busy hour holds about 95,000 users, as at a million users. Messages
-- and responses alternate; intents and response times as bench/scale.py's.
INSERT INTO pam_analytics_logs (created_at, user_id, event_type, intent, response_time_ms, success)
SELECT at, user_id, event_type, intent, response_time_ms, success FROM (
    SELECT CASE WHEN i <= 100000 THEN '2026-11-25 03:00Z'::timestamptz + random() * interval '1 hour'
                ELSE '2026-11-25 04:00Z'::timestamptz + random() * interval '20 hours' END AS at,
           md5((hashint4(i) & 1048575)::text)::uuid AS user_id,
           CASE WHEN i % 2 = 0 THEN 'message' ELSE 'response' END AS event_type,
           CASE WHEN i % 2 = 0 THEN (ARRAY['trip_planning', 'budget', 'fuel', 'weather', NULL])[1 + (i / 2) % 5] END AS intent,
           CASE WHEN i % 2 = 1 THEN (120 + 60 * exp(4.5 * random() ^ 2))::int END AS response_time_ms,
           CASE WHEN i % 2 = 1 THEN random() > 0.02 END AS success
    FROM generate_series(1, 2400000) i) e
ORDER BY at;

-- name: vacuum
VACUUM ANALYZE pam_analytics_logs;

-- name: the_hour
SELECT count(*) AS events, count(DISTINCT user_id) AS users FROM pam_analytics_logs
WHERE created_at >= '2026-11-25 03:00Z' AND created_at < '2026-11-25 04:00Z';

-- name: read
-- The rollup's parts, each alone: a bare read of the hour.
SELECT count(*) FROM pam_analytics_logs
WHERE created_at >= '2026-11-25 03:00Z' AND created_at < '2026-11-25 04:00Z';

-- name: grouped
-- The read the counts, the histogram and the intents come from.
SELECT event_type, success, response_time_ms, intent, count(*) FROM pam_analytics_logs
WHERE created_at >= '2026-11-25 03:00Z' AND created_at < '2026-11-25 04:00Z'
GROUP BY 1, 2, 3, 4;

-- name: distinct_users
-- Distinct users as the rollup counts them: a sort of the hour's ids.
SELECT count(DISTINCT user_id) FROM pam_analytics_logs
WHERE created_at >= '2026-11-25 03:00Z' AND created_at < '2026-11-25 04:00Z';

-- name: distinct_hashes
-- Alternative: distinct 64-bit hashes of the ids (exact up to hash collisions).
SELECT count(DISTINCT uuid_hash_extended(user_id, 0)) FROM pam_analytics_logs
WHERE created_at >= '2026-11-25 03:00Z' AND created_at < '2026-11-25 04:00Z';

-- name: estimated_users
-- Alternative: an estimate from the 1,024 smallest distinct 64-bit hashes of the
-- ids (k minimum values: about 3 percent off), a bounded sort.
SELECT CASE WHEN count(*) < 1024 THEN count(*)
            ELSE round(1023 / ((max(k.h)::numeric + 9223372036854775808) / 18446744073709551616)) END AS users
FROM (SELECT DISTINCT s.h FROM (SELECT uuid_hash_extended(user_id, 0) AS h FROM pam_analytics_logs
                                WHERE created_at >= '2026-11-25 03:00Z' AND created_at < '2026-11-25 04:00Z'
                                ORDER BY 1 LIMIT 4096) s
      ORDER BY s.h LIMIT 1024) k;

-- name: hour_index
-- Alternative: an index of ours that holds each hour's ids in order.
CREATE INDEX busy_hour_users_idx ON pam_analytics_logs
    ((date_trunc('hour', created_at AT TIME ZONE 'UTC')), user_id) INCLUDE (created_at);

-- name: distinct_users_by_hour_index
-- Distinct users from it: an index-only scan in id order, no sort.
SELECT count(*) FROM (
    SELECT DISTINCT user_id FROM pam_analytics_logs
    WHERE date_trunc('hour', created_at AT TIME ZONE 'UTC') = '2026-11-25 03:00'
      AND created_at >= '2026-11-25 03:00Z' AND created_at < '2026-11-25 04:00Z') d;

-- name: drop_hour_index
DROP INDEX busy_hour_users_idx;

-- name: writes
-- The index's cost per event written: 200,000 events of another day, in one
-- INSERT, rolled back (run with and without it).
INSERT INTO pam_analytics_logs (created_at, user_id, event_type)
SELECT '2026-11-24 05:00Z'::timestamptz + random() * interval '1 hour', md5((hashint4(i) & 1048575)::text)::uuid, 'message'
FROM generate_series(1, 200000) i;
