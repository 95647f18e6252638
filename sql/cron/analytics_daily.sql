-- Daily at 02:00 UTC: yesterday (UTC) is over, with two hours' grace for its
-- late events; earlier days that gained late events are recomputed too.
-- time limit: 30 min
-- schedule: 0 2 * * *
CALL wheels.run_job('analytics_daily');
