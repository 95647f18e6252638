-- Daily at 03:30 UTC, a quiet hour: averages move slowly, a day's fills are enough.
-- time limit: 10 min
-- schedule: 30 3 * * *
CALL wheels.run_job('fuel_consumption');
