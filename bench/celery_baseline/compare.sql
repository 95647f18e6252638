-- Queries of the side-by-side benchmark's driver (bench/celery_compare.py):
-- set-based generation of the shared data, resets between runs, the wheels-jobs
-- side's job calls. Generation runs with session_replication_role = replica so
-- the welcome trigger does not enqueue 100k welcomes.

-- name: generate_events
-- rows_per_hour PAM events per hour for `hours` hours from `start`, evenly spaced
-- (so each hour holds exactly rows_per_hour): half messages with an intent
-- (1 in 7 without), half responses with a skewed response time and 97 per cent success,
-- from 5,000 users.
INSERT INTO pam_analytics_logs (created_at, user_id, event_type, intent, response_time_ms, success)
SELECT %(start)s::timestamptz + g * interval '1 hour' / %(rows_per_hour)s,
       md5('user' || (g * 7919) %% 5000)::uuid,
       CASE WHEN g %% 2 = 0 THEN 'message' ELSE 'response' END,
       CASE WHEN g %% 2 = 0 AND g %% 7 <> 0
            THEN (ARRAY['trip_planning', 'budget', 'fuel', 'maintenance', 'weather', 'camping', 'general'])[1 + (g / 2) %% 7]
       END,
       CASE WHEN g %% 2 = 1 THEN (50 + random() * random() * 4000)::int END,
       CASE WHEN g %% 2 = 1 THEN random() < 0.97 END
FROM generate_series(0::bigint, %(rows_per_hour)s::bigint * %(hours)s - 1) AS g

-- name: generate_users
INSERT INTO profiles (email, full_name, timezone)
SELECT 'user' || g || '@bench.test', 'User ' || g,
       (ARRAY['Australia/Sydney', 'Australia/Perth', 'America/New_York', 'Europe/Berlin', 'UTC'])[1 + g %% 5]
FROM generate_series(1, %(users)s) AS g

-- name: generate_categories
INSERT INTO budget_categories (user_id, name, monthly_limit)
SELECT p.id, n.name, 500 FROM profiles p CROSS JOIN (VALUES ('Fuel'), ('Food')) AS n(name)

-- name: generate_expenses
-- `per_category` expenses in the current month of every category, bigger ones for
-- one category in ten (so about 5 per cent of categories pass 80 per cent), plus one in the
-- previous month that no alert may count.
INSERT INTO expenses (user_id, category_id, amount, spent_at)
SELECT c.user_id, c.id,
       round((random() * CASE WHEN c.id %% 10 = 0 THEN 260 ELSE 150 END)::numeric, 2),
       %(month_start)s::timestamptz + interval '1 day'
           + random() * (%(as_of)s::timestamptz - %(month_start)s::timestamptz - interval '2 days')
FROM budget_categories c CROSS JOIN generate_series(1, %(per_category)s)
UNION ALL
SELECT c.user_id, c.id, 300, %(month_start)s::timestamptz - interval '5 days'
FROM budget_categories c

-- name: sql_hourly
SELECT wheels.analytics_hourly(%(recompute_hours)s, %(as_of)s) AS result

-- name: set_rollup_state
INSERT INTO wheels.rollup_state (rollup, rolled_up_to) VALUES ('analytics_hourly', %(upto)s)
ON CONFLICT (rollup) DO UPDATE SET rolled_up_to = excluded.rolled_up_to

-- name: reset_rollups
TRUNCATE wheels.pam_hourly, wheels.rollup_state

-- name: summary_rows
-- The measures both rollups compute: analytics_hourly also keeps each hour's
-- response-time histogram (for analytics_daily, sql/0014), which the Celery task
-- body never had.
SELECT hour, messages, responses, distinct_users, successes, failures, success_rate,
       response_time_avg_ms, response_time_p50_ms, response_time_p95_ms, response_time_p99_ms,
       response_time_max_ms, intents, computed_at
FROM wheels.pam_hourly ORDER BY hour

-- name: sql_budget
SELECT wheels.budget_alerts(%(as_of)s) AS result

-- name: ledger_kinds
SELECT kind, count(*) AS n FROM wheels.email_ledger GROUP BY kind ORDER BY kind

-- name: reset_emails
TRUNCATE wheels.email_ledger, wheels.send_batches, wheels.deliveries, wheels.dead_letters, pgmq.a_email_intents CASCADE

-- name: purge_queue
SELECT pgmq.purge_queue('email_intents')

-- name: enqueue_welcomes
-- n welcome intents (ledger rows + queue messages) in one statement, as the
-- welcome trigger enqueues a bulk sign-up; their intent ids.
WITH ledger AS (
    INSERT INTO wheels.email_ledger (kind, subject, period, recipient)
    SELECT 'welcome', %(prefix)s || g, '', %(prefix)s || g || '@example.com'
    FROM generate_series(1, %(n)s) AS g
    RETURNING id, recipient
), sent AS (
    SELECT pgmq.send_batch('email_intents', array_agg(jsonb_build_object(
        'v', 1, 'kind', 'welcome', 'intent_id', id, 'user_id', NULL, 'to', recipient,
        'name', 'User ' || id, 'data', '{}'::jsonb) ORDER BY id))
    FROM ledger
)
SELECT id FROM ledger, (SELECT count(*) FROM sent) AS s ORDER BY id

-- name: backends
SELECT pid FROM pg_stat_activity WHERE application_name = %(name)s

-- name: vacuum_emails
VACUUM ANALYZE pgmq.q_email_intents, pgmq.a_email_intents, wheels.email_ledger,
    wheels.deliveries, wheels.send_batches

-- name: queue_length
SELECT count(*) AS n FROM pgmq.q_email_intents
