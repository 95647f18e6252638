-- Undo 0012_digest_batches.
DELETE FROM wheels.settings WHERE name = 'digest_batch_users';
DROP INDEX wheels.user_zones_zone_user_idx;
CREATE INDEX user_zones_zone_idx ON wheels.user_zones (zone);
ALTER TABLE wheels.digest_zones DROP COLUMN resume_after, DROP COLUMN resume_day;
