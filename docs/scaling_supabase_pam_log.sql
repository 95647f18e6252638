-- Partitioning the wheels app's PAM log by UTC day, on Supabase (docs/SCALING.md):
-- for the app's own retention, a day dropped instead of its rows deleted one by
-- one. wheels-jobs' rollups read their own day-partitioned copy of the log
-- (wheels.pam_event_feed) either way.
-- The app's own migration, run by its owner (`postgres`) at a quiet moment:
-- writes to the log wait only for step 2's catalog changes (no row is copied:
-- the old table becomes the DEFAULT partition, and keeps its rows until they
-- expire). tests/test_scaling_recipe.py runs this file on the Supabase-shaped
-- test database.
-- Step 1, without holding writes up (each statement on its own, outside a
-- transaction): the key the partitioned table needs, (created_at, id), built
-- concurrently, and created_at proven NOT NULL by a validated check, so that
-- step 2 needs no scan of the rows.
UPDATE public.pam_analytics_logs SET created_at = coalesce("timestamp", now()) WHERE created_at IS NULL;
CREATE UNIQUE INDEX CONCURRENTLY pam_analytics_logs_created_at_id_key ON public.pam_analytics_logs (created_at, id);
ALTER TABLE public.pam_analytics_logs ADD CONSTRAINT pam_analytics_logs_created_at_not_null
    CHECK (created_at IS NOT NULL) NOT VALID;
ALTER TABLE public.pam_analytics_logs VALIDATE CONSTRAINT pam_analytics_logs_created_at_not_null;

-- step 2: one short transaction.
BEGIN;
LOCK TABLE public.pam_analytics_logs IN ACCESS EXCLUSIVE MODE;
ALTER TABLE public.pam_analytics_logs ALTER COLUMN created_at SET NOT NULL;
ALTER TABLE public.pam_analytics_logs DROP CONSTRAINT pam_analytics_logs_pkey,
    ADD CONSTRAINT pam_analytics_logs_before_pkey PRIMARY KEY USING INDEX pam_analytics_logs_created_at_id_key;
ALTER TABLE public.pam_analytics_logs RENAME TO pam_analytics_logs_before;

CREATE TABLE public.pam_analytics_logs (
    LIKE public.pam_analytics_logs_before INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS INCLUDING COMMENTS,
    PRIMARY KEY (created_at, id)
) PARTITION BY RANGE (created_at);
-- New ids go on from the old ones.
SELECT setval(pg_get_serial_sequence('public.pam_analytics_logs', 'id'),
              greatest((SELECT max(id) FROM public.pam_analytics_logs_before), 1));

-- The old table, rows and all, is the DEFAULT partition: rows outside every
-- day land there, so a write never fails for want of a partition.
ALTER TABLE public.pam_analytics_logs ATTACH PARTITION public.pam_analytics_logs_before DEFAULT;

-- The app's own index. (wheels-jobs reads its copy of the log, wheels.pam_event_feed,
-- and needs none here.)
CREATE INDEX pam_analytics_logs_user_id_created_idx ON public.pam_analytics_logs (user_id);

-- Row level security is per table: on the new parent as on the old table.
ALTER TABLE public.pam_analytics_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY "service role logs" ON public.pam_analytics_logs TO service_role USING (true);

-- Day partitions from tomorrow (today's rows stay in the DEFAULT partition)
-- a week ahead. Each is a table of its own in public, which Supabase's API
-- would serve past the parent's policies: row level security on, no policy,
-- so the API roles see nothing through it. From here on pg_partman (5.x on Supabase: Database,
-- Extensions) keeps them coming and drops expired days:
--   SELECT partman.create_parent(p_parent_table => 'public.pam_analytics_logs', p_control => 'created_at',
--                                p_interval => '1 day', p_premake => 7);
--   UPDATE partman.part_config SET retention = '90 days', retention_keep_table = false
--   WHERE parent_table = 'public.pam_analytics_logs';
DO $$
DECLARE
    d date;
BEGIN
    FOR d IN SELECT generate_series(current_date + 1, current_date + 7, interval '1 day')::date LOOP
        EXECUTE format('CREATE TABLE public.%I PARTITION OF public.pam_analytics_logs FOR VALUES FROM (%L) TO (%L)',
                       'pam_analytics_logs_p' || to_char(d, 'YYYYMMDD'),
                       d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', 'pam_analytics_logs_p' || to_char(d, 'YYYYMMDD'));
    END LOOP;
END
$$;
COMMIT;
