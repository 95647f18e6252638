-- wheels-jobs, part 2: what `sender drain` needs to deliver the intent queue
-- exactly once, under one rate limit for all sender processes, with the least
-- privilege (docs/ARCHITECTURE.md, invariants 3-8).
-- depends: 0001_wheels
--
-- Exactly once: a batch's membership and its rendered emails are committed to
-- send_batches/deliveries BEFORE the provider call, under an idempotency key
-- fixed at that moment, so a sender killed at any instant leaves a batch that
-- the next reader re-sends byte for byte with the same key. deliveries has one
-- row per intent (its primary key), so two senders can never put one intent in
-- two batches.
-- Rate and quota: one row (sender_throttle) that every sender updates
-- atomically: the start times of the latest requests (a shared sliding-window
-- log) and a quota pause, so N processes on N hosts together stay under one limit.

------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------
CREATE TABLE wheels.send_batches (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    size             int NOT NULL CHECK (size BETWEEN 1 AND 100),
    -- json, not jsonb: kept as the exact text, so a re-send is byte-identical.
    -- Cleared when the batch is done (the delivery rows keep the outcome).
    emails           json,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    -- Calls that failed for a transient reason (sender_max_attempts); 429s and quota pauses do not count.
    attempts         int NOT NULL DEFAULT 0,
    calls            int NOT NULL DEFAULT 0,
    -- Some call may have reached the provider without a definite "not sent"
    -- answer; with first_call_at older than the provider's 24 h key memory such
    -- a batch is never re-sent blindly.
    maybe_delivered  boolean NOT NULL DEFAULT false,
    first_call_at    timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
COMMENT ON TABLE wheels.send_batches IS 'One provider call''s fixed membership and payload, committed before the call; re-sent with the same key after a crash.';
-- Serves `status` and clean-up: batches still waiting for an answer.
CREATE INDEX send_batches_pending_idx ON wheels.send_batches (created_at) WHERE status = 'pending';
-- Serves cleanup: finished batches, oldest first.
CREATE INDEX send_batches_finished_at_idx ON wheels.send_batches (finished_at) WHERE status = 'done';

CREATE TABLE wheels.deliveries (
    intent_id            bigint PRIMARY KEY REFERENCES wheels.email_ledger (id) ON DELETE CASCADE,
    status               text NOT NULL CHECK (status IN ('sending', 'sent', 'retrying', 'dead', 'suppressed')),
    attempts             int NOT NULL DEFAULT 0,
    provider_message_id  text,
    last_error           text,
    batch_id             bigint REFERENCES wheels.send_batches (id) ON DELETE SET NULL,
    msg_id               bigint,
    kind                 text,
    recipient            text,
    sent_at              timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE wheels.deliveries IS 'What the sender did with each intent: the status, attempts and provider id of its email.';
COMMENT ON COLUMN wheels.deliveries.batch_id IS 'The batch that carries (or carried) this intent; fixed before the provider call.';
COMMENT ON COLUMN wheels.deliveries.msg_id IS 'The queue message of this intent that the batch archives when it is done.';
-- Serves `status`: emails sent today and this month.
CREATE INDEX deliveries_status_updated_at_idx ON wheels.deliveries (status, updated_at);
-- Serves recording a batch's outcome: its members.
CREATE INDEX deliveries_batch_id_idx ON wheels.deliveries (batch_id);
-- Serves the web service's record_event: the intent of a webhook's provider message id.
CREATE INDEX deliveries_provider_message_id_idx ON wheels.deliveries (provider_message_id);
-- Serves delivery_event_counts (`status`) and email_outcomes: emails sent in a period.
CREATE INDEX deliveries_sent_at_idx ON wheels.deliveries (sent_at) WHERE status = 'sent';

CREATE TABLE wheels.dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    msg_id      bigint,
    intent_id   bigint,
    payload     jsonb,
    reason      text NOT NULL,
    attempts    int NOT NULL DEFAULT 0,
    kind        text,
    recipient   text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE wheels.dead_letters IS 'Intents that failed for good or could not be read, with the reason; replayable.';
-- Serves `dlq` listings, newest first, and cleanup, oldest first.
CREATE INDEX dead_letters_created_at_idx ON wheels.dead_letters (created_at);

CREATE TABLE wheels.suppressions (
    email       text PRIMARY KEY CHECK (email = lower(email)),
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE wheels.suppressions IS 'Addresses never to mail again (hard bounce, complaint, manual), lower-cased.';

-- One row. recent_starts: when the last requests started (newest first, as
-- many as the limit allows per window): a new request may start once the
-- oldest of them left the window, so all senders together never exceed the
-- limit in any window, however late a sender's own clock ran. not_before: a
-- 429's retry-after, for everybody. paused_until: no sending before then
-- (daily/monthly quota exhausted).
CREATE TABLE wheels.sender_throttle (
    singleton             boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    recent_starts         timestamptz[] NOT NULL DEFAULT '{}',
    not_before            timestamptz NOT NULL DEFAULT 'epoch',
    reported_limit_per_s  numeric CHECK (reported_limit_per_s > 0),
    paused_until          timestamptz NOT NULL DEFAULT 'epoch',
    pause_reason          text
);
COMMENT ON TABLE wheels.sender_throttle IS 'The shared request pace and quota pause of all sender processes (one row).';
INSERT INTO wheels.sender_throttle DEFAULT VALUES;

CREATE TABLE wheels.sender_heartbeats (
    host          text NOT NULL,
    pid           int NOT NULL,
    started_at    timestamptz NOT NULL,
    transport     text NOT NULL,
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at    timestamptz,
    PRIMARY KEY (host, pid, started_at)
);
COMMENT ON TABLE wheels.sender_heartbeats IS 'One row per `sender drain` process: alive while last_seen_at is recent; stopped_at on a clean exit.';

------------------------------------------------------------------------------
-- Least privilege (invariant 7): wheels_sender reads and acknowledges the
-- intent queue, reads what suppression needs, and writes delivery results.
-- pgmq's functions are SECURITY INVOKER, so the queue table grants are what
-- count: read/set_vt = SELECT+UPDATE, archive = DELETE here and INSERT
-- (RETURNING: SELECT) in the archive. Opt-outs are read through
-- wheels.accepts_email (sql/functions/preferences.sql), never the app's tables.
------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA pgmq TO wheels_sender;
GRANT SELECT, UPDATE, DELETE ON pgmq.q_email_intents TO wheels_sender;
GRANT SELECT, INSERT ON pgmq.a_email_intents TO wheels_sender;
GRANT SELECT ON wheels.suppressions TO wheels_sender;
GRANT SELECT, INSERT, UPDATE ON wheels.deliveries, wheels.send_batches, wheels.sender_heartbeats, wheels.sender_throttle TO wheels_sender;
GRANT SELECT, INSERT ON wheels.dead_letters TO wheels_sender;
