-- The activation guide's success metrics (its "Success Metrics" section),
-- measured since wheels.activation: one set of rows that the dashboard (as
-- wheels_web: counts only, hence SECURITY DEFINER), `cli.py report` and the
-- daily report email (wheels.daily_figures) all show, so they never disagree.

-- When wheels-jobs went live (sql/0006_success.sql); the success metrics count from it.
CREATE OR REPLACE FUNCTION wheels.activated_at() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.activated_at FROM wheels.activation a
$$;
REVOKE EXECUTE ON FUNCTION wheels.activated_at() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wheels.activated_at() TO wheels_web;

-- Spending after a budget alert ("budget alerts prevent $X in overspending"),
-- from the complete local months since `since`: for each budget whose alert
-- (a warning, or over budget when it went straight past) went out in such a
-- month, its spending in the rest of that month (the days after the alert's
-- local day) as a share of its limit, against the same days of that budget's
-- months without an alert. A month whose alert was decided but not sent
-- (opted out, suppressed, dead) is in neither group. Per budget the shares
-- are averaged, then over budgets, so a budget with many months weighs as
-- much as one with few; shares of the limit because amounts are in each
-- user's currency. Returns the sample too: a comparison, not a proof (a month
-- with an alert is a month of heavy spending). Reads the expenses of alerted
-- budgets only, in the months since `since`.
CREATE OR REPLACE FUNCTION wheels.budget_alert_effect(since timestamptz, as_of timestamptz)
RETURNS TABLE (budgets int, alert_months int, other_months int, after_alert_percent numeric, other_percent numeric)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH decided AS (  -- budget alerts per budget and local month; alerted_at: the first that went out
        SELECT l.subject AS budget_id, to_date(l.period, 'YYYY-MM') AS month_start,
               min(l.created_at) FILTER (WHERE d.status = 'sent') AS alerted_at
        FROM wheels.email_ledger l  -- email_ledger_created_at_idx
        LEFT JOIN wheels.deliveries d ON d.intent_id = l.id
        WHERE l.kind IN ('budget_warning', 'over_budget') AND l.created_at >= since AND l.created_at < as_of
        GROUP BY 1, 2
    ), budgets AS (  -- the alerted budgets, with their complete local months since `since`
        SELECT b.budget_id, b.user_id, b.category, b.monthly_limit, b.starts_on, b.ends_on, u.zone,
               date_trunc('month', (since AT TIME ZONE u.zone) + interval '1 month' - interval '1 microsecond')::date
                   AS first_month,
               date_trunc('month', as_of AT TIME ZONE u.zone)::date AS current_month
        FROM wheels_source.budgets b
        JOIN wheels.users() u ON u.user_id = b.user_id
        WHERE b.monthly_limit > 0 AND b.budget_id IN (SELECT budget_id FROM decided WHERE alerted_at IS NOT NULL)
    ), months AS (  -- each such month the budget was in force throughout; after_day: the alert's day of the month
        SELECT b.budget_id, b.monthly_limit, m.month_start,
               (a.alerted_at AT TIME ZONE b.zone)::date - m.month_start + 1 AS after_day,
               a.budget_id IS NOT NULL AS decided
        FROM budgets b
        CROSS JOIN LATERAL generate_series(b.first_month::timestamp, (b.current_month - 1)::timestamp,
                                           interval '1 month') AS g (month)
        CROSS JOIN LATERAL (SELECT g.month::date AS month_start) m
        LEFT JOIN decided a ON a.budget_id = b.budget_id AND a.month_start = m.month_start
        WHERE (b.starts_on IS NULL OR b.starts_on <= m.month_start)
          AND (b.ends_on IS NULL OR b.ends_on >= (m.month_start + interval '1 month')::date - 1)
    ), daily AS (  -- their spending per day of those months
        SELECT b.budget_id, date_trunc('month', e.spent_on::timestamp)::date AS month_start,
               e.spent_on - date_trunc('month', e.spent_on::timestamp)::date + 1 AS day, sum(e.amount) AS amount
        FROM budgets b
        JOIN wheels_source.expenses e
          ON e.user_id = b.user_id AND lower(btrim(e.category)) = lower(btrim(b.category))
         AND e.spent_on >= b.first_month AND e.spent_on < b.current_month
        GROUP BY 1, 2, 3
    ), alerted AS (  -- the rest of each month with an alert, in percent of the limit
        SELECT m.budget_id, m.month_start, m.after_day,
               coalesce(sum(d.amount) FILTER (WHERE d.day > m.after_day), 0) * 100 / m.monthly_limit AS percent
        FROM months m
        LEFT JOIN daily d ON d.budget_id = m.budget_id AND d.month_start = m.month_start
        WHERE m.after_day IS NOT NULL
        GROUP BY m.budget_id, m.month_start, m.after_day, m.monthly_limit
    ), others AS (  -- the same days of each month without an alert, once per month with one
        SELECT a.budget_id,
               coalesce(sum(d.amount) FILTER (WHERE d.day > a.after_day), 0) * 100 / o.monthly_limit AS percent
        FROM alerted a
        JOIN months o ON o.budget_id = a.budget_id AND NOT o.decided
        LEFT JOIN daily d ON d.budget_id = o.budget_id AND d.month_start = o.month_start
        GROUP BY a.budget_id, a.month_start, o.month_start, o.monthly_limit
    ), per_budget AS (
        SELECT a.budget_id, a.after_percent, a.alert_months, o.other_percent,
               (SELECT count(*) FROM months m WHERE m.budget_id = a.budget_id AND NOT m.decided) AS other_months
        FROM (SELECT budget_id, avg(percent) AS after_percent, count(*) AS alert_months
              FROM alerted GROUP BY budget_id) a
        JOIN (SELECT budget_id, avg(percent) AS other_percent FROM others GROUP BY budget_id) o USING (budget_id)
    )
    SELECT count(*)::int, coalesce(sum(alert_months), 0)::int, coalesce(sum(other_months), 0)::int,
           round(avg(after_percent), 1), round(avg(other_percent), 1)
    FROM per_budget
$$;
REVOKE EXECUTE ON FUNCTION wheels.budget_alert_effect(timestamptz, timestamptz) FROM PUBLIC;

-- The success metrics at `as_of`, each counted from the activation: welcome
-- emails, PAM interactions (messages and responses, from the hourly rollups:
-- never the raw event log, which the dashboard must not scan on every view),
-- critical errors (failed job runs, dead letters, senders that went silent
-- without a clean stop), hours of analytics for the dashboard, budget alerts,
-- maintenance reminders and daily digests sent, the engagement rate (opened or
-- clicked, of the delivered user emails) and spending after a budget alert.
-- Per metric: the guide's checkpoint (after 1 week, after 1 month, long term)
-- and its date, the value, the target, and the status: 'met'; 'not yet'; 'not
-- met' for the one ceiling (errors) once passed; NULL where the guide sets no
-- number. The ceiling is judged when its week is over. `shown`,
-- `target_shown` and `note` are the words every consumer prints. Counts reach
-- back as far as the logs keep them (wheels.settings *_retention_days).
CREATE OR REPLACE FUNCTION wheels.success_metrics(as_of timestamptz DEFAULT now())
RETURNS TABLE (metric text, label text, checkpoint text, due_at timestamptz, value numeric, target numeric,
               goal text, unit text, met boolean, status text, shown text, target_shown text, note text,
               since timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET timezone = 'UTC'
AS $$
DECLARE
    week_due timestamptz;
    month_due timestamptz;
    welcomes bigint; budget_alerts bigint; reminders bigint; digests bigint;
    pam bigint; hours bigint;
    failed_runs bigint; dead bigint; crashes bigint;
    sent_via_provider bigint; delivered bigint; engaged bigint;
    min_delivered int := wheels.setting('engagement_min_delivered')::int;
    min_budgets int := wheels.setting('alert_effect_min_budgets')::int;
    rate numeric;
    effect record;
BEGIN
    since := coalesce(wheels.activated_at(), as_of);
    week_due := since + interval '7 days';
    month_due := since + interval '1 month';

    SELECT count(*) FILTER (WHERE d.kind = 'welcome'),
           count(*) FILTER (WHERE d.kind IN ('budget_warning', 'over_budget')),
           count(*) FILTER (WHERE d.kind IN ('maintenance_reminder', 'maintenance_overdue')),
           count(*) FILTER (WHERE d.kind = 'daily_digest')
    INTO welcomes, budget_alerts, reminders, digests
    FROM wheels.deliveries d  -- deliveries_sent_at_idx
    WHERE d.status = 'sent' AND d.sent_at >= since AND d.sent_at < as_of;

    -- Whole UTC hours from the activation's; days whose hours cleanup removed come from the daily rollup.
    SELECT coalesce(sum(h.messages + h.responses), 0), count(*) FILTER (WHERE h.messages + h.responses > 0)
    INTO pam, hours
    FROM wheels.pam_hourly h
    WHERE h.hour >= date_trunc('hour', since) AND h.hour < as_of;
    pam := pam + (SELECT coalesce(sum(d.messages + d.responses), 0) FROM wheels.pam_daily d
                  WHERE d.day > since::date AND d.day < as_of::date
                    AND d.day < coalesce((SELECT min(h.hour) FROM wheels.pam_hourly h)::date, 'infinity'));

    SELECT count(*) INTO failed_runs FROM wheels.job_runs r  -- job_runs_job_started_at_idx per job
    WHERE r.outcome = 'failed' AND r.started_at >= since AND r.started_at < as_of;
    SELECT count(*) INTO dead FROM wheels.dead_letters l
    WHERE l.created_at >= since AND l.created_at < as_of;
    SELECT count(*) INTO crashes FROM wheels.sender_heartbeats s
    WHERE s.stopped_at IS NULL AND s.last_seen_at >= since
      AND s.last_seen_at < as_of - make_interval(secs => wheels.setting('sender_seen_minutes')::numeric * 60);

    -- User emails only: the team's daily report is not engagement.
    SELECT coalesce(sum(e.sent), 0), coalesce(sum(e.delivered), 0)
    INTO sent_via_provider, delivered
    FROM wheels.engagement(since, as_of) e
    WHERE e.kind <> 'daily_report';
    -- Engaged: emails opened or clicked, each once (a click without an open counts too).
    SELECT count(*) INTO engaged
    FROM (SELECT DISTINCT ev.provider_message_id
          FROM wheels.delivery_events ev
          JOIN wheels.deliveries d ON d.provider_message_id = ev.provider_message_id
          WHERE ev.type IN ('email.opened', 'email.clicked') AND ev.received_at >= since
            AND d.status = 'sent' AND d.sent_at >= since AND d.sent_at < as_of AND d.kind <> 'daily_report') x;
    rate := round(engaged * 100.0 / nullif(delivered, 0), 1);

    SELECT * INTO effect FROM wheels.budget_alert_effect(since, as_of);

    RETURN QUERY
    SELECT m.metric, m.label, m.checkpoint, m.due_at, m.value, m.target, m.goal, m.unit,
           s.status = 'met', s.status,
           CASE WHEN m.value IS NULL THEN '–'
                WHEN m.unit = 'percent' THEN to_char(m.value, 'FM990.0') || '%'
                WHEN m.unit = 'points' THEN format('%s%% vs %s%%', to_char(effect.after_alert_percent, 'FM990.0'),
                                                   to_char(effect.other_percent, 'FM990.0'))
                ELSE to_char(m.value, 'FM999,999,999,990') END,
           CASE m.goal WHEN 'at least' THEN to_char(m.target, 'FM999,999,990') || '+'
                       WHEN 'at most' THEN to_char(m.target, 'FM999,999,990')
                       WHEN 'above' THEN 'over ' || to_char(m.target, 'FM990') || '%' END,
           m.note, since
    FROM (VALUES
        (1, 'welcome_emails', 'Welcome emails sent', 'after 1 week', week_due, welcomes::numeric, 10::numeric,
         'at least', 'count', NULL::text),
        (2, 'pam_interactions', 'PAM interactions logged', 'after 1 week', week_due, pam, 1000,
         'at least', 'count', 'messages and responses, from the hourly rollups'),
        (3, 'critical_errors', 'Critical errors', 'after 1 week', week_due, (failed_runs + dead + crashes)::numeric, 0,
         'at most', 'count',
         format('%s, %s, %s', wheels.plural(failed_runs, 'failed job run', 'failed job runs'),
                wheels.plural(dead, 'dead letter', 'dead letters'),
                wheels.plural(crashes, 'sender crash', 'sender crashes'))
         || CASE WHEN as_of < week_due THEN format('; judged once the first week is over (%s)',
                                                  to_char(week_due, 'YYYY-MM-DD HH24:MI "UTC"')) ELSE '' END),
        (4, 'analytics_hours', 'Hours of PAM analytics on the dashboard', 'after 1 week', week_due, hours, 1,
         'at least', 'count', 'hours rolled up with PAM events'),
        (5, 'budget_alerts', 'Budget alerts sent', 'after 1 month', month_due, budget_alerts, 5,
         'at least', 'count', 'warnings and over budget'),
        (6, 'maintenance_reminders', 'Maintenance reminders sent', 'after 1 month', month_due, reminders, 3,
         'at least', 'count', 'due soon and overdue'),
        (7, 'daily_digests', 'Daily digests sent', 'after 1 month', month_due, digests, 30,
         'at least', 'count', NULL),
        (8, 'engagement_rate', 'Email engagement rate', 'long term', NULL::timestamptz, rate, 20,
         'above', 'percent',
         CASE WHEN sent_via_provider = 0
                  THEN 'no email went out through Resend since activation (the outbox has no opens or clicks)'
              WHEN delivered = 0
                  THEN 'no delivery, open or click events from Resend yet: check its webhook and open and click tracking (README)'
              ELSE format('%s of %s opened or clicked', to_char(engaged, 'FM999,999,990'),
                          wheels.plural(delivered, 'delivered email', 'delivered emails'))
                   || CASE WHEN delivered < min_delivered
                           THEN format('; judged from %s delivered (setting engagement_min_delivered)', min_delivered)
                           ELSE '' END END),
        (9, 'spending_after_alert', 'Spending in the rest of the month after a budget alert', 'long term', NULL,
         CASE WHEN effect.budgets >= min_budgets THEN effect.after_alert_percent - effect.other_percent END, NULL,
         NULL, 'points',
         CASE WHEN effect.budgets >= min_budgets
              THEN format('of the budget''s limit, against the same days of months without an alert: %s (%s with an alert, %s without)',
                          wheels.plural(effect.budgets, 'budget', 'budgets'),
                          wheels.plural(effect.alert_months, 'month', 'months'),
                          effect.other_months)
              ELSE format('too little data: %s with a complete month with an alert and one without since activation, needs %s (setting alert_effect_min_budgets)',
                          wheels.plural(effect.budgets, 'budget', 'budgets'), min_budgets) END)
    ) AS m (position, metric, label, checkpoint, due_at, value, target, goal, unit, note)
    CROSS JOIN LATERAL (SELECT CASE
        WHEN m.goal IS NULL THEN NULL
        WHEN m.goal = 'at least' THEN CASE WHEN m.value >= m.target THEN 'met' ELSE 'not yet' END
        WHEN m.goal = 'at most' THEN CASE WHEN m.value > m.target THEN 'not met'
                                          WHEN as_of >= m.due_at THEN 'met' ELSE 'not yet' END
        WHEN m.goal = 'above' THEN CASE WHEN delivered >= min_delivered AND m.value > m.target THEN 'met'
                                        ELSE 'not yet' END
        END AS status) s
    ORDER BY m.position;
END
$$;
REVOKE EXECUTE ON FUNCTION wheels.success_metrics(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wheels.success_metrics(timestamptz) TO wheels_web;
