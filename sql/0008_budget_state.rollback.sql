-- Undo 0008_budget_state. The source's triggers went with schema wheels_source.
DELETE FROM wheels.source_contract
WHERE relation IN ('expenses_changed()', 'budgets_changed()', 'users_changed()');
DROP TABLE wheels.budget_state, wheels.budgets_to_check, wheels.digest_zones, wheels.user_zones,
    wheels.spending_days, wheels.spending_months, wheels.user_changes, wheels.spending_changes;
-- CASCADE: wheels.record_spending (sql/functions/) takes it; migrate creates it again.
DROP TYPE wheels.spending_change CASCADE;
