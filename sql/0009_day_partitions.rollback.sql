-- Undo 0009_day_partitions (the partitions themselves belong to the app's table).
DELETE FROM wheels.settings WHERE name IN ('partition_days_ahead', 'partition_lock_timeout_ms');
DELETE FROM wheels.source_contract WHERE relation = 'partitioned_by_day';
