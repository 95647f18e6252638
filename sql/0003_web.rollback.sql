-- Undo 0003_web. The role stays (cluster-wide); its grants go with the objects or are revoked.
REVOKE ALL ON wheels.suppressions FROM wheels_web;
REVOKE SELECT (intent_id, provider_message_id) ON wheels.deliveries FROM wheels_web;
DROP TABLE wheels.delivery_events;
