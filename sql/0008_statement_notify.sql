-- wheels-jobs schema, part 8: wake senders with one notification per INSERT
-- statement on the intent queue, instead of pgmq's per-row notification.
-- depends: 0003_email_jobs 0007_operate
--
-- pgmq's insert notification is a row trigger that UPDATEs the queue's
-- notify_insert_throttle row for every message. With no throttle (0001) a
-- 100k-message send_batch chains 100k row versions in one transaction: O(n^2),
-- minutes. With pgmq's 250 ms throttle (0003) an intent enqueued within 250 ms of
-- the previous notification gets none and waits for the sender's poll: p50 108 ms,
-- p99 2.6 s at one email per 100 ms (bench/celery_compare.py). A statement-level
-- trigger does neither: one NOTIFY per INSERT statement, whatever its row count
-- (PostgreSQL also folds duplicate notifications within a transaction), on the
-- channel pgmq used, which the sender LISTENs on.

DO $$ BEGIN PERFORM pgmq.disable_notify_insert('email_intents'); END $$;

CREATE FUNCTION wheels.notify_email_intents() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('pgmq.q_email_intents.INSERT', NULL);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION wheels.notify_email_intents() IS 'Wakes `sender drain` once per INSERT statement on the intent queue.';

CREATE TRIGGER notify_email_intents
AFTER INSERT ON pgmq.q_email_intents
FOR EACH STATEMENT EXECUTE FUNCTION wheels.notify_email_intents();
