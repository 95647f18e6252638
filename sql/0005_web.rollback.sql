-- Undo 0005_web. The role stays (cluster-wide); its grants go with the objects or are revoked.
REVOKE ALL ON email_preferences, wheels.suppressions FROM wheels_web;
REVOKE SELECT (intent_id, provider_message_id) ON wheels.deliveries FROM wheels_web;
REVOKE USAGE ON SCHEMA wheels FROM wheels_web;
DROP INDEX wheels.deliveries_sent_at_idx, wheels.deliveries_provider_message_id_idx;
DROP TABLE wheels.delivery_events;
