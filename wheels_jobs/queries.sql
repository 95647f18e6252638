-- Named queries of the operator side (migrate, jobs). Loaded by wheels_jobs.queries.

-- name: preloaded_libraries
SELECT current_setting('shared_preload_libraries') AS libraries,
       current_setting('cron.database_name', true) AS cron_database,
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

-- name: migrate_lock
-- Serialises concurrent `migrate` runs on one database (pgmq's SQL install is not re-runnable).
SELECT pg_advisory_lock(hashtext('wheels-jobs migrate'));

-- name: migrate_unlock
SELECT pg_advisory_unlock(hashtext('wheels-jobs migrate'));

-- name: function_fingerprints
-- Our functions (not an extension's) with a digest of their definition, to report what a re-apply changed.
SELECT p.oid::regprocedure::text AS name, md5(pg_get_functiondef(p.oid)) AS digest
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'wheels'
  AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e');

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

-- name: job_runs
-- `jobs list` and `status`: each of our pg_cron jobs with its newest run, newest
-- failure and failures of the last 24 h (cron.job_run_details keeps every run;
-- runid grows with time).
SELECT j.jobname, j.active,
       last.start_time AS last_start, last.status AS last_status,
       extract(epoch FROM last.end_time - last.start_time)::float8 AS last_duration_s,
       failed.return_message AS last_error, failed.start_time AS last_error_at,
       (SELECT count(*) FROM cron.job_run_details d
        WHERE d.jobid = j.jobid AND d.status = 'failed' AND d.start_time > now() - interval '24 hours')::int AS failures_24h
FROM cron.job j
LEFT JOIN LATERAL (
    SELECT d.start_time, d.end_time, d.status FROM cron.job_run_details d
    WHERE d.jobid = j.jobid ORDER BY d.runid DESC LIMIT 1) last ON true
LEFT JOIN LATERAL (
    SELECT d.start_time, d.return_message FROM cron.job_run_details d
    WHERE d.jobid = j.jobid AND d.status = 'failed' ORDER BY d.runid DESC LIMIT 1) failed ON true
WHERE j.database = %(database)s AND j.jobname = ANY(%(jobnames)s);
