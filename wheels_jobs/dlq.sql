-- Named queries of `cli.py dlq` (the operator, not wheels_sender): dead
-- letters listed, shown, replayed onto the queue and purged. Loaded by
-- wheels_jobs/dlq.py, their only caller.
--
-- A letter "may have reached the provider" when it died with its whole batch
-- (the batch's last error is the letter's reason) and some call of that batch
-- went out without a definite "not sent" answer (maybe_delivered): a timeout,
-- a 5xx, or a batch whose key the provider has forgotten. Everything else
-- never got that far: a poison message (no batch), or an email the provider
-- answered for and rejected.

-- name: dead_letters
-- Newest first, optionally one kind.
SELECT l.id, l.intent_id, l.kind, l.recipient, l.reason, l.attempts, l.created_at,
       extract(epoch FROM now() - l.created_at)::float8 AS age_s,
       coalesce(b.maybe_delivered AND b.last_error IS NOT DISTINCT FROM l.reason, false) AS maybe_delivered
FROM wheels.dead_letters l
LEFT JOIN wheels.deliveries d ON d.intent_id = l.intent_id
LEFT JOIN wheels.send_batches b ON b.id = d.batch_id
WHERE %(kind)s::text IS NULL OR l.kind = %(kind)s::text
ORDER BY l.created_at DESC, l.id DESC
LIMIT %(limit)s;

-- name: dead_letter
-- One letter with its payload, its intent's delivery and the batch it died in.
SELECT l.id, l.msg_id, l.intent_id, l.kind, l.recipient, l.reason, l.attempts, l.created_at, l.payload,
       d.status AS delivery_status, d.batch_id, b.idempotency_key, b.calls, b.first_call_at,
       coalesce(b.maybe_delivered AND b.last_error IS NOT DISTINCT FROM l.reason, false) AS maybe_delivered
FROM wheels.dead_letters l
LEFT JOIN wheels.deliveries d ON d.intent_id = l.intent_id
LEFT JOIN wheels.send_batches b ON b.id = d.batch_id
WHERE l.id = %(id)s;

-- name: replay_dead_letters
-- Back to the queue, in one transaction: each chosen letter (ids, or all of
-- one kind or all) whose intent is still dead and that never reached the
-- provider (or force) gets a new queue message with its payload; its delivery
-- is detached from the old batch with attempts reset, so the sender forms a
-- new batch whose idempotency key (from the new msg_id) is fresh; the letter
-- is deleted (a second failure writes a new one). Letters locked by a
-- concurrent replay are skipped, so each is replayed once. One row per chosen
-- letter says what happened to it.
WITH chosen AS (
    SELECT l.id, l.intent_id, l.kind, l.recipient, l.payload, d.status AS delivery_status, d.batch_id,
           b.first_call_at,
           coalesce(b.maybe_delivered AND b.last_error IS NOT DISTINCT FROM l.reason, false) AS maybe_delivered
    FROM wheels.dead_letters l
    LEFT JOIN wheels.deliveries d ON d.intent_id = l.intent_id
    LEFT JOIN wheels.send_batches b ON b.id = d.batch_id
    WHERE (l.id = ANY(%(ids)s::bigint[]) OR %(all)s)
      AND (%(kind)s::text IS NULL OR l.kind = %(kind)s::text)
    FOR UPDATE OF l SKIP LOCKED
),
decided AS (
    SELECT c.*,
           CASE
               WHEN c.payload IS NULL THEN 'kept: the letter has no payload to send'
               WHEN c.delivery_status IS DISTINCT FROM 'dead' AND c.delivery_status IS NOT NULL
                   THEN 'kept: its intent is ' || c.delivery_status || ' now'
               WHEN c.maybe_delivered AND NOT %(force)s
                   THEN format('kept: batch %%s may have reached the provider (first call %%s); check its log, then replay with --force',
                               c.batch_id, to_char(c.first_call_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'))
           END AS kept_because
    FROM chosen c
),
replayable AS (SELECT * FROM decided WHERE kept_because IS NULL),
detached AS (
    UPDATE wheels.deliveries d
    SET batch_id = NULL, attempts = 0, last_error = 'replayed from the dead letters', updated_at = now()
    FROM replayable r
    WHERE d.intent_id = r.intent_id
),
deleted AS (
    DELETE FROM wheels.dead_letters l USING replayable r WHERE l.id = r.id
),
sent AS (
    SELECT r.id, pgmq.send('email_intents', r.payload) AS msg_id FROM replayable r
)
SELECT d.id, d.intent_id, d.kind, d.recipient, d.maybe_delivered, s.msg_id, d.kept_because
FROM decided d LEFT JOIN sent s ON s.id = d.id
ORDER BY d.id;

-- name: purge_dead_letters
-- Forget letters older than the given age (their deliveries stay 'dead').
WITH gone AS (
    DELETE FROM wheels.dead_letters WHERE created_at < now() - make_interval(secs => %(older_than_s)s)
    RETURNING 1
)
SELECT count(*) AS purged FROM gone;
