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
-- The app tables cleanup trims: which exist here, with the declared column.
SELECT e.relation, e.time_column, e.keep,
       to_regclass(e.relation) IS NOT NULL AS present,
       EXISTS (SELECT 1 FROM pg_attribute a
               WHERE a.attrelid = to_regclass(e.relation) AND a.attname = e.time_column AND NOT a.attisdropped)
           AS has_column
FROM wheels_source.expiring e
ORDER BY e.relation;
