-- Delete expired rows: PAM events past analytics_retention_days (the rollups keep
-- their numbers), archived email intents past queue_archive_retention_days, and
-- pg_cron's run history past cron_history_retention_days (pg_cron never trims it).
-- River's job_cleaner style: each DELETE takes at most cleanup_batch_size rows,
-- oldest first, and a table is done when a batch comes back short. Returns the
-- counts above zero.
-- A function, so pg_cron and `jobs run` call it with SELECT: all batches share one
-- transaction, so the deleted rows stay locked until it commits, but nothing else
-- writes expired rows, and readers never wait on row locks; what the bound buys is
-- that no single statement scans or runs long.
-- cron.job_run_details exists only in the database named by cron.database_name;
-- elsewhere it is skipped, saying so.
CREATE OR REPLACE FUNCTION wheels.cleanup() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    batch_size int := wheels.setting('cleanup_batch_size')::int;
    logs_before timestamptz := now() - make_interval(days => wheels.setting('analytics_retention_days')::int);
    archive_before timestamptz := now() - make_interval(days => wheels.setting('queue_archive_retention_days')::int);
    history_before timestamptz := now() - make_interval(days => wheels.setting('cron_history_retention_days')::int);
    n int;
    logs_from timestamptz := '-infinity';
    archive_from timestamptz := '-infinity';
    history_from bigint := 0;
    logs_deleted bigint := 0;
    logs_batches int := 0;
    archive_deleted bigint := 0;
    archive_batches int := 0;
    history_deleted bigint := 0;
    history_batches int := 0;
    removed text[] := '{}';
    result text;
BEGIN
    IF batch_size < 1 THEN
        RAISE EXCEPTION 'wheels.settings cleanup_batch_size must be at least 1, not %', batch_size;
    END IF;
    -- One run at a time (pg_cron and `jobs run` may overlap): a second run would
    -- only wait on the first one's row locks and then count nothing.
    PERFORM pg_advisory_xact_lock(hashtext('wheels.cleanup'));

    -- Each batch starts where the last one ended (keyset), not at the oldest row:
    -- the batches share one transaction, so rows already deleted are still in the
    -- index, and re-walking them every batch made a 2.4M-row day quadratic (80 s).
    -- Rows are deleted by ctid, found by the batch's own index scan in the same
    -- statement (a TID scan instead of a second index descent per row: a third
    -- faster); a row updated meanwhile no longer matches its ctid and simply waits
    -- for the next run.
    LOOP
        -- The oldest batch by primary key (created_at, id): an index range scan.
        WITH deleted AS (
            DELETE FROM pam_analytics_logs
            WHERE ctid = ANY (ARRAY(
                SELECT ctid FROM pam_analytics_logs
                WHERE created_at >= logs_from AND created_at < logs_before
                ORDER BY created_at, id LIMIT batch_size))
            RETURNING created_at
        )
        SELECT count(*), max(created_at) INTO n, logs_from FROM deleted;
        logs_deleted := logs_deleted + n;
        logs_batches := logs_batches + 1;
        EXIT WHEN n < batch_size;
    END LOOP;

    LOOP
        -- pgmq's archived_at index serves the oldest batch.
        WITH deleted AS (
            DELETE FROM pgmq.a_email_intents
            WHERE ctid = ANY (ARRAY(
                SELECT ctid FROM pgmq.a_email_intents
                WHERE archived_at >= archive_from AND archived_at < archive_before
                ORDER BY archived_at LIMIT batch_size))
            RETURNING archived_at
        )
        SELECT count(*), max(archived_at) INTO n, archive_from FROM deleted;
        archive_deleted := archive_deleted + n;
        archive_batches := archive_batches + 1;
        EXIT WHEN n < batch_size;
    END LOOP;

    IF to_regclass('cron.job_run_details') IS NOT NULL THEN
        LOOP
            -- No index but runid: a few thousand rows a week, a scan is cheap. A run
            -- that never ended (server crash) expires by its start time.
            WITH deleted AS (
                DELETE FROM cron.job_run_details
                WHERE ctid = ANY (ARRAY(
                    SELECT ctid FROM cron.job_run_details
                    WHERE runid > history_from AND coalesce(end_time, start_time) < history_before
                    ORDER BY runid LIMIT batch_size))
                RETURNING runid
            )
            SELECT count(*), max(runid) INTO n, history_from FROM deleted;
            history_deleted := history_deleted + n;
            history_batches := history_batches + 1;
            EXIT WHEN n < batch_size;
        END LOOP;
    END IF;

    IF logs_deleted > 0 THEN
        removed := removed || format('%s pam_analytics_logs rows in %s batches', logs_deleted, logs_batches);
    END IF;
    IF archive_deleted > 0 THEN
        removed := removed || format('%s pgmq.a_email_intents rows in %s batches', archive_deleted, archive_batches);
    END IF;
    IF history_deleted > 0 THEN
        removed := removed || format('%s cron.job_run_details rows in %s batches', history_deleted, history_batches);
    END IF;
    result := 'cleanup: ' || CASE WHEN removed = '{}' THEN 'nothing expired'
                                  ELSE 'deleted ' || array_to_string(removed, ', ') END;
    IF to_regclass('cron.job_run_details') IS NULL THEN
        result := result || format('; cron.job_run_details skipped: pg_cron lives in database %s',
                                   coalesce(current_setting('cron.database_name', true), '(none)'));
    END IF;
    RAISE LOG '%', result;
    RETURN result;
END
$$;
