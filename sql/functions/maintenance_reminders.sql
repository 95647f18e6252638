-- Maintenance reminders (daily): open tasks (completed_at IS NULL) due within
-- maintenance_reminder_days of the owner's LOCAL today get one
-- maintenance_reminder; tasks past their due date get one maintenance_overdue.
-- The ledger period is the due date, so moving the due date re-arms both.
-- Overdue notices look back only maintenance_reminder_days: a task that became
-- overdue while the job was down still gets one, but the first run on an old
-- database does not mail every task that has been overdue for years.
-- `as_of` fixes "now" for tests and replays.
CREATE OR REPLACE FUNCTION wheels.maintenance_reminders(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    window_days int := wheels.setting('maintenance_reminder_days')::int;
    -- Every time zone's local date is within a day of UTC's: the index range
    -- below is a superset, narrowed per user by their own local today.
    utc_today date := (as_of AT TIME ZONE 'UTC')::date;
    reminders int;
    overdue int;
BEGIN
    SELECT coalesce(sum(e.enqueued) FILTER (WHERE e.intent_kind = 'maintenance_reminder'), 0),
           coalesce(sum(e.enqueued) FILTER (WHERE e.intent_kind = 'maintenance_overdue'), 0)
    INTO reminders, overdue
    FROM wheels._enqueue(ARRAY(
        WITH open AS (
            SELECT r.id, r.user_id, r.title, v.name AS vehicle, r.due_date,
                   r.due_date - (as_of AT TIME ZONE p.timezone)::date AS days_left
            FROM maintenance_records r  -- maintenance_records_open_due_idx
            JOIN profiles p ON p.id = r.user_id
            LEFT JOIN vehicles v ON v.id = r.vehicle_id
            WHERE r.completed_at IS NULL
              AND r.due_date BETWEEN utc_today - window_days - 1 AND utc_today + window_days + 1
        )
        SELECT CASE
                   WHEN o.days_left >= 0 THEN ROW(
                       'maintenance_reminder', o.id::text, o.due_date::text, o.user_id,
                       jsonb_build_object('title', o.title, 'vehicle', o.vehicle,
                                          'due_date', o.due_date, 'days_left', o.days_left))::wheels.intent
                   ELSE ROW(
                       'maintenance_overdue', o.id::text, o.due_date::text, o.user_id,
                       jsonb_build_object('title', o.title, 'vehicle', o.vehicle,
                                          'due_date', o.due_date, 'days_overdue', -o.days_left))::wheels.intent
               END
        FROM open o
        WHERE o.days_left BETWEEN -window_days AND window_days
    )) e;
    RETURN format('maintenance_reminders: %s intents enqueued (%s reminders, %s overdue)', reminders + overdue, reminders, overdue);
END
$$;
