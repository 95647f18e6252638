-- Undo 0002_analytics: the rollup progress and the settings it added.
DROP TABLE wheels.rollup_state;
DELETE FROM wheels.settings WHERE name IN (
    'analytics_recompute_hours', 'analytics_retention_days', 'queue_archive_retention_days',
    'cron_history_retention_days', 'cleanup_batch_size');
COMMENT ON COLUMN analytics_summary.intents IS NULL;
COMMENT ON COLUMN analytics_summary.computed_at IS NULL;
COMMENT ON COLUMN analytics_daily.computed_at IS NULL;
