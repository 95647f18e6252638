-- Queries of the Celery baseline's tasks (bench/celery_baseline/jobs.py), written
-- the way the replaced Celery tasks worked: fetch rows, decide in Python.

-- name: hour_events
-- Every PAM event of one hour; the task aggregates them in Python.
SELECT user_id, event_type, intent, response_time_ms, success
FROM pam_analytics_logs
WHERE created_at >= %(start)s AND created_at < %(end)s

-- name: upsert_summary
INSERT INTO wheels.pam_hourly (
    hour, messages, responses, distinct_users, successes, failures, success_rate,
    response_time_avg_ms, response_time_p50_ms, response_time_p95_ms, response_time_p99_ms,
    response_time_max_ms, intents, computed_at)
VALUES (%(hour)s, %(messages)s, %(responses)s, %(distinct_users)s, %(successes)s, %(failures)s,
        %(success_rate)s, %(response_time_avg_ms)s, %(response_time_p50_ms)s, %(response_time_p95_ms)s,
        %(response_time_p99_ms)s, %(response_time_max_ms)s, %(intents)s, clock_timestamp())
ON CONFLICT (hour) DO UPDATE SET
    messages = excluded.messages, responses = excluded.responses,
    distinct_users = excluded.distinct_users, successes = excluded.successes,
    failures = excluded.failures, success_rate = excluded.success_rate,
    response_time_avg_ms = excluded.response_time_avg_ms,
    response_time_p50_ms = excluded.response_time_p50_ms,
    response_time_p95_ms = excluded.response_time_p95_ms,
    response_time_p99_ms = excluded.response_time_p99_ms,
    response_time_max_ms = excluded.response_time_max_ms,
    intents = excluded.intents, computed_at = excluded.computed_at

-- name: budget_settings
SELECT wheels.setting('budget_warning_percent')::numeric AS warning_percent,
       wheels.setting('budget_over_percent')::numeric AS over_percent

-- name: budget_categories
-- Every category with its owner's time zone and address.
SELECT c.id, c.user_id, c.name, c.monthly_limit, p.timezone, p.email, p.full_name
FROM budget_categories c
JOIN profiles p ON p.id = c.user_id

-- name: window_expenses
-- Every expense that may fall in some user's current local month (the widest
-- window over all time zones); Python keeps the ones in each owner's month.
SELECT category_id, amount, spent_at
FROM expenses
WHERE spent_at >= %(start)s AND spent_at < %(end)s

-- name: opted_out_users
SELECT user_id FROM email_preferences WHERE kind = 'budget_alerts' AND NOT enabled

-- name: suppressed_addresses
SELECT email FROM wheels.suppressions

-- name: budget_ledger_keys
-- The budget facts already decided for these months.
SELECT kind, subject, period
FROM wheels.email_ledger
WHERE kind IN ('budget_warning', 'over_budget') AND period = ANY(%(months)s)

-- name: insert_ledger
-- One row per new fact; a concurrent run's row wins (no row back).
INSERT INTO wheels.email_ledger (kind, subject, period, user_id, recipient)
VALUES (%(kind)s, %(subject)s, %(period)s, %(user_id)s, %(recipient)s)
ON CONFLICT (kind, subject, period) DO NOTHING
RETURNING id
