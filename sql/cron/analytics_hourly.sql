-- Hourly, five minutes past: the hour just ended is complete by then, and the
-- last analytics_recompute_hours hours are recomputed for late events.
-- schedule: 5 * * * *
SELECT wheels.analytics_hourly();
