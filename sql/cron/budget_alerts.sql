-- Budget alerts: hourly, at minute 5 so it does not start with the on-the-hour
-- rollups. An alert may come up to an hour after the expense that caused it:
-- fine for a monthly budget, and each run scans the whole month's spending.
-- time limit: 10 min
-- schedule: 5 * * * *
CALL wheels.run_job('budget_alerts');
