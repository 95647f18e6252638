-- Cleanup (hourly): retire whole expired days of the source's day-partitioned
-- logs (wheels_source.partitioned_by_day: DETACH + DROP, one commit each),
-- then delete what expired, in bounded batches, each its own transaction,
-- oldest first, from every table that grows per email or per event: the
-- source's expiring app tables (wheels_source.expiring: caches, sessions, an
-- unpartitioned event log), the DEFAULT partitions of the partitioned logs,
-- and ours, each with its retention setting (sql/0001_wheels.sql). River's
-- job_cleaner style: a table is done when a batch comes back short; counts
-- are reported only above zero.

-- What cleanup visits, in order: ours, then the source's declared tables.
CREATE OR REPLACE FUNCTION wheels.expiring_targets() RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT unnest(ARRAY['wheels.job_runs', 'wheels.email_ledger', 'wheels.delivery_events', 'wheels.dead_letters',
                        'wheels.send_batches', 'wheels.sender_heartbeats', 'wheels.pam_hourly',
                        'wheels.spending_months', 'wheels.spending_days',
                        'pgmq.a_email_intents', 'cron.job_run_details'])
    UNION ALL
    SELECT e.relation FROM wheels_source.expiring e
    UNION ALL
    SELECT p.relation FROM wheels_source.partitioned_by_day p
$$;

-- Delete one batch (at most batch_size rows, oldest first) of one target;
-- returns the rows deleted, NULL when the target does not exist here. Rows go
-- by ctid, found by the batch's own (index) scan in the same statement.
-- Static SQL for our tables; the source's tables are only known at run time
-- (wheels_source.expiring names them), so those few statements are built with
-- format(): %s of a regclass (quoted by PostgreSQL), %I of the column name.
CREATE OR REPLACE FUNCTION wheels.expire_batch(target text, batch_size int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
    declared wheels_source.expiring;
BEGIN
    CASE target
    WHEN 'wheels.job_runs' THEN
        DELETE FROM wheels.job_runs WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM wheels.job_runs
            WHERE started_at < now() - make_interval(days => wheels.setting('job_runs_retention_days')::int)
              AND outcome <> 'running'
            ORDER BY started_at LIMIT batch_size));
    WHEN 'wheels.email_ledger' THEN
        -- Older than the longest once-per period, so no job decides these facts
        -- again; their deliveries go with them (foreign key ON DELETE CASCADE).
        DELETE FROM wheels.email_ledger WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM wheels.email_ledger  -- email_ledger_created_at_idx
            WHERE created_at < now() - make_interval(days => wheels.setting('email_ledger_retention_days')::int)
            ORDER BY created_at LIMIT batch_size));
    WHEN 'wheels.delivery_events' THEN
        DELETE FROM wheels.delivery_events WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM wheels.delivery_events  -- delivery_events_received_at_idx
            WHERE received_at < now() - make_interval(days => wheels.setting('delivery_events_retention_days')::int)
            ORDER BY received_at LIMIT batch_size));
    WHEN 'wheels.dead_letters' THEN
        DELETE FROM wheels.dead_letters WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM wheels.dead_letters  -- dead_letters_created_at_idx
            WHERE created_at < now() - make_interval(days => wheels.setting('dead_letters_retention_days')::int)
            ORDER BY created_at LIMIT batch_size));
    WHEN 'wheels.send_batches' THEN
        -- Kept while a member is dead: `dlq replay` reads the batch to decide.
        DELETE FROM wheels.send_batches WHERE ctid = ANY (ARRAY(
            SELECT b.ctid FROM wheels.send_batches b  -- send_batches_finished_at_idx
            WHERE b.status = 'done'
              AND b.finished_at < now() - make_interval(days => wheels.setting('queue_archive_retention_days')::int)
              AND NOT EXISTS (SELECT 1 FROM wheels.deliveries d WHERE d.batch_id = b.id AND d.status = 'dead')
            ORDER BY b.finished_at LIMIT batch_size));
    WHEN 'wheels.sender_heartbeats' THEN
        DELETE FROM wheels.sender_heartbeats WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM wheels.sender_heartbeats
            WHERE last_seen_at < now() - make_interval(days => wheels.setting('cron_history_retention_days')::int)
            LIMIT batch_size));
    WHEN 'wheels.pam_hourly' THEN
        DELETE FROM wheels.pam_hourly WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM wheels.pam_hourly
            WHERE hour < now() - make_interval(days => wheels.setting('hourly_rollup_retention_days')::int)
            ORDER BY hour LIMIT batch_size));
    WHEN 'wheels.spending_months' THEN
        -- What no job reads any more (wheels.spending_kept_from).
        DELETE FROM wheels.spending_months WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM wheels.spending_months  -- spending_months_month_idx
            WHERE month < (SELECT k.first_month FROM wheels.spending_kept_from(now()) k)
            ORDER BY month LIMIT batch_size));
    WHEN 'wheels.spending_days' THEN
        DELETE FROM wheels.spending_days WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM wheels.spending_days  -- spending_days_day_idx
            WHERE day < (SELECT k.first_day FROM wheels.spending_kept_from(now()) k)
            ORDER BY day LIMIT batch_size));
    WHEN 'pgmq.a_email_intents' THEN
        DELETE FROM pgmq.a_email_intents WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM pgmq.a_email_intents  -- pgmq's archived_at index
            WHERE archived_at < now() - make_interval(days => wheels.setting('queue_archive_retention_days')::int)
            ORDER BY archived_at LIMIT batch_size));
    WHEN 'cron.job_run_details' THEN
        -- Only where pg_cron lives (cron.database_name); pg_cron never trims it.
        -- A run that never ended (server crash) expires by its start time.
        IF to_regclass('cron.job_run_details') IS NULL THEN
            RETURN NULL;
        END IF;
        DELETE FROM cron.job_run_details WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM cron.job_run_details
            WHERE coalesce(end_time, start_time)
                  < now() - make_interval(days => wheels.setting('cron_history_retention_days')::int)
            ORDER BY runid LIMIT batch_size));
    ELSE
        SELECT * INTO declared FROM wheels_source.expiring e WHERE e.relation = target;
        IF NOT FOUND THEN
            -- A day-partitioned log: whole days are retired apart; here only
            -- the rows of its DEFAULT partition, a plain table (a ctid names
            -- one row only within one table, never across partitions).
            SELECT p.relation, p.time_column, p.keep, NULL::name INTO declared
            FROM wheels_source.partitioned_by_day p WHERE p.relation = target;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'cleanup: % is neither ours nor declared in wheels_source.expiring or .partitioned_by_day',
                    target;
            END IF;
            SELECT d.partition::text INTO declared.relation
            FROM wheels.day_partitions(to_regclass(target)) d WHERE d.day IS NULL;
        ELSIF (SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass(declared.relation)) = 'p' THEN
            RAISE EXCEPTION 'cleanup: % is partitioned: declare it in wheels_source.partitioned_by_day, not expiring',
                declared.relation;
        END IF;
        IF to_regclass(declared.relation) IS NULL THEN
            RETURN NULL;
        END IF;
        IF declared.in_order_of IS NULL THEN
            EXECUTE format('DELETE FROM %s WHERE ctid = ANY (ARRAY(SELECT ctid FROM %s WHERE %I < $1 LIMIT $2))',
                           to_regclass(declared.relation), to_regclass(declared.relation), declared.time_column)
                USING now() - declared.keep, batch_size;
        ELSE
            -- The oldest batch_size rows by a column that grows with time and
            -- leads an index, and of them the expired: a batch reads no more,
            -- also when nothing expired, where the scan above reads the whole
            -- table when time_column has no index. A batch that finds a row
            -- not yet expired comes back short, and the table is done.
            EXECUTE format('DELETE FROM %1$s WHERE ctid = ANY (ARRAY('
                           'SELECT o.ctid FROM (SELECT ctid, %2$I AS at FROM %1$s ORDER BY %3$I LIMIT $2) o WHERE o.at < $1))',
                           to_regclass(declared.relation), declared.time_column, declared.in_order_of)
                USING now() - declared.keep, batch_size;
        END IF;
    END CASE;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- The run: every target, batch after batch, a COMMIT after each (locks and
-- WAL stay small, replicas keep up), a cleanup_pause_ms sleep between them, and
-- no more than cleanup_max_seconds in all: a large backlog is worked off over
-- several runs. A procedure, called by wheels.run_job as the single CALL
-- pg_cron needs for transaction control; it returns its error instead of
-- raising it (a procedure that commits cannot be wrapped in an exception
-- block), and run_job records it.
CREATE OR REPLACE PROCEDURE wheels.cleanup(INOUT result text DEFAULT NULL, INOUT error text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    batch_size int := wheels.setting('cleanup_batch_size')::int;
    pause_s float8 := wheels.setting('cleanup_pause_ms')::int / 1000.0;
    max_s int := wheels.setting('cleanup_max_seconds')::int;
    stop_at timestamptz := clock_timestamp() + make_interval(secs => max_s);
    targets text[] := ARRAY(SELECT wheels.expiring_targets());
    target text;
    n int;
    deleted bigint;
    batches int;
    removed text[] := '{}';
    skipped text[] := '{}';
    logs regclass[] := ARRAY(SELECT p.relation FROM wheels.partitioned_logs() p);
    day date;
    retired date[];
BEGIN
    IF batch_size < 1 THEN
        error := format('wheels.settings cleanup_batch_size must be at least 1, not %s', batch_size);
        RETURN;
    END IF;
    FOREACH target IN ARRAY targets LOOP
        -- A day-partitioned log: its whole expired days first, a file dropped
        -- per day whatever its row count; then its DEFAULT partition's rows.
        IF to_regclass(target) = ANY (logs) THEN
            -- Each day detached in a transaction of its own (the log's writers
            -- wait for that one only), then dropped in the next (freeing its
            -- files takes longer); first any day a crash left detached.
            retired := '{}';
            day := NULL;
            LOOP
                BEGIN
                    PERFORM wheels.drop_detached_days(to_regclass(target));
                EXCEPTION WHEN query_canceled OR others THEN
                    error := format('%s: %s', target, SQLERRM);
                END;
                EXIT WHEN error IS NOT NULL;
                COMMIT;
                IF day IS NOT NULL THEN
                    retired := retired || day;
                END IF;
                EXIT WHEN clock_timestamp() >= stop_at;
                BEGIN
                    day := wheels.retire_day_partition(to_regclass(target));
                EXCEPTION WHEN query_canceled OR others THEN
                    error := format('%s: %s', target, SQLERRM);
                END;
                EXIT WHEN error IS NOT NULL OR day IS NULL;
                COMMIT;
            END LOOP;
            IF retired <> '{}' THEN
                removed := removed || format('%s of %s (%s)',
                                             wheels.plural(cardinality(retired), 'day partition', 'day partitions'), target,
                                             CASE WHEN cardinality(retired) = 1 THEN retired[1]::text
                                                  ELSE retired[1] || ' .. ' || retired[cardinality(retired)] END);
            END IF;
            EXIT WHEN error IS NOT NULL OR clock_timestamp() >= stop_at;
        END IF;
        deleted := 0;
        batches := 0;
        LOOP
            BEGIN
                n := wheels.expire_batch(target, batch_size);
            EXCEPTION WHEN query_canceled OR others THEN
                error := format('%s: %s', target, SQLERRM);
            END;
            EXIT WHEN error IS NOT NULL OR n IS NULL;
            COMMIT;
            deleted := deleted + n;
            batches := batches + 1;
            EXIT WHEN n < batch_size OR clock_timestamp() >= stop_at;
            PERFORM pg_sleep(pause_s);
        END LOOP;
        IF n IS NULL THEN
            skipped := skipped || target;
        END IF;
        IF deleted > 0 THEN
            removed := removed || format('%s %s in %s', deleted, CASE WHEN deleted = 1 THEN target || ' row'
                                                                 ELSE target || ' rows' END,
                                         wheels.plural(batches, 'batch', 'batches'));
        END IF;
        EXIT WHEN error IS NOT NULL OR clock_timestamp() >= stop_at;
    END LOOP;

    result := 'cleanup: ' || CASE WHEN removed = '{}' THEN 'nothing expired'
                                  ELSE 'deleted ' || array_to_string(removed, ', ') END;
    IF clock_timestamp() >= stop_at AND error IS NULL THEN
        result := result || format('; stopped after %s s (cleanup_max_seconds): the next run goes on', max_s);
    END IF;
    IF skipped <> '{}' THEN
        result := result || format('; not in this database: %s', array_to_string(skipped, ', '));
    END IF;
    RAISE LOG '%', result;
END
$$;
