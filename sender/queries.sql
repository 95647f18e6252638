-- Named queries of `sender drain` (pgmq calls included). Loaded by
-- wheels_jobs.queries.load("sender"); sender/store.py is their only caller.
-- The queue is email_intents (sql/0001_wheels.sql).

-- name: listen
-- pgmq's insert trigger notifies channel 'pgmq.' || table || '.' || operation.
LISTEN "pgmq.q_email_intents.INSERT";

-- name: read
-- Up to qty visible messages, hidden from other readers for vt_s seconds. Each
-- comes as JSON text for the sender to decode on its own (psycopg's jsonb loader
-- would fail the whole batch for one message nested too deeply); the text of one
-- over max_bytes is not sent at all, only its size (its jsonb stays in the queue
-- row, which the dead letter copies).
SELECT r.msg_id, r.read_ct, r.enqueued_at,
       CASE WHEN octet_length(j.text) <= %(max_bytes)s THEN j.text END AS text,
       octet_length(j.text) AS bytes
FROM pgmq.read('email_intents', %(vt_s)s, %(qty)s) AS r
CROSS JOIN LATERAL (SELECT r.message::text) AS j (text);

-- name: set_vt
-- Hide (or show: vt_s = 0) messages again for vt_s seconds. The queue table
-- itself: pgmq 1.4.4 (Supabase's) has no array form of pgmq.set_vt.
UPDATE pgmq.q_email_intents SET vt = clock_timestamp() + make_interval(secs => %(vt_s)s::int)
WHERE msg_id = ANY (%(msg_ids)s::bigint[])
RETURNING msg_id;

-- name: next_visible
-- For --once: is anything left (held by a sender, delayed, backing off), and when is it due?
SELECT extract(epoch FROM min(vt) - clock_timestamp())::float8 AS wait_s FROM pgmq.q_email_intents;

-- name: archive
SELECT msg_id FROM pgmq.archive('email_intents', %(msg_ids)s::bigint[]) AS msg_id;

-- name: intent_states
-- What the database already knows about each rendered intent: whether its
-- ledger row exists, its delivery (and batch), and why it must not be sent
-- (suppressed address, or the user switched that kind off in the app, asked
-- through wheels.accepts_email). One primary-key probe per intent and table
-- (LATERAL ... LIMIT 1 keeps the planner from hashing whole tables for a
-- hundred lookups).
SELECT i.intent_id,
       l.id IS NOT NULL AS known,
       d.status,
       d.batch_id,
       CASE
           WHEN s.reason IS NOT NULL THEN 'address suppressed: ' || s.reason
           WHEN p.accepts IS FALSE THEN 'user opted out of ' || k.preference_kind
       END AS suppressed_because
FROM unnest(%(intent_ids)s::bigint[], %(recipients)s::text[], %(kinds)s::text[], %(user_ids)s::uuid[])
     AS i (intent_id, recipient, kind, user_id)
LEFT JOIN wheels.email_kinds k ON k.kind = i.kind
LEFT JOIN LATERAL (SELECT id FROM wheels.email_ledger WHERE id = i.intent_id LIMIT 1) AS l ON true
LEFT JOIN LATERAL (SELECT status, batch_id FROM wheels.deliveries WHERE intent_id = i.intent_id LIMIT 1) AS d ON true
LEFT JOIN LATERAL (SELECT reason FROM wheels.suppressions WHERE email = lower(i.recipient) LIMIT 1) AS s ON true
LEFT JOIN LATERAL (
    SELECT wheels.accepts_email(i.user_id, k.preference_kind) AS accepts
    WHERE i.user_id IS NOT NULL AND k.preference_kind IS NOT NULL
) AS p ON true;

-- name: dead_letter_messages
-- Poison messages (unreadable, unknown intent): one dead letter each, a 'dead'
-- delivery where the intent is a real ledger row that has none yet, and the
-- message archived, all in one transaction.
WITH bad AS (
    SELECT m.msg_id, m.intent_id, m.kind, m.recipient, m.reason, q.message
    FROM unnest(%(msg_ids)s::bigint[], %(intent_ids)s::bigint[], %(kinds)s::text[], %(recipients)s::text[], %(reasons)s::text[])
         AS m (msg_id, intent_id, kind, recipient, reason)
    LEFT JOIN pgmq.q_email_intents q ON q.msg_id = m.msg_id
),
letters AS (
    INSERT INTO wheels.dead_letters (msg_id, intent_id, payload, reason, kind, recipient)
    SELECT msg_id, intent_id, message, reason, kind, recipient FROM bad
),
deliveries AS (
    INSERT INTO wheels.deliveries (intent_id, status, msg_id, kind, recipient, last_error)
    SELECT DISTINCT ON (bad.intent_id) bad.intent_id, 'dead', bad.msg_id, bad.kind, bad.recipient, bad.reason
    FROM bad JOIN wheels.email_ledger l ON l.id = bad.intent_id
    ON CONFLICT (intent_id) DO NOTHING
)
SELECT count(*) AS archived FROM pgmq.archive('email_intents', (SELECT array_agg(msg_id) FROM bad));

-- name: suppress
-- Intents not to send (suppressed address, opted-out user): recorded and archived, no API call.
WITH s AS (
    SELECT * FROM unnest(%(msg_ids)s::bigint[], %(intent_ids)s::bigint[], %(kinds)s::text[], %(recipients)s::text[], %(reasons)s::text[])
         AS s (msg_id, intent_id, kind, recipient, reason)
),
deliveries AS (
    INSERT INTO wheels.deliveries AS d (intent_id, status, msg_id, kind, recipient, last_error)
    SELECT intent_id, 'suppressed', msg_id, kind, recipient, reason FROM s
    ON CONFLICT (intent_id) DO UPDATE
        SET status = 'suppressed', msg_id = EXCLUDED.msg_id, last_error = EXCLUDED.last_error, updated_at = now()
        WHERE d.status = 'dead'
)
SELECT count(*) AS archived FROM pgmq.archive('email_intents', (SELECT array_agg(msg_id) FROM s));

-- name: create_batch
-- Fix a batch before the call: its key and exact payload. A second sender that
-- read the same messages (its visibility timeout ran out) computes the same key
-- and gets no row back.
INSERT INTO wheels.send_batches (idempotency_key, size, emails)
VALUES (%(key)s, %(size)s, %(emails)s)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id;

-- name: join_batch
-- Members of a new batch. The deliveries primary key makes this the claim: an
-- intent already in another batch (or sent) is not taken; only a dead one may
-- be sent again (an operator replayed it).
INSERT INTO wheels.deliveries AS d (intent_id, status, batch_id, msg_id, kind, recipient)
SELECT m.intent_id, 'sending', %(batch_id)s, m.msg_id, m.kind, m.recipient
FROM unnest(%(intent_ids)s::bigint[], %(msg_ids)s::bigint[], %(kinds)s::text[], %(recipients)s::text[])
     AS m (intent_id, msg_id, kind, recipient)
ON CONFLICT (intent_id) DO UPDATE
    SET status = 'sending', batch_id = EXCLUDED.batch_id, msg_id = EXCLUDED.msg_id, attempts = 0,
        last_error = NULL, provider_message_id = NULL, sent_at = NULL, updated_at = now()
    WHERE d.status = 'dead'
RETURNING d.intent_id;

-- name: reshape_batch
-- Some members were taken by another sender between read and claim: the batch
-- (never called yet) keeps only the rest, under the key of the rest.
UPDATE wheels.send_batches
SET idempotency_key = %(key)s, size = %(size)s, emails = %(emails)s
WHERE id = %(batch_id)s;

-- name: drop_batch
-- No member could be claimed: the batch was never called; it is done, empty.
UPDATE wheels.send_batches SET status = 'done', emails = NULL, finished_at = now() WHERE id = %(batch_id)s;

-- name: lock_batch
-- One sender at a time calls the provider for a batch (session lock: it is held
-- across the call, outside any transaction, and a killed sender's lock goes
-- with its connection). Two senders that each re-read some members of one
-- unfinished batch thus re-send it once; the idempotency key covers the rest.
SELECT pg_try_advisory_lock(%(lock_space)s, (%(batch_id)s %% 2147483647)::int) AS locked;

-- name: unlock_batch
SELECT pg_advisory_unlock(%(lock_space)s, (%(batch_id)s %% 2147483647)::int) AS unlocked;

-- name: batch
-- A batch to (re-)send, with the age that decides whether its key is still remembered.
SELECT id, idempotency_key, status, emails, attempts, maybe_delivered,
       coalesce(now() - first_call_at > make_interval(hours => %(key_memory_h)s), false) AS key_forgotten
FROM wheels.send_batches
WHERE id = %(batch_id)s;

-- name: start_call
-- Just before a provider call: from here on the batch may have been delivered.
-- Returns the flag as it was, to restore after a definite "not sent" answer.
UPDATE wheels.send_batches b
SET calls = calls + 1, first_call_at = coalesce(first_call_at, now()), maybe_delivered = true
FROM (SELECT maybe_delivered FROM wheels.send_batches WHERE id = %(batch_id)s) AS before
WHERE b.id = %(batch_id)s
RETURNING before.maybe_delivered AS was_maybe_delivered;

-- name: not_delivered
-- The provider said definitely not sent (429, quota, bad key): undo start_call's flag.
UPDATE wheels.send_batches SET maybe_delivered = %(was_maybe_delivered)s, last_error = %(error)s WHERE id = %(batch_id)s;

-- name: finish_batch
-- The provider answered for every member (accepted: provider id; rejected:
-- reason) or the batch failed for good: deliveries, dead letters, archive and
-- the batch itself in one transaction.
WITH outcome AS (
    SELECT o.intent_id, o.provider_id, o.error
    FROM unnest(%(intent_ids)s::bigint[], %(provider_ids)s::text[], %(errors)s::text[]) AS o (intent_id, provider_id, error)
),
batch AS (
    UPDATE wheels.send_batches
    SET status = 'done', emails = NULL, finished_at = now(), attempts = attempts + %(attempted)s::int,
        last_error = coalesce(%(batch_error)s, last_error)
    WHERE id = %(batch_id)s AND status = 'pending'
    RETURNING id, attempts
),
members AS (
    UPDATE wheels.deliveries d
    SET status = CASE WHEN o.provider_id IS NOT NULL THEN 'sent' ELSE 'dead' END,
        provider_message_id = o.provider_id,
        last_error = o.error,
        attempts = batch.attempts,
        sent_at = CASE WHEN o.provider_id IS NOT NULL THEN now() END,
        updated_at = now()
    FROM outcome o, batch
    WHERE d.intent_id = o.intent_id AND d.batch_id = batch.id
    RETURNING d.intent_id, d.msg_id, d.kind, d.recipient, d.status, d.last_error, d.attempts
),
letters AS (
    INSERT INTO wheels.dead_letters (msg_id, intent_id, payload, reason, attempts, kind, recipient)
    SELECT m.msg_id, m.intent_id, q.message, m.last_error, m.attempts, m.kind, m.recipient
    FROM members m LEFT JOIN pgmq.q_email_intents q ON q.msg_id = m.msg_id
    WHERE m.status = 'dead'
),
archived AS (
    SELECT count(*) AS n FROM pgmq.archive('email_intents', (SELECT array_agg(msg_id) FROM members))
)
SELECT (SELECT count(*) FROM members WHERE status = 'sent') AS sent,
       (SELECT count(*) FROM members WHERE status = 'dead') AS dead,
       archived.n AS archived
FROM archived;

-- name: retry_batch
-- A transient failure: count the attempt, keep the batch and its key, and hide
-- its messages until the backoff delay has passed (same batch re-sent then).
WITH batch AS (
    UPDATE wheels.send_batches
    SET attempts = attempts + %(attempted)s::int, last_error = %(error)s
    WHERE id = %(batch_id)s
    RETURNING id, attempts
),
members AS (
    UPDATE wheels.deliveries d
    SET status = 'retrying', attempts = batch.attempts, last_error = %(error)s, updated_at = now()
    FROM batch
    WHERE d.batch_id = batch.id AND d.status IN ('sending', 'retrying')
    RETURNING d.msg_id
),
hidden AS (
    UPDATE pgmq.q_email_intents q SET vt = clock_timestamp() + make_interval(secs => %(delay_s)s::int)
    FROM members m WHERE q.msg_id = m.msg_id
    RETURNING 1
)
SELECT count(*) AS hidden FROM hidden;

-- name: take_slot
-- Start a request now if the limit allows it for all senders together, else
-- say how long to wait. With r = min(our limit, the provider's reported one):
-- at most ceil(r) requests in any window of ceil(r) / r seconds (widened by
-- margin), so the start ceil(r) requests back must have left the window. While
-- a quota pause or a 429's retry-after runs, nobody starts.
WITH clock AS (SELECT clock_timestamp() AS t),
cur AS (SELECT * FROM wheels.sender_throttle FOR UPDATE),
pace AS (
    SELECT ceil(r)::int AS n, ceil(r) / r * %(margin)s AS window_s
    FROM (SELECT least(%(limit_per_s)s::numeric, coalesce(cur.reported_limit_per_s, %(limit_per_s)s)) AS r FROM cur) AS x
),
due AS (
    SELECT greatest(cur.paused_until, cur.not_before,
                    cur.recent_starts[pace.n] + make_interval(secs => pace.window_s)) - clock.t AS wait,
           cur.paused_until > clock.t AS paused,
           cur.pause_reason,
           pace.n
    FROM cur, pace, clock
),
started AS (
    UPDATE wheels.sender_throttle
    SET recent_starts = (ARRAY[clock.t] || cur.recent_starts)[1:due.n]
    FROM due, clock, cur
    WHERE due.wait <= interval '0'
)
SELECT greatest(0, extract(epoch FROM due.wait))::float8 AS wait_s, due.paused, due.pause_reason
FROM due;

-- name: slow_down
-- The provider answered 429: nobody starts a request before retry_after_s,
-- and the pace follows the limit it reported.
UPDATE wheels.sender_throttle
SET not_before = greatest(not_before, clock_timestamp() + make_interval(secs => %(retry_after_s)s)),
    reported_limit_per_s = coalesce(%(limit_per_s)s, reported_limit_per_s);

-- name: follow_limit
-- The provider reported its limit on an answer: every sender follows it.
UPDATE wheels.sender_throttle SET reported_limit_per_s = %(limit_per_s)s
WHERE reported_limit_per_s IS DISTINCT FROM %(limit_per_s)s;

-- name: pause
-- Quota exhausted: every sender stops calling until the reset.
UPDATE wheels.sender_throttle
SET paused_until = greatest(paused_until, clock_timestamp() + make_interval(secs => %(resume_after_s)s)),
    pause_reason = %(reason)s
RETURNING extract(epoch FROM paused_until - clock_timestamp())::float8 AS wait_s;

-- name: pause_left
-- Seconds left of a quota pause (0: none).
SELECT greatest(0, extract(epoch FROM paused_until - clock_timestamp()))::float8 AS wait_s, pause_reason
FROM wheels.sender_throttle;

-- name: email_kinds
-- Checked against wheels_core/kinds.py at start: this code renders only the kinds it knows.
SELECT kind, preference_kind FROM wheels.email_kinds ORDER BY kind;

-- name: settings
SELECT wheels.setting('sender_max_attempts')::int AS max_attempts,
       wheels.setting('sender_rate_limit_per_s')::numeric AS rate_limit_per_s;

-- name: heartbeat
INSERT INTO wheels.sender_heartbeats (host, pid, started_at, transport)
VALUES (%(host)s, %(pid)s, %(started_at)s, %(transport)s)
ON CONFLICT (host, pid, started_at) DO UPDATE SET last_seen_at = now(), stopped_at = %(stopped_at)s;
