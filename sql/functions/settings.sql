-- One setting from wheels.settings, as text (callers cast). Jobs read every
-- threshold, window and retention through this, so tuning never needs a deploy.
-- A missing name is a bug (a migration forgot its row): raise, naming it.
CREATE OR REPLACE FUNCTION wheels.setting(setting_name text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    result text;
BEGIN
    SELECT value INTO result FROM wheels.settings WHERE name = setting_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'wheels.settings has no setting %', setting_name
            USING HINT = 'run `python cli.py migrate`: a migration adds each setting with its default';
    END IF;
    RETURN result;
END
$$;
