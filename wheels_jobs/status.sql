-- Named queries of `cli.py status` (the operator's health check), run in the
-- app database as the operator. Loaded by wheels_jobs.status, their only caller.
-- Thresholds come from wheels.settings (sql/0001_wheels.sql).

-- name: queues
-- Our intent queue (the database may hold the app's own pgmq queues: not
-- ours to watch): depth, visible (readable now) vs in flight (read by a
-- sender, or delayed by a backoff), the oldest message's age.
SELECT 'email_intents' AS queue, queue_length AS depth, visible, in_flight, oldest_age_s
FROM wheels.queue_health();

-- name: overview
-- One row: the intent queue's oldest visible message, dead letters, emails
-- the provider sent today and this month (UTC) with its quotas (emails written
-- to the outbox folder count apart: no quota), the thresholds, and whether the
-- senders are holding back (provider down, quota pause). The month's
-- sent deliveries come from deliveries_sent_at_idx (sql/0002_sender.sql).
SELECT
    (SELECT extract(epoch FROM now() - min(enqueued_at))::float8
     FROM pgmq.q_email_intents WHERE vt <= now()) AS oldest_visible_age_s,
    (SELECT count(*) FROM wheels.dead_letters) AS dead_letters,
    (SELECT min(created_at) FROM wheels.dead_letters) AS oldest_dead_letter_at,
    sent.today AS sent_today, sent.month AS sent_month, sent.outbox_today,
    wheels.setting('email_quota_daily')::int AS quota_daily,
    wheels.setting('email_quota_monthly')::int AS quota_monthly,
    wheels.setting('email_quota_warn_percent')::numeric AS quota_warn_percent,
    wheels.setting('queue_stuck_minutes')::numeric AS queue_stuck_minutes,
    wheels.setting('sender_seen_minutes')::numeric AS sender_seen_minutes,
    throttle.*
FROM (
    SELECT count(*) FILTER (WHERE NOT outbox AND sent_at >= today) AS today,
           count(*) FILTER (WHERE NOT outbox) AS month,
           count(*) FILTER (WHERE outbox AND sent_at >= today) AS outbox_today
    FROM (SELECT sent_at, starts_with(provider_message_id, 'outbox:') AS outbox,
                 date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS today
          FROM wheels.deliveries
          WHERE status = 'sent' AND sent_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS d
) AS sent,
-- The senders' shared state (sql/0007_provider_outage.sql): how long the
-- circuit breaker has been open and why, and what is left of a quota pause.
(SELECT extract(epoch FROM now() - outage_since)::float8 AS provider_down_s, outage_reason,
        CASE WHEN paused_until > now() THEN extract(epoch FROM paused_until - now())::float8 END AS paused_left_s,
        pause_reason
 FROM wheels.sender_throttle) AS throttle;

-- name: senders
-- Sender processes seen in the last 24 h, newest first; running: a heartbeat
-- within sender_seen_minutes and no clean exit.
SELECT host, pid, transport, started_at, last_seen_at, stopped_at,
       stopped_at IS NULL
       AND last_seen_at > now() - make_interval(secs => wheels.setting('sender_seen_minutes')::numeric * 60) AS running
FROM wheels.sender_heartbeats
WHERE last_seen_at > now() - interval '24 hours'
ORDER BY last_seen_at DESC
LIMIT 20;

-- name: delivery_event_counts
-- For `cli.py status`: bounces and complaints Resend reported in the last 7
-- days against the emails sent in the same 7 days, and the complaint rate
-- (NULL when nothing was sent).
WITH events AS (
    SELECT count(*) FILTER (WHERE type = 'email.bounced') AS bounces,
           count(*) FILTER (WHERE type = 'email.complained') AS complaints
    FROM wheels.delivery_events
    WHERE type IN ('email.bounced', 'email.complained') AND received_at >= now() - interval '7 days'
),
sent AS (
    SELECT count(*) AS sent FROM wheels.deliveries
    WHERE status = 'sent' AND sent_at >= now() - interval '7 days'
)
SELECT events.bounces, events.complaints, sent.sent,
       events.complaints::float8 / nullif(sent.sent, 0) AS complaint_rate
FROM events, sent;

-- name: sender_health
-- `cli.py sender-health`: a running sender's heartbeat (within
-- sender_seen_minutes, no clean exit) if there is one, else the newest, and
-- how many are running. No row: no sender ever ran against this database.
SELECT host, pid, running, running_count, seen_minutes,
       extract(epoch FROM now() - last_seen_at)::float8 AS seen_age_s,
       extract(epoch FROM now() - stopped_at)::float8 AS stopped_age_s
FROM (SELECT h.*, count(*) FILTER (WHERE h.running) OVER () AS running_count
      FROM (SELECT host, pid, last_seen_at, stopped_at, s.minutes AS seen_minutes,
                   stopped_at IS NULL AND last_seen_at > now() - make_interval(secs => s.minutes * 60) AS running
            FROM wheels.sender_heartbeats,
                 (SELECT wheels.setting('sender_seen_minutes')::numeric AS minutes) AS s) AS h) AS r
ORDER BY running DESC, last_seen_at DESC
LIMIT 1;
