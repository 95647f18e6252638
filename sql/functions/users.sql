-- The source's users as the jobs need them: the time zone resolved (a name
-- PostgreSQL does not know counts as UTC, so one bad row never fails a job for
-- everybody; `cli.py source check` reports it). A one-SELECT SQL function: the
-- planner inlines it into the caller, so it costs nothing over the join.
CREATE OR REPLACE FUNCTION wheels.users()
RETURNS TABLE (user_id uuid, email text, name text, zone text, currency text, units text, opted_out text[])
LANGUAGE sql STABLE AS $$
    SELECT u.user_id, u.email, u.name, coalesce(z.name, 'UTC'), u.currency, u.units, u.opted_out
    FROM wheels_source.users u
    LEFT JOIN wheels.time_zones z ON z.name = u.time_zone
$$;

-- Whether an address is worth an intent: one @, something on each side, a
-- dotted domain, no spaces. The sender checks addresses strictly before each
-- email; this only keeps users without a usable address out of the ledger.
CREATE OR REPLACE FUNCTION wheels.usable_email(address text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(address ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$', false)
$$;
