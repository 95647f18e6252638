-- Budget state rebuild: weekly, Sunday 04:15 UTC, a quiet hour. The state
-- follows the source's changes (sql/0008_budget_state.sql); this sums it
-- afresh from the source as a safety net (a trigger that could not record a
-- change, a contract changed by hand), and has the next budget_alerts look at
-- every budget. Its cost grows with the data (docs/BENCHMARKS.md); `cli.py
-- source check` reports drift, and `cli.py jobs run budget_state_rebuild`
-- repairs it at once.
-- time limit: 30 min
-- schedule: 15 4 * * 0
CALL wheels.run_job('budget_state_rebuild');
