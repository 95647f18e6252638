-- Named queries that load the demo data set (`cli.py demo`). Set-based and
-- seeded, so the data set is the same shape every time; loaded once per
-- database (demo users are recognised by their example.com addresses).

-- name: migrated
-- The demo needs wheels-jobs (this version's schema) and the demo source installed.
SELECT to_regclass('wheels.activation') IS NOT NULL AND to_regclass('public.profiles') IS NOT NULL AS migrated;

-- name: demo_loaded
SELECT EXISTS (SELECT 1 FROM profiles WHERE email ~ '^demo-[0-9]+@example[.]com$') AS loaded;

-- name: seed
-- A fixed seed: the same data set every time. The user count travels as a
-- transaction-local setting so the other statements need no parameters.
SELECT setseed(0.42), set_config('wheels.demo_users', %(users)s::text, true);

-- name: profiles
-- 200 users across Australian, American and European time zones, each with
-- the currency and units of where they live. The demo source's welcome
-- trigger enqueues one welcome intent per row.
INSERT INTO profiles (email, full_name, timezone, currency, units, created_at)
SELECT format('demo-%s@example.com', n),
       (ARRAY['Ana', 'Ben', 'Chloe', 'Dev', 'Emma', 'Finn', 'Grace', 'Hiro', 'Isla', 'Jack'])[1 + n % 10]
         || ' ' || (ARRAY['Nguyen', 'Smith', 'Garcia', 'Müller', 'Rossi', 'Kelly', 'Brown', 'Tanaka'])[1 + n % 8],
       z.zone, z.currency, z.units,
       now() - interval '40 days'
FROM generate_series(1, current_setting('wheels.demo_users')::int) AS n
JOIN (VALUES (0, 'Australia/Sydney', 'AUD', 'metric'), (1, 'Australia/Perth', 'AUD', 'metric'),
             (2, 'Australia/Brisbane', 'AUD', 'metric'), (3, 'Australia/Adelaide', 'AUD', 'metric'),
             (4, 'America/New_York', 'USD', 'imperial'), (5, 'America/Chicago', 'USD', 'imperial'),
             (6, 'America/Los_Angeles', 'USD', 'imperial'), (7, 'Europe/London', 'GBP', 'metric'),
             (8, 'Europe/Berlin', 'EUR', 'metric'), (9, 'Europe/Madrid', 'EUR', 'metric'))
     AS z (slot, zone, currency, units) ON z.slot = n % 10
ON CONFLICT (email) DO NOTHING;

-- name: budget_categories
-- Four budgets each; Camping warns at 90% of its limit instead of the default 80%.
INSERT INTO budget_categories (user_id, name, monthly_limit, alert_threshold)
SELECT p.id, c.name, c.monthly_limit, c.alert_threshold
FROM profiles p
CROSS JOIN (VALUES ('Fuel', 400.00, NULL), ('Groceries', 600.00, NULL), ('Camping', 250.00, 90.0),
                   ('Repairs', 300.00, NULL)) AS c (name, monthly_limit, alert_threshold)
WHERE p.email ~ '^demo-[0-9]+@example[.]com$';

-- name: expenses
-- About 30 expenses per category in each user's current LOCAL month (from its
-- first moment to now), so budget_alerts, which sums the local month, finds
-- users past 80% and 100% on any date, the 1st included; plus two on the
-- user's local yesterday, which the digest reports (on the 1st that is last
-- month). Each category gets a spending level between 40% and 125% of its
-- limit. (random() sits in a CTE's select list: a LATERAL subquery without
-- outer references would be evaluated once for all rows.)
WITH levels AS (
    SELECT c.id, c.user_id, c.name, c.monthly_limit, 0.4 + random() * 0.85 AS level,
           date_trunc('month', now() AT TIME ZONE p.timezone) AT TIME ZONE p.timezone AS month_starts,
           date_trunc('day', now() AT TIME ZONE p.timezone) AT TIME ZONE p.timezone AS today_starts
    FROM budget_categories c
    JOIN profiles p ON p.id = c.user_id AND p.email ~ '^demo-[0-9]+@example[.]com$'
), spread AS (
    SELECT l.*, n <= 30 AS this_month FROM levels l CROSS JOIN generate_series(1, 32) AS n
)
INSERT INTO expenses (user_id, category_id, amount, description, spent_at)
SELECT s.user_id, s.id,
       round((s.monthly_limit * s.level / 30 * (0.5 + random()))::numeric, 2),
       s.name || ' purchase',
       CASE WHEN s.this_month THEN s.month_starts + random() * (now() - s.month_starts)
            ELSE s.today_starts - random() * interval '1 day' END
FROM spread s;

-- name: vehicles
INSERT INTO vehicles (user_id, name, make, model, year)
SELECT p.id,
       (ARRAY['Troopy', 'The Van', 'Old Faithful', 'Road Runner'])[1 + (row_number() OVER ()) % 4],
       (ARRAY['Toyota', 'Ford', 'Mitsubishi', 'Nissan'])[1 + (row_number() OVER ()) % 4],
       (ARRAY['LandCruiser', 'Transit', 'Pajero', 'Patrol'])[1 + (row_number() OVER ()) % 4],
       2005 + (row_number() OVER ())::int % 18
FROM profiles p
WHERE p.email ~ '^demo-[0-9]+@example[.]com$';

-- name: fuel_logs
-- Six fills a month per vehicle, 400-700 km apart, 9-15 L/100 km; every
-- fourth fill a top-up that does not fill the tank (consumption is measured
-- between full tanks, top-ups included).
WITH legs AS (
    SELECT v.id AS vehicle_id, fill, 400 + random() * 300 AS leg_km, 9 + random() * 6 AS l_per_100km
    FROM vehicles v
    JOIN profiles p ON p.id = v.user_id AND p.email ~ '^demo-[0-9]+@example[.]com$'
    CROSS JOIN generate_series(0, 5) AS fill
)
INSERT INTO fuel_logs (vehicle_id, liters, odometer_km, full_tank, filled_at)
SELECT vehicle_id,
       round((leg_km * l_per_100km / 100)::numeric, 2),
       round((120000 + vehicle_id * 10 + sum(leg_km) OVER (PARTITION BY vehicle_id ORDER BY fill))::numeric, 1),
       fill % 4 <> 3,
       now() - interval '30 days' + fill * interval '5 days'
FROM legs;

-- name: maintenance_records
-- Per vehicle, counted from the owner's LOCAL today: one task due within the
-- week, one overdue, one next month, one done.
INSERT INTO maintenance_records (user_id, vehicle_id, title, due_date, completed_at)
SELECT v.user_id, v.id, t.title, (now() AT TIME ZONE p.timezone)::date + t.due_in_days, t.completed
FROM vehicles v
JOIN profiles p ON p.id = v.user_id AND p.email ~ '^demo-[0-9]+@example[.]com$'
CROSS JOIN LATERAL (VALUES
    ('Oil change', 1 + (v.id % 6)::int, NULL::timestamptz),
    ('Tyre rotation', -1 - (v.id % 5)::int, NULL),
    ('Brake inspection', 20 + (v.id % 10)::int, NULL),
    ('Air filter', -10, now() - interval '12 days')
) AS t (title, due_in_days, completed);

-- name: pam_analytics_logs
-- A week of PAM chat: per user ~6 messages a day, each answered, with intents,
-- response times (mostly 300-2500 ms, a slow tail) and about 3% failures.
WITH messages AS (
    SELECT p.id AS user_id,
           now() - random() * interval '7 days' AS at,
           (ARRAY['trip_planning', 'budget_query', 'weather', 'fuel_prices', 'maintenance', 'campsites', 'general'])
             [1 + floor(random() * 7)::int] AS intent,
           (300 + random() * 2200 + CASE WHEN random() < 0.05 THEN random() * 8000 ELSE 0 END)::int AS ms,
           random() >= 0.03 AS ok
    FROM profiles p
    CROSS JOIN generate_series(1, 42)
    WHERE p.email ~ '^demo-[0-9]+@example[.]com$'
)
INSERT INTO pam_analytics_logs (created_at, user_id, event_type, intent, response_time_ms, success, error)
SELECT at, user_id, 'message', intent, NULL, NULL, NULL FROM messages
UNION ALL
SELECT at + make_interval(secs => ms / 1000.0), user_id, 'response', intent, ms, ok,
       CASE WHEN NOT ok THEN 'upstream model timeout' END
FROM messages;

-- name: activation
-- The demo's history starts a week ago (its PAM chat): the success metrics
-- count from just before it, as if wheels-jobs had gone live then, so their
-- panel shows the demo (`cli.py activation --set` moves it).
UPDATE wheels.activation SET activated_at = date_trunc('hour', now()) - interval '8 days', changed_at = now();

-- name: admin_emails
-- A made-up team address, unless one is set, so the daily report (with its
-- success metrics) is among the demo's emails too.
UPDATE wheels.settings SET value = 'ops@example.com' WHERE name = 'admin_emails' AND value = '';

-- name: sent_by_kind
-- The demo summary: emails the sender delivered, per kind.
SELECT kind, count(*) AS sent FROM wheels.deliveries WHERE status = 'sent' GROUP BY kind ORDER BY kind;

-- name: success
-- The demo summary: the success metrics since the activation.
SELECT metric, label, checkpoint, status, shown, target_shown, note, since FROM wheels.success_metrics();

-- name: sample_sent_intents
-- One delivered intent per kind (its archived queue message), to show subjects.
SELECT DISTINCT ON (d.kind) a.message
FROM wheels.deliveries d
JOIN pgmq.a_email_intents a ON a.msg_id = d.msg_id
WHERE d.status = 'sent'
ORDER BY d.kind, d.intent_id;

-- name: last_day_analytics
-- The newest day analytics_daily rolled up.
SELECT day, messages, success_rate, response_time_p95_ms FROM wheels.pam_daily ORDER BY day DESC LIMIT 1;
