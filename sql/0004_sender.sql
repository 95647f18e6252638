-- wheels-jobs schema, part 4: what `sender drain` needs to deliver the intent
-- queue exactly once, under one rate limit for all sender processes, with the
-- least privilege (ARCHITECTURE invariants 3-8).
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

ALTER TABLE wheels.deliveries
    ADD COLUMN batch_id   bigint REFERENCES wheels.send_batches (id) ON DELETE SET NULL,
    ADD COLUMN msg_id     bigint,
    ADD COLUMN kind       text,
    ADD COLUMN recipient  text,
    ADD COLUMN sent_at    timestamptz;
COMMENT ON COLUMN wheels.deliveries.batch_id IS 'The batch that carries (or carried) this intent; fixed before the provider call.';
COMMENT ON COLUMN wheels.deliveries.msg_id IS 'The queue message of this intent that the batch archives when it is done.';
-- Serves recording a batch's outcome: its members.
CREATE INDEX deliveries_batch_id_idx ON wheels.deliveries (batch_id);

ALTER TABLE wheels.dead_letters
    ADD COLUMN kind       text,
    ADD COLUMN recipient  text;
-- Serves `dlq` listings, newest first.
CREATE INDEX dead_letters_created_at_idx ON wheels.dead_letters (created_at);

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

INSERT INTO wheels.settings (name, value, description) VALUES
    ('sender_max_attempts', '8', 'provider calls that failed for a transient reason (5xx, timeout) before an intent is dead-lettered; 429s do not count'),
    ('sender_rate_limit_per_s', '2', 'provider requests per second for all sender processes together; 0 = no limit');

------------------------------------------------------------------------------
-- Least privilege (invariant 7): wheels_sender reads and acknowledges the
-- intent queue, reads what suppression needs, and writes delivery results.
-- Nothing in public but email_preferences; pgmq's functions are SECURITY
-- INVOKER (EXECUTE is PUBLIC), so the queue table grants are what count:
-- read/set_vt = SELECT+UPDATE, archive = DELETE here and INSERT (RETURNING:
-- SELECT) in the archive.
------------------------------------------------------------------------------
GRANT USAGE ON SCHEMA wheels, pgmq TO wheels_sender;
GRANT SELECT, UPDATE, DELETE ON pgmq.q_email_intents TO wheels_sender;
GRANT SELECT, INSERT ON pgmq.a_email_intents TO wheels_sender;
GRANT SELECT ON wheels.email_kinds, wheels.suppressions, wheels.email_ledger, wheels.settings, email_preferences TO wheels_sender;
GRANT SELECT, INSERT, UPDATE ON wheels.deliveries, wheels.send_batches, wheels.sender_heartbeats, wheels.sender_throttle TO wheels_sender;
GRANT SELECT, INSERT ON wheels.dead_letters TO wheels_sender;
