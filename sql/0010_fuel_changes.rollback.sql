-- Undo 0010_fuel_changes. The source's triggers went with schema wheels_source.
DELETE FROM wheels.source_contract
WHERE (relation, column_name) IN (('fuel_fills', 'user_id'), ('fuel_changed()', 'returns'));
DROP TABLE wheels.fuel_changes;
