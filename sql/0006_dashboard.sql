-- depends: 0005_web 0003_email_jobs
-- wheels-jobs schema, part 6: analytics people can see (issue 8): the PAM event
-- producer function's role, the /dashboard page's read access, and the team's
-- daily report email.
--
-- The dashboard runs in the web service as wheels_web, so it reads only
-- aggregates: the two rollup tables (no personal data in them) here, and the
-- email and queue counts through SECURITY DEFINER functions of
-- sql/functions/aggregates.sql that return counts and nothing else (deliveries,
-- dead letters, suppressions and the queue all hold addresses). It never reads
-- pam_analytics_logs: the rollups exist so that nobody scans it.
-- The functions themselves (log_pam_event, aggregates, daily_report) live in
-- sql/functions/ with their EXECUTE grants; migrate re-applies them after this.

------------------------------------------------------------------------------
-- The daily report: a kind without a user (user_id null), not optional per
-- user (the list of admin addresses is the switch), and its recipients.
------------------------------------------------------------------------------
INSERT INTO wheels.email_kinds (kind, preference_kind, description) VALUES
    ('daily_report', NULL, 'the team''s morning report of yesterday''s PAM and email figures, to each admin address');

-- ADMIN_EMAILS lives in the environment, but pg_cron runs the job in the
-- database: `cli.py migrate` copies ADMIN_EMAILS here when it is set, and an
-- operator may also UPDATE the row by hand.
INSERT INTO wheels.settings (name, value, description) VALUES
    ('admin_emails', '',
     'daily_report: comma-separated admin addresses that get the daily report; `cli.py migrate` sets it from ADMIN_EMAILS when that is set');

------------------------------------------------------------------------------
-- Least privilege (ARCHITECTURE invariant 7).
-- wheels_app (the app): calls wheels.log_pam_event, nothing else of ours.
-- wheels_web (the dashboard): SELECT on the rollups; the count functions are
-- granted where they are defined.
------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA wheels TO wheels_app;
GRANT SELECT ON analytics_summary, analytics_daily TO wheels_web;
