-- wheels-jobs, part 3: what the web service (`cli.py web`) needs to answer
-- unsubscribe links, keep the preferences page and learn about bounces and
-- complaints from Resend's webhooks, with the least privilege.
-- depends: 0002_sender
--
-- Resend reports delivery outcomes only through webhooks (Svix), delivered at
-- least once: delivery_events keeps each one once (svix_id is unique), so a
-- redelivery changes nothing. A permanent bounce or a complaint also inserts
-- the address into wheels.suppressions in the same transaction; the sender
-- already skips suppressed addresses. Events are kept in their own table
-- rather than as a status of wheels.deliveries: one email has several
-- (delivered, then complained), they may arrive before the sender recorded
-- the provider id, and the sender's own status stays the sender's.

CREATE TABLE wheels.delivery_events (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Svix's message id: the same for every redelivery of one event.
    svix_id              text NOT NULL UNIQUE,
    type                 text NOT NULL,
    provider_message_id  text,
    recipient            text CHECK (recipient = lower(recipient)),
    -- The intent whose email this is, when the sender had recorded its provider id.
    intent_id            bigint,
    occurred_at          timestamptz,
    payload              jsonb NOT NULL,
    received_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE wheels.delivery_events IS 'Resend webhook events (delivered, bounced, complained, ...), each once by svix_id; written by the web service.';
-- Serves delivery_event_counts (`status`): bounces and complaints of the last 7 days.
CREATE INDEX delivery_events_type_received_at_idx ON wheels.delivery_events (type, received_at);
-- Serves looking up what happened to one intent's email.
CREATE INDEX delivery_events_intent_id_idx ON wheels.delivery_events (intent_id);
-- Serves cleanup: the oldest events first.
CREATE INDEX delivery_events_received_at_idx ON wheels.delivery_events (received_at);

------------------------------------------------------------------------------
-- Least privilege (invariant 7): wheels_web adds suppressions, records
-- delivery events and reads the two columns of deliveries that tie an event
-- to its intent. A user's preferences are read and written through the
-- functions of sql/functions/preferences.sql (the source contract changes the
-- app's own settings); the dashboard reads counts through
-- sql/functions/aggregates.sql. Nothing else: no app table, no queue.
------------------------------------------------------------------------------
GRANT SELECT, INSERT ON wheels.suppressions, wheels.delivery_events TO wheels_web;
GRANT SELECT (intent_id, provider_message_id) ON wheels.deliveries TO wheels_web;
