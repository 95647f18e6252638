-- Undo 0018_copy_drift.
DELETE FROM wheels.source_contract WHERE relation = 'copy_drift';
