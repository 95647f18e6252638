-- wheels-jobs, part 6: measuring the activation guide's success metrics
-- (wheels.success_metrics, sql/functions/success.sql): when wheels-jobs was
-- activated, the thresholds that say when a rate or a comparison has enough
-- data to be judged, and an index for email engagement (opens and clicks
-- from Resend's webhooks).
-- depends: 0005_source_contract

------------------------------------------------------------------------------
-- The activation: every success metric counts from here. Set by the first
-- `cli.py migrate` (below), changeable (`cli.py activation --set 2026-11-01`,
-- or an UPDATE): move it when the system really went live, or past a rocky
-- start. One row.
------------------------------------------------------------------------------
CREATE TABLE wheels.activation (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    activated_at  timestamptz NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE wheels.activation IS 'When wheels-jobs went live: the success metrics count from activated_at. One row; `cli.py activation --set` changes it.';

-- The first install's time: when 0001_wheels was applied (yoyo's bookkeeping;
-- this migration runs with search_path = wheels_migrations), so a database
-- that had wheels-jobs before this migration keeps its real start; a fresh
-- one gets now().
INSERT INTO wheels.activation (activated_at)
SELECT coalesce(
    (SELECT min(m.applied_at_utc) AT TIME ZONE 'UTC' FROM wheels_migrations._yoyo_migration m
     WHERE m.migration_id = '0001_wheels'),
    now());

INSERT INTO wheels.settings (name, value, description) VALUES
    ('engagement_min_delivered', '100',
     'success metrics: the email engagement rate (opened or clicked, of delivered) is judged only once this many emails were delivered since activation'),
    ('alert_effect_min_budgets', '10',
     'success metrics: spending after a budget alert is shown only once this many budgets have, since activation, a complete month with an alert and one without');

------------------------------------------------------------------------------
-- Email engagement: Resend's email.opened and email.clicked events land in
-- wheels.delivery_events like the others (the web service keeps only the
-- event, the email's id and the time: no address, no clicked URL). This index
-- serves wheels.engagement, which joins events to their emails by the
-- provider's id.
------------------------------------------------------------------------------
CREATE INDEX delivery_events_provider_message_id_idx ON wheels.delivery_events (provider_message_id);
