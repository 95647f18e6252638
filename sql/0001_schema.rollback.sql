-- Undo 0001_schema. Roles stay: they are cluster-wide and may serve other databases.
DO $$ BEGIN PERFORM pgmq.drop_queue('email_intents'); END $$;
DROP TABLE wheels.suppressions, wheels.dead_letters, wheels.deliveries, wheels.email_ledger, wheels.settings;
DROP TABLE analytics_daily, analytics_summary, pam_analytics_logs;
DROP TABLE maintenance_records, fuel_logs, vehicles, expenses, budget_categories, email_preferences;
DROP TABLE wheels.email_kinds, profiles;
-- CASCADE also drops the job functions of sql/functions/: migrate re-creates them.
DROP SCHEMA wheels CASCADE;
