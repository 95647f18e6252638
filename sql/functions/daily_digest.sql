-- Daily digest (every 15 minutes): at most one per user per LOCAL calendar day
-- (ledger period = local today), sent by the first run at or after
-- digest_local_hour local time. It covers the user's local yesterday: spending
-- by category, where each budget in force stood at the end of yesterday
-- (month to date), open maintenance due within maintenance_reminder_days, and
-- PAM messages. Users with no spending, no maintenance due and no PAM messages
-- get none: a budget table alone is not news (the Celery task mailed every
-- active user daily, news or not). Deciding who has news takes cheap probes,
-- so users without news, checked again on every run of their day, stay cheap;
-- only users with news pay for the budget sums.
-- `as_of` fixes "now" for tests and replays.
CREATE OR REPLACE FUNCTION wheels.daily_digest(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    digest_hour int := wheels.setting('digest_local_hour')::int;
    window_days int := wheels.setting('maintenance_reminder_days')::int;
    utc_today date := (as_of AT TIME ZONE 'UTC')::date;
    wanted wheels.intent[];
    sent int;
BEGIN
    PERFORM wheels.lock_job('daily_digest');

    -- The candidates first, read-only; then _enqueue decides and enqueues.
    SELECT ARRAY(
        WITH due AS (
            -- Users whose digest hour has come today and who have no digest for today yet.
            SELECT u.user_id, u.currency, l.today, l.today - 1 AS day,
                   (l.today - 1)::timestamp AT TIME ZONE u.zone AS day_starts,
                   l.today::timestamp AT TIME ZONE u.zone AS day_ends,
                   date_trunc('month', l.today - 1)::date AS month_start
            FROM wheels.users() u
            CROSS JOIN LATERAL (SELECT as_of AT TIME ZONE u.zone AS local_now) n
            CROSS JOIN LATERAL (SELECT n.local_now::date AS today) l
            WHERE extract(hour FROM n.local_now) >= digest_hour
              AND NOT EXISTS (
                      SELECT 1 FROM wheels.email_ledger x
                      WHERE x.kind = 'daily_digest' AND x.subject = u.user_id::text AND x.period = l.today::text)
        ), maintenance AS (
            SELECT d.user_id,
                   jsonb_agg(jsonb_build_object('title', t.title, 'vehicle', t.vehicle, 'due_date', t.due_on)
                             ORDER BY t.due_on, t.task_id) AS items
            FROM wheels_source.maintenance_tasks t  -- a superset of dates, narrowed per user
            JOIN due d ON d.user_id = t.user_id AND t.due_on BETWEEN d.today AND d.today + window_days
            WHERE NOT t.done
              AND t.due_on BETWEEN utc_today - 1 AND utc_today + window_days + 1
            GROUP BY d.user_id
        ), news AS (
            SELECT d.*, m.items AS maintenance, g.messages
            FROM due d
            LEFT JOIN maintenance m ON m.user_id = d.user_id
            CROSS JOIN LATERAL (
                SELECT count(*) AS messages
                FROM wheels_source.pam_events g
                WHERE g.user_id = d.user_id AND g.kind = 'message'
                  AND g.occurred_at >= d.day_starts AND g.occurred_at < d.day_ends) g
            WHERE m.items IS NOT NULL OR g.messages > 0
               OR EXISTS (SELECT 1 FROM wheels_source.expenses e WHERE e.user_id = d.user_id AND e.spent_on = d.day)
        ), spending AS (
            -- Yesterday's total per category, as the expenses name it.
            SELECT n.user_id,
                   jsonb_agg(jsonb_build_object('category', s.category, 'amount', s.amount) ORDER BY s.category) AS items
            FROM news n
            CROSS JOIN LATERAL (
                SELECT min(btrim(e.category)) AS category, round(sum(e.amount), 2) AS amount
                FROM wheels_source.expenses e
                WHERE e.user_id = n.user_id AND e.spent_on = n.day
                GROUP BY lower(btrim(e.category))) s
            GROUP BY n.user_id
        ), budgets AS (
            -- Each budget in force yesterday, month to date at the end of yesterday.
            SELECT n.user_id,
                   jsonb_agg(jsonb_build_object('category', b.category, 'spent', round(s.spent, 2),
                                                'limit', round(b.monthly_limit, 2),
                                                'percent', trunc(s.spent * 100 / b.monthly_limit, 1))
                             ORDER BY b.category, b.budget_id) AS items
            FROM news n
            JOIN wheels_source.budgets b
              ON b.user_id = n.user_id AND b.monthly_limit > 0
             AND (b.starts_on IS NULL OR b.starts_on <= n.day) AND (b.ends_on IS NULL OR n.day <= b.ends_on)
            CROSS JOIN LATERAL (
                SELECT coalesce(sum(e.amount), 0) AS spent
                FROM wheels_source.expenses e
                WHERE e.user_id = n.user_id AND lower(btrim(e.category)) = lower(btrim(b.category))
                  AND e.spent_on >= n.month_start AND e.spent_on <= n.day) s
            GROUP BY n.user_id
        )
        SELECT ROW('daily_digest', n.user_id::text, n.today::text, n.user_id, NULL,
                   jsonb_build_object('day', n.day, 'currency', n.currency,
                                      'spending', coalesce(s.items, '[]'),
                                      'budgets', coalesce(b.items, '[]'),
                                      'maintenance', coalesce(n.maintenance, '[]'),
                                      'pam', jsonb_build_object('messages', n.messages)))::wheels.intent
        FROM news n
        LEFT JOIN spending s ON s.user_id = n.user_id
        LEFT JOIN budgets b ON b.user_id = n.user_id) INTO wanted;

    SELECT coalesce(sum(e.enqueued), 0) INTO sent FROM wheels._enqueue(wanted) e;
    RETURN format('daily_digest: %s enqueued', wheels.plural(sent, 'digest', 'digests'));
END
$$;
