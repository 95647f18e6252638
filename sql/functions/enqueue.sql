-- Once per fact (docs/ARCHITECTURE.md, invariants 1 and 2), in one place for
-- every email job: each wanted intent whose (kind, subject, period) is new gets
-- a ledger row, and exactly the rows inserted here go onto the email_intents
-- queue (one INSERT statement: one NOTIFY wakes the senders), in the caller's
-- transaction. An intent for a user goes to the user's
-- address from the source (wheels_source.users); one without a user (the
-- daily report) to its recipient. No ledger row, and so no email, for: a user
-- the source does not know, an address that is missing or unusable, a user
-- who opted out of the kind's preference kind, a suppressed address; opting
-- back in within the period still delivers. Returns how many intents of each
-- kind were enqueued (kinds with none are absent).
CREATE OR REPLACE FUNCTION wheels._enqueue(intents wheels.intent[])
RETURNS TABLE (intent_kind text, enqueued int)
LANGUAGE sql AS $$
    WITH wanted AS (
        SELECT i.kind, i.subject, i.period, i.user_id, i.data, a.email, u.name
        FROM unnest(intents) i
        JOIN wheels.email_kinds k ON k.kind = i.kind
        LEFT JOIN wheels.users() u ON u.user_id = i.user_id
        CROSS JOIN LATERAL (SELECT CASE WHEN i.user_id IS NULL THEN i.recipient ELSE u.email END AS email) a
        WHERE wheels.usable_email(a.email)
          AND NOT coalesce(k.preference_kind = ANY (u.opted_out), false)
          AND NOT EXISTS (SELECT 1 FROM wheels.suppressions s WHERE s.email = lower(a.email))
    ), numbered AS (
        -- Each its intent_id up front, so the rows inserted are matched back to
        -- their data by one bigint (matching on the three text columns of the key
        -- sorted both sides: a fifth of the cost at 50,000 intents).
        SELECT nextval('wheels.email_ledger_id_seq') AS id, w.*
        FROM (SELECT * FROM wanted ORDER BY kind, subject, period) w
    ), inserted AS (
        -- The unique key decides, one index probe per intent whatever the
        -- ledger's statistics say; a concurrent run's uncommitted row makes
        -- this wait for it, then skip. Key order is one lock order, so two runs
        -- never deadlock. Jobs drop facts they know are settled before calling.
        INSERT INTO wheels.email_ledger (id, kind, subject, period, user_id, recipient)
        OVERRIDING SYSTEM VALUE
        SELECT n.id, n.kind, n.subject, n.period, n.user_id, n.email FROM numbered n
        ON CONFLICT (kind, subject, period) DO NOTHING
        RETURNING id
    ), queued AS (
        -- Straight into the queue's table, as pgmq.send_batch does inside it:
        -- handing it a jsonb[] of every message cost as much as the insert.
        INSERT INTO pgmq.q_email_intents (vt, message)
        SELECT clock_timestamp(), jsonb_build_object(
                   'v', 1, 'kind', n.kind, 'intent_id', n.id, 'user_id', n.user_id,
                   'to', n.email, 'name', n.name, 'data', n.data)
        FROM numbered n
        WHERE n.id IN (SELECT inserted.id FROM inserted)
        ORDER BY n.id
        RETURNING message ->> 'kind' AS kind
    )
    SELECT q.kind, count(*)::int FROM queued q GROUP BY 1
$$;

-- Welcome email (not a scheduled job): the source's sign-up trigger calls this
-- with the new users' ids, in the sign-up's own transaction, so a rolled-back
-- sign-up sends nothing (invariant 1). Once per user ever (period ''). An email
-- problem never fails a sign-up: the error is logged, recorded in the run log
-- as a failed 'welcome' run (status shows it) and the sign-up goes through.
CREATE OR REPLACE FUNCTION wheels.welcome(user_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    problem text;
BEGIN
    -- data.day: the UTC day of sign-up, which dates the email's link to the preferences page.
    PERFORM wheels._enqueue(ARRAY(
        SELECT ROW('welcome', u::text, '', u, NULL, jsonb_build_object('day', (now() AT TIME ZONE 'UTC')::date))::wheels.intent
        FROM unnest(user_ids) u));
EXCEPTION WHEN OTHERS THEN
    problem := format('no welcome email for %s new user(s): %s', cardinality(user_ids), SQLERRM);
    RAISE WARNING 'wheels-jobs: %', problem;
    BEGIN
        INSERT INTO wheels.job_runs (job, runner, started_at, finished_at, outcome, result)
        VALUES ('welcome', 'sign-up trigger', now(), clock_timestamp(), 'failed', problem);
    EXCEPTION WHEN OTHERS THEN
        NULL;  -- not even the run log: the warning above is all there is; the sign-up goes through
    END;
END
$$;
