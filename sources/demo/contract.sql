-- The source contract over the demo app (app.sql): the relations and
-- functions the jobs use, as docs/ADOPTING.md states them. `cli.py migrate`
-- applies this file in one transaction after creating schema wheels_source,
-- whenever the file changed; the views belong to the migrating role, the
-- owner of the app tables, so they read past row level security.

------------------------------------------------------------------------------
-- Relations
------------------------------------------------------------------------------
CREATE VIEW wheels_source.users AS
SELECT p.id AS user_id, p.email, p.full_name AS name, p.timezone AS time_zone, p.currency, p.units,
       ARRAY(SELECT ep.kind FROM public.email_preferences ep
             WHERE ep.user_id = p.id AND NOT ep.enabled ORDER BY ep.kind) AS opted_out
FROM public.profiles p;

CREATE VIEW wheels_source.budgets AS
SELECT c.id::text AS budget_id, c.user_id, c.name AS category, c.monthly_limit, c.alert_threshold,
       NULL::date AS starts_on, NULL::date AS ends_on
FROM public.budget_categories c;

-- The local date of each expense: spent_at in its owner's time zone.
CREATE VIEW wheels_source.expenses AS
SELECT e.id::text AS expense_id, e.user_id, c.name AS category, e.amount,
       (e.spent_at AT TIME ZONE p.timezone)::date AS spent_on
FROM public.expenses e
JOIN public.budget_categories c ON c.id = e.category_id
JOIN public.profiles p ON p.id = e.user_id;

CREATE VIEW wheels_source.vehicles AS
SELECT v.id::text AS vehicle_id, v.user_id, v.name, v.avg_l_per_100km AS l_per_100km
FROM public.vehicles v;

-- Demo fills are metric already.
CREATE VIEW wheels_source.fuel_fills AS
SELECT f.vehicle_id::text AS vehicle_id, (f.filled_at AT TIME ZONE p.timezone)::date AS filled_on,
       f.odometer_km, f.liters AS litres, f.full_tank
FROM public.fuel_logs f
JOIN public.vehicles v ON v.id = f.vehicle_id
JOIN public.profiles p ON p.id = v.user_id;

CREATE VIEW wheels_source.maintenance_tasks AS
SELECT r.id::text AS task_id, r.user_id, r.title, v.name AS vehicle, r.due_date AS due_on,
       r.completed_at IS NOT NULL AS done
FROM public.maintenance_records r
LEFT JOIN public.vehicles v ON v.id = r.vehicle_id;

CREATE VIEW wheels_source.pam_events AS
SELECT l.created_at AS occurred_at, l.user_id, l.event_type AS kind, l.intent, l.response_time_ms,
       l.success AS succeeded
FROM public.pam_analytics_logs l;

CREATE VIEW wheels_source.expiring AS
SELECT 'public.pam_analytics_logs'::text AS relation, 'created_at'::name AS time_column,
       make_interval(days => wheels.setting('analytics_retention_days')::int) AS keep;

------------------------------------------------------------------------------
-- Writes back to the app
------------------------------------------------------------------------------
-- Switch preference kinds on or off for one user; false when the user does not exist.
CREATE FUNCTION wheels_source.set_email_preferences(user_id uuid, preference_kinds text[], enabled boolean[])
RETURNS boolean
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.profiles p WHERE p.id = set_email_preferences.user_id) THEN
        RETURN false;
    END IF;
    INSERT INTO public.email_preferences AS ep (user_id, kind, enabled)
    SELECT set_email_preferences.user_id, s.kind, s.enabled
    FROM unnest(preference_kinds, set_email_preferences.enabled) AS s (kind, enabled)
    ON CONFLICT (user_id, kind) DO UPDATE
        SET enabled = excluded.enabled, updated_at = now()
        WHERE ep.enabled IS DISTINCT FROM excluded.enabled;
    RETURN true;
END
$$;

-- Store each vehicle's computed consumption; returns the vehicles written.
CREATE FUNCTION wheels_source.set_fuel_consumption(vehicle_ids text[], l_per_100km numeric[], mpg numeric[],
                                                   sample_sizes int[])
RETURNS int
LANGUAGE sql AS $$
    WITH written AS (
        UPDATE public.vehicles v
        SET avg_l_per_100km = c.l_per_100km, consumption_updated_at = now()
        FROM unnest(vehicle_ids, l_per_100km) AS c (vehicle_id, l_per_100km)
        WHERE v.id = c.vehicle_id::bigint
        RETURNING 1
    )
    SELECT count(*)::int FROM written
$$;

------------------------------------------------------------------------------
-- The demo app's PAM logging call: one insert per chat event, no trigger.
-- SECURITY DEFINER, so the app role (wheels_app) may log without reading the
-- log; the checks repeat the table's constraints only to say which argument
-- was wrong.
------------------------------------------------------------------------------
CREATE FUNCTION wheels_source.log_pam_event(
    user_id uuid,
    event_type text,
    intent text DEFAULT NULL,
    response_time_ms int DEFAULT NULL,
    success boolean DEFAULT NULL,
    error text DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF event_type IS NULL OR event_type NOT IN ('message', 'response') THEN
        RAISE EXCEPTION 'log_pam_event: unknown event_type %, expected message or response',
            coalesce(quote_literal(event_type), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF response_time_ms < 0 THEN
        RAISE EXCEPTION 'log_pam_event: response_time_ms % is negative', response_time_ms
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO public.pam_analytics_logs (user_id, event_type, intent, response_time_ms, success, error)
    VALUES (log_pam_event.user_id, log_pam_event.event_type, log_pam_event.intent,
            log_pam_event.response_time_ms, log_pam_event.success, log_pam_event.error);
END
$$;
REVOKE EXECUTE ON FUNCTION wheels_source.log_pam_event(uuid, text, text, int, boolean, text) FROM PUBLIC;
GRANT USAGE ON SCHEMA wheels_source TO wheels_app;
GRANT EXECUTE ON FUNCTION wheels_source.log_pam_event(uuid, text, text, int, boolean, text) TO wheels_app;

------------------------------------------------------------------------------
-- Welcome email: a trigger on the demo app's sign-up table. Statement-level
-- with a transition table, so a bulk import is one set-based call; a definer
-- with a pinned search_path, so any role allowed to insert profiles signs up
-- (the trigger reads our tables, which that role cannot); and the email never
-- fails a sign-up: wheels.welcome records a failure and lets it through.
------------------------------------------------------------------------------
CREATE FUNCTION wheels_source.welcome_new_profiles() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM wheels.welcome(ARRAY(SELECT n.id FROM new_profiles n));
    RETURN NULL;
END
$$;

CREATE TRIGGER wheels_welcome
    AFTER INSERT ON public.profiles
    REFERENCING NEW TABLE AS new_profiles
    FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.welcome_new_profiles();
