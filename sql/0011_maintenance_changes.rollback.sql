-- Undo 0011_maintenance_changes. The source's triggers went with schema wheels_source.
DELETE FROM wheels.source_contract WHERE relation = 'maintenance_changed()';
DROP TABLE wheels.maintenance_state, wheels.maintenance_changes;
