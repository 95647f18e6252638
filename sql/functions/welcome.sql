-- Welcome email (not a scheduled job): every new profile's welcome intent is
-- enqueued by the INSERT's own transaction, so a rolled-back sign-up sends
-- nothing (ARCHITECTURE invariant 1). Statement-level with a transition table:
-- a bulk import of profiles is one set-based _enqueue call, not one per row.
CREATE OR REPLACE FUNCTION wheels.welcome_new_profiles() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wheels._enqueue(ARRAY(
        SELECT ROW('welcome', n.id::text, '', n.id, '{}'::jsonb)::wheels.intent
        FROM new_profiles n));
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER profiles_welcome
    AFTER INSERT ON profiles
    REFERENCING NEW TABLE AS new_profiles
    FOR EACH STATEMENT EXECUTE FUNCTION wheels.welcome_new_profiles();
