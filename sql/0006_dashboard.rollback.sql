-- Undo 0006_dashboard. The functions of sql/functions/ that belong to it go
-- too (migrate re-creates them after re-applying); roles stay (cluster-wide).
DROP FUNCTION IF EXISTS wheels.log_pam_event(uuid, text, text, int, boolean, text);
DROP FUNCTION IF EXISTS wheels.daily_report(timestamptz);
DROP FUNCTION IF EXISTS wheels.daily_figures(date);
DROP FUNCTION IF EXISTS wheels.email_outcomes(date, date);
DROP FUNCTION IF EXISTS wheels.suppressions_added(date, date);
DROP FUNCTION IF EXISTS wheels.queue_health();
REVOKE SELECT ON analytics_summary, analytics_daily FROM wheels_web;
REVOKE USAGE ON SCHEMA wheels FROM wheels_app;
DELETE FROM wheels.settings WHERE name = 'admin_emails';
DELETE FROM wheels.email_ledger WHERE kind = 'daily_report';
DELETE FROM wheels.email_kinds WHERE kind = 'daily_report';
