-- Hourly at half past, away from the rollup at :05: small, steady batches of
-- expired rows instead of one large delete a day.
-- time limit: 5 min
-- schedule: 35 * * * *
CALL wheels.run_job('cleanup');
