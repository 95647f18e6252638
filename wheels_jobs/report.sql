-- Named queries of the daily report (wheels_jobs/report.py): `cli.py report`
-- and the ADMIN_EMAILS sync of `cli.py migrate`.

-- name: daily_figures
-- The figures the daily_report email carries, for any UTC day.
SELECT wheels.daily_figures(%(day)s::date) AS figures;

-- name: set_admin_emails
-- The admin_emails setting the daily_report job reads; reports whether it changed.
UPDATE wheels.settings SET value = %(value)s
WHERE name = 'admin_emails' AND value IS DISTINCT FROM %(value)s
RETURNING value;

-- name: activation
-- When wheels-jobs went live (sql/0006_success.sql): the success metrics count from it.
SELECT activated_at, changed_at FROM wheels.activation;

-- name: set_activation
-- `cli.py activation --set`: move it (or record it again, should its row be gone).
INSERT INTO wheels.activation (activated_at) VALUES (%(at)s)
ON CONFLICT (singleton) DO UPDATE SET activated_at = excluded.activated_at, changed_at = now()
RETURNING activated_at, changed_at;
