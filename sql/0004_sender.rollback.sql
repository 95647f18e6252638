-- Undo 0004_sender. The role stays (cluster-wide); its grants go with the objects or are revoked.
REVOKE ALL ON wheels.deliveries, wheels.dead_letters, wheels.email_kinds, wheels.suppressions,
    wheels.email_ledger, wheels.settings, email_preferences FROM wheels_sender;
REVOKE ALL ON pgmq.q_email_intents, pgmq.a_email_intents FROM wheels_sender;
REVOKE USAGE ON SCHEMA wheels, pgmq FROM wheels_sender;
DELETE FROM wheels.settings WHERE name IN ('sender_max_attempts', 'sender_rate_limit_per_s');
DROP TABLE wheels.sender_heartbeats, wheels.sender_throttle;
DROP INDEX wheels.dead_letters_created_at_idx;
ALTER TABLE wheels.dead_letters DROP COLUMN kind, DROP COLUMN recipient;
DROP INDEX wheels.deliveries_batch_id_idx;
ALTER TABLE wheels.deliveries DROP COLUMN batch_id, DROP COLUMN msg_id, DROP COLUMN kind,
    DROP COLUMN recipient, DROP COLUMN sent_at;
DROP TABLE wheels.send_batches;
