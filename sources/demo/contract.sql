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
       f.odometer_km, f.liters AS litres, f.full_tank, v.user_id
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

-- Nothing of the demo app expires row by row: its one growing table, the PAM
-- log, is partitioned by day and retired by day.
CREATE VIEW wheels_source.expiring AS
SELECT NULL::text AS relation, NULL::name AS time_column, NULL::interval AS keep, NULL::name AS in_order_of
WHERE false;

CREATE VIEW wheels_source.partitioned_by_day AS
SELECT 'public.pam_analytics_logs'::text AS relation, 'created_at'::name AS time_column,
       make_interval(days => wheels.setting('analytics_retention_days')::int) AS keep;

-- The demo keeps no copy of its rows: the jobs read its own indexed tables.
CREATE VIEW wheels_source.copy_drift AS
SELECT NULL::text AS copy, NULL::bigint AS differing
WHERE false;

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

-- Store each vehicle's computed consumption where it changed (found by the
-- vehicles' primary key); returns the vehicles written.
CREATE FUNCTION wheels_source.set_fuel_consumption(vehicle_ids text[], l_per_100km numeric[], mpg numeric[],
                                                   sample_sizes int[])
RETURNS int
LANGUAGE sql AS $$
    WITH written AS (
        UPDATE public.vehicles v
        SET avg_l_per_100km = c.l_per_100km, consumption_updated_at = now()
        FROM unnest(vehicle_ids, l_per_100km) AS c (vehicle_id, l_per_100km)
        WHERE v.id = c.vehicle_id::bigint AND v.avg_l_per_100km IS DISTINCT FROM c.l_per_100km
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

------------------------------------------------------------------------------
-- Budget state (sql/0008_budget_state.sql, docs/SCALING.md): every demo-app
-- write that changes what wheels_source.expenses, .budgets or a user's zone
-- and opt-outs say is handed to wheels-jobs in its own transaction, by
-- statement-level triggers with transition tables (one per event: PostgreSQL
-- allows transition tables on single-event triggers only). Definers with a
-- pinned search_path, like the welcome trigger; each in an exception block, so
-- an app write never fails on our account (the problem is recorded, and the
-- budget state repaired later). The names: wheels_<what>_<event>.
------------------------------------------------------------------------------
-- Expense rows as the expenses view maps them: the category's name, the local
-- date in the owner's zone now. A row whose category or owner is already gone
-- (deleted with it, by cascade) cannot be mapped: its owner is summed afresh.
-- An update hands over only rows whose mapped values changed.
CREATE FUNCTION wheels_source.expenses_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    leaving wheels.spending_change[] := '{}';
    entering wheels.spending_change[] := '{}';
    unmapped uuid[] := '{}';
    problem text;
    owners uuid[];
BEGIN
    -- Each transition table is named only in the branch of the event that has
    -- it; the mapping is written out in each (a SQL function here would be
    -- planned again on every call: 150 µs a write instead of 20).
    IF TG_OP = 'DELETE' THEN
        SELECT coalesce(array_agg(ROW(o.user_id, c.name, (o.spent_at AT TIME ZONE p.timezone)::date, -o.amount, -1)
                                      ::wheels.spending_change) FILTER (WHERE p.id IS NOT NULL AND c.id IS NOT NULL), '{}'),
               coalesce(array_agg(o.user_id) FILTER (WHERE p.id IS NULL OR c.id IS NULL), '{}')
        INTO leaving, unmapped
        FROM old_rows o
        LEFT JOIN public.budget_categories c ON c.id = o.category_id
        LEFT JOIN public.profiles p ON p.id = o.user_id;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT coalesce(array_agg(ROW(o.user_id, c.name, (o.spent_at AT TIME ZONE p.timezone)::date, -o.amount, -1)
                                      ::wheels.spending_change) FILTER (WHERE p.id IS NOT NULL AND c.id IS NOT NULL), '{}'),
               coalesce(array_agg(o.user_id) FILTER (WHERE p.id IS NULL OR c.id IS NULL), '{}')
        INTO leaving, unmapped
        FROM old_rows o
        LEFT JOIN public.budget_categories c ON c.id = o.category_id
        LEFT JOIN public.profiles p ON p.id = o.user_id
        WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id
                             AND (n.user_id, n.category_id, n.amount, n.spent_at) = (o.user_id, o.category_id, o.amount, o.spent_at));
        entering := ARRAY(
            SELECT ROW(n.user_id, c.name, (n.spent_at AT TIME ZONE p.timezone)::date, n.amount, 1)::wheels.spending_change
            FROM new_rows n
            JOIN public.budget_categories c ON c.id = n.category_id
            JOIN public.profiles p ON p.id = n.user_id
            WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = n.id
                                 AND (n.user_id, n.category_id, n.amount, n.spent_at) = (o.user_id, o.category_id, o.amount, o.spent_at)));
    ELSE
        entering := ARRAY(
            SELECT ROW(n.user_id, c.name, (n.spent_at AT TIME ZONE p.timezone)::date, n.amount, 1)::wheels.spending_change
            FROM new_rows n
            JOIN public.budget_categories c ON c.id = n.category_id
            JOIN public.profiles p ON p.id = n.user_id);
    END IF;
    PERFORM wheels.record_spending(leaving || entering);
    IF unmapped <> '{}' THEN
        PERFORM wheels.record_user_changes(unmapped, true);
    END IF;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    -- Never the app's write: the owners are summed afresh later, the problem is
    -- recorded (wheels.budget_state_trouble); failing even that, logged.
    problem := SQLERRM;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            owners := ARRAY(SELECT n.user_id FROM new_rows n);
        ELSIF TG_OP = 'DELETE' THEN
            owners := ARRAY(SELECT o.user_id FROM old_rows o);
        ELSE
            owners := ARRAY(SELECT o.user_id FROM old_rows o UNION SELECT n.user_id FROM new_rows n);
        END IF;
        PERFORM wheels.budget_state_trouble(TG_NAME, problem, owners);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'wheels-jobs: % could not record a change: %', TG_NAME, problem;
    END;
    RETURN NULL;
END
$$;

CREATE TRIGGER wheels_expenses_insert AFTER INSERT ON public.expenses
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.expenses_changed();
CREATE TRIGGER wheels_expenses_update AFTER UPDATE ON public.expenses
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.expenses_changed();
CREATE TRIGGER wheels_expenses_delete AFTER DELETE ON public.expenses
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.expenses_changed();

-- A demo budget is a category: its owners' budgets are looked at again; a
-- renamed or deleted category also moves its expenses to another key (or out),
-- so its owners are summed afresh. Demo budgets have no start date.
CREATE FUNCTION wheels_source.budgets_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM wheels.record_user_changes(ARRAY(SELECT n.user_id FROM new_rows n), false);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM wheels.record_user_changes(ARRAY(SELECT o.user_id FROM old_rows o), true);
    ELSE
        PERFORM wheels.record_user_changes(ARRAY(SELECT n.user_id FROM new_rows n UNION SELECT o.user_id FROM old_rows o), false);
        PERFORM wheels.record_user_changes(ARRAY(
            SELECT o.user_id FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE (n.name, n.user_id) IS DISTINCT FROM (o.name, o.user_id)
            UNION SELECT n.user_id FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.user_id <> o.user_id), true);
    END IF;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    PERFORM wheels_source.trouble(TG_NAME, SQLERRM);
    RETURN NULL;
END
$$;

CREATE TRIGGER wheels_budgets_insert AFTER INSERT ON public.budget_categories
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.budgets_changed();
CREATE TRIGGER wheels_budgets_update AFTER UPDATE ON public.budget_categories
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.budgets_changed();
CREATE TRIGGER wheels_budgets_delete AFTER DELETE ON public.budget_categories
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.budgets_changed();

-- Users: a new profile, a changed one (a new time zone moves the local date of
-- every expense of theirs: summed afresh), one deleted, and opt-outs changed.
CREATE FUNCTION wheels_source.users_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_TABLE_NAME = 'email_preferences' AND TG_OP = 'DELETE' THEN
        PERFORM wheels.record_user_changes(ARRAY(SELECT o.user_id FROM old_rows o), false);
    ELSIF TG_TABLE_NAME = 'email_preferences' THEN
        PERFORM wheels.record_user_changes(ARRAY(SELECT n.user_id FROM new_rows n), false);
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM wheels.record_user_changes(ARRAY(SELECT n.id FROM new_rows n), false);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM wheels.record_user_changes(ARRAY(SELECT o.id FROM old_rows o), true);
    ELSE
        PERFORM wheels.record_user_changes(ARRAY(
            SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE n.timezone IS NOT DISTINCT FROM o.timezone), false);
        PERFORM wheels.record_user_changes(ARRAY(
            SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE n.timezone IS DISTINCT FROM o.timezone), true);
    END IF;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    PERFORM wheels_source.trouble(TG_NAME, SQLERRM);
    RETURN NULL;
END
$$;

CREATE TRIGGER wheels_users_insert AFTER INSERT ON public.profiles
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.users_changed();
CREATE TRIGGER wheels_users_update AFTER UPDATE ON public.profiles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.users_changed();
CREATE TRIGGER wheels_users_delete AFTER DELETE ON public.profiles
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.users_changed();
CREATE TRIGGER wheels_preferences_insert AFTER INSERT ON public.email_preferences
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.users_changed();
CREATE TRIGGER wheels_preferences_update AFTER UPDATE ON public.email_preferences
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.users_changed();
CREATE TRIGGER wheels_preferences_delete AFTER DELETE ON public.email_preferences
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.users_changed();

------------------------------------------------------------------------------
-- Fuel consumption (sql/0010_fuel_changes.sql, docs/SCALING.md): the demo
-- writes that change wheels_source.fuel_fills name their owners to
-- wheels-jobs, so the daily fuel_consumption measures only their vehicles.
-- Same shape as the budget state's triggers: statement-level, transition
-- tables, definers with a pinned search_path, an exception block (a failure
-- has every vehicle measured at the next run). The names: wheels_fuel_<what>_<event>.
------------------------------------------------------------------------------
-- A fill written or deleted (its vehicle's owner; a vehicle already deleted
-- has nothing left to measure), a vehicle given to another owner, an owner's
-- new zone (it moves filled_on, which orders fills at one odometer reading).
CREATE FUNCTION wheels_source.fuel_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Each transition table is named only in the branch of the event that has it.
    IF TG_TABLE_NAME = 'fuel_logs' AND TG_OP = 'INSERT' THEN
        PERFORM wheels.record_fuel_changes(ARRAY(
            SELECT v.user_id FROM public.vehicles v WHERE v.id IN (SELECT n.vehicle_id FROM new_rows n)));
    ELSIF TG_TABLE_NAME = 'fuel_logs' AND TG_OP = 'DELETE' THEN
        PERFORM wheels.record_fuel_changes(ARRAY(
            SELECT v.user_id FROM public.vehicles v WHERE v.id IN (SELECT o.vehicle_id FROM old_rows o)));
    ELSIF TG_TABLE_NAME = 'fuel_logs' THEN
        PERFORM wheels.record_fuel_changes(ARRAY(
            SELECT v.user_id FROM public.vehicles v
            WHERE v.id IN (SELECT o.vehicle_id FROM old_rows o UNION SELECT n.vehicle_id FROM new_rows n)));
    ELSIF TG_TABLE_NAME = 'vehicles' THEN
        PERFORM wheels.record_fuel_changes(ARRAY(
            SELECT u.user_id FROM old_rows o JOIN new_rows n ON n.id = o.id
            CROSS JOIN LATERAL (VALUES (o.user_id), (n.user_id)) u (user_id)
            WHERE n.user_id <> o.user_id));
    ELSE
        PERFORM wheels.record_fuel_changes(ARRAY(
            SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE n.timezone IS DISTINCT FROM o.timezone));
    END IF;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    PERFORM wheels.fuel_changes_trouble(TG_NAME, SQLERRM);
    RETURN NULL;
END
$$;

CREATE TRIGGER wheels_fuel_fills_insert AFTER INSERT ON public.fuel_logs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();
CREATE TRIGGER wheels_fuel_fills_update AFTER UPDATE ON public.fuel_logs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();
CREATE TRIGGER wheels_fuel_fills_delete AFTER DELETE ON public.fuel_logs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();
CREATE TRIGGER wheels_fuel_vehicles_update AFTER UPDATE ON public.vehicles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();
CREATE TRIGGER wheels_fuel_users_update AFTER UPDATE ON public.profiles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();

------------------------------------------------------------------------------
-- Maintenance reminders (sql/0011_maintenance_changes.sql, docs/SCALING.md):
-- the demo writes that add tasks or change a task's owner, due date or
-- done-ness, or an owner's zone, name the owners to wheels-jobs, so the daily maintenance_reminders
-- looks at their tasks and otherwise only at the tasks whose dates came. Same
-- shape as the triggers above; a failure has every task in the window looked
-- at. The names: wheels_maintenance_<event>. A deleted task needs no look.
------------------------------------------------------------------------------
CREATE FUNCTION wheels_source.maintenance_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Each transition table is named only in the branch of the event that has it.
    IF TG_TABLE_NAME = 'profiles' THEN
        -- A new zone moves the owner's local dates (by up to two days): a reminder
        -- date may have come by it, not by the clock.
        PERFORM wheels.record_maintenance_changes(ARRAY(
            SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE n.timezone IS DISTINCT FROM o.timezone));
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM wheels.record_maintenance_changes(ARRAY(SELECT n.user_id FROM new_rows n));
    ELSE
        PERFORM wheels.record_maintenance_changes(ARRAY(
            SELECT u.user_id FROM old_rows o JOIN new_rows n ON n.id = o.id
            CROSS JOIN LATERAL (VALUES (o.user_id), (n.user_id)) u (user_id)
            WHERE (n.user_id, n.due_date, n.completed_at IS NULL) IS DISTINCT FROM (o.user_id, o.due_date, o.completed_at IS NULL)));
    END IF;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    PERFORM wheels.maintenance_changes_trouble(TG_NAME, SQLERRM);
    RETURN NULL;
END
$$;

CREATE TRIGGER wheels_maintenance_insert AFTER INSERT ON public.maintenance_records
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.maintenance_changed();
CREATE TRIGGER wheels_maintenance_update AFTER UPDATE ON public.maintenance_records
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.maintenance_changed();
CREATE TRIGGER wheels_maintenance_users_update AFTER UPDATE ON public.profiles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.maintenance_changed();

-- What a trigger's exception block calls: the problem goes to the run log
-- (wheels.budget_state_trouble), and if even that is impossible, to the
-- server log only. Never raises.
CREATE FUNCTION wheels_source.trouble(trigger_name text, problem text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wheels.budget_state_trouble(trigger_name, problem, NULL);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'wheels-jobs: % could not record a change: %', trigger_name, problem;
END
$$;
