-- Once per fact (ARCHITECTURE invariants 1 and 2), in one place for every email
-- job: each wanted intent whose (kind, subject, period) is new gets a ledger row,
-- and exactly the rows inserted here go onto the email_intents queue, in the
-- caller's transaction. Opted-out users (email_preferences for the kind's
-- preference_kind) and suppressed addresses get nothing and leave no ledger row,
-- so opting back in the same period still delivers. Returns how many intents of
-- each kind were enqueued (kinds with none are absent).
CREATE OR REPLACE FUNCTION wheels._enqueue(intents wheels.intent[])
RETURNS TABLE (intent_kind text, enqueued int)
LANGUAGE plpgsql AS $$
DECLARE
    messages jsonb[];
BEGIN
    WITH wanted AS (
        SELECT i.kind, i.subject, i.period, i.user_id, i.data, p.email, p.full_name
        FROM unnest(intents) i
        JOIN profiles p ON p.id = i.user_id
        JOIN wheels.email_kinds k ON k.kind = i.kind
        WHERE NOT EXISTS (
                  SELECT 1 FROM email_preferences ep
                  WHERE ep.user_id = i.user_id AND ep.kind = k.preference_kind AND NOT ep.enabled)
          AND NOT EXISTS (SELECT 1 FROM wheels.suppressions s WHERE s.email = lower(p.email))
    ), inserted AS (
        -- The unique key decides, one index probe per intent whatever the
        -- ledger's statistics say; a concurrent run's uncommitted row makes
        -- this wait for it, then skip. Key order is one lock order, so two runs
        -- never deadlock. Jobs drop facts they know are settled before calling.
        INSERT INTO wheels.email_ledger (kind, subject, period, user_id, recipient)
        SELECT kind, subject, period, user_id, email FROM wanted
        ORDER BY kind, subject, period
        ON CONFLICT (kind, subject, period) DO NOTHING
        RETURNING id, kind, subject, period
    )
    SELECT array_agg(jsonb_build_object(
               'v', 1, 'kind', n.kind, 'intent_id', n.id, 'user_id', w.user_id,
               'to', w.email, 'name', w.full_name, 'data', w.data) ORDER BY n.id)
    INTO messages
    FROM inserted n
    JOIN wanted w ON (w.kind, w.subject, w.period) = (n.kind, n.subject, n.period);

    IF messages IS NULL THEN
        RETURN;  -- pgmq.send_batch refuses an empty batch
    END IF;
    PERFORM pgmq.send_batch('email_intents', messages);
    RETURN QUERY
        SELECT m ->> 'kind', count(*)::int FROM unnest(messages) m GROUP BY 1;
END
$$;
