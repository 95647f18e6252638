-- Undo 0003_email_jobs. The trigger and the functions of sql/functions/ that use
-- the intent type go with it (CASCADE): migrate re-creates them after re-applying.
DROP INDEX pam_analytics_logs_user_messages_idx;
DROP TRIGGER IF EXISTS profiles_welcome ON profiles;
DROP TYPE wheels.intent CASCADE;
DELETE FROM wheels.settings
WHERE name IN ('budget_warning_percent', 'budget_over_percent', 'maintenance_reminder_days', 'digest_local_hour');
DO $$ BEGIN PERFORM pgmq.enable_notify_insert('email_intents', 0); END $$;
