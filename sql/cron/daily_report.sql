-- Daily report: at 02:30 UTC, after analytics_daily (02:00) rolled up
-- yesterday, and again each hour until 23:30: the ledger sends each address
-- one report a day, and a later run covers a day whose rollup came late.
-- time limit: 5 min
-- schedule: 30 2-23 * * *
CALL wheels.run_job('daily_report');
