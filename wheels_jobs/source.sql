-- Named queries of `cli.py source check` (wheels_jobs/source.py): the
-- installed source against the contract (wheels.source_contract), then the
-- app's data as the jobs will read it. Run as the operator.

-- name: contract_violations
-- Every contract column the installed relation lacks or types differently,
-- and every missing write-back function. A relation that is missing reports
-- all its columns as missing.
SELECT c.relation, c.column_name, c.type AS expected,
       CASE WHEN c.column_name = 'returns' THEN NULL ELSE format_type(a.atttypid, NULL) END AS found
FROM wheels.source_contract c
LEFT JOIN pg_attribute a
       ON a.attrelid = CASE WHEN c.column_name <> 'returns' THEN to_regclass('wheels_source.' || c.relation) END
      AND a.attname = c.column_name AND NOT a.attisdropped AND a.attnum > 0
WHERE CASE WHEN c.column_name = 'returns'
           THEN coalesce(format_type((SELECT p.prorettype FROM pg_proc p
                                      WHERE p.oid = to_regprocedure('wheels_source.' || c.relation)), NULL) <> c.type,
                         true)
           ELSE a.attname IS NULL OR format_type(a.atttypid, NULL) <> c.type END
ORDER BY c.relation, c.position;

-- name: unknown_time_zones
-- Time zones PostgreSQL does not know: those users' days are counted in UTC.
SELECT u.time_zone AS value, count(*) AS users
FROM wheels_source.users u
LEFT JOIN wheels.time_zones z ON z.name = u.time_zone
WHERE z.name IS NULL
GROUP BY u.time_zone ORDER BY count(*) DESC, 1 LIMIT 20;

-- name: users_without_email
-- Users who get no email at all: no address, or one that cannot be sent to.
SELECT coalesce(u.email, '(none)') AS value, count(*) AS users
FROM wheels_source.users u
WHERE NOT wheels.usable_email(u.email)
GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 20;

-- name: currencies
-- Every currency code the users have, to be checked against ISO 4217 (in Python).
SELECT u.currency AS value, count(*) AS users
FROM wheels_source.users u
WHERE u.currency IS NOT NULL
GROUP BY u.currency ORDER BY 1;

-- name: unknown_units
SELECT u.units AS value, count(*) AS users
FROM wheels_source.users u
WHERE u.units IS DISTINCT FROM 'metric' AND u.units IS DISTINCT FROM 'imperial'
GROUP BY u.units ORDER BY 1;

-- name: budgets_without_limit
-- Budgets the alerts skip: no positive monthly limit.
SELECT coalesce(b.monthly_limit::text, '(none)') AS value, count(*) AS budgets
FROM wheels_source.budgets b
WHERE b.monthly_limit IS NULL OR b.monthly_limit <= 0
GROUP BY 1 ORDER BY 1;

-- name: expiring_tables
-- The app tables cleanup trims: which exist here, with the declared columns,
-- and whether an index leads with the column it reads them in order of.
SELECT e.relation, e.time_column, e.keep, e.in_order_of,
       to_regclass(e.relation) IS NOT NULL AS present,
       EXISTS (SELECT 1 FROM pg_attribute a
               WHERE a.attrelid = to_regclass(e.relation) AND a.attname = e.time_column AND NOT a.attisdropped)
           AS has_column,
       e.in_order_of IS NULL OR EXISTS (
           SELECT 1 FROM pg_attribute a
           WHERE a.attrelid = to_regclass(e.relation) AND a.attname = e.in_order_of AND NOT a.attisdropped)
           AS has_order_column,
       e.in_order_of IS NULL OR EXISTS (
           SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
           WHERE i.indrelid = to_regclass(e.relation) AND a.attname = e.in_order_of)
           AS order_indexed
FROM wheels_source.expiring e
ORDER BY e.relation;

-- name: unattached_triggers
-- The contract's trigger functions that no enabled trigger calls: the budget
-- state would not follow the app's writes.
SELECT c.relation
FROM wheels.source_contract c
WHERE c.column_name = 'returns' AND c.type = 'trigger'
  AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                  WHERE t.tgfoid = to_regprocedure('wheels_source.' || c.relation) AND t.tgenabled <> 'D')
ORDER BY 1;

-- name: state_size
-- How many users the state knows (an estimate: sizes the drift sample).
SELECT greatest(reltuples, 0)::bigint AS users FROM pg_class WHERE oid = 'wheels.user_zones'::regclass;

-- name: budget_state_drift
-- The budget state's month sums against a fresh sum of the source, for the
-- users whose id hashes into one bucket of %(buckets)s (a sample of about
-- 10,000 users, another bucket each check), over the months the jobs read.
-- Changes recorded but not yet folded count as the state's; users waiting for
-- a fresh sum are left out. The fresh sum reads every expense of those months
-- (the source may have no index to find a user's): one scan, bounded memory.
WITH kept AS (
    SELECT k.first_month FROM wheels.spending_kept_from(now()) k
), fresh AS (
    SELECT e.user_id, date_trunc('month', e.spent_on)::date AS month, wheels.category_key(e.category) AS category_key,
           sum(coalesce(e.amount, 0)) AS amount
    FROM wheels_source.expenses e, kept
    WHERE e.spent_on >= kept.first_month AND e.category IS NOT NULL AND e.user_id IS NOT NULL
      AND (hashtext(e.user_id::text) & 2147483647) %% %(buckets)s = %(bucket)s
    GROUP BY 1, 2, 3
), state AS (
    SELECT s.user_id, s.month, s.category_key, sum(s.amount) AS amount
    FROM (SELECT m.user_id, m.month, m.category_key, m.amount FROM wheels.spending_months m
          UNION ALL
          SELECT c.user_id, date_trunc('month', c.spent_on)::date, wheels.category_key(c.category), c.amount
          FROM wheels.spending_changes c) s, kept
    WHERE s.month >= kept.first_month AND (hashtext(s.user_id::text) & 2147483647) %% %(buckets)s = %(bucket)s
    GROUP BY 1, 2, 3
)
SELECT count(DISTINCT coalesce(f.user_id, s.user_id)) AS users
FROM fresh f
FULL JOIN state s USING (user_id, month, category_key)
WHERE coalesce(f.amount, 0) <> coalesce(s.amount, 0)
  AND coalesce(f.user_id, s.user_id) NOT IN (SELECT c.user_id FROM wheels.user_changes c WHERE c.recompute);

-- name: copy_drift
-- The source's copies of app rows (tables of ours its triggers keep) that
-- differ from a fresh copy.
SELECT d.copy, d.differing FROM wheels_source.copy_drift d WHERE d.differing <> 0 ORDER BY d.copy;

-- name: scan_probes
-- What the jobs ask the source most often, planned (not run) with this
-- database's statistics: a plan that reads a whole large table for it is
-- reported with the index or partitioning that would spare it.
SELECT 'the hourly PAM rollup reads an hour of events' AS what,
       'partition the log by day (docs/scaling_supabase_pam_log.sql) or index its time column' AS fix,
       $q$SELECT count(*) FROM wheels_source.pam_events e
          WHERE e.occurred_at >= now() - interval '1 hour' AND e.occurred_at < now()$q$ AS query
UNION ALL
SELECT 'the digest counts one user''s PAM messages of a day',
       'an index on the log''s (user_id, time column) for messages (docs/scaling_supabase_pam_log.sql)',
       $q$SELECT count(*) FROM wheels_source.pam_events e
          WHERE e.user_id = '00000000-0000-0000-0000-000000000000' AND e.kind = 'message'
            AND e.occurred_at >= now() - interval '1 day' AND e.occurred_at < now()$q$
UNION ALL
SELECT 'maintenance reminders read the open tasks due within the window',
       'an index on the tasks'' due date (open ones)',
       $q$SELECT count(*) FROM wheels_source.maintenance_tasks t
          WHERE NOT t.done AND t.due_on BETWEEN current_date - 1 AND current_date + 8$q$
UNION ALL
SELECT 'the digest reads one user''s budgets',
       'an index on the budgets'' user id',
       $q$SELECT count(*) FROM wheels_source.budgets b
          WHERE b.user_id = '00000000-0000-0000-0000-000000000000'$q$
UNION ALL
SELECT 'fuel consumption and maintenance reminders read the fills and tasks of owners whose own changed',
       'an index on the fills'' and the tasks'' user id',
       $q$SELECT (SELECT count(*) FROM wheels_source.fuel_fills f
                  WHERE f.user_id = '00000000-0000-0000-0000-000000000000')
               + (SELECT count(*) FROM wheels_source.maintenance_tasks t
                  WHERE t.user_id = '00000000-0000-0000-0000-000000000000')$q$;

-- name: large_tables
-- Tables big enough that reading all of them matters (estimated rows).
SELECT c.oid::regclass::text AS relation, c.reltuples::bigint AS rows
FROM pg_class c
WHERE c.relkind IN ('r', 'p') AND c.reltuples >= %(min_rows)s;
