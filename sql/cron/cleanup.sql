-- Hourly at half past, away from the rollup at :05: small, steady batches of
-- expired rows instead of one large delete a day.
-- schedule: 35 * * * *
SELECT wheels.cleanup();
