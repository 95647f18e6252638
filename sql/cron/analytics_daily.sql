-- Daily at 02:00 UTC: yesterday (UTC) is over, with two hours' grace for its
-- late events; earlier days that gained late events are recomputed too.
-- schedule: 0 2 * * *
SELECT wheels.analytics_daily();
