-- Undo 0006_success: the activation, its settings and the engagement index.
DROP INDEX wheels.delivery_events_provider_message_id_idx;
DELETE FROM wheels.settings WHERE name IN ('engagement_min_delivered', 'alert_effect_min_budgets');
DROP TABLE wheels.activation;
