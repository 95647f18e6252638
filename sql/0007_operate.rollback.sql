-- Undo 0007_operate: the thresholds of `cli.py status`.
DELETE FROM wheels.settings WHERE name IN (
    'email_quota_monthly', 'email_quota_daily', 'email_quota_warn_percent', 'queue_stuck_minutes', 'sender_seen_minutes');
