-- Named queries of bench/scale.py --source supabase-wheels: the same data as
-- scale.sql's, in the wheels app's own tables on the Supabase-shaped test
-- database (tests/supabase/app.sql: no index of ours on them). Queries not
-- here are scale.sql's.

-- name: users
-- Sign-ups (auth.users) with their settings: the zone, as in scale.sql.
WITH signed_up AS (
    INSERT INTO auth.users (id, email, raw_user_meta_data, aud, role)
    SELECT gen_random_uuid(), 'user' || i || '@example.com', jsonb_build_object('full_name', 'User ' || i),
           'authenticated', 'authenticated'
    FROM generate_series(%(lo)s + 1, %(hi)s) i
    RETURNING id, email
)
INSERT INTO public.user_settings (user_id, regional_preferences)
SELECT s.id, jsonb_build_object('currency', 'AUD', 'units', 'metric', 'timezone',
       (ARRAY['Pacific/Pago_Pago', 'Pacific/Honolulu', 'America/Anchorage', 'America/Los_Angeles', 'America/Denver',
              'America/Chicago', 'America/New_York', 'America/Halifax', 'America/Sao_Paulo', 'Atlantic/South_Georgia',
              'Atlantic/Cape_Verde', 'UTC', 'Europe/Berlin', 'Africa/Cairo', 'Europe/Moscow', 'Asia/Dubai',
              'Asia/Karachi', 'Asia/Dhaka', 'Asia/Bangkok', 'Australia/Perth', 'Asia/Tokyo', 'Australia/Brisbane',
              'Australia/Sydney', 'Pacific/Fiji'])[1 + substring(s.email FROM '^user(\d+)@')::int %% 24])
FROM signed_up s;

-- name: budgets
INSERT INTO public.budgets (user_id, category, monthly_limit, alert_threshold)
SELECT u.id, c.name, 300 + (random() * 1200)::int, 80
FROM auth.users u
CROSS JOIN unnest(ARRAY['Fuel', 'Food', 'Camping', 'Repairs', 'Fun']) c (name)
WHERE substring(u.email FROM '^user(\d+)@')::int > %(lo)s;

-- name: expenses
INSERT INTO public.expenses (user_id, amount, category, date)
SELECT user_id, amount, category, day FROM (
    SELECT b.user_id, round((1 + random() * 39)::numeric, 2) AS amount, b.category,
           (date_trunc('month', %(as_of)s::timestamptz) + random() * (%(as_of)s::timestamptz - date_trunc('month', %(as_of)s::timestamptz)))::date AS day
    FROM public.budgets b
    JOIN auth.users u ON u.id = b.user_id
    CROSS JOIN generate_series(1, 6)
    WHERE substring(u.email FROM '^user(\d+)@')::int > %(lo)s) e
ORDER BY day;

-- name: vehicles
INSERT INTO public.vehicles (user_id, name, is_primary)
SELECT u.id, 'Van', true FROM auth.users u WHERE substring(u.email FROM '^user(\d+)@')::int > %(lo)s;

-- name: maintenance
INSERT INTO public.maintenance_records (user_id, task, next_due_date, status)
SELECT u.id, 'Service', %(as_of)s::date + (random() * 40 - 20)::int, 'pending'
FROM auth.users u WHERE substring(u.email FROM '^user(\d+)@')::int > %(lo)s;

-- name: fuel
INSERT INTO public.fuel_log (user_id, date, volume, odometer, filled_to_top)
SELECT u.id, %(as_of)s::date - (5 - n) * 6, 35 + random() * 10, 10000 + n * 500, true
FROM auth.users u CROSS JOIN generate_series(1, 4) n WHERE substring(u.email FROM '^user(\d+)@')::int > %(lo)s;

-- name: pam
INSERT INTO public.pam_analytics_logs (created_at, user_id, event_type, intent, response_time_ms, success)
SELECT at, user_id, event_type, intent, response_time_ms, success FROM (
    SELECT %(as_of)s::timestamptz - random() * interval '7 days' AS at, u.id AS user_id,
           CASE WHEN n %% 2 = 0 THEN 'user_message' ELSE 'pam_response' END AS event_type,
           CASE WHEN n %% 2 = 0 THEN (ARRAY['trip_planning', 'budget', 'fuel', 'weather', NULL])[1 + n %% 5] END AS intent,
           CASE WHEN n %% 2 = 1 THEN (120 + 60 * exp(4.5 * random() ^ 2))::int END AS response_time_ms,
           CASE WHEN n %% 2 = 1 THEN random() > 0.02 END AS success
    FROM auth.users u CROSS JOIN generate_series(1, 17) n
    WHERE substring(u.email FROM '^user(\d+)@')::int > %(lo)s) e
ORDER BY at;

-- name: watermarks
SELECT 0 AS categories_before, 0 AS vehicles_before;

-- name: counts
SELECT (SELECT count(*) FROM auth.users) AS users, (SELECT count(*) FROM public.budgets) AS budgets,
       (SELECT count(*) FROM public.expenses) AS expenses, (SELECT count(*) FROM public.pam_analytics_logs) AS pam_events;

-- name: new_expenses
DO $$
DECLARE
    ids uuid[] := ARRAY(SELECT id FROM public.budgets ORDER BY random() LIMIT %(n)s);
    b uuid;
BEGIN
    FOREACH b IN ARRAY ids LOOP
        INSERT INTO public.expenses (user_id, amount, category, date)
        SELECT user_id, 12.5, category, (%(as_of)s::timestamptz - interval '30 minutes')::date FROM public.budgets WHERE id = b;
    END LOOP;
END
$$;

-- name: day_rows
SELECT count(*) AS n FROM wheels.pam_event_feed
WHERE occurred_at >= date_trunc('day', %(as_of)s::timestamptz - interval '7 days')
  AND occurred_at < date_trunc('day', %(as_of)s::timestamptz - interval '6 days');

-- name: retire_day
-- The feed's oldest loaded day (the app's own log is not partitioned): detached.
SELECT wheels.retire_day_partition('wheels.pam_event_feed', %(as_of)s::timestamptz + interval '90 days') AS result;

-- name: drop_retired_days
-- The days retire_day detached, their files freed.
SELECT wheels.drop_detached_days('wheels.pam_event_feed') AS result;

-- name: new_fills
-- A day's fills, written through the triggers: one more full tank, 500 on the
-- odometer, for %(changes)s users.
INSERT INTO public.fuel_log (user_id, date, volume, odometer, filled_to_top)
SELECT u.id, %(as_of)s::date, 40, 12500, true
FROM (SELECT id FROM auth.users ORDER BY random() LIMIT %(changes)s) u;

-- name: pam_feed
-- The bulk load ran without triggers: the new events into the PAM event feed,
-- as wheels_pam_events_insert copies each of the app's writes.
INSERT INTO wheels.pam_event_feed
SELECT e.*
FROM public.pam_analytics_logs l CROSS JOIN LATERAL wheels_source.pam_event_of(l) e
WHERE l.id > (SELECT coalesce(max(f.event_id), 0) FROM wheels.pam_event_feed f);

-- name: fuel_feed
-- The same for the fills: the new ones into wheels.fuel_fill_feed, as the
-- wheels_fuel_fills_* triggers copy each of the app's writes.
INSERT INTO wheels.fuel_fill_feed
SELECT c.*
FROM public.fuel_log f CROSS JOIN LATERAL wheels_source.fuel_fill_of(f) c
WHERE f.id > (SELECT coalesce(max(c.fill_id), 0) FROM wheels.fuel_fill_feed c);

-- name: new_pam_events
-- Single-row app writes of the PAM log (the feed's trigger's cost per write).
DO $$
DECLARE
    ids uuid[] := ARRAY(SELECT id FROM auth.users ORDER BY random() LIMIT %(n)s);
    u uuid;
BEGIN
    FOREACH u IN ARRAY ids LOOP
        INSERT INTO public.pam_analytics_logs (created_at, user_id, event_type, intent, response_time_ms, success)
        VALUES (%(as_of)s::timestamptz - interval '30 minutes', u, 'pam_response', NULL, 850, true);
    END LOOP;
END
$$;

-- name: busy_hour_floor
-- The floor: a plain GROUP BY with percentile_cont over the same hour's rows
-- as _pam_stats reads them (the feed; over the app's log, which has no index
-- on created_at, a GROUP BY of one hour reads the whole log).
SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS pct,
       count(*), date_trunc('hour', occurred_at) AS hour
FROM wheels.pam_event_feed
WHERE occurred_at >= %(hour)s AND occurred_at < %(hour)s::timestamptz + interval '1 hour'
GROUP BY 3;

-- name: busy_hour_floor_app_log
-- The same GROUP BY over the app's own log: what reading it cost each hour before the feed.
SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS pct,
       count(*), date_trunc('hour', created_at) AS hour
FROM public.pam_analytics_logs
WHERE created_at >= %(hour)s AND created_at < %(hour)s::timestamptz + interval '1 hour'
GROUP BY 3;
