-- Budget alerts (hourly): each category's spending in the owner's current LOCAL
-- month (profiles.timezone), against its monthly limit. At budget_warning_percent
-- one budget_warning, at budget_over_percent one over_budget, each at most once
-- per category per local month (ledger period 'YYYY-MM'). A category that goes
-- straight past the over threshold gets only over_budget, and never a warning
-- later that month: a warning after "you are over budget" tells nothing new.
-- So a category with this month's over_budget is done and is not even summed.
-- `as_of` fixes "now" for tests and replays.
CREATE OR REPLACE FUNCTION wheels.budget_alerts(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    warning_percent numeric := wheels.setting('budget_warning_percent')::numeric;
    over_percent numeric := wheels.setting('budget_over_percent')::numeric;
    wanted wheels.intent[];
    warnings int;
    overs int;
BEGIN
    -- The candidates first, read-only; then _enqueue decides and enqueues.
    SELECT ARRAY(
        WITH months AS (
            -- Each user's current local month as a UTC range.
            SELECT p.id AS user_id, to_char(m.local_month, 'YYYY-MM') AS month,
                   m.local_month AT TIME ZONE p.timezone AS starts,
                   (m.local_month + interval '1 month') AT TIME ZONE p.timezone AS ends
            FROM profiles p
            CROSS JOIN LATERAL (SELECT date_trunc('month', as_of AT TIME ZONE p.timezone) AS local_month) m
        ), spending AS (
            SELECT c.id, c.user_id, c.name, c.monthly_limit, m.month, s.spent,
                   s.spent * 100 / c.monthly_limit AS percent
            FROM budget_categories c
            JOIN months m ON m.user_id = c.user_id
            CROSS JOIN LATERAL (
                -- Index-only range scan of expenses_category_spent_at_idx.
                SELECT coalesce(sum(e.amount), 0) AS spent
                FROM expenses e
                WHERE e.category_id = c.id AND e.spent_at >= m.starts AND e.spent_at < m.ends) s
            WHERE NOT EXISTS (
                      SELECT 1 FROM wheels.email_ledger l
                      WHERE l.kind = 'over_budget' AND l.subject = c.id::text AND l.period = m.month)
        )
        SELECT ROW(
                   k.kind, s.id::text, s.month, s.user_id,
                   jsonb_build_object('category', s.name, 'month', s.month, 'spent', s.spent,
                                      'limit', s.monthly_limit,
                                      -- truncated: 99.99 % must not read "100.0" in a warning
                                      'percent', trunc(s.percent, 1))
               )::wheels.intent
        FROM spending s
        CROSS JOIN LATERAL (
            SELECT CASE WHEN s.percent >= over_percent THEN 'over_budget' ELSE 'budget_warning' END AS kind) k
        WHERE s.percent >= warning_percent
          AND NOT EXISTS (  -- already decided this month (the hourly steady state)
                  SELECT 1 FROM wheels.email_ledger l
                  WHERE l.kind = k.kind AND l.subject = s.id::text AND l.period = s.month)) INTO wanted;

    SELECT coalesce(sum(e.enqueued) FILTER (WHERE e.intent_kind = 'budget_warning'), 0),
           coalesce(sum(e.enqueued) FILTER (WHERE e.intent_kind = 'over_budget'), 0)
    INTO warnings, overs
    FROM wheels._enqueue(wanted) e;
    RETURN format('budget_alerts: %s intents enqueued (%s warnings, %s over budget)', warnings + overs, warnings, overs);
END
$$;
