-- Maintenance reminders (daily): open tasks (not done) due within
-- maintenance_reminder_days of the owner's LOCAL today get one
-- maintenance_reminder; tasks past their due date get one maintenance_overdue.
-- The ledger period is the due date, so moving the due date re-arms both.
-- Overdue notices look back only maintenance_reminder_days: a task that became
-- overdue while the job was down still gets one, but the first run on an old
-- database does not mail every task that has been overdue for years (the
-- Celery task mailed every overdue task every day).
-- `as_of` fixes "now" for tests and replays.
CREATE OR REPLACE FUNCTION wheels.maintenance_reminders(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    window_days int := wheels.setting('maintenance_reminder_days')::int;
    -- Every time zone's local date is within a day of UTC's: the range below is
    -- a superset (an index range on the demo), narrowed per user by their local today.
    utc_today date := (as_of AT TIME ZONE 'UTC')::date;
    reminders int;
    overdue int;
BEGIN
    PERFORM wheels.lock_job('maintenance_reminders');
    SELECT coalesce(sum(e.enqueued) FILTER (WHERE e.intent_kind = 'maintenance_reminder'), 0),
           coalesce(sum(e.enqueued) FILTER (WHERE e.intent_kind = 'maintenance_overdue'), 0)
    INTO reminders, overdue
    FROM wheels._enqueue(ARRAY(
        WITH open AS (
            SELECT t.task_id, t.user_id, t.title, t.vehicle, t.due_on,
                   t.due_on - (as_of AT TIME ZONE u.zone)::date AS days_left
            FROM wheels_source.maintenance_tasks t
            JOIN wheels.users() u ON u.user_id = t.user_id
            WHERE NOT t.done
              AND t.due_on BETWEEN utc_today - window_days - 1 AND utc_today + window_days + 1
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
    )) e;
    RETURN format('maintenance_reminders: %s enqueued (%s, %s overdue)',
                  wheels.plural(reminders + overdue, 'intent', 'intents'),
                  wheels.plural(reminders, 'reminder', 'reminders'), overdue);
END
$$;
