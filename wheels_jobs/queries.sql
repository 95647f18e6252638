-- Named queries of the operator side (migrate, jobs). Loaded by wheels_core.queries.

-- name: migrate_lock
-- Serialises concurrent `migrate` runs on one database (pgmq's SQL install is not re-runnable).
SELECT pg_advisory_lock(hashtext('wheels-jobs migrate'));

-- name: migrate_unlock
SELECT pg_advisory_unlock(hashtext('wheels-jobs migrate'));

-- name: old_layout
-- wheels-jobs from before the source contract: schema wheels without the source bookkeeping.
SELECT to_regclass('wheels.settings') IS NOT NULL AND to_regclass('wheels.installed_source') IS NULL AS old;

-- name: cron_location
-- Where pg_cron lives. Installed here is enough; the server settings are only
-- visible to superusers (and pg_read_all_settings): NULL for anybody else.
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') AS installed_here,
       (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS libraries,
       (SELECT setting FROM pg_settings WHERE name = 'cron.database_name') AS cron_database,
       current_database() AS database;

-- name: has_extension
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = %(name)s) AS installed,
       EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = %(name)s) AS available;

-- name: create_pg_cron
CREATE EXTENSION IF NOT EXISTS pg_cron;

-- name: create_pgmq
CREATE EXTENSION IF NOT EXISTS pgmq;

-- name: pgmq_installed
SELECT to_regclass('pgmq.meta') IS NOT NULL AS installed;

-- name: create_migrations_schema
-- yoyo keeps its bookkeeping here (it sets search_path to it), not in the app's public.
CREATE SCHEMA IF NOT EXISTS wheels_migrations;

-- name: has_migrations_schema
SELECT to_regnamespace('wheels_migrations') IS NOT NULL AS present;

-- name: drop_migrations_schema
DROP SCHEMA wheels_migrations CASCADE;

-- name: defer_function_bodies
-- As pg_dump does: SQL-language bodies are checked when first called, not when
-- created, so a function may name the source's relations installed after it.
SET LOCAL check_function_bodies = off;

-- name: stale_overloads
SELECT wheels.drop_stale_overloads(%(names)s::text[]) AS signature;

-- name: function_fingerprints
-- Our functions (not an extension's) with a digest of their definition, to report what a re-apply changed.
SELECT p.oid::regprocedure::text AS name, md5(pg_get_functiondef(p.oid)) AS digest
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'wheels'
  AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e');

-- name: has_installed_source_table
SELECT to_regclass('wheels.installed_source') IS NOT NULL AS present;

-- name: installed_source
SELECT name, fingerprint FROM wheels.installed_source;

-- name: dependents_outside
SELECT wheels.dependents_outside(%(schema)s) AS dependent;

-- name: drop_source_schema
DROP SCHEMA IF EXISTS wheels_source CASCADE;

-- name: create_source_schema
-- The relations and functions of the source contract: read by our jobs only,
-- granted to nobody (the demo source grants its PAM logging call to wheels_app).
CREATE SCHEMA wheels_source;
COMMENT ON SCHEMA wheels_source IS 'wheels-jobs: the source contract, the only way the jobs read the app''s data (docs/ADOPTING.md).';

-- name: remember_source
INSERT INTO wheels.installed_source (name, fingerprint) VALUES (%(name)s, %(fingerprint)s)
ON CONFLICT (singleton) DO UPDATE SET name = excluded.name, fingerprint = excluded.fingerprint, installed_at = now();

-- name: rebuild_budget_state
-- The budget state follows the source's changes from now on (its triggers);
-- what the source holds already is summed once (sql/functions/budget_state.sql).
SELECT wheels.budget_state_rebuild();

-- name: look_at_everything_again
-- The source's fills and tasks as this contract maps them: the next
-- fuel_consumption measures every vehicle and the next maintenance_reminders
-- looks at every task in its window (a NULL owner: everyone).
INSERT INTO wheels.fuel_changes (user_id) VALUES (NULL);
INSERT INTO wheels.maintenance_changes (user_id) VALUES (NULL);

-- name: create_day_partitions
SELECT wheels.partitions();

-- name: forget_source
DELETE FROM wheels.installed_source;

-- name: sync_jobs
-- wheels.jobs becomes sql/cron/ exactly: new and changed jobs upserted, jobs
-- whose file is gone removed; one row per change.
WITH wanted AS (
    SELECT * FROM unnest(%(jobs)s::text[], %(schedules)s::text[], %(commands)s::text[], %(time_limits)s::interval[])
        AS w (job, schedule, command, time_limit)
), upserted AS (
    INSERT INTO wheels.jobs AS j (job, schedule, command, time_limit)
    SELECT job, schedule, command, time_limit FROM wanted
    ON CONFLICT (job) DO UPDATE
        SET schedule = excluded.schedule, command = excluded.command, time_limit = excluded.time_limit
        WHERE (j.schedule, j.command, j.time_limit) IS DISTINCT FROM (excluded.schedule, excluded.command, excluded.time_limit)
    RETURNING j.job, xmax = 0 AS inserted
), removed AS (
    DELETE FROM wheels.jobs j WHERE j.job <> ALL (%(jobs)s::text[]) RETURNING j.job
)
SELECT job, CASE WHEN inserted THEN 'registered' ELSE 'updated' END AS change FROM upserted
UNION ALL
SELECT job, 'removed' FROM removed
ORDER BY 1;

-- name: cron_jobs
-- The jobs migrate owns for one target database, by their name prefix.
SELECT jobid, jobname, schedule, command
FROM cron.job
WHERE database = %(database)s AND starts_with(jobname, %(prefix)s)
ORDER BY jobname;

-- name: cron_schedule
-- pg_cron lives in this database: plain cron.schedule (Supabase grants it; it upserts by name).
SELECT cron.schedule(%(jobname)s, %(schedule)s, %(command)s) AS jobid;

-- name: cron_schedule_in_database
-- pg_cron lives in another database of the cluster: run the job in ours.
SELECT cron.schedule_in_database(%(jobname)s, %(schedule)s, %(command)s, %(database)s) AS jobid;

-- name: cron_unschedule
SELECT cron.unschedule(%(jobid)s);

-- name: job_health
-- `jobs list` and `status`: each job from our run log (wheels.job_health).
SELECT * FROM wheels.job_health();

-- name: cron_active
-- Which of our jobs pg_cron has, and active (read in pg_cron's database).
SELECT jobname, active FROM cron.job WHERE database = %(database)s AND starts_with(jobname, %(prefix)s);
