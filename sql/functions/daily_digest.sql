-- Daily digest (every 15 minutes): at most one per user per LOCAL calendar day
-- (ledger period = local today), sent by the first run at or after
-- digest_local_hour local time. It covers the user's local yesterday: spending by
-- category, where each budget stood at the end of yesterday (month to date),
-- open maintenance due within maintenance_reminder_days, and PAM messages.
-- Users with no spending, no maintenance due and no PAM messages get none: a
-- budget table alone is not news. Only those with news pay for the budget sums.
-- `as_of` fixes "now" for tests and replays.
CREATE OR REPLACE FUNCTION wheels.daily_digest(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    digest_hour int := wheels.setting('digest_local_hour')::int;
    window_days int := wheels.setting('maintenance_reminder_days')::int;
    utc_today date := (as_of AT TIME ZONE 'UTC')::date;
    sent int;
BEGIN
    SELECT coalesce(sum(e.enqueued), 0) INTO sent
    FROM wheels._enqueue(ARRAY(
        WITH due AS (
            -- Users whose digest hour has come today and who have no digest for today yet.
            SELECT p.id AS user_id, l.today, l.today - 1 AS day,
                   (l.today - 1)::timestamp AT TIME ZONE p.timezone AS day_starts,
                   l.today::timestamp AT TIME ZONE p.timezone AS day_ends,
                   date_trunc('month', (l.today - 1)::timestamp) AT TIME ZONE p.timezone AS month_starts
            FROM profiles p
            CROSS JOIN LATERAL (SELECT as_of AT TIME ZONE p.timezone AS local_now) n
            CROSS JOIN LATERAL (SELECT n.local_now::date AS today) l
            WHERE extract(hour FROM n.local_now) >= digest_hour
              AND NOT EXISTS (
                      SELECT 1 FROM wheels.email_ledger x
                      WHERE x.kind = 'daily_digest' AND x.subject = p.id::text AND x.period = l.today::text)
        ), spending AS (
            SELECT d.user_id,
                   jsonb_agg(jsonb_build_object('category', c.name, 'amount', t.amount) ORDER BY c.name, c.id) AS items
            FROM due d
            CROSS JOIN LATERAL (
                -- expenses_user_spent_at_idx: one short range per user.
                SELECT e.category_id, sum(e.amount) AS amount
                FROM expenses e
                WHERE e.user_id = d.user_id AND e.spent_at >= d.day_starts AND e.spent_at < d.day_ends
                GROUP BY e.category_id) t
            JOIN budget_categories c ON c.id = t.category_id
            GROUP BY d.user_id
        ), maintenance AS (
            SELECT d.user_id,
                   jsonb_agg(jsonb_build_object('title', r.title, 'vehicle', v.name, 'due_date', r.due_date)
                             ORDER BY r.due_date, r.id) AS items
            FROM maintenance_records r  -- maintenance_records_open_due_idx, a superset narrowed per user
            JOIN due d ON d.user_id = r.user_id AND r.due_date BETWEEN d.today AND d.today + window_days
            LEFT JOIN vehicles v ON v.id = r.vehicle_id
            WHERE r.completed_at IS NULL
              AND r.due_date BETWEEN utc_today - 1 AND utc_today + window_days + 1
            GROUP BY d.user_id
        ), pam AS (
            SELECT d.user_id, m.messages
            FROM due d
            CROSS JOIN LATERAL (
                -- pam_analytics_logs_user_messages_idx
                SELECT count(*) AS messages
                FROM pam_analytics_logs g
                WHERE g.user_id = d.user_id AND g.event_type = 'message'
                  AND g.created_at >= d.day_starts AND g.created_at < d.day_ends) m
            WHERE m.messages > 0
        ), news AS (
            SELECT d.*, s.items AS spending, m.items AS maintenance, coalesce(g.messages, 0) AS messages
            FROM due d
            LEFT JOIN spending s ON s.user_id = d.user_id
            LEFT JOIN maintenance m ON m.user_id = d.user_id
            LEFT JOIN pam g ON g.user_id = d.user_id
            WHERE s.user_id IS NOT NULL OR m.user_id IS NOT NULL OR g.user_id IS NOT NULL
        ), budgets AS (
            SELECT n.user_id,
                   jsonb_agg(jsonb_build_object('category', c.name, 'spent', b.spent, 'limit', c.monthly_limit,
                                                'percent', trunc(b.spent * 100 / c.monthly_limit, 1))
                             ORDER BY c.name, c.id) AS items
            FROM news n
            JOIN budget_categories c ON c.user_id = n.user_id
            CROSS JOIN LATERAL (
                -- expenses_category_spent_at_idx: month to the end of yesterday.
                SELECT coalesce(sum(e.amount), 0) AS spent
                FROM expenses e
                WHERE e.category_id = c.id AND e.spent_at >= n.month_starts AND e.spent_at < n.day_ends) b
            GROUP BY n.user_id
        )
        SELECT ROW('daily_digest', n.user_id::text, n.today::text, n.user_id,
                   jsonb_build_object('day', n.day,
                                      'spending', coalesce(n.spending, '[]'),
                                      'budgets', coalesce(b.items, '[]'),
                                      'maintenance', coalesce(n.maintenance, '[]'),
                                      'pam', jsonb_build_object('messages', n.messages)))::wheels.intent
        FROM news n
        LEFT JOIN budgets b ON b.user_id = n.user_id
    )) e;
    RETURN format('daily_digest: %s digests enqueued', sent);
END
$$;
