-- bench/scale.py: budget_alerts as it was before issue 13 (f844308's sql/functions/budget_alerts.sql),
-- renamed: every budget in force, its month re-summed from the expenses on every run. Kept here so the
-- benchmark compares against the same code whatever main holds.
-- Budget alerts (hourly): each budget in force on its owner's LOCAL today (the
-- source's starts_on .. ends_on), its spending in that local month (the
-- owner's expenses of the budget's category), against its monthly limit. At
-- the budget's own alert_threshold (else budget_warning_percent) one
-- budget_warning, at budget_over_percent one over_budget, each at most once
-- per budget per local month (ledger period 'YYYY-MM'). A budget that goes
-- straight past the over threshold gets only over_budget, and never a warning
-- later that month: a warning after "you are over budget" tells nothing new.
-- So a budget with this month's over_budget is done and is not even summed.
-- Amounts carry the owner's currency. `as_of` fixes "now" for tests and replays.
CREATE OR REPLACE FUNCTION wheels.budget_alerts_resum(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    default_warning_percent numeric := wheels.setting('budget_warning_percent')::numeric;
    over_percent numeric := wheels.setting('budget_over_percent')::numeric;
    wanted wheels.intent[];
    warnings int;
    overs int;
BEGIN
    -- One run at a time (docs/ARCHITECTURE.md, invariant 11): two overlapping runs
    -- could each decide on a different snapshot and send "over" then "80%".
    PERFORM wheels.lock_job('budget_alerts');

    -- The candidates first, read-only; then _enqueue decides and enqueues.
    SELECT ARRAY(
        WITH in_force AS (
            SELECT b.budget_id, b.user_id, b.category, b.monthly_limit, u.currency,
                   coalesce(b.alert_threshold, default_warning_percent) AS warning_percent,
                   m.month_start, to_char(m.month_start, 'YYYY-MM') AS month
            FROM wheels_source.budgets b
            JOIN wheels.users() u ON u.user_id = b.user_id
            CROSS JOIN LATERAL (SELECT (as_of AT TIME ZONE u.zone)::date AS today) t
            CROSS JOIN LATERAL (SELECT date_trunc('month', t.today)::date AS month_start) m
            WHERE b.monthly_limit > 0
              AND (b.starts_on IS NULL OR b.starts_on <= t.today)
              AND (b.ends_on IS NULL OR t.today <= b.ends_on)
              AND NOT EXISTS (
                      SELECT 1 FROM wheels.email_ledger l
                      WHERE l.kind = 'over_budget' AND l.subject = b.budget_id AND l.period = to_char(m.month_start, 'YYYY-MM'))
        ), spending AS (
            SELECT f.*, s.spent, s.spent * 100 / f.monthly_limit AS percent
            FROM in_force f
            CROSS JOIN LATERAL (
                SELECT coalesce(sum(e.amount), 0) AS spent
                FROM wheels_source.expenses e
                WHERE e.user_id = f.user_id AND lower(btrim(e.category)) = lower(btrim(f.category))
                  AND e.spent_on >= f.month_start AND e.spent_on < (f.month_start + interval '1 month')::date) s
        )
        SELECT ROW(
                   k.kind, s.budget_id, s.month, s.user_id, NULL,
                   jsonb_build_object('category', s.category, 'month', s.month, 'spent', round(s.spent, 2),
                                      'limit', round(s.monthly_limit, 2), 'currency', s.currency,
                                      -- truncated: 99.99 % must not read "100.0" in a warning
                                      'percent', trunc(s.percent, 1))
               )::wheels.intent
        FROM spending s
        CROSS JOIN LATERAL (
            SELECT CASE WHEN s.percent >= over_percent THEN 'over_budget' ELSE 'budget_warning' END AS kind) k
        WHERE s.percent >= least(s.warning_percent, over_percent)
          AND NOT EXISTS (  -- already decided this month (the hourly steady state)
                  SELECT 1 FROM wheels.email_ledger l
                  WHERE l.kind = k.kind AND l.subject = s.budget_id AND l.period = s.month)) INTO wanted;

    SELECT coalesce(sum(e.enqueued) FILTER (WHERE e.intent_kind = 'budget_warning'), 0),
           coalesce(sum(e.enqueued) FILTER (WHERE e.intent_kind = 'over_budget'), 0)
    INTO warnings, overs
    FROM wheels._enqueue(wanted) e;
    RETURN format('budget_alerts: %s intents enqueued (%s warnings, %s over budget)', warnings + overs, warnings, overs);
END
$$;
