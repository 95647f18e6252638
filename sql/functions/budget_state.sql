-- Budget state that follows changes (sql/0008_budget_state.sql, docs/SCALING.md).
-- The source's triggers record what changed in the app's own transaction
-- (record_spending, record_user_changes); the jobs fold it into per-user
-- spending sums before they read them (budget_state_refresh); a rebuild sums
-- everything afresh (budget_state_rebuild: install, repair).

-- The key a budget and an expense are matched by: case and surrounding spaces ignored.
CREATE OR REPLACE FUNCTION wheels.category_key(category text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT lower(btrim(category))
$$;

-- The oldest local month and day any job reads (so what the state keeps, what
-- a rebuild sums and what cleanup leaves): a local date is never more than a
-- day behind UTC's, and the digest reads the local yesterday and its month.
CREATE OR REPLACE FUNCTION wheels.spending_kept_from(as_of timestamptz, OUT first_month date, OUT first_day date)
LANGUAGE sql IMMUTABLE AS $$
    SELECT date_trunc('month', (as_of AT TIME ZONE 'UTC')::date - 2)::date, (as_of AT TIME ZONE 'UTC')::date - 2
$$;

-- Called by the source's expenses_changed trigger, in the app's transaction:
-- keep the rows that left and entered wheels_source.expenses for the next
-- fold. An insert into a table without keys: it never waits for anybody. No
-- exception block of its own (a subtransaction costs 18 µs a write): the
-- trigger's catches a failure and marks the users for a fresh sum.
-- PL/pgSQL, not SQL: its plan is kept across calls (a SQL function's is made again on each).
CREATE OR REPLACE FUNCTION wheels.record_spending(changes wheels.spending_change[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wheels.spending_changes (user_id, category, spent_on, amount, expenses)
    SELECT c.user_id, c.category, c.spent_on, coalesce(c.amount, 0), c.expenses
    FROM unnest(changes) c
    -- Without a user, category or date a row counts against no budget.
    WHERE c.user_id IS NOT NULL AND c.category IS NOT NULL AND c.spent_on IS NOT NULL AND c.expenses <> 0;
END
$$;

-- Called by the source's budgets_changed and users_changed triggers: these
-- users' budgets are looked at again by the next budget_alerts (and their
-- spending summed afresh with recompute); due_on (one per user, NULL: now)
-- also asks for a look once their local date reaches it (a budget's start).
-- Never raises.
CREATE OR REPLACE FUNCTION wheels.record_user_changes(user_ids uuid[], recompute boolean DEFAULT false,
                                                      due_on date[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wheels.user_changes (user_id, recompute, due_on)
    SELECT DISTINCT c.user_id, recompute, NULL::date FROM unnest(user_ids) c (user_id) WHERE c.user_id IS NOT NULL
    UNION
    -- A date already past is due at the next fold: one more look, never a missed one.
    SELECT c.user_id, false, c.due_on FROM unnest(user_ids, due_on) c (user_id, due_on)
    WHERE c.user_id IS NOT NULL AND c.due_on IS NOT NULL;
EXCEPTION WHEN OTHERS THEN
    PERFORM wheels.budget_state_trouble('record_user_changes', SQLERRM, user_ids);
END
$$;

-- A change could not be recorded: mark the users (when known) for a fresh
-- sum, and record a failed budget_state_rebuild run (status and the dashboard
-- show it; that job repairs whatever else). Never raises: the app's write
-- goes through whatever happens here.
CREATE OR REPLACE FUNCTION wheels.budget_state_trouble(what text, problem text, user_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    line text := format('%s could not record a change (%s marked for a fresh sum): %s; '
                        '`cli.py jobs run budget_state_rebuild` repairs the budget state',
                        what, wheels.plural(coalesce(cardinality(user_ids), 0), 'user', 'users'), problem);
BEGIN
    RAISE WARNING 'wheels-jobs: %', line;
    BEGIN
        INSERT INTO wheels.user_changes (user_id, recompute)
        SELECT DISTINCT u, true FROM unnest(user_ids) u WHERE u IS NOT NULL;
        INSERT INTO wheels.job_runs (job, runner, started_at, finished_at, outcome, result)
        VALUES ('budget_state_rebuild', 'source trigger', now(), clock_timestamp(), 'failed', line);
    EXCEPTION WHEN OTHERS THEN
        NULL;  -- the warning is all there is; source check reports the drift
    END;
END
$$;

-- Fold what the source's triggers recorded into the state, before a job reads
-- it: first the users whose changes are due (zone of record, a fresh sum where
-- asked), then the expense changes, summed per day and month. What may
-- need an alert goes onto budgets_to_check for budget_alerts: the users
-- whose budgets, zone or settings changed, and the month sums that reached
-- their next alert. One fold at a time
-- (the lock), so two jobs never fold one change twice; app writes never wait
-- for it: what commits meanwhile stays for the next fold.
CREATE OR REPLACE FUNCTION wheels.budget_state_refresh(as_of timestamptz DEFAULT now()) RETURNS void
LANGUAGE plpgsql
SET jit = off  -- as budget_alerts: milliseconds of work, never worth compiling
AS $$
DECLARE
    utc_today date := (as_of AT TIME ZONE 'UTC')::date;
    changed uuid[];
    recompute uuid[];
    emptied_day_users uuid[];
    emptied_days date[];
    emptied_day_keys text[];
    emptied_month_users uuid[];
    emptied_months date[];
    emptied_month_keys text[];
BEGIN
    PERFORM pg_advisory_xact_lock(wheels.job_lock_key('budget_state'));

    -- 1. Users whose changes are due: now, or once their local date reaches due_on.
    WITH due AS (
        DELETE FROM wheels.user_changes c
        WHERE c.ctid = ANY (ARRAY(
            SELECT x.ctid FROM wheels.user_changes x
            LEFT JOIN wheels.user_zones z ON z.user_id = x.user_id
            WHERE x.due_on IS NULL OR x.due_on <= (as_of AT TIME ZONE coalesce(z.zone, 'UTC'))::date))
        RETURNING c.user_id, c.recompute
    )
    SELECT array_agg(DISTINCT due.user_id), array_agg(DISTINCT due.user_id) FILTER (WHERE due.recompute)
    INTO changed, recompute
    FROM due;

    IF changed IS NOT NULL THEN
        -- Their zone of record as wheels.users() resolves it now; a user gone has none.
        DELETE FROM wheels.user_zones z
        WHERE z.user_id = ANY (changed) AND NOT EXISTS (SELECT 1 FROM wheels.users() u WHERE u.user_id = z.user_id);
        INSERT INTO wheels.user_zones AS z (user_id, zone)
        SELECT u.user_id, u.zone FROM wheels.users() u WHERE u.user_id = ANY (changed)
        ON CONFLICT (user_id) DO UPDATE SET zone = excluded.zone WHERE z.zone <> excluded.zone;
        INSERT INTO wheels.digest_zones (zone)
        SELECT DISTINCT z.zone FROM wheels.user_zones z WHERE z.user_id = ANY (changed)
        ON CONFLICT (zone) DO NOTHING;
        INSERT INTO wheels.budgets_to_check (user_id) SELECT unnest(changed);
    END IF;

    IF recompute IS NOT NULL THEN
        -- A fresh sum: their rows go; then, in one statement (one snapshot),
        -- their recorded changes go (this snapshot's source already has them)
        -- and their expenses are summed. Changes committed later stay.
        DELETE FROM wheels.spending_days d WHERE d.user_id = ANY (recompute);
        DELETE FROM wheels.spending_months m WHERE m.user_id = ANY (recompute);
        WITH dropped AS (
            DELETE FROM wheels.spending_changes c WHERE c.user_id = ANY (recompute)
        ), fresh AS (
            SELECT e.user_id, e.spent_on AS day, wheels.category_key(e.category) AS category_key,
                   min(btrim(e.category)) AS category, sum(coalesce(e.amount, 0)) AS amount, count(*)::int AS expenses
            FROM wheels_source.expenses e
            WHERE e.user_id = ANY (recompute) AND e.category IS NOT NULL AND e.spent_on IS NOT NULL
            GROUP BY 1, 2, 3
        ), months AS (
            INSERT INTO wheels.spending_months (user_id, month, category_key, amount, expenses)
            SELECT f.user_id, date_trunc('month', f.day)::date, f.category_key, sum(f.amount), sum(f.expenses)
            FROM fresh f GROUP BY 1, 2, 3
        )
        INSERT INTO wheels.spending_days (user_id, day, category_key, category, amount, expenses)
        SELECT f.user_id, f.day, f.category_key, f.category, f.amount, f.expenses FROM fresh f;
    END IF;

    -- 2. The recorded expense changes, summed per day and per month.
    WITH taken AS (
        DELETE FROM wheels.spending_changes RETURNING *
    ), per_day AS (
        SELECT t.user_id, t.spent_on AS day, wheels.category_key(t.category) AS category_key,
               coalesce(min(btrim(t.category)) FILTER (WHERE t.expenses > 0), min(btrim(t.category))) AS category,
               sum(t.amount) AS amount, sum(t.expenses)::int AS expenses
        FROM taken t
        GROUP BY 1, 2, 3
    ), days AS (
        INSERT INTO wheels.spending_days AS d (user_id, day, category_key, category, amount, expenses)
        SELECT p.user_id, p.day, p.category_key, p.category, p.amount, p.expenses FROM per_day p
        ON CONFLICT (user_id, day, category_key) DO UPDATE
            SET amount = d.amount + excluded.amount, expenses = d.expenses + excluded.expenses,
                category = least(d.category, excluded.category)
        RETURNING d.user_id, d.day, d.category_key, d.expenses
    ), months AS (
        INSERT INTO wheels.spending_months AS m (user_id, month, category_key, amount, expenses)
        SELECT p.user_id, date_trunc('month', p.day)::date, p.category_key, sum(p.amount), sum(p.expenses)
        FROM per_day p
        GROUP BY 1, 2, 3
        ON CONFLICT (user_id, month, category_key) DO UPDATE
            SET amount = m.amount + excluded.amount, expenses = m.expenses + excluded.expenses
        RETURNING m.user_id, m.month, m.category_key, m.expenses, m.amount, m.next_alert_at
    ), checks AS (
        -- Only sums that reached an alert they have not had (or whose next one
        -- is not known yet): budget_alerts reads the budgets of nothing else.
        INSERT INTO wheels.budgets_to_check (user_id, category_key)
        SELECT DISTINCT m.user_id, m.category_key FROM months m
        WHERE m.next_alert_at IS NULL OR m.amount >= m.next_alert_at
    ), later AS (
        -- Spending dated in a month that may not have begun for its owner yet:
        -- look at their budgets again once it has (the month turning over).
        INSERT INTO wheels.user_changes (user_id, recompute, due_on)
        SELECT DISTINCT p.user_id, false, date_trunc('month', p.day)::date FROM per_day p
        WHERE date_trunc('month', p.day)::date >= utc_today
    )
    SELECT (SELECT array_agg(d.user_id) FROM days d WHERE d.expenses = 0),
           (SELECT array_agg(d.day) FROM days d WHERE d.expenses = 0),
           (SELECT array_agg(d.category_key) FROM days d WHERE d.expenses = 0),
           (SELECT array_agg(m.user_id) FROM months m WHERE m.expenses = 0),
           (SELECT array_agg(m.month) FROM months m WHERE m.expenses = 0),
           (SELECT array_agg(m.category_key) FROM months m WHERE m.expenses = 0)
    INTO emptied_day_users, emptied_days, emptied_day_keys, emptied_month_users, emptied_months, emptied_month_keys;

    -- Sums whose last expense left: no row, as if never spent (only those:
    -- probing every touched user for them cost a fifth of the fold).
    IF emptied_days IS NOT NULL THEN
        DELETE FROM wheels.spending_days d
        USING unnest(emptied_day_users, emptied_days, emptied_day_keys) AS e (user_id, day, category_key)
        WHERE (d.user_id, d.day, d.category_key) = (e.user_id, e.day, e.category_key) AND d.expenses = 0;
    END IF;
    IF emptied_months IS NOT NULL THEN
        DELETE FROM wheels.spending_months m
        USING unnest(emptied_month_users, emptied_months, emptied_month_keys) AS e (user_id, month, category_key)
        WHERE (m.user_id, m.month, m.category_key) = (e.user_id, e.month, e.category_key) AND m.expenses = 0;
    END IF;
END
$$;

-- What each budget has spent, from the state: its key's whole local month
-- (budget_alerts, future-dated days included, as the old re-sum counted) and
-- the month up to the end of `through` (the digest: the month less its later
-- days). A one-SELECT SQL table function: inlined into the caller's LATERAL.
CREATE OR REPLACE FUNCTION wheels.spent(user_id uuid, category text, month date, through date)
RETURNS TABLE (in_month numeric, through_day numeric)
LANGUAGE sql STABLE AS $$
    SELECT coalesce(m.amount, 0), coalesce(m.amount, 0) - coalesce(l.later, 0)
    FROM (SELECT wheels.category_key(spent.category) AS category_key) k
    LEFT JOIN wheels.spending_months m
           ON m.user_id = spent.user_id AND m.month = spent.month AND m.category_key = k.category_key
    LEFT JOIN LATERAL (
        SELECT sum(d.amount) AS later FROM wheels.spending_days d
        WHERE d.user_id = spent.user_id AND d.day > spent.through
          AND d.day < (spent.month + interval '1 month')::date AND d.category_key = k.category_key) l ON true
$$;

-- Rebuild the state from scratch: at install, when a source changes, and to
-- repair drift (`cli.py jobs run budget_state_rebuild`). Sums the months and
-- days the jobs read, every user's zone of record, and has the next
-- budget_alerts look at every budget. In one statement (one snapshot) with
-- the source read, the recorded changes it already reflects are dropped;
-- later ones stay for the next fold. Its cost grows with the data: it is the
-- one that does, a weekly safety net. `as_of` fixes "now" for benchmarks.
CREATE OR REPLACE FUNCTION wheels.budget_state_rebuild(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql
-- A month of a million users' expenses is hashed by (user, month, category).
SET work_mem = '256MB'
AS $$
DECLARE
    first_month date;
    first_day date;
    months bigint;
    days bigint;
    users bigint;
BEGIN
    SELECT k.first_month, k.first_day INTO first_month, first_day FROM wheels.spending_kept_from(as_of) k;
    PERFORM wheels.lock_job('budget_state_rebuild');  -- one run at a time (invariant 11)
    PERFORM pg_advisory_xact_lock(wheels.job_lock_key('budget_state'));  -- and no fold meanwhile
    -- Only jobs touch these, under the lock above.
    TRUNCATE wheels.spending_months, wheels.spending_days, wheels.user_zones, wheels.budgets_to_check;

    WITH dropped AS (
        DELETE FROM wheels.spending_changes
    ), settled AS (
        DELETE FROM wheels.user_changes c WHERE c.due_on IS NULL  -- a later due_on still asks for a look then
    ), kept_months AS (
        INSERT INTO wheels.spending_months (user_id, month, category_key, amount, expenses)
        SELECT e.user_id, date_trunc('month', e.spent_on)::date, wheels.category_key(e.category),
               sum(coalesce(e.amount, 0)), count(*)
        FROM wheels_source.expenses e
        WHERE e.spent_on >= first_month AND e.user_id IS NOT NULL AND e.category IS NOT NULL
        GROUP BY 1, 2, 3
        HAVING count(*) > 0
        RETURNING 1
    ), kept_days AS (
        INSERT INTO wheels.spending_days (user_id, day, category_key, category, amount, expenses)
        SELECT e.user_id, e.spent_on, wheels.category_key(e.category), min(btrim(e.category)),
               sum(coalesce(e.amount, 0)), count(*)
        FROM wheels_source.expenses e
        WHERE e.spent_on >= first_day AND e.user_id IS NOT NULL AND e.category IS NOT NULL
        GROUP BY 1, 2, 3
        RETURNING 1
    ), zones AS (
        INSERT INTO wheels.user_zones (user_id, zone)
        SELECT u.user_id, u.zone FROM wheels.users() u
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM kept_months), (SELECT count(*) FROM kept_days), (SELECT count(*) FROM zones)
    INTO months, days, users;

    INSERT INTO wheels.digest_zones (zone) SELECT DISTINCT z.zone FROM wheels.user_zones z ON CONFLICT (zone) DO NOTHING;
    UPDATE wheels.budget_state SET check_all = true, rebuilt_at = now();
    RETURN format('budget_state_rebuild: %s, %s from %s, %s from %s', wheels.plural(users, 'user', 'users'),
                  wheels.plural(months, 'month sum', 'month sums'), first_month,
                  wheels.plural(days, 'day sum', 'day sums'), first_day);
END
$$;
