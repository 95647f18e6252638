-- Maintenance reminders: hourly. Days are local: a run decides the tasks
-- whose reminder or overdue date came for the owners whose local date turned
-- since the last run, so a reminder leaves within the hour after the owner's
-- midnight, and each run reads one or two zones' owners (docs/SCALING.md).
-- time limit: 10 min
-- schedule: 15 * * * *
CALL wheels.run_job('maintenance_reminders');
