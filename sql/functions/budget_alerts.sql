-- Budget alerts (hourly): each budget in force on its owner's LOCAL today (the
-- source's starts_on .. ends_on), its spending in that local month (the
-- owner's expenses of the budget's category), against its monthly limit. At
-- the budget's own alert_threshold (else budget_warning_percent) one
-- budget_warning, at budget_over_percent one over_budget, each at most once
-- per budget per local month (ledger period 'YYYY-MM'). A budget that goes
-- straight past the over threshold gets only over_budget, and never a warning
-- later that month: a warning after "you are over budget" tells nothing new.
-- So a budget with this month's over_budget is done and is not even looked at.
-- Only budgets something happened to are looked at (issue 13): spending,
-- the budget itself, its owner's zone or settings, a start date or a month
-- with spending already in it coming round (wheels.budget_state_refresh), or
-- every budget after a rebuild. The month's spending is read from the budget
-- state, not summed. Amounts carry the owner's currency. `as_of` fixes "now"
-- for tests and replays.
CREATE OR REPLACE FUNCTION wheels.budget_alerts(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql
-- No JIT: the source's views over tables without statistics on a fresh
-- install estimate costs past the JIT thresholds, and compiling took 0.2-0.5 s
-- of runs that take milliseconds.
SET jit = off
AS $$
DECLARE
    default_warning_percent numeric := wheels.setting('budget_warning_percent')::numeric;
    over_percent numeric := wheels.setting('budget_over_percent')::numeric;
    check_all boolean;
    check_users uuid[];
    check_keys text[];
    wanted wheels.intent[];
    warnings int;
    overs int;
BEGIN
    -- One run at a time (docs/ARCHITECTURE.md, invariant 11): two overlapping runs
    -- could each decide on a different snapshot and send "over" then "80%".
    PERFORM wheels.lock_job('budget_alerts');
    PERFORM wheels.budget_state_refresh(as_of);

    -- What to look at: what changed since the last run (taken: a failed run
    -- leaves it for the next), or every budget once after a rebuild.
    UPDATE wheels.budget_state SET check_all = false WHERE budget_state.check_all RETURNING true INTO check_all;
    check_all := coalesce(check_all, false);
    WITH taken AS (
        DELETE FROM wheels.budgets_to_check RETURNING user_id, category_key
    )
    SELECT array_agg(t.user_id), array_agg(t.category_key) INTO check_users, check_keys FROM taken t;

    -- The budgets looked at, with their month's spending, in a temporary table
    -- with statistics: the intents and the next thresholds are read from it.
    CREATE TEMP TABLE alert_budgets ON COMMIT DROP AS
        WITH checks AS (
            SELECT DISTINCT c.user_id, c.category_key FROM unnest(check_users, check_keys) AS c (user_id, category_key)
        ), looked_at AS (
            SELECT b.* FROM wheels_source.budgets b WHERE check_all
            UNION ALL
            -- The owners' budgets by user (the source's index), narrowed to the keys that changed.
            SELECT b.* FROM (SELECT DISTINCT c.user_id FROM checks c) o
            JOIN wheels_source.budgets b ON b.user_id = o.user_id
            WHERE NOT check_all
              AND EXISTS (SELECT 1 FROM checks c
                          WHERE c.user_id = b.user_id
                            AND (c.category_key IS NULL OR c.category_key = wheels.category_key(b.category)))
        ), in_force AS (
            SELECT b.budget_id, b.user_id, b.category, b.monthly_limit, u.currency,
                   coalesce(b.alert_threshold, default_warning_percent) AS warning_percent,
                   m.month_start, to_char(m.month_start, 'YYYY-MM') AS month
            FROM looked_at b
            JOIN wheels.users() u ON u.user_id = b.user_id
            CROSS JOIN LATERAL (SELECT (as_of AT TIME ZONE u.zone)::date AS today) t
            CROSS JOIN LATERAL (SELECT date_trunc('month', t.today)::date AS month_start) m
            WHERE b.monthly_limit > 0
              AND (b.starts_on IS NULL OR b.starts_on <= t.today)
              AND (b.ends_on IS NULL OR t.today <= b.ends_on)
              AND NOT EXISTS (
                      SELECT 1 FROM wheels.email_ledger l
                      WHERE l.kind = 'over_budget' AND l.subject = b.budget_id AND l.period = to_char(m.month_start, 'YYYY-MM'))
        )
        SELECT f.*, s.in_month AS spent, s.in_month * 100 / f.monthly_limit AS percent,
               EXISTS (SELECT 1 FROM wheels.email_ledger l
                       WHERE l.kind = 'budget_warning' AND l.subject = f.budget_id AND l.period = f.month) AS warned
        FROM in_force f
        CROSS JOIN LATERAL wheels.spent(f.user_id, f.category, f.month_start, NULL) s;
    ANALYZE alert_budgets;

    -- The intents first, read-only; then _enqueue decides and enqueues.
    SELECT ARRAY(
        SELECT ROW(
                   k.kind, s.budget_id, s.month, s.user_id, NULL,
                   jsonb_build_object('category', s.category, 'month', s.month, 'spent', round(s.spent, 2),
                                      'limit', round(s.monthly_limit, 2), 'currency', s.currency,
                                      -- truncated: 99.99 % must not read "100.0" in a warning
                                      'percent', trunc(s.percent, 1))
               )::wheels.intent
        FROM alert_budgets s
        CROSS JOIN LATERAL (
            SELECT CASE WHEN s.percent >= over_percent THEN 'over_budget' ELSE 'budget_warning' END AS kind) k
        WHERE s.percent >= least(s.warning_percent, over_percent)
          AND NOT EXISTS (  -- already decided this month (the hourly steady state)
                  SELECT 1 FROM wheels.email_ledger l
                  WHERE l.kind = k.kind AND l.subject = s.budget_id AND l.period = s.month)) INTO wanted;

    -- Each sum looked at learns the next amount that would alert one of its
    -- budgets this month (the warning if not had, else over budget; none
    -- once over budget): until it gets there, the fold does not ask again.
    UPDATE wheels.spending_months m SET next_alert_at = n.next_alert_at
    FROM (
        SELECT a.user_id, a.month_start, wheels.category_key(a.category) AS category_key,
               coalesce(min(CASE WHEN a.percent >= over_percent THEN NULL
                                 WHEN a.warned OR a.percent >= least(a.warning_percent, over_percent)
                                 THEN a.monthly_limit * over_percent / 100
                                 ELSE a.monthly_limit * least(a.warning_percent, over_percent) / 100 END),
                        'Infinity') AS next_alert_at
        FROM alert_budgets a
        GROUP BY 1, 2, 3) n
    WHERE (m.user_id, m.month, m.category_key) = (n.user_id, n.month_start, n.category_key)
      AND m.next_alert_at IS DISTINCT FROM n.next_alert_at;
    -- A sum with no budget in force on its key alerts nobody until a budget
    -- changes (which looks at its owner again).
    UPDATE wheels.spending_months m SET next_alert_at = 'Infinity'
    FROM unnest(check_users, check_keys) AS c (user_id, category_key)
    WHERE c.category_key IS NOT NULL AND m.user_id = c.user_id AND m.category_key = c.category_key
      AND m.next_alert_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM alert_budgets a
                      WHERE a.user_id = c.user_id AND wheels.category_key(a.category) = c.category_key);
    DROP TABLE alert_budgets;

    SELECT coalesce(sum(e.enqueued) FILTER (WHERE e.intent_kind = 'budget_warning'), 0),
           coalesce(sum(e.enqueued) FILTER (WHERE e.intent_kind = 'over_budget'), 0)
    INTO warnings, overs
    FROM wheels._enqueue(wanted) e;
    RETURN format('budget_alerts: %s enqueued (%s, %s over budget)', wheels.plural(warnings + overs, 'intent', 'intents'),
                  wheels.plural(warnings, 'warning', 'warnings'), overs);
END
$$;
