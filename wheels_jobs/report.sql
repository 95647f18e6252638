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
