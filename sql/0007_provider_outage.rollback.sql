-- Undo 0007_provider_outage: no circuit breaker; batches give up after a count of attempts again.
DELETE FROM wheels.settings WHERE name = 'sender_give_up_after_hours';
INSERT INTO wheels.settings (name, value, description) VALUES
    ('sender_max_attempts', '8', 'provider calls that failed for a transient reason (5xx, timeout) before an intent is dead-lettered; 429s do not count');
ALTER TABLE wheels.send_batches DROP COLUMN failing_since;
ALTER TABLE wheels.sender_throttle DROP COLUMN outage_since, DROP COLUMN outage_reason, DROP COLUMN probe_at,
    DROP COLUMN probe_interval_s;
