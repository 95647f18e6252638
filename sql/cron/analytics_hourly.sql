-- Hourly, five minutes past: the hour just ended is complete by then, and the
-- last analytics_recompute_hours hours are recomputed for late events.
-- time limit: 10 min
-- schedule: 5 * * * *
CALL wheels.run_job('analytics_hourly');
