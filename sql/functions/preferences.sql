-- A user's email preferences, read and written through the source contract,
-- so an unsubscribe changes the app's own settings (sources/*/contract.sql:
-- set_email_preferences) and the jobs, the sender and the app agree. The
-- sender and the web service reach them only through these SECURITY DEFINER
-- functions: never the app's tables, never another user's address.

-- The sender's check at send time: does the user still accept this preference
-- kind? NULL when the source no longer has the user (the intent goes out as
-- decided).
CREATE OR REPLACE FUNCTION wheels.accepts_email(user_id uuid, preference_kind text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NOT (accepts_email.preference_kind = ANY (u.opted_out))
    FROM wheels_source.users u
    WHERE u.user_id = accepts_email.user_id
$$;
REVOKE EXECUTE ON FUNCTION wheels.accepts_email(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wheels.accepts_email(uuid, text) TO wheels_sender;

-- The preferences page: every preference kind with its switch; no rows when
-- the source has no such user.
CREATE OR REPLACE FUNCTION wheels.email_preferences(user_id uuid)
RETURNS TABLE (preference_kind text, enabled boolean)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.preference_kind, NOT (k.preference_kind = ANY (u.opted_out))
    FROM wheels_source.users u
    CROSS JOIN (SELECT DISTINCT preference_kind FROM wheels.email_kinds WHERE preference_kind IS NOT NULL) k
    WHERE u.user_id = email_preferences.user_id
    ORDER BY k.preference_kind
$$;
REVOKE EXECUTE ON FUNCTION wheels.email_preferences(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wheels.email_preferences(uuid) TO wheels_web;

-- Unsubscribe and the preferences page: switch kinds on or off in the app.
-- False when the source has no such user; an unknown kind is an error naming it.
CREATE OR REPLACE FUNCTION wheels.save_email_preferences(user_id uuid, preference_kinds text[], enabled boolean[])
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    unknown text;
BEGIN
    SELECT k INTO unknown FROM unnest(preference_kinds) k
    WHERE k IS NULL OR k NOT IN (SELECT e.preference_kind FROM wheels.email_kinds e WHERE e.preference_kind IS NOT NULL)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'save_email_preferences: unknown preference kind %', coalesce(quote_literal(unknown), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN wheels_source.set_email_preferences(save_email_preferences.user_id, preference_kinds, enabled);
END
$$;
REVOKE EXECUTE ON FUNCTION wheels.save_email_preferences(uuid, text[], boolean[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wheels.save_email_preferences(uuid, text[], boolean[]) TO wheels_web;
