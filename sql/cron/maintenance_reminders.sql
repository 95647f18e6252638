-- Maintenance reminders: daily. Days are local and users live in many time
-- zones, so no UTC hour is morning for everyone; the window is counted in
-- local days, so the hour only changes when a reminder arrives, not whether.
-- 06:00 UTC is before the working day in Europe and the evening in Australia.
-- time limit: 10 min
-- schedule: 0 6 * * *
CALL wheels.run_job('maintenance_reminders');
