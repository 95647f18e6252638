-- The source contract over the wheels app's live Supabase database (facts in
-- docs/ADOPTING.md): the relations and functions the jobs use, mapped onto the
-- app's own tables, which this file never changes. `cli.py migrate --source
-- supabase-wheels` applies it in one transaction after creating schema
-- wheels_source, whenever the file changed. The views belong to the migrating
-- role (`postgres`), which owns the app's tables in `public`, so they read past
-- row level security; nothing here is granted to anybody.

------------------------------------------------------------------------------
-- Relations
------------------------------------------------------------------------------
-- Every user who signed up (auth.users), with the profile and settings the app
-- keeps. Address: profiles.email, else the sign-up address. Time zone, currency
-- and units: user_settings.regional_preferences; a user without them gets the
-- app's defaults (America/New_York, imperial units, no currency shown).
-- Opt-outs: notification_preferences.email_notifications = false silences
-- every optional kind; maintenance_alerts governs maintenance; budget alerts
-- and the digest have keys of their own, which set_email_preferences writes.
CREATE VIEW wheels_source.users AS
SELECT u.id AS user_id,
       nullif(btrim(coalesce(p.email, u.email)), '') AS email,
       coalesce(nullif(btrim(p.nickname), ''), nullif(btrim(p.full_name), ''),
                nullif(btrim(u.raw_user_meta_data ->> 'full_name'), '')) AS name,
       coalesce(nullif(btrim(s.regional_preferences ->> 'timezone'), ''), 'America/New_York') AS time_zone,
       nullif(upper(btrim(s.regional_preferences ->> 'currency')), '') AS currency,
       CASE WHEN s.regional_preferences ->> 'units' = 'metric' THEN 'metric' ELSE 'imperial' END AS units,
       ARRAY(SELECT k.kind
             FROM (VALUES ('budget_alerts', 'budget_alert_emails'), ('daily_digest', 'daily_digest_emails'),
                          ('maintenance', 'maintenance_alerts')) AS k (kind, key)
             WHERE s.notification_preferences -> 'email_notifications' = 'false'::jsonb
                OR s.notification_preferences -> k.key = 'false'::jsonb
             ORDER BY k.kind) AS opted_out
FROM auth.users u
LEFT JOIN public.profiles p ON p.id = u.id
LEFT JOIN public.user_settings s ON s.user_id = u.id;

-- A budget counts while the owner's local today lies within start_date ..
-- end_date (either may be open); its limit is monthly_limit.
-- Casts throughout: a project whose columns differ in detail (an integer limit, a
-- timestamp for a date) still meets the contract's types.
CREATE VIEW wheels_source.budgets AS
SELECT b.id::text AS budget_id, b.user_id::uuid, b.category::text, b.monthly_limit::numeric,
       b.alert_threshold::numeric, b.start_date::date AS starts_on, b.end_date::date AS ends_on
FROM public.budgets b;

-- expenses.date is the day the user entered: already local.
CREATE VIEW wheels_source.expenses AS
SELECT e.id::text AS expense_id, e.user_id::uuid, e.category::text, e.amount::numeric, e.date::date AS spent_on
FROM public.expenses e;

CREATE VIEW wheels_source.vehicles AS
SELECT v.id::text AS vehicle_id, v.user_id::uuid,
       coalesce(nullif(btrim(v.name), ''), nullif(btrim(concat_ws(' ', v.make, v.model)), ''), 'your vehicle') AS name,
       v.fuel_consumption_l_per_100km::numeric AS l_per_100km
FROM public.vehicles v;

-- fuel_log has no vehicle: a user's fills belong to their primary vehicle
-- (the oldest one marked primary). Volumes and odometer readings are in the
-- user's units: imperial means US gallons and miles. The fills are read from
-- the copy of ours the triggers below keep (wheels.fuel_fill_feed): the app's
-- fuel_log has no index on user_id, so the owners' fills were a read of all
-- of it. The primary vehicles are picked in one pass (DISTINCT ON) and
-- joined, not looked up per fill (the app has no index on vehicles (user_id)
-- either: per fill, fuel_consumption's first run at 100k users did not finish
-- in 7 minutes); user_id is theirs, so a filter on it narrows that pass to
-- the owners asked for.
CREATE VIEW wheels_source.fuel_fills AS
SELECT pv.vehicle_id, f.filled_on,
       f.odometer * CASE u.units WHEN 'imperial' THEN 1.609344 ELSE 1 END AS odometer_km,
       f.volume * CASE u.units WHEN 'imperial' THEN 3.785411784 ELSE 1 END AS litres,
       coalesce(f.full_tank, false) AS full_tank, pv.user_id
FROM wheels.fuel_fill_feed f
JOIN wheels_source.users u ON u.user_id = f.user_id
JOIN (SELECT DISTINCT ON (v.user_id) v.user_id, v.id::text AS vehicle_id
      FROM public.vehicles v
      WHERE v.is_primary
      ORDER BY v.user_id, v.id) pv ON pv.user_id = f.user_id
WHERE f.odometer IS NOT NULL AND f.volume > 0;

-- One row of the app's fuel_log as wheels.fuel_fill_feed keeps it; a fill
-- without an owner belongs to no vehicle: not copied. One SELECT: inlined.
CREATE FUNCTION wheels_source.fuel_fill_of(f public.fuel_log)
RETURNS SETOF wheels.fuel_fill_feed
LANGUAGE sql STABLE AS $$
    SELECT f.user_id::uuid, f.id::bigint, f.date::date, f.odometer::numeric, f.volume::numeric, f.filled_to_top::boolean
    WHERE f.user_id IS NOT NULL
$$;

-- Done means status 'completed'; a task without next_due_date is never reminded.
CREATE VIEW wheels_source.maintenance_tasks AS
SELECT m.id::text AS task_id, m.user_id::uuid, m.task::text AS title, NULL::text AS vehicle,
       m.next_due_date::date AS due_on,
       coalesce(m.status = 'completed', false) AS done
FROM public.maintenance_records m;

-- The app's PAM events as the jobs read them: the feed of ours its triggers
-- fill (wheels.pam_event_feed, below: the app's log has no index on
-- created_at, so reading an hour of it read it whole), mapped by pam_event_of.
CREATE VIEW wheels_source.pam_events AS
SELECT f.occurred_at, f.user_id, f.kind, f.intent, f.response_time_ms, f.succeeded
FROM wheels.pam_event_feed f;

-- One row of the app's log in the contract's columns. The app logs many event
-- types; messages and responses are user_message and pam_response. The intent
-- is the column, else event_data's. A failure is success = false or has_error
-- = true. A row without created_at is in no hour: not copied. One SELECT: the
-- planner inlines it into the triggers' and the install's INSERTs.
CREATE FUNCTION wheels_source.pam_event_of(l public.pam_analytics_logs)
RETURNS SETOF wheels.pam_event_feed
LANGUAGE sql STABLE AS $$
    SELECT l.created_at::timestamptz, l.id::bigint, l.user_id::uuid,
           CASE l.event_type WHEN 'user_message' THEN 'message' WHEN 'pam_response' THEN 'response'
                             ELSE l.event_type END::text,
           coalesce(l.intent, l.event_data ->> 'intent')::text,
           l.response_time_ms::int,
           CASE WHEN l.success IS FALSE OR l.has_error THEN false WHEN l.success THEN true END
    WHERE l.created_at IS NOT NULL
$$;

-- The expired-data tables the old hourly Celery cleanup trimmed. A table this
-- database does not have is skipped by cleanup and reported by `source check`.
-- The PAM log grows by millions of rows a day and has no index on created_at:
-- its oldest rows are found by its id (the primary key; the app's inserts take
-- ids and created_at in the same order), not by a scan of the whole log.
CREATE VIEW wheels_source.expiring AS
SELECT e.relation, e.time_column, e.keep, e.in_order_of
FROM (VALUES
    ('public.audio_cache', 'expires_at'::name, interval '0', NULL::name),
    ('public.user_active_sessions', 'expires_at', interval '0', NULL),
    ('public.pam_conversation_memory', 'expires_at', interval '0', NULL),
    ('public.active_recommendations', 'expires_at', interval '0', NULL),
    ('public.pam_analytics_logs', 'created_at', make_interval(days => wheels.setting('analytics_retention_days')::int), 'id')
) AS e (relation, time_column, keep, in_order_of)
-- Once the app has partitioned its PAM log (docs/SCALING.md), its retention
-- is the app's (pg_partman), not row deletes of ours.
WHERE (SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(e.relation)) IS DISTINCT FROM 'p';

-- The feed of the app's PAM events is ours, and partitioned by day: the
-- `partitions` job makes its days, cleanup retires them. The app's own log
-- stays as the app keeps it (expiring, above).
CREATE VIEW wheels_source.partitioned_by_day AS
SELECT 'wheels.pam_event_feed'::text AS relation, 'occurred_at'::name AS time_column,
       make_interval(days => wheels.setting('pam_feed_retention_days')::int) AS keep;

-- Where the PAM event feed's copy of the app's log starts: the UTC day
-- pam_feed_retention_days before today. The install copies from here, and
-- copy_drift compares from here (older days are on their way out).
CREATE FUNCTION wheels_source.pam_feed_starts() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT (date_trunc('day', now() AT TIME ZONE 'UTC')
            - make_interval(days => wheels.setting('pam_feed_retention_days')::int)) AT TIME ZONE 'UTC'
$$;

-- The two copies of the app's rows that the triggers below keep, each against
-- a fresh copy: per distinct row, how many more the copy holds than the app's
-- rows map to (a row either side alone counts once). One read of each app
-- table (the PAM log's from its start: it has no index on created_at); only
-- source check reads this.
CREATE VIEW wheels_source.copy_drift AS
SELECT 'wheels.pam_event_feed'::text AS copy, coalesce(sum(abs(d.surplus)), 0)::bigint AS differing
FROM (
    SELECT sum(r.side) AS surplus
    FROM (SELECT f.*, 1 AS side FROM wheels.pam_event_feed f WHERE f.occurred_at >= wheels_source.pam_feed_starts()
          UNION ALL
          SELECT e.*, -1 FROM public.pam_analytics_logs l CROSS JOIN LATERAL wheels_source.pam_event_of(l) e
          WHERE l.created_at >= wheels_source.pam_feed_starts()) r
    GROUP BY r.occurred_at, r.event_id, r.user_id, r.kind, r.intent, r.response_time_ms, r.succeeded
    HAVING sum(r.side) <> 0
) d
UNION ALL
SELECT 'wheels.fuel_fill_feed', coalesce(sum(abs(d.surplus)), 0)::bigint
FROM (
    SELECT sum(r.side) AS surplus
    FROM (SELECT c.*, 1 AS side FROM wheels.fuel_fill_feed c
          UNION ALL
          SELECT c.*, -1 FROM public.fuel_log f CROSS JOIN LATERAL wheels_source.fuel_fill_of(f) c) r
    GROUP BY r.user_id, r.fill_id, r.filled_on, r.odometer, r.volume, r.full_tank
    HAVING sum(r.side) <> 0
) d;

------------------------------------------------------------------------------
-- Writes back to the app
------------------------------------------------------------------------------
-- Switch preference kinds on or off in the app's own notification_preferences,
-- so the app's settings page shows what the unsubscribe link did. Switching a
-- kind on while the app's master switch (email_notifications) is off turns the
-- master on and the other kinds explicitly off, so nothing else starts
-- arriving. False when the user does not exist.
CREATE FUNCTION wheels_source.set_email_preferences(user_id uuid, preference_kinds text[], enabled boolean[])
RETURNS boolean
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    keys constant jsonb := '{"budget_alerts": "budget_alert_emails", "daily_digest": "daily_digest_emails",
                             "maintenance": "maintenance_alerts"}';
    current jsonb;
    changes jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM auth.users u WHERE u.id = set_email_preferences.user_id) THEN
        RETURN false;
    END IF;
    SELECT s.notification_preferences INTO current
    FROM public.user_settings s WHERE s.user_id = set_email_preferences.user_id;
    SELECT jsonb_object_agg(keys ->> c.kind, c.enabled) INTO changes
    FROM unnest(preference_kinds, set_email_preferences.enabled) AS c (kind, enabled);
    IF current -> 'email_notifications' = 'false'::jsonb AND true = ANY (set_email_preferences.enabled) THEN
        changes := (SELECT jsonb_object_agg(k.value, false) FROM jsonb_each_text(keys) AS k)
                   || changes || '{"email_notifications": true}';
    END IF;
    INSERT INTO public.user_settings AS s (user_id, notification_preferences)
    VALUES (set_email_preferences.user_id, changes)
    ON CONFLICT (user_id) DO UPDATE
        SET notification_preferences = coalesce(s.notification_preferences, '{}') || excluded.notification_preferences;
    RETURN true;
END
$$;

-- Store each vehicle's computed consumption in all five fuel_consumption_*
-- columns, as the Celery task did, where its L/100 km changed (found by the
-- vehicles' primary key); returns the vehicles written.
CREATE FUNCTION wheels_source.set_fuel_consumption(vehicle_ids text[], l_per_100km numeric[], mpg numeric[],
                                                   sample_sizes int[])
RETURNS int
LANGUAGE sql AS $$
    WITH written AS (
        UPDATE public.vehicles v
        SET fuel_consumption_l_per_100km = c.l_per_100km, fuel_consumption_mpg = c.mpg,
            fuel_consumption_source = 'calculated', fuel_consumption_last_updated = now(),
            fuel_consumption_sample_size = c.sample_size
        FROM unnest(vehicle_ids, l_per_100km, mpg, sample_sizes) AS c (vehicle_id, l_per_100km, mpg, sample_size)
        WHERE v.id = c.vehicle_id::uuid AND v.fuel_consumption_l_per_100km IS DISTINCT FROM c.l_per_100km
        RETURNING 1
    )
    SELECT count(*)::int FROM written
$$;

------------------------------------------------------------------------------
-- Welcome email: sign-ups happen in Supabase Auth, not in the backend, so the
-- trigger sits on auth.users and the welcome is decided in the sign-up's own
-- transaction (before or after the app's own trigger creates the profile: the
-- users view reads auth.users either way), without waiting for confirmation.
-- auth.users belongs to supabase_auth_admin, which performs the inserts: the
-- function is a definer (the migrating role) with a pinned search_path, and
-- wheels.welcome never lets an email problem fail a sign-up.
------------------------------------------------------------------------------
CREATE FUNCTION wheels_source.welcome_new_users() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM wheels.welcome(ARRAY(SELECT n.id FROM new_users n));
    RETURN NULL;
END
$$;

CREATE TRIGGER wheels_welcome
    AFTER INSERT ON auth.users
    REFERENCING NEW TABLE AS new_users
    FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.welcome_new_users();

------------------------------------------------------------------------------
-- Budget state (sql/0008_budget_state.sql, docs/SCALING.md): the app's writes
-- that change wheels_source.expenses, .budgets or a user's zone and opt-outs
-- are handed to wheels-jobs in their own transaction by statement-level
-- triggers on the app's tables, named wheels_<what>_<event>, documented in
-- docs/SCALING.md and dropped with schema wheels_source (rollback, or a
-- source update, which creates them again). Transition tables need one
-- trigger per event. The functions are definers (the migrating role, which
-- owns the app's tables) with a pinned search_path, because the app writes as
-- `authenticated` through the API and that role can reach nothing of ours;
-- each body is an exception block, so an app write never fails on our
-- account: the problem goes to the run log and the budget state is repaired
-- later (`source check` reports drift, budget_state_rebuild repairs it).
-- Cost per app write: docs/BENCHMARKS.md (bench/scale.py).
------------------------------------------------------------------------------
-- expenses.date is already local and category is the expense's own: a row
-- maps by itself. An update hands over only rows whose mapped values changed.
CREATE FUNCTION wheels_source.expenses_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
    owners uuid[];
BEGIN
    -- Each transition table is named only in the branch of the event that has it.
    IF TG_OP = 'INSERT' THEN
        PERFORM wheels.record_spending(ARRAY(
            SELECT ROW(n.user_id, n.category, n.date, n.amount, 1)::wheels.spending_change FROM new_rows n));
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM wheels.record_spending(ARRAY(
            SELECT ROW(o.user_id, o.category, o.date, -o.amount, -1)::wheels.spending_change FROM old_rows o));
    ELSE
        PERFORM wheels.record_spending(ARRAY(
            SELECT ROW(o.user_id, o.category, o.date, -o.amount, -1)::wheels.spending_change FROM old_rows o
            WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id
                                 AND (n.user_id, n.category, n.date, n.amount) = (o.user_id, o.category, o.date, o.amount))
            UNION ALL
            SELECT ROW(n.user_id, n.category, n.date, n.amount, 1)::wheels.spending_change FROM new_rows n
            WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = n.id
                                 AND (n.user_id, n.category, n.date, n.amount) = (o.user_id, o.category, o.date, o.amount))));
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

-- A budget's owners look again (a limit, threshold, category or date range
-- changes no sum: the budget reads another key or month); a start date still
-- ahead asks for another look when it comes.
CREATE FUNCTION wheels_source.budgets_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM wheels.record_user_changes(ARRAY(SELECT o.user_id FROM old_rows o), false);
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM wheels.record_user_changes(ARRAY(SELECT n.user_id FROM new_rows n), false,
                                           ARRAY(SELECT n.start_date FROM new_rows n));
    ELSE
        PERFORM wheels.record_user_changes(ARRAY(SELECT o.user_id FROM old_rows o), false);
        PERFORM wheels.record_user_changes(ARRAY(SELECT n.user_id FROM new_rows n), false,
                                           ARRAY(SELECT n.start_date FROM new_rows n));
    END IF;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    PERFORM wheels_source.trouble(TG_NAME, SQLERRM);
    RETURN NULL;
END
$$;

CREATE TRIGGER wheels_budgets_insert AFTER INSERT ON public.budgets
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.budgets_changed();
CREATE TRIGGER wheels_budgets_update AFTER UPDATE ON public.budgets
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.budgets_changed();
CREATE TRIGGER wheels_budgets_delete AFTER DELETE ON public.budgets
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.budgets_changed();

-- A user's zone and opt-outs live in user_settings (no row: the defaults),
-- and a new user appears in auth.users. expenses.date does not move with the
-- zone, so nothing is summed afresh.
CREATE FUNCTION wheels_source.users_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM wheels.record_user_changes(ARRAY(SELECT n.id FROM new_rows n), false);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM wheels.record_user_changes(ARRAY(SELECT o.user_id FROM old_rows o), false);
    ELSE
        PERFORM wheels.record_user_changes(ARRAY(SELECT n.user_id FROM new_rows n), false);
    END IF;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    PERFORM wheels_source.trouble(TG_NAME, SQLERRM);
    RETURN NULL;
END
$$;

CREATE TRIGGER wheels_users_insert AFTER INSERT ON auth.users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.users_changed();
CREATE TRIGGER wheels_settings_insert AFTER INSERT ON public.user_settings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.users_changed();
CREATE TRIGGER wheels_settings_update AFTER UPDATE ON public.user_settings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.users_changed();
CREATE TRIGGER wheels_settings_delete AFTER DELETE ON public.user_settings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.users_changed();

------------------------------------------------------------------------------
-- Fuel consumption (sql/0010_fuel_changes.sql, docs/SCALING.md): the app's
-- writes that change wheels_source.fuel_fills name their owners to
-- wheels-jobs, so the daily fuel_consumption measures only their vehicles.
-- Same shape as the budget state's triggers above (statement-level,
-- transition tables, definers with a pinned search_path, an exception block:
-- a failure has every vehicle measured at the next run), named
-- wheels_fuel_<what>_<event>, documented in docs/SCALING.md.
------------------------------------------------------------------------------
-- A fill written or deleted (copied into wheels.fuel_fill_feed too, or
-- removed from it; a TRUNCATE of the log empties it); a vehicle added, deleted, given to another owner
-- or made (not) primary (a fill belongs to its owner's primary vehicle); the
-- owner's units (volumes and odometers are read in them). fuel_consumption's
-- own writes to the vehicles (the fuel_consumption_* columns) name nobody.
CREATE FUNCTION wheels_source.fuel_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Each transition table is named only in the branch of the event that has it.
    -- fuel_log's writes also go into the copy of ours (wheels.fuel_fill_feed).
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE wheels.fuel_fill_feed;
    ELSIF TG_OP = 'INSERT' THEN
        IF TG_TABLE_NAME = 'fuel_log' THEN
            INSERT INTO wheels.fuel_fill_feed SELECT c.* FROM new_rows n CROSS JOIN LATERAL wheels_source.fuel_fill_of(n) c;
        END IF;
        PERFORM wheels.record_fuel_changes(ARRAY(SELECT n.user_id FROM new_rows n));
    ELSIF TG_OP = 'DELETE' THEN
        IF TG_TABLE_NAME = 'fuel_log' THEN
            DELETE FROM wheels.fuel_fill_feed c USING old_rows o WHERE c.user_id = o.user_id AND c.fill_id = o.id;
        END IF;
        PERFORM wheels.record_fuel_changes(ARRAY(SELECT o.user_id FROM old_rows o));
    ELSIF TG_TABLE_NAME = 'fuel_log' THEN
        DELETE FROM wheels.fuel_fill_feed c USING old_rows o WHERE c.user_id = o.user_id AND c.fill_id = o.id;
        INSERT INTO wheels.fuel_fill_feed SELECT c.* FROM new_rows n CROSS JOIN LATERAL wheels_source.fuel_fill_of(n) c;
        PERFORM wheels.record_fuel_changes(ARRAY(SELECT o.user_id FROM old_rows o UNION SELECT n.user_id FROM new_rows n));
    ELSIF TG_TABLE_NAME = 'vehicles' THEN
        PERFORM wheels.record_fuel_changes(ARRAY(
            SELECT u.user_id FROM old_rows o JOIN new_rows n ON n.id = o.id
            CROSS JOIN LATERAL (VALUES (o.user_id), (n.user_id)) u (user_id)
            WHERE (n.user_id, n.is_primary) IS DISTINCT FROM (o.user_id, o.is_primary)));
    ELSE
        PERFORM wheels.record_fuel_changes(ARRAY(
            SELECT n.user_id FROM new_rows n JOIN old_rows o ON o.user_id = n.user_id
            WHERE n.regional_preferences ->> 'units' IS DISTINCT FROM o.regional_preferences ->> 'units'));
    END IF;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    PERFORM wheels.fuel_changes_trouble(TG_NAME, SQLERRM);
    RETURN NULL;
END
$$;

CREATE TRIGGER wheels_fuel_fills_insert AFTER INSERT ON public.fuel_log
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();
CREATE TRIGGER wheels_fuel_fills_update AFTER UPDATE ON public.fuel_log
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();
CREATE TRIGGER wheels_fuel_fills_delete AFTER DELETE ON public.fuel_log
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();
CREATE TRIGGER wheels_fuel_fills_truncate AFTER TRUNCATE ON public.fuel_log
    FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();
CREATE TRIGGER wheels_fuel_vehicles_insert AFTER INSERT ON public.vehicles
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();
CREATE TRIGGER wheels_fuel_vehicles_update AFTER UPDATE ON public.vehicles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();
CREATE TRIGGER wheels_fuel_vehicles_delete AFTER DELETE ON public.vehicles
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();
CREATE TRIGGER wheels_fuel_settings_insert AFTER INSERT ON public.user_settings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();
CREATE TRIGGER wheels_fuel_settings_update AFTER UPDATE ON public.user_settings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();
CREATE TRIGGER wheels_fuel_settings_delete AFTER DELETE ON public.user_settings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.fuel_changed();

------------------------------------------------------------------------------
-- Maintenance reminders (sql/0011_maintenance_changes.sql, docs/SCALING.md):
-- the app's writes that add tasks or change a task's owner, due date or
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
    -- user_settings: a new zone (or the default one, without settings) moves the
    -- owner's local dates by up to two days: a reminder date may have come by it.
    IF TG_TABLE_NAME = 'user_settings' AND TG_OP = 'INSERT' THEN
        PERFORM wheels.record_maintenance_changes(ARRAY(SELECT n.user_id FROM new_rows n));
    ELSIF TG_TABLE_NAME = 'user_settings' AND TG_OP = 'DELETE' THEN
        PERFORM wheels.record_maintenance_changes(ARRAY(SELECT o.user_id FROM old_rows o));
    ELSIF TG_TABLE_NAME = 'user_settings' THEN
        PERFORM wheels.record_maintenance_changes(ARRAY(
            SELECT n.user_id FROM new_rows n JOIN old_rows o ON o.user_id = n.user_id
            WHERE n.regional_preferences ->> 'timezone' IS DISTINCT FROM o.regional_preferences ->> 'timezone'));
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM wheels.record_maintenance_changes(ARRAY(SELECT n.user_id FROM new_rows n));
    ELSE
        PERFORM wheels.record_maintenance_changes(ARRAY(
            SELECT u.user_id FROM old_rows o JOIN new_rows n ON n.id = o.id
            CROSS JOIN LATERAL (VALUES (o.user_id), (n.user_id)) u (user_id)
            WHERE (n.user_id, n.next_due_date, n.status) IS DISTINCT FROM (o.user_id, o.next_due_date, o.status)));
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
CREATE TRIGGER wheels_maintenance_settings_insert AFTER INSERT ON public.user_settings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.maintenance_changed();
CREATE TRIGGER wheels_maintenance_settings_update AFTER UPDATE ON public.user_settings
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.maintenance_changed();
CREATE TRIGGER wheels_maintenance_settings_delete AFTER DELETE ON public.user_settings
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.maintenance_changed();

------------------------------------------------------------------------------
-- The PAM event feed (sql/0015_pam_event_feed.sql, docs/SCALING.md): each
-- statement that writes the app's PAM log copies what it wrote into
-- wheels.pam_event_feed, in the app's transaction, so the feed holds exactly
-- the committed log of its days. Same shape as the triggers above; a failure
-- loses the statement's events from the rollups (never the app's write) and
-- is a failed analytics_hourly run in the run log (wheels.pam_feed_trouble).
-- Named wheels_pam_events_<event>.
------------------------------------------------------------------------------
CREATE FUNCTION wheels_source.pam_events_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Each transition table is named only in the branch of the event that has it.
    -- A copy is found by its time (the feed's index, and only the partitions of
    -- the rows' days: cleanup's deletes of 90-day-old rows look in the DEFAULT
    -- partition alone), then by the app's id.
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE wheels.pam_event_feed;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM wheels.pam_event_feed f USING old_rows o
        WHERE f.occurred_at = o.created_at AND f.event_id = o.id
          AND f.occurred_at BETWEEN (SELECT min(o.created_at) FROM old_rows o) AND (SELECT max(o.created_at) FROM old_rows o);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO wheels.pam_event_feed SELECT e.* FROM new_rows n CROSS JOIN LATERAL wheels_source.pam_event_of(n) e;
    END IF;
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    PERFORM wheels.pam_feed_trouble(TG_NAME, SQLERRM);
    RETURN NULL;
END
$$;

CREATE TRIGGER wheels_pam_events_insert AFTER INSERT ON public.pam_analytics_logs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.pam_events_changed();
CREATE TRIGGER wheels_pam_events_update AFTER UPDATE ON public.pam_analytics_logs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.pam_events_changed();
CREATE TRIGGER wheels_pam_events_delete AFTER DELETE ON public.pam_analytics_logs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.pam_events_changed();
CREATE TRIGGER wheels_pam_events_truncate AFTER TRUNCATE ON public.pam_analytics_logs
    FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.pam_events_changed();

-- The feed's days copied afresh whenever this source is installed or updated:
-- at the first install it is empty; at an update this repairs a copy that a
-- failed trigger left behind (source check reports one: copy_drift). The
-- triggers above, created in this transaction, hold the app's log against
-- writes until it commits, so nothing is copied twice or missed. One read of
-- the app's log each time (it has no index on created_at). The hourly
-- rollup's mark goes back to where the copy starts, so its next run rolls
-- those hours up again from the copy (and analytics_daily then their days).
SELECT wheels.create_day_partitions((wheels_source.pam_feed_starts() AT TIME ZONE 'UTC')::date,
                                    (now() AT TIME ZONE 'UTC')::date);
DELETE FROM wheels.pam_event_feed WHERE occurred_at >= wheels_source.pam_feed_starts();
INSERT INTO wheels.pam_event_feed
SELECT e.*
FROM public.pam_analytics_logs l CROSS JOIN LATERAL wheels_source.pam_event_of(l) e
WHERE l.created_at >= wheels_source.pam_feed_starts();
UPDATE wheels.rollup_state SET rolled_up_to = wheels_source.pam_feed_starts()
WHERE rollup = 'analytics_hourly' AND rolled_up_to > wheels_source.pam_feed_starts();

-- The fills copied afresh, whenever this source is installed or updated
-- (docs/SCALING.md: `migrate --reinstall-source` repairs a copy that a failed
-- trigger left behind). Every fill: fuel_consumption reads a vehicle's history.
TRUNCATE wheels.fuel_fill_feed;
INSERT INTO wheels.fuel_fill_feed SELECT c.* FROM public.fuel_log f CROSS JOIN LATERAL wheels_source.fuel_fill_of(f) c;

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
