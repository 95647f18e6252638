-- Named queries of bench/scale.py: the demo source's data generated set-based
-- for users (lo, hi], and the measurements. %(as_of)s is the benchmark's "now".

-- name: load_mode
-- A bulk load: no trigger, no foreign-key check (the budget state is then
-- summed by budget_state_rebuild, as at install).
SET session_replication_role = replica;

-- name: normal_mode
RESET session_replication_role;

-- name: users
-- One user in each of 24 zones, one per whole-hour offset from UTC-11 to
-- UTC+12 (late November), in turn: each zone's morning is one 15-minute
-- digest window holding 1/24 of the users.
INSERT INTO profiles (email, full_name, timezone, currency)
SELECT 'user' || i || '@example.com', 'User ' || i,
       (ARRAY['Pacific/Pago_Pago', 'Pacific/Honolulu', 'America/Anchorage', 'America/Los_Angeles', 'America/Denver',
              'America/Chicago', 'America/New_York', 'America/Halifax', 'America/Sao_Paulo', 'Atlantic/South_Georgia',
              'Atlantic/Cape_Verde', 'UTC', 'Europe/Berlin', 'Africa/Cairo', 'Europe/Moscow', 'Asia/Dubai',
              'Asia/Karachi', 'Asia/Dhaka', 'Asia/Bangkok', 'Australia/Perth', 'Asia/Tokyo', 'Australia/Brisbane',
              'Australia/Sydney', 'Pacific/Fiji'])[1 + i %% 24],
       'AUD'
FROM generate_series(%(lo)s + 1, %(hi)s) i;

-- name: budgets
-- Five budgets each (a demo budget is a category).
INSERT INTO budget_categories (user_id, name, monthly_limit)
SELECT p.id, c.name, 300 + (random() * 1200)::int
FROM (SELECT id FROM profiles WHERE email ~ '^user\d+@'
        AND substring(email FROM '^user(\d+)@')::int > %(lo)s) p
CROSS JOIN unnest(ARRAY['Fuel', 'Food', 'Camping', 'Repairs', 'Fun']) c (name);

-- name: expenses
-- Six expenses per budget in the month so far, in time order as an app appends them.
INSERT INTO expenses (user_id, category_id, amount, spent_at)
SELECT user_id, category_id, amount, spent_at FROM (
    SELECT c.user_id, c.id AS category_id, round((1 + random() * 39)::numeric, 2) AS amount,
           date_trunc('month', %(as_of)s::timestamptz) + random() * (%(as_of)s::timestamptz - date_trunc('month', %(as_of)s::timestamptz)) AS spent_at
    FROM budget_categories c
    CROSS JOIN generate_series(1, 6)
    WHERE c.id > %(categories_before)s) e
ORDER BY spent_at;

-- name: vehicles
INSERT INTO vehicles (user_id, name)
SELECT p.id, 'Van' FROM profiles p WHERE substring(p.email FROM '^user(\d+)@')::int > %(lo)s;

-- name: maintenance
-- One open task per user, due within 20 days either side of as_of.
INSERT INTO maintenance_records (user_id, vehicle_id, title, due_date)
SELECT v.user_id, v.id, 'Service', %(as_of)s::date + (random() * 40 - 20)::int FROM vehicles v WHERE v.id > %(vehicles_before)s;

-- name: fuel
-- Four full-tank fills per vehicle, 500 km apart.
INSERT INTO fuel_logs (vehicle_id, liters, odometer_km, full_tank, filled_at)
SELECT v.id, 35 + random() * 10, 10000 + n * 500, true, %(as_of)s::timestamptz - (5 - n) * interval '6 days'
FROM vehicles v CROSS JOIN generate_series(1, 4) n WHERE v.id > %(vehicles_before)s;

-- name: pam
-- A week of PAM events before as_of, 2.4 a user a day (17 a week): 2.4M a
-- day at a million users. Messages and responses alternate.
INSERT INTO pam_analytics_logs (created_at, user_id, event_type, intent, response_time_ms, success)
SELECT at, user_id, event_type, intent, response_time_ms, success FROM (
    SELECT %(as_of)s::timestamptz - random() * interval '7 days' AS at, p.id AS user_id,
           CASE WHEN n %% 2 = 0 THEN 'message' ELSE 'response' END AS event_type,
           CASE WHEN n %% 2 = 0 THEN (ARRAY['trip_planning', 'budget', 'fuel', 'weather', NULL])[1 + n %% 5] END AS intent,
           CASE WHEN n %% 2 = 1 THEN (120 + 60 * exp(4.5 * random() ^ 2))::int END AS response_time_ms,
           CASE WHEN n %% 2 = 1 THEN random() > 0.02 END AS success
    FROM profiles p CROSS JOIN generate_series(1, 17) n
    WHERE substring(p.email FROM '^user(\d+)@')::int > %(lo)s) e
ORDER BY at;

-- name: watermarks
SELECT coalesce((SELECT max(id) FROM budget_categories), 0) AS categories_before,
       coalesce((SELECT max(id) FROM vehicles), 0) AS vehicles_before;

-- name: counts
SELECT (SELECT count(*) FROM profiles) AS users, (SELECT count(*) FROM budget_categories) AS budgets,
       (SELECT count(*) FROM expenses) AS expenses, (SELECT count(*) FROM pam_analytics_logs) AS pam_events;

-- name: vacuum
VACUUM (ANALYZE);

-- name: rebuild
SELECT wheels.budget_state_rebuild(%(as_of)s) AS result;

-- name: budget_alerts
SELECT wheels.budget_alerts(%(as_of)s) AS result;

-- name: budget_alerts_resum
-- The job as it was before issue 13 (bench/budget_alerts_resum.sql,
-- renamed): every budget in force, its month re-summed from the expenses.
SELECT wheels.budget_alerts_resum(%(as_of)s) AS result;

-- name: new_expenses
-- An hour's app writes: %(n)s expenses, one INSERT statement each (a
-- PL/pgSQL loop on the server: what is measured is the write, not a round
-- trip), on random budgets of random users.
DO $$
DECLARE
    ids bigint[] := ARRAY(SELECT id FROM budget_categories ORDER BY random() LIMIT %(n)s);
    c bigint;
BEGIN
    FOREACH c IN ARRAY ids LOOP
        INSERT INTO expenses (user_id, category_id, amount, spent_at)
        SELECT user_id, id, 12.5, %(as_of)s::timestamptz - interval '30 minutes' FROM budget_categories WHERE id = c;
    END LOOP;
END
$$;

-- name: digest_window
-- One 15-minute window: the zone whose 07:00 is as_of (Australia/Sydney,
-- UTC+11 in November) is due; every other zone was decided for its day
-- already (those past 07:00 today, the others yesterday).
UPDATE wheels.digest_zones z
SET decided_on = CASE WHEN z.zone = 'Australia/Sydney' THEN (%(as_of)s::timestamptz AT TIME ZONE z.zone)::date - 1
                      WHEN extract(hour FROM %(as_of)s::timestamptz AT TIME ZONE z.zone) >= 7
                      THEN (%(as_of)s::timestamptz AT TIME ZONE z.zone)::date
                      ELSE (%(as_of)s::timestamptz AT TIME ZONE z.zone)::date - 1 END,
    resume_day = NULL, resume_after = NULL;

-- name: daily_digest
SELECT wheels.daily_digest(%(as_of)s) AS result;

-- name: daily_digest_minute
-- The run %(minute)s minutes into the window (the job runs every minute).
SELECT wheels.daily_digest(%(as_of)s::timestamptz + make_interval(mins => %(minute)s)) AS result;

-- name: cache_digest
-- What a digest run reads, into shared buffers: the users, their budgets,
-- tasks and zones, the budget state, and the PAM log's (or feed's) last days,
-- each with its indexes (the tables of either source that exist here).
-- pg_prewarm: made by cache_state, which runs first.
WITH named AS (
    SELECT to_regclass(n) AS rel
    FROM unnest(ARRAY['public.profiles', 'public.email_preferences', 'public.budget_categories', 'auth.users',
                      'public.user_settings', 'public.budgets', 'public.maintenance_records', 'wheels.user_zones',
                      'wheels.spending_months', 'wheels.spending_days']) n
    UNION ALL
    SELECT p.partition
    FROM unnest(ARRAY['public.pam_analytics_logs', 'wheels.pam_event_feed']) n
    CROSS JOIN LATERAL wheels.day_partitions(to_regclass(n)) p
    WHERE to_regclass(n) IS NOT NULL AND p.day >= (%(as_of)s::timestamptz AT TIME ZONE 'UTC')::date - 2
)
SELECT count(pg_prewarm(r)) AS relations
FROM (SELECT rel AS r FROM named WHERE rel IS NOT NULL
      UNION
      SELECT i.indexrelid::regclass FROM pg_index i JOIN named ON i.indrelid = named.rel) x;

-- name: forget_digests
-- The window's digests off the ledger and the queue again (the runs committed).
DELETE FROM pgmq.q_email_intents WHERE message ->> 'kind' = 'daily_digest';
DELETE FROM wheels.email_ledger WHERE kind = 'daily_digest';

-- name: digest_all_decided
-- The next run: every zone decided for its day already.
UPDATE wheels.digest_zones z SET decided_on = (%(as_of)s::timestamptz AT TIME ZONE z.zone)::date;

-- name: daily_digest_next
SELECT wheels.daily_digest(%(as_of)s::timestamptz + interval '15 minutes') AS result;

-- name: pam_partitions
SELECT wheels.create_day_partitions((%(as_of)s::timestamptz AT TIME ZONE 'UTC')::date - 8,
                                    (%(as_of)s::timestamptz AT TIME ZONE 'UTC')::date + 1);

-- name: busy_hour_floor
-- The floor: a plain GROUP BY with percentile_cont over one hour of events.
SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS pct,
       count(*), date_trunc('hour', created_at) AS hour
FROM pam_analytics_logs
WHERE created_at >= %(hour)s AND created_at < %(hour)s::timestamptz + interval '1 hour'
GROUP BY 3;

-- name: busy_hour_same_measures
-- For reference beside the floor: one plain GROUP BY of the hour computing what
-- the rollup stores but the intents (those need a GROUP BY of their own),
-- count(DISTINCT user_id) included, through the source's contract view as
-- _pam_stats reads it. At a million users an hour's distinct users cost about
-- what the floor does.
SELECT count(*) AS events, count(DISTINCT user_id),
       count(*) FILTER (WHERE kind = 'message'), count(*) FILTER (WHERE kind = 'response'),
       count(*) FILTER (WHERE succeeded), count(*) FILTER (WHERE NOT succeeded),
       avg(response_time_ms) FILTER (WHERE kind = 'response'), max(response_time_ms) FILTER (WHERE kind = 'response'),
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) FILTER (WHERE kind = 'response'),
       date_trunc('hour', occurred_at) AS hour
FROM wheels_source.pam_events
WHERE occurred_at >= %(hour)s AND occurred_at < %(hour)s::timestamptz + interval '1 hour'
GROUP BY hour;

-- name: busy_hour
-- analytics_hourly's measures of that one hour.
SELECT * FROM wheels._pam_stats(%(hour)s, %(hour)s::timestamptz + interval '1 hour');

-- name: analytics_hourly
-- A normal hourly run: the hour just ended and the recompute window (3 hours).
SELECT wheels.analytics_hourly(recompute_hours => 3, as_of => %(as_of)s) AS result;

-- name: hourly_progress
INSERT INTO wheels.rollup_state (rollup, rolled_up_to) VALUES ('analytics_hourly', date_trunc('hour', %(as_of)s::timestamptz))
ON CONFLICT (rollup) DO UPDATE SET rolled_up_to = excluded.rolled_up_to;

-- name: analytics_daily
-- One day: as_of's yesterday (from its hourly rows after the setup below, else from its rows).
SELECT wheels.analytics_daily(as_of => %(as_of)s) AS result;

-- name: yesterdays_hours
-- Setup of analytics_daily's steady state: as_of's yesterday rolled up hour by
-- hour, as analytics_hourly left it during the day, and the hourly rollup's mark
-- past it (sql/functions/analytics_daily.sql adds such a day up from its hours).
WITH progress AS (
    INSERT INTO wheels.rollup_state (rollup, rolled_up_to)
    VALUES ('analytics_hourly', date_trunc('hour', %(as_of)s::timestamptz))
    ON CONFLICT (rollup) DO UPDATE SET rolled_up_to = excluded.rolled_up_to
)
INSERT INTO wheels.pam_hourly (
    hour, messages, responses, distinct_users, successes, failures, success_rate,
    response_time_avg_ms, response_time_p50_ms, response_time_p95_ms, response_time_p99_ms,
    response_time_max_ms, intents, events, response_times, response_time_counts)
SELECT h.hour, m.messages, m.responses, m.distinct_users, m.successes, m.failures, m.success_rate,
       m.response_time_avg_ms, m.response_time_p50_ms, m.response_time_p95_ms, m.response_time_p99_ms,
       m.response_time_max_ms, m.intents, m.source_rows, m.response_times, m.response_time_counts
FROM generate_series(date_trunc('day', %(as_of)s::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 day',
                     date_trunc('day', %(as_of)s::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 hour',
                     interval '1 hour') AS h(hour)
CROSS JOIN LATERAL wheels._pam_stats(h.hour, h.hour + interval '1 hour') m
ON CONFLICT (hour) DO NOTHING;

-- name: retire_day
-- The oldest loaded day, once it is past the 90-day retention: detached.
SELECT wheels.retire_day_partition('public.pam_analytics_logs',
                                   %(as_of)s::timestamptz + interval '90 days') AS result;

-- name: drop_retired_days
-- The days retire_day detached, their files freed.
SELECT wheels.drop_detached_days('public.pam_analytics_logs') AS result;

-- name: day_rows
SELECT count(*) AS n FROM pam_analytics_logs
WHERE created_at >= date_trunc('day', %(as_of)s::timestamptz - interval '7 days')
  AND created_at < date_trunc('day', %(as_of)s::timestamptz - interval '6 days');

-- name: cleanup
CALL wheels.run_job('cleanup');

-- name: partitions
SELECT wheels.partitions(%(as_of)s) AS result;

-- name: maintenance_reminders
SELECT wheels.maintenance_reminders(%(as_of)s) AS result;

-- name: maintenance_reminders_next_hour
-- The next hourly run: the owners whose local midnight came in the hour (one zone of 24).
SELECT wheels.maintenance_reminders(%(as_of)s::timestamptz + interval '1 hour') AS result;

-- name: maintenance_reminders_next_day
-- A run a day later (after a day without runs): every zone's date turned.
SELECT wheels.maintenance_reminders(%(as_of)s::timestamptz + interval '1 day') AS result;

-- name: fuel_consumption
SELECT wheels.fuel_consumption() AS result;

-- name: fuel_measure_all
-- What install does: the next fuel_consumption measures every vehicle.
INSERT INTO wheels.fuel_changes (user_id) VALUES (NULL);

-- name: new_fills
-- A day's fills, written through the triggers: one more full tank, 500 km on,
-- for %(changes)s vehicles.
INSERT INTO fuel_logs (vehicle_id, liters, odometer_km, full_tank, filled_at)
SELECT v.id, 40, 12500, true, %(as_of)s::timestamptz - interval '1 hour'
FROM (SELECT id FROM vehicles ORDER BY random() LIMIT %(changes)s) v;

-- name: forget_ledger
-- Every intent decided so far goes: the first runs are measured from nothing decided.
TRUNCATE wheels.email_ledger CASCADE;
DELETE FROM pgmq.q_email_intents;

-- name: backend_peak
-- This backend's peak resident memory (VmHWM, kB; shared buffers it touched included).
SELECT pg_backend_pid() AS pid;

-- name: cache_state
-- The budget state's pages into shared buffers, where the hourly folds keep
-- them in a steady state (pg_prewarm ships with PostgreSQL).
CREATE EXTENSION IF NOT EXISTS pg_prewarm;
SELECT pg_prewarm(r) FROM unnest(ARRAY['wheels.spending_months', 'wheels.spending_months_pkey', 'wheels.spending_days',
                                       'wheels.spending_days_pkey']::regclass[]) r;
