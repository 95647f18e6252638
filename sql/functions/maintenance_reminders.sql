-- Maintenance reminders that look only at what is new
-- (sql/0011_maintenance_changes.sql, docs/SCALING.md): the source's
-- maintenance_changed() triggers name the owners whose tasks were added or
-- changed (record_maintenance_changes); the hourly job looks at their tasks and
-- at the tasks whose reminder or overdue date came since its last run.

-- Called by the source's maintenance_changed triggers, in the app's
-- transaction: these owners' tasks are looked at by the next run. An insert
-- into a table without keys: it never waits for anybody. No exception block of
-- its own: the trigger's catches a failure.
CREATE OR REPLACE FUNCTION wheels.record_maintenance_changes(user_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wheels.maintenance_changes (user_id)
    SELECT DISTINCT u FROM unnest(user_ids) u WHERE u IS NOT NULL;
END
$$;

-- What a maintenance_changed trigger's exception block calls: nobody could be
-- named, so the next run looks at every task in the window (a NULL row), and
-- the problem goes to the server log. Never raises: the app's write goes through.
CREATE OR REPLACE FUNCTION wheels.maintenance_changes_trouble(what text, problem text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE WARNING 'wheels-jobs: % could not record a change (the next maintenance_reminders looks at every task '
                  'in its window): %', what, problem;
    INSERT INTO wheels.maintenance_changes (user_id) VALUES (NULL);
EXCEPTION WHEN OTHERS THEN
    NULL;  -- the warning is all there is
END
$$;

-- Maintenance reminders (hourly): open tasks (not done) due within
-- maintenance_reminder_days of the owner's LOCAL today get one
-- maintenance_reminder; tasks past their due date get one maintenance_overdue.
-- The ledger period is the due date, so moving the due date re-arms both.
-- Overdue notices look back only maintenance_reminder_days: a task that became
-- overdue while the job was down still gets one, but the first run on an old
-- database does not mail every task that has been overdue for years (the
-- Celery task mailed every overdue task every day).
-- What it looks at: every task in the window on its first run (and after a
-- trigger that failed, or as of an instant before its last run); otherwise only
-- the tasks whose reminder or overdue date came since its last run, of the
-- owners in the zones whose local date turned since (wheels.user_zones: an
-- hourly run reads one or two zones' users, not everybody's tasks of three
-- UTC days), and the tasks of owners whose tasks changed meanwhile. The
-- ledger decides either way. `as_of` fixes "now" for tests and replays.
CREATE OR REPLACE FUNCTION wheels.maintenance_reminders(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    window_days int := wheels.setting('maintenance_reminder_days')::int;
    -- Every time zone's local date is within a day of UTC's: the ranges below are
    -- supersets (index ranges on the demo), narrowed per user by their local dates.
    utc_today date := (as_of AT TIME ZONE 'UTC')::date;
    since timestamptz;  -- the last run's as_of; NULL: look at every task in the window
    since_utc date;
    every_task boolean;
    turned_zones text[];
    owners uuid[];
    reminders int;
    overdue int;
BEGIN
    PERFORM wheels.lock_job('maintenance_reminders');
    PERFORM wheels.budget_state_refresh(as_of);  -- every user's zone of record (wheels.user_zones) up to date
    SELECT CASE WHEN s.reminded_as_of < as_of THEN s.reminded_as_of END INTO since FROM wheels.maintenance_state s;
    -- What the triggers recorded up to this snapshot; later commits stay for the next run.
    WITH taken AS (
        DELETE FROM wheels.maintenance_changes RETURNING user_id
    )
    SELECT coalesce(bool_or(t.user_id IS NULL), false), array_agg(DISTINCT t.user_id) FILTER (WHERE t.user_id IS NOT NULL)
    INTO every_task, owners
    FROM taken t;
    IF every_task THEN
        since := NULL;
    END IF;
    since_utc := (since AT TIME ZONE 'UTC')::date;
    -- Only where the local date turned can a reminder or overdue date have come.
    turned_zones := ARRAY(SELECT z.zone FROM wheels.digest_zones z
                          WHERE (since AT TIME ZONE z.zone)::date <> (as_of AT TIME ZONE z.zone)::date);

    SELECT coalesce(sum(e.enqueued) FILTER (WHERE e.intent_kind = 'maintenance_reminder'), 0),
           coalesce(sum(e.enqueued) FILTER (WHERE e.intent_kind = 'maintenance_overdue'), 0)
    INTO reminders, overdue
    FROM wheels._enqueue(ARRAY(
        WITH candidates AS (
            -- Three index ranges at most, each a constant in this call's plan:
            -- the whole window (first run), the dates that came since, the owners named.
            SELECT t.* FROM wheels_source.maintenance_tasks t
            WHERE since IS NULL AND t.due_on BETWEEN utc_today - window_days - 1 AND utc_today + window_days + 1
            UNION
            -- Overdue since: due_on + 1 reached; a reminder since: due_on - window_days reached.
            SELECT t.* FROM wheels.user_zones z
            JOIN wheels_source.maintenance_tasks t ON t.user_id = z.user_id
            WHERE since IS NOT NULL AND z.zone = ANY (turned_zones)
              AND (t.due_on BETWEEN greatest(since_utc - 1, utc_today - window_days - 1) AND utc_today
                   OR t.due_on BETWEEN since_utc - 1 + window_days AND utc_today + window_days + 1)
            UNION
            SELECT t.* FROM wheels_source.maintenance_tasks t
            WHERE since IS NOT NULL AND t.user_id = ANY (owners)
        ), open AS (
            SELECT c.task_id, c.user_id, c.title, c.vehicle, c.due_on,
                   c.due_on - (as_of AT TIME ZONE u.zone)::date AS days_left,
                   c.due_on - (since AT TIME ZONE u.zone)::date AS days_left_then,
                   coalesce(c.user_id = ANY (owners), false) AS changed
            FROM candidates c
            JOIN wheels.users() u ON u.user_id = c.user_id
            WHERE NOT c.done
        )
        SELECT CASE
                   WHEN o.days_left >= 0 THEN ROW(
                       'maintenance_reminder', o.task_id, o.due_on::text, o.user_id, NULL,
                       jsonb_build_object('title', o.title, 'vehicle', o.vehicle,
                                          'due_date', o.due_on, 'days_left', o.days_left))::wheels.intent
                   ELSE ROW(
                       'maintenance_overdue', o.task_id, o.due_on::text, o.user_id, NULL,
                       jsonb_build_object('title', o.title, 'vehicle', o.vehicle,
                                          'due_date', o.due_on, 'days_overdue', -o.days_left))::wheels.intent
               END
        FROM open o
        WHERE o.days_left BETWEEN -window_days AND window_days
          -- Not already decided at the last run: its reminder or overdue date came since.
          AND (since IS NULL OR o.changed
               OR (o.days_left >= 0 AND o.days_left_then > window_days)
               OR (o.days_left < 0 AND o.days_left_then >= 0))
    )) e;

    UPDATE wheels.maintenance_state SET reminded_as_of = as_of;
    RETURN format('maintenance_reminders: %s enqueued (%s, %s overdue)',
                  wheels.plural(reminders + overdue, 'intent', 'intents'),
                  wheels.plural(reminders, 'reminder', 'reminders'), overdue);
END
$$;
