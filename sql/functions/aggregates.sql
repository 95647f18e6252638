-- Counts for the dashboard (/dashboard, run as wheels_web) and the daily
-- report, from tables that hold addresses: each function returns counts only,
-- so the web role gets EXECUTE on these and no SELECT on the tables
-- (sql/0003_web.sql). SECURITY DEFINER with a pinned search_path.
-- Days are UTC, like the rollups'.

-- Emails per UTC day and kind in [from_day, to_day): sent (by sent_at),
-- dead-lettered (wheels.dead_letters, poison messages under kind 'unknown')
-- and suppressed (skipped for an opt-out or a suppressed address). Range
-- scans of deliveries_sent_at_idx, deliveries_status_updated_at_idx and
-- dead_letters_created_at_idx.
CREATE OR REPLACE FUNCTION wheels.email_outcomes(from_day date, to_day date)
RETURNS TABLE (day date, kind text, sent int, dead_lettered int, suppressed int)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET timezone = 'UTC'
AS $$
    SELECT e.day, e.kind,
           count(*) FILTER (WHERE e.outcome = 'sent')::int,
           count(*) FILTER (WHERE e.outcome = 'dead')::int,
           count(*) FILTER (WHERE e.outcome = 'suppressed')::int
    FROM (
        SELECT d.sent_at::date AS day, coalesce(d.kind, 'unknown') AS kind, 'sent' AS outcome
        FROM wheels.deliveries d
        WHERE d.status = 'sent' AND d.sent_at >= from_day AND d.sent_at < to_day
        UNION ALL
        SELECT d.updated_at::date, coalesce(d.kind, 'unknown'), 'suppressed'
        FROM wheels.deliveries d
        WHERE d.status = 'suppressed' AND d.updated_at >= from_day AND d.updated_at < to_day
        UNION ALL
        SELECT l.created_at::date, coalesce(l.kind, 'unknown'), 'dead'
        FROM wheels.dead_letters l
        WHERE l.created_at >= from_day AND l.created_at < to_day
    ) e
    GROUP BY e.day, e.kind
    ORDER BY e.day, e.kind
$$;
REVOKE EXECUTE ON FUNCTION wheels.email_outcomes(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wheels.email_outcomes(date, date) TO wheels_web;

-- Addresses added to wheels.suppressions per UTC day in [from_day, to_day), by
-- the reason's first word (bounce, complaint, suppressed, ...). A full read of
-- a table of a few thousand rows at most: one per bad address.
CREATE OR REPLACE FUNCTION wheels.suppressions_added(from_day date, to_day date)
RETURNS TABLE (day date, reason text, addresses int)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET timezone = 'UTC'
AS $$
    SELECT s.created_at::date, split_part(split_part(s.reason, ':', 1), ' ', 1), count(*)::int
    FROM wheels.suppressions s
    WHERE s.created_at >= from_day AND s.created_at < to_day
    GROUP BY 1, 2
    ORDER BY 1, 2
$$;
REVOKE EXECUTE ON FUNCTION wheels.suppressions_added(date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wheels.suppressions_added(date, date) TO wheels_web;

-- The email_intents queue now: messages waiting, how many a sender could read
-- now (the rest are in flight under a visibility timeout), the oldest one's age,
-- the most reads of one message (a poison message keeps growing it), and
-- messages archived (done) in the last 24 hours. The same numbers as
-- pgmq.metrics plus in-flight, without granting the queue table itself.
CREATE OR REPLACE FUNCTION wheels.queue_health()
RETURNS TABLE (queue_length int, visible int, in_flight int, oldest_age_s int, max_read_ct int, archived_24h int)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*)::int,
           count(*) FILTER (WHERE q.vt <= now())::int,
           count(*) FILTER (WHERE q.vt > now())::int,
           extract(epoch FROM now() - min(q.enqueued_at))::int,
           coalesce(max(q.read_ct), 0)::int,
           (SELECT count(*)::int FROM pgmq.a_email_intents a WHERE a.archived_at >= now() - interval '24 hours')
    FROM pgmq.q_email_intents q
$$;
REVOKE EXECUTE ON FUNCTION wheels.queue_health() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wheels.queue_health() TO wheels_web;

-- Each job's health from our run log (wheels.job_runs), whoever ran it: its
-- schedule, the newest finished run (when, by whom, outcome, duration, result
-- line), a run going on now, the newest failure and the failures of the last
-- 24 hours. Plus 'welcome' (the sign-up trigger) once it has failed. The
-- dashboard reads this as wheels_web, wherever pg_cron lives; `cli.py status`
-- and `jobs list` add whether pg_cron has the job scheduled.
CREATE OR REPLACE FUNCTION wheels.job_health()
RETURNS TABLE (job text, schedule text, time_limit interval, last_start timestamptz, last_runner text,
               last_outcome text, last_duration_s float8, last_result text, running_since timestamptz,
               last_failure_at timestamptz, last_failure text, failures_24h int)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT j.job, j.schedule, j.time_limit, last.started_at, last.runner, last.outcome,
           extract(epoch FROM last.finished_at - last.started_at)::float8, last.result, running.started_at,
           failed.started_at, failed.result,
           (SELECT count(*) FROM wheels.job_runs r
            WHERE r.job = j.job AND r.outcome = 'failed' AND r.started_at > now() - interval '24 hours')::int
    FROM (SELECT jobs.job, jobs.schedule, jobs.time_limit FROM wheels.jobs
          UNION ALL
          SELECT 'welcome', 'on sign-up', NULL WHERE EXISTS (SELECT 1 FROM wheels.job_runs r WHERE r.job = 'welcome')) j
    LEFT JOIN LATERAL (  -- job_runs_job_started_at_idx, newest first
        SELECT r.started_at, r.finished_at, r.runner, r.outcome, r.result FROM wheels.job_runs r
        WHERE r.job = j.job AND r.outcome <> 'running' ORDER BY r.started_at DESC LIMIT 1) last ON true
    LEFT JOIN LATERAL (
        SELECT r.started_at FROM wheels.job_runs r
        WHERE r.job = j.job AND r.outcome = 'running' ORDER BY r.started_at DESC LIMIT 1) running ON true
    LEFT JOIN LATERAL (
        SELECT r.started_at, r.result FROM wheels.job_runs r
        WHERE r.job = j.job AND r.outcome = 'failed' ORDER BY r.started_at DESC LIMIT 1) failed ON true
    ORDER BY j.job
$$;
REVOKE EXECUTE ON FUNCTION wheels.job_health() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wheels.job_health() TO wheels_web;

-- Email engagement per ISO week (Monday, UTC) of sending and kind, for emails
-- the provider sent in [from_at, to_at) (the outbox has no opens or clicks):
-- sent; delivered (a delivered, opened or clicked event: an opened email was
-- delivered even if its delivered event is missing); opens and clicks (every
-- event) and unique ones (emails with at least one); and the unique open and
-- click rates of the delivered. Unique is per email (the provider's message
-- id): one email is one recipient. Counts only: the events keep no address or
-- clicked URL (web/webhooks.py). A range scan of deliveries_sent_at_idx, then
-- each email's events by delivery_events_provider_message_id_idx (0006).
CREATE OR REPLACE FUNCTION wheels.engagement(from_at timestamptz, to_at timestamptz)
RETURNS TABLE (week date, kind text, sent int, delivered int, opens int, unique_opens int, clicks int,
               unique_clicks int, open_rate numeric, click_rate numeric)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET timezone = 'UTC'
AS $$
    WITH sent AS (
        SELECT d.provider_message_id, coalesce(d.kind, 'unknown') AS kind, date_trunc('week', d.sent_at)::date AS week
        FROM wheels.deliveries d
        WHERE d.status = 'sent' AND d.sent_at >= from_at AND d.sent_at < to_at
          AND NOT starts_with(d.provider_message_id, 'outbox:')
    ), per_email AS (
        SELECT s.week, s.kind, count(e.type) > 0 AS delivered,
               count(*) FILTER (WHERE e.type = 'email.opened') AS opens,
               count(*) FILTER (WHERE e.type = 'email.clicked') AS clicks
        FROM sent s
        LEFT JOIN wheels.delivery_events e
          ON e.provider_message_id = s.provider_message_id AND e.received_at >= from_at
         AND e.type IN ('email.delivered', 'email.opened', 'email.clicked')
        GROUP BY s.week, s.kind, s.provider_message_id
    )
    SELECT t.week, t.kind, t.sent, t.delivered, t.opens, t.unique_opens, t.clicks, t.unique_clicks,
           round(t.unique_opens::numeric / nullif(t.delivered, 0), 4),
           round(t.unique_clicks::numeric / nullif(t.delivered, 0), 4)
    FROM (SELECT p.week, p.kind, count(*)::int AS sent, count(*) FILTER (WHERE p.delivered)::int AS delivered,
                 sum(p.opens)::int AS opens, count(*) FILTER (WHERE p.opens > 0)::int AS unique_opens,
                 sum(p.clicks)::int AS clicks, count(*) FILTER (WHERE p.clicks > 0)::int AS unique_clicks
          FROM per_email p
          GROUP BY p.week, p.kind) t
    ORDER BY t.week, t.kind
$$;
REVOKE EXECUTE ON FUNCTION wheels.engagement(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wheels.engagement(timestamptz, timestamptz) TO wheels_web;
