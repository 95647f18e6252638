-- Named queries of bench/email_jobs.py: set-based data generation at scale and
-- the job calls it times. %(as_of)s is the benchmark's fixed "now".

-- name: load_mode
-- A bulk load into a throwaway database: skip FK checks and the welcome trigger
-- (replica role), which would otherwise cost a trigger call per row.
SET session_replication_role = replica;

-- name: normal_mode
-- The jobs are timed as they run in production: FK checks and triggers on.
RESET session_replication_role;

-- name: secondary_indexes
-- Built after the load (one sort each) instead of maintained row by row.
SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS definition
FROM pg_index
WHERE indrelid = ANY ('{expenses,pam_analytics_logs}'::regclass[]) AND NOT indisprimary;

-- name: profiles
-- Time zones from UTC-5 to UTC+11: at 12:00 UTC every user is past 07:00 local,
-- so one digest run has all of them due (the worst case).
INSERT INTO profiles (email, full_name, timezone)
SELECT 'user' || i || '@example.com', 'User ' || i,
       (ARRAY['America/New_York', 'America/Sao_Paulo', 'UTC', 'Europe/Berlin',
              'Asia/Kolkata', 'Asia/Kathmandu', 'Asia/Tokyo', 'Australia/Sydney'])[1 + i %% 8]
FROM generate_series(1, %(users)s) i;

-- name: categories
INSERT INTO budget_categories (user_id, name, monthly_limit)
SELECT p.id, c.name, 300 + (random() * 1200)::int
FROM profiles p
CROSS JOIN unnest(ARRAY['Fuel', 'Food', 'Camping', 'Repairs', 'Fun']) c (name);

-- name: expenses
-- Every expense in the current month up to as_of (all of them count against the
-- budget: the worst case), inserted in time order as an app would append them.
INSERT INTO expenses (user_id, category_id, amount, spent_at)
SELECT user_id, category_id, amount, spent_at
FROM (
    SELECT c.user_id, c.id AS category_id, round((1 + random() * 39)::numeric, 2) AS amount,
           date_trunc('month', %(as_of)s::timestamptz) + random() * (%(as_of)s::timestamptz - date_trunc('month', %(as_of)s::timestamptz)) AS spent_at
    FROM budget_categories c
    CROSS JOIN generate_series(1, %(per_category)s)) e
ORDER BY spent_at;

-- name: vehicles
INSERT INTO vehicles (user_id, name) SELECT id, 'Van' FROM profiles;

-- name: maintenance
-- One open task per user, due within 20 days either side of as_of.
INSERT INTO maintenance_records (user_id, vehicle_id, title, due_date)
SELECT v.user_id, v.id, 'Service', %(as_of)s::date + (random() * 40 - 20)::int FROM vehicles v;

-- name: pam_logs
-- 10 PAM messages and 10 responses per user over the two days before as_of.
INSERT INTO pam_analytics_logs (created_at, user_id, event_type, response_time_ms, success)
SELECT %(as_of)s::timestamptz - random() * interval '2 days', p.id, t.event_type, 500, true
FROM profiles p
CROSS JOIN generate_series(1, 10)
CROSS JOIN (VALUES ('message'), ('response')) t (event_type)
ORDER BY 1;

-- name: forget_runs
-- A kept cluster is re-measured from the same state: no intents decided yet.
TRUNCATE wheels.email_ledger CASCADE;
DELETE FROM pgmq.q_email_intents;

-- name: analyze_ledger
-- After a run that decided 100k+ intents, before the next one: autovacuum
-- analyzes the ledger within a minute, long before the next scheduled run.
ANALYZE wheels.email_ledger;

-- name: counts
SELECT (SELECT count(*) FROM profiles) AS users, (SELECT count(*) FROM budget_categories) AS categories,
       (SELECT count(*) FROM expenses) AS expenses, (SELECT count(*) FROM pam_analytics_logs) AS pam_logs,
       (SELECT count(*) FROM maintenance_records) AS maintenance_records;

-- name: budget_alerts
SELECT wheels.budget_alerts(%(as_of)s) AS result;

-- name: daily_digest
SELECT wheels.daily_digest(%(as_of)s) AS result;

-- name: auto_explain
-- EXPLAIN (ANALYZE, BUFFERS) of the statements inside the job functions, sent
-- to this session as NOTICEs.
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 10;  -- ms: skips per-row trigger and FK-check statements
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
