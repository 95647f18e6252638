-- Named queries of the web service (`cli.py web`). Loaded by
-- wheels_jobs.queries.load("web"); web/store.py is their only caller.
-- In production they run as wheels_web (sql/0003_web.sql).

-- name: health
-- GET /healthz: the database answers.
SELECT 1 AS ok;

-- name: preferences
-- A user's switches as the source says (the app's own settings); no rows: no such user.
SELECT preference_kind, enabled FROM wheels.email_preferences(%(user_id)s::uuid);

-- name: save_preferences
-- Set several switches of one user at once (unsubscribe is one kind set to
-- false), in the app's own settings through the source contract.
SELECT wheels.save_email_preferences(%(user_id)s::uuid, %(kinds)s::text[], %(enabled)s::boolean[]) AS known;

-- name: record_event
-- One verified webhook event, once per svix_id, tied to its intent when the
-- sender knows the provider id; its addresses suppressed when it says never
-- to mail them again (suppress_reason not null). A redelivery inserts nothing
-- and suppresses nothing.
WITH event AS (
    INSERT INTO wheels.delivery_events (svix_id, type, provider_message_id, recipient, intent_id, occurred_at, payload)
    SELECT %(svix_id)s::text, %(type)s::text, %(provider_message_id)s::text, lower((%(recipients)s::text[])[1]),
           (SELECT d.intent_id FROM wheels.deliveries d
            WHERE d.provider_message_id = %(provider_message_id)s::text
            ORDER BY d.intent_id LIMIT 1),
           %(occurred_at)s::timestamptz, %(payload)s::jsonb
    ON CONFLICT (svix_id) DO NOTHING
    RETURNING id
),
suppressed AS (
    INSERT INTO wheels.suppressions (email, reason)
    SELECT DISTINCT lower(r.email), %(suppress_reason)s::text
    FROM unnest(%(recipients)s::text[]) AS r (email)
    WHERE %(suppress_reason)s::text IS NOT NULL AND EXISTS (SELECT 1 FROM event)
    ON CONFLICT (email) DO NOTHING
    RETURNING email
)
SELECT (SELECT count(*) FROM event) AS recorded, (SELECT count(*) FROM suppressed) AS suppressed;

-- name: dashboard_hours
-- /dashboard: the last 48 complete UTC hours of wheels.pam_hourly, one row per
-- hour (NULLs where the hour has no row), labelled in UTC whatever the session's
-- TimeZone. Primary-key range scan; never the raw log.
SELECT h.hour AT TIME ZONE 'UTC' AS hour, s.messages, s.responses, s.success_rate,
       s.response_time_p50_ms AS p50_ms, s.response_time_p95_ms AS p95_ms, s.response_time_p99_ms AS p99_ms
FROM generate_series(date_trunc('hour', now(), 'UTC') - interval '48 hours',
                     date_trunc('hour', now(), 'UTC') - interval '1 hour', interval '1 hour') AS h (hour)
LEFT JOIN wheels.pam_hourly s ON s.hour = h.hour
ORDER BY h.hour;

-- name: dashboard_days
-- /dashboard: the last 14 complete UTC days of wheels.pam_daily with their
-- events per intent ({} where the day has no row).
SELECT d.day::date AS day, a.messages, a.distinct_users, coalesce(a.intents, '{}') AS intents
FROM generate_series((now() AT TIME ZONE 'UTC')::date - 14, (now() AT TIME ZONE 'UTC')::date - 1,
                     interval '1 day') AS d (day)
LEFT JOIN wheels.pam_daily a ON a.day = d.day::date
ORDER BY d.day;

-- name: dashboard_emails
-- /dashboard: emails sent, dead-lettered and suppressed per UTC day and kind,
-- the last 14 days including today (counts only: wheels.email_outcomes).
SELECT day, kind, sent, dead_lettered, suppressed
FROM wheels.email_outcomes((now() AT TIME ZONE 'UTC')::date - 13, (now() AT TIME ZONE 'UTC')::date + 1);

-- name: dashboard_suppressions
-- /dashboard: addresses suppressed per UTC day and reason, same 14 days (counts only).
SELECT day, reason, addresses
FROM wheels.suppressions_added((now() AT TIME ZONE 'UTC')::date - 13, (now() AT TIME ZONE 'UTC')::date + 1);

-- name: dashboard_queue
-- /dashboard: the email_intents queue now (counts and ages only).
SELECT queue_length, visible, in_flight, oldest_age_s, max_read_ct, archived_24h FROM wheels.queue_health();

-- name: dashboard_jobs
-- /dashboard: each job's last run and last failure from our run log, whoever
-- ran it (wheels.job_health: no personal data).
SELECT job, schedule, last_start, last_outcome, last_failure_at, running_since FROM wheels.job_health();

-- name: dashboard_success
-- /dashboard: the activation guide's success metrics since the activation
-- (wheels.success_metrics: counts, rates and the words to show them).
SELECT metric, label, checkpoint, due_at, value, target, status, shown, target_shown, note, since
FROM wheels.success_metrics();

-- name: dashboard_engagement
-- /dashboard: opens and clicks per ISO week and kind, this week and the 7
-- before (UTC), for emails sent through the provider (wheels.engagement).
SELECT week, kind, sent, delivered, unique_opens, unique_clicks, open_rate, click_rate
FROM wheels.engagement(date_trunc('week', now(), 'UTC') - interval '7 weeks', now());

-- name: email_kinds
-- Checked against wheels_core/kinds.py when the service starts.
SELECT kind, preference_kind FROM wheels.email_kinds ORDER BY kind;
