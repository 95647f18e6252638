-- Daily digest (every minute): at most one per user per LOCAL calendar day
-- (ledger period = local today), decided by a run at or after
-- digest_local_hour local time, once per time zone and local day
-- (wheels.digest_zones): a run reads only the users of the zones whose
-- morning has come (wheels.user_zones), not every user, and at most
-- digest_batch_users of them, in user order: a zone with more goes on where
-- the last run stopped (sql/0012_digest_batches.sql). It covers the
-- user's local yesterday: spending by category, where each budget in force
-- stood at the end of yesterday (month to date, from the budget state), open
-- maintenance due within maintenance_reminder_days, and PAM messages. Users
-- with no spending, no maintenance due and no PAM messages at that run get
-- none: a budget table alone is not news (the Celery task mailed every active
-- user daily, news or not). `as_of` fixes "now" for tests and replays.
CREATE OR REPLACE FUNCTION wheels.daily_digest(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql
-- No JIT: the source's views over tables without statistics on a fresh
-- install estimate costs past the JIT thresholds, and compiling took 0.2-0.5 s
-- of runs that take milliseconds.
SET jit = off
AS $$
DECLARE
    digest_hour int := wheels.setting('digest_local_hour')::int;
    window_days int := wheels.setting('maintenance_reminder_days')::int;
    batch int := wheels.setting('digest_batch_users')::int;
    utc_today date := (as_of AT TIME ZONE 'UTC')::date;
    zones text[];
    local_todays date[];
    resume_afters uuid[];
    unfinished int;
    wanted wheels.intent[];
    sent int;
BEGIN
    PERFORM wheels.lock_job('daily_digest');
    PERFORM wheels.budget_state_refresh(as_of);

    -- The zones whose digest hour has come today and whose users were not all
    -- considered today yet, each with the last user a run of today decided.
    SELECT array_agg(z.zone ORDER BY z.zone), array_agg(l.today ORDER BY z.zone),
           array_agg(CASE WHEN z.resume_day = l.today THEN z.resume_after END ORDER BY z.zone)
    INTO zones, local_todays, resume_afters
    FROM wheels.digest_zones z
    CROSS JOIN LATERAL (SELECT as_of AT TIME ZONE z.zone AS local_now) n
    CROSS JOIN LATERAL (SELECT n.local_now::date AS today) l
    WHERE extract(hour FROM n.local_now) >= digest_hour AND z.decided_on IS DISTINCT FROM l.today;
    IF zones IS NULL THEN
        RETURN 'daily_digest: 0 digests enqueued';
    END IF;

    -- This run's users: the next `batch` in (zone, user) order, each zone's
    -- from where the last run stopped: an index range of user_zones each (the
    -- bound written as one >= the range can start at, not as an OR, which the
    -- index cannot start from: each run read the zone from its first user).
    CREATE TEMP TABLE digest_picked ON COMMIT DROP AS
    SELECT d.zone, d.today, p.user_id
    FROM unnest(zones, local_todays, resume_afters) AS d (zone, today, after)
    CROSS JOIN LATERAL (
        SELECT uz.user_id FROM wheels.user_zones uz
        WHERE uz.zone = d.zone
          AND uz.user_id >= coalesce(d.after, '00000000-0000-0000-0000-000000000000')
          AND uz.user_id IS DISTINCT FROM d.after
        ORDER BY uz.user_id
        LIMIT batch) p
    ORDER BY d.zone, p.user_id
    LIMIT batch;

    -- Each zone's progress: decided for today once no user is left after the
    -- last one taken (a failed run leaves it as it was, for the next run).
    WITH progress AS (
        SELECT d.zone, d.today, coalesce(p.last_user, d.after) AS last_user
        FROM unnest(zones, local_todays, resume_afters) AS d (zone, today, after)
        LEFT JOIN (SELECT t.zone, (array_agg(t.user_id ORDER BY t.user_id DESC))[1] AS last_user
                   FROM digest_picked t GROUP BY t.zone) p ON p.zone = d.zone
    ), moved AS (
        UPDATE wheels.digest_zones z
        SET decided_on = CASE WHEN f.finished THEN g.today ELSE z.decided_on END,
            resume_day = CASE WHEN f.finished THEN NULL ELSE g.today END,
            resume_after = CASE WHEN f.finished THEN NULL ELSE g.last_user END
        FROM progress g
        CROSS JOIN LATERAL (
            SELECT NOT EXISTS (SELECT 1 FROM wheels.user_zones uz  -- the same index range as above
                               WHERE uz.zone = g.zone
                                 AND uz.user_id >= coalesce(g.last_user, '00000000-0000-0000-0000-000000000000')
                                 AND uz.user_id IS DISTINCT FROM g.last_user) AS finished) f
        WHERE z.zone = g.zone
        RETURNING f.finished
    )
    SELECT count(*) FILTER (WHERE NOT m.finished) INTO unfinished FROM moved m;

    -- Those users with no digest for today yet, in a temporary table with
    -- statistics: planned as one row (a CTE over arrays), they had every later
    -- join made as nested loops, the maintenance window scanned once per user.
    CREATE TEMP TABLE digest_due ON COMMIT DROP AS
    SELECT u.user_id, u.currency, p.today, p.today - 1 AS day,
           (p.today - 1)::timestamp AT TIME ZONE u.zone AS day_starts,
           p.today::timestamp AT TIME ZONE u.zone AS day_ends,
           date_trunc('month', p.today - 1)::date AS month_start
    FROM digest_picked p
    JOIN wheels.users() u ON u.user_id = p.user_id AND u.zone = p.zone  -- still their zone
    WHERE NOT EXISTS (
              SELECT 1 FROM wheels.email_ledger x
              WHERE x.kind = 'daily_digest' AND x.subject = u.user_id::text AND x.period = p.today::text);
    ANALYZE digest_due;
    DROP TABLE digest_picked;

    -- The candidates first, read-only; then _enqueue decides and enqueues.
    SELECT ARRAY(
        WITH due AS (
            SELECT * FROM digest_due
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
            -- Per user, LATERAL: the state and the budgets are read by user (index
            -- probes). As joins the planner hashed every day sum and every budget
            -- there is (3M and 5M rows at a million users, for 1/24 of the users).
            SELECT d.*, m.items AS maintenance, g.messages, sp.items AS spending
            FROM due d
            LEFT JOIN maintenance m ON m.user_id = d.user_id
            CROSS JOIN LATERAL (
                SELECT count(*) AS messages
                FROM wheels_source.pam_events g
                WHERE g.user_id = d.user_id AND g.kind = 'message'
                  AND g.occurred_at >= d.day_starts AND g.occurred_at < d.day_ends) g
            CROSS JOIN LATERAL (
                -- Yesterday's total per category, as the expenses name it.
                SELECT jsonb_agg(jsonb_build_object('category', s.category, 'amount', round(s.amount, 2))
                                 ORDER BY s.category) AS items
                FROM wheels.spending_days s
                WHERE s.user_id = d.user_id AND s.day = d.day) sp
            WHERE m.items IS NOT NULL OR g.messages > 0 OR sp.items IS NOT NULL
        ), budgets AS (
            -- Each budget in force yesterday, month to date at the end of yesterday.
            SELECT n.user_id, b.items
            FROM news n
            CROSS JOIN LATERAL (
                SELECT jsonb_agg(jsonb_build_object('category', b.category, 'spent', round(s.spent, 2),
                                                    'limit', round(b.monthly_limit, 2),
                                                    'percent', trunc(s.spent * 100 / b.monthly_limit, 1))
                                 ORDER BY b.category, b.budget_id) AS items
                FROM wheels_source.budgets b
                CROSS JOIN LATERAL (
                    SELECT t.through_day AS spent FROM wheels.spent(n.user_id, b.category, n.month_start, n.day) t) s
                WHERE b.user_id = n.user_id AND b.monthly_limit > 0
                  AND (b.starts_on IS NULL OR b.starts_on <= n.day) AND (b.ends_on IS NULL OR n.day <= b.ends_on)) b
            WHERE b.items IS NOT NULL
        )
        SELECT ROW('daily_digest', n.user_id::text, n.today::text, n.user_id, NULL,
                   jsonb_build_object('day', n.day, 'currency', n.currency,
                                      'spending', coalesce(n.spending, '[]'),
                                      'budgets', coalesce(b.items, '[]'),
                                      'maintenance', coalesce(n.maintenance, '[]'),
                                      'pam', jsonb_build_object('messages', n.messages)))::wheels.intent
        FROM news n
        LEFT JOIN budgets b ON b.user_id = n.user_id) INTO wanted;
    DROP TABLE digest_due;

    SELECT coalesce(sum(e.enqueued), 0) INTO sent FROM wheels._enqueue(wanted) e;
    RETURN format('daily_digest: %s enqueued%s', wheels.plural(sent, 'digest', 'digests'),
                  CASE WHEN unfinished > 0
                       THEN format(' (%s on at the next run)', wheels.plural(unfinished, 'zone goes', 'zones go'))
                       ELSE '' END);
END
$$;
