-- wheels-jobs, part 7: a provider outage never dead-letters the backlog.
--
-- A shared circuit breaker on the throttle row (like the quota pause): the
-- first call that finds the provider down or failing (5xx, timeout, connection
-- refused) opens it, and from then on no sender calls except the one that
-- claims the probe when probe_at comes; a failed probe doubles the interval
-- (capped at a minute, so the backlog moves within a minute of the provider's
-- return), any answer from the provider closes it for everybody. Batches held
-- meanwhile spend no attempt.
--
-- Transient failures dead-letter by age, not by a count that a two-minute
-- outage used up: a batch whose calls have been failing for longer than
-- sender_give_up_after_hours (well inside the provider's 24 h idempotency-key
-- memory) gives up. The setting replaces sender_max_attempts.

ALTER TABLE wheels.sender_throttle
    ADD COLUMN outage_since      timestamptz,
    ADD COLUMN outage_reason     text,
    ADD COLUMN probe_at          timestamptz NOT NULL DEFAULT 'epoch',
    ADD COLUMN probe_interval_s  float8 NOT NULL DEFAULT 0;
COMMENT ON COLUMN wheels.sender_throttle.outage_since IS 'The circuit breaker is open (provider down) since then; NULL: closed.';
COMMENT ON COLUMN wheels.sender_throttle.probe_at IS 'While the breaker is open: when one sender may probe the provider (a claimed probe moves it on).';

ALTER TABLE wheels.send_batches ADD COLUMN failing_since timestamptz;
COMMENT ON COLUMN wheels.send_batches.failing_since IS 'The first transient failure of a call of this batch; it gives up sender_give_up_after_hours later.';

DELETE FROM wheels.settings WHERE name = 'sender_max_attempts';
INSERT INTO wheels.settings (name, value, description) VALUES
    ('sender_give_up_after_hours', '12', 'hours a batch may keep failing for a transient reason (5xx, timeout, provider unreachable) before its intents are dead-lettered; under 23 (the provider forgets idempotency keys after 24 h)');
