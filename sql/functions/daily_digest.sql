-- Daily digest (every 15 minutes): at most one per user per LOCAL calendar day
-- (ledger period = local today), sent by the first run at or after
-- digest_local_hour local time. It covers the user's local yesterday: spending by
-- category, where each budget stood at the end of yesterday (month to date),
-- open maintenance due within maintenance_reminder_days, and PAM messages.
-- Users with no spending, no maintenance due and no PAM messages get none: a
-- budget table alone is not news. Deciding who has news takes only index
-- probes, so users without news, checked again on every run of their day, stay
-- cheap; only users with news pay for the per-category month sums.
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
    -- The candidates first, read-only; then _enqueue decides and enqueues.
    SELECT ARRAY(
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
        ), news AS (
            SELECT d.*, m.items AS maintenance, g.messages
            FROM due d
            LEFT JOIN maintenance m ON m.user_id = d.user_id
            CROSS JOIN LATERAL (
                -- pam_analytics_logs_user_messages_idx, index only
                SELECT count(*) AS messages
                FROM pam_analytics_logs g
                WHERE g.user_id = d.user_id AND g.event_type = 'message'
                  AND g.created_at >= d.day_starts AND g.created_at < d.day_ends) g
            WHERE m.items IS NOT NULL OR g.messages > 0
               OR EXISTS (  -- expenses_user_spent_at_idx, index only
                      SELECT 1 FROM expenses e
                      WHERE e.user_id = d.user_id AND e.spent_at >= d.day_starts AND e.spent_at < d.day_ends)
        ), categories AS (
            -- One index-only range scan of expenses_category_spent_at_idx per
            -- category gives both the month to date and yesterday.
            SELECT n.user_id, c.id, c.name, c.monthly_limit, s.month_spent, s.day_spent
            FROM news n
            JOIN budget_categories c ON c.user_id = n.user_id
            CROSS JOIN LATERAL (
                SELECT coalesce(sum(e.amount), 0) AS month_spent,
                       sum(e.amount) FILTER (WHERE e.spent_at >= n.day_starts) AS day_spent
                FROM expenses e
                WHERE e.category_id = c.id AND e.spent_at >= n.month_starts AND e.spent_at < n.day_ends) s
        ), per_user AS (
            SELECT user_id,
                   jsonb_agg(jsonb_build_object('category', name, 'amount', day_spent) ORDER BY name, id)
                       FILTER (WHERE day_spent IS NOT NULL) AS spending,
                   jsonb_agg(jsonb_build_object('category', name, 'spent', month_spent, 'limit', monthly_limit,
                                                'percent', trunc(month_spent * 100 / monthly_limit, 1))
                             ORDER BY name, id) AS budgets
            FROM categories
            GROUP BY user_id
        )
        SELECT ROW('daily_digest', n.user_id::text, n.today::text, n.user_id,
                   jsonb_build_object('day', n.day,
                                      'spending', coalesce(u.spending, '[]'),
                                      'budgets', coalesce(u.budgets, '[]'),
                                      'maintenance', coalesce(n.maintenance, '[]'),
                                      'pam', jsonb_build_object('messages', n.messages)))::wheels.intent
        FROM news n
        LEFT JOIN per_user u ON u.user_id = n.user_id) INTO wanted;

    SELECT coalesce(sum(e.enqueued), 0) INTO sent FROM wheels._enqueue(wanted) e;
    RETURN format('daily_digest: %s digests enqueued', sent);
END
$$;
