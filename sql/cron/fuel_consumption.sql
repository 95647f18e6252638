-- Daily at 03:30 UTC, a quiet hour: averages move slowly, a day's fills are enough.
-- schedule: 30 3 * * *
SELECT wheels.fuel_consumption();
