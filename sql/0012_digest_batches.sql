-- wheels-jobs, part 12: the daily digest in bounded batches (issue 13). One
-- run decided every user of the zones whose morning had come: 41,666 users
-- and 6.8 s in one transaction at a million users spread over 24 zones, and a
-- zone holding a third of the users would take a minute. Now a run takes at
-- most digest_batch_users users, in user order, and a zone remembers where
-- the last run stopped; the job runs every minute (sql/cron/daily_digest.sql),
-- so a big zone's digests leave over a few minutes in short transactions.
-- (docs/SCALING.md; the job is sql/functions/daily_digest.sql.)
-- depends: 0011_maintenance_changes

ALTER TABLE wheels.digest_zones
    ADD COLUMN resume_day date,
    ADD COLUMN resume_after uuid;
COMMENT ON COLUMN wheels.digest_zones.resume_day IS
    'The local day whose digests a run left unfinished in this zone (NULL: none); the next run goes on after resume_after.';
COMMENT ON COLUMN wheels.digest_zones.resume_after IS
    'The last user (in uuid order) of this zone decided for resume_day.';

-- Serves daily_digest: a zone's users in order, from where the last run stopped.
DROP INDEX wheels.user_zones_zone_idx;
CREATE INDEX user_zones_zone_user_idx ON wheels.user_zones (zone, user_id);

INSERT INTO wheels.settings (name, value, description) VALUES
    ('digest_batch_users', '5000',
     'daily_digest: at most this many users are decided per run (a run a minute); a zone with more goes on at the next run');
