-- Undo 0001_wheels: the queue (pgmq itself stays: the platform may own it) and
-- the whole schema with everything sql/functions/ put in it. Roles stay:
-- they are cluster-wide and may serve other databases.
-- CASCADE must only drop what is ours: a view or foreign key of somebody
-- else's over our tables stops the rollback, naming it, instead of going too.
DO $$
DECLARE
    dependent text;
BEGIN
    SELECT d INTO dependent FROM wheels.dependents_outside('wheels') d LIMIT 1;
    IF dependent IS NOT NULL THEN
        RAISE EXCEPTION 'cannot remove schema wheels: % depends on it (drop or change it first)', dependent;
    END IF;
END
$$;
DO $$ BEGIN PERFORM pgmq.drop_queue('email_intents'); END $$;
DROP SCHEMA wheels CASCADE;
