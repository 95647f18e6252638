-- Undo 0002_sender. The role stays (cluster-wide); grants on our tables go
-- with them; the one on pgmq's schema is revoked.
REVOKE ALL ON pgmq.q_email_intents, pgmq.a_email_intents FROM wheels_sender;
REVOKE USAGE ON SCHEMA pgmq FROM wheels_sender;
DROP TABLE wheels.sender_heartbeats, wheels.sender_throttle, wheels.suppressions, wheels.dead_letters,
    wheels.deliveries, wheels.send_batches;
