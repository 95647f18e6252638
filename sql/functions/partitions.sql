-- Day partitions of the source's logs (sql/0009_day_partitions.sql): created
-- ahead by the `partitions` job, retired whole by cleanup. The relations are
-- only known at run time (wheels_source.partitioned_by_day names them), so
-- the DDL is built with format(): %s of a regclass (quoted by PostgreSQL), %I
-- of names, %L of bounds. pg_partman does the same elsewhere; it is not
-- required here (Debian ships 4.x, Supabase 5.x, with different APIs).

-- The day partitions of one partitioned table, with the UTC day each holds,
-- and its DEFAULT partition (day NULL). Bounds are read back from the catalog
-- in UTC (the function's own TimeZone), whatever the caller's.
CREATE OR REPLACE FUNCTION wheels.day_partitions(parent regclass)
RETURNS TABLE (partition regclass, day date)
LANGUAGE sql STABLE
SET timezone = 'UTC'
AS $$
    SELECT c.oid::regclass,
           CASE WHEN b.bound <> 'DEFAULT'
                THEN (substring(b.bound FROM $re$FROM \('([^']+)'\)$re$)::timestamptz)::date END
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound) b
    WHERE i.inhparent = parent
$$;

-- The declared relations that exist here and really are partitioned tables.
CREATE OR REPLACE FUNCTION wheels.partitioned_logs()
RETURNS TABLE (relation regclass, time_column name, keep interval)
LANGUAGE sql STABLE AS $$
    SELECT to_regclass(p.relation), p.time_column, p.keep
    FROM wheels_source.partitioned_by_day p
    JOIN pg_partitioned_table t ON t.partrelid = to_regclass(p.relation)
$$;

-- Create the missing day partitions of every declared log for the UTC days
-- from_day .. to_day. A day's rows already in the DEFAULT partition (logged
-- before the partition existed) move into it first, in the same transaction:
-- ATTACH checks the DEFAULT partition for rows of the new range and would
-- refuse. The new table is attached rather than created as a partition,
-- which takes a lighter lock on the log (SHARE UPDATE EXCLUSIVE: inserts go
-- on); its CHECK of the bounds spares ATTACH a scan of it. Returns the days
-- created per log.
CREATE OR REPLACE FUNCTION wheels.create_day_partitions(from_day date, to_day date) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    log record;
    d date;
    schema_name name;
    table_name name;
    name_ name;
    default_partition regclass;
    created text[] := '{}';
    days text[];
BEGIN
    PERFORM set_config('lock_timeout', wheels.setting('partition_lock_timeout_ms') || 'ms', true);
    FOR log IN SELECT * FROM wheels.partitioned_logs() ORDER BY 1 LOOP
        SELECT n.nspname, c.relname INTO schema_name, table_name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = log.relation;
        SELECT p.partition INTO default_partition FROM wheels.day_partitions(log.relation) p WHERE p.day IS NULL;
        days := '{}';
        FOR d IN
            SELECT g::date FROM generate_series(from_day, to_day, interval '1 day') g
            EXCEPT SELECT p.day FROM wheels.day_partitions(log.relation) p
            ORDER BY 1
        LOOP
            name_ := format('%s_p%s', table_name, to_char(d, 'YYYYMMDD'));
            EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', schema_name, name_, log.relation);
            EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT %I CHECK (%I >= %L AND %I < %L)', schema_name, name_,
                           name_ || '_bounds', log.time_column, d::timestamp AT TIME ZONE 'UTC',
                           log.time_column, (d + 1)::timestamp AT TIME ZONE 'UTC');
            IF default_partition IS NOT NULL THEN
                EXECUTE format('WITH moved AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 RETURNING *) '
                               'INSERT INTO %I.%I SELECT * FROM moved', default_partition, log.time_column,
                               log.time_column, schema_name, name_)
                    USING d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC';
            END IF;
            EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)', log.relation,
                           schema_name, name_, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
            EXECUTE format('ALTER TABLE %I.%I DROP CONSTRAINT %I', schema_name, name_, name_ || '_bounds');
            days := days || d::text;
        END LOOP;
        IF days <> '{}' THEN
            created := created || format('%s: %s', log.relation,
                                         CASE WHEN cardinality(days) = 1 THEN days[1]
                                              ELSE days[1] || ' .. ' || days[cardinality(days)] END);
        END IF;
    END LOOP;
    RETURN created;
END
$$;

-- The `partitions` job: every declared log has its days from today (UTC) to
-- partition_days_ahead ahead.
CREATE OR REPLACE FUNCTION wheels.partitions(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    today date := (as_of AT TIME ZONE 'UTC')::date;
    created text[];
BEGIN
    PERFORM wheels.lock_job('partitions');
    created := wheels.create_day_partitions(today, today + wheels.setting('partition_days_ahead')::int);
    RETURN 'partitions: ' || CASE WHEN created = '{}' THEN 'every day exists already'
                                  ELSE 'created ' || array_to_string(created, ', ') END;
END
$$;

-- Retire the oldest expired day of one declared log: DETACH it. Returns the
-- day, NULL when none has expired. The log stays locked (its writers wait)
-- until the caller commits, so the caller commits at once and drops the
-- detached table in a transaction of its own (drop_detached_days): dropping
-- frees the day's files, which takes as long as the kernel needs to let go of
-- their cached pages (0.2-0.3 s for a 2.4M-event day of 435 MB here, 1-3 ms
-- for the DETACH), and then holds no lock the log's writers need.
CREATE OR REPLACE FUNCTION wheels.retire_day_partition(relation regclass, as_of timestamptz DEFAULT now()) RETURNS date
LANGUAGE plpgsql AS $$
DECLARE
    log record;
    oldest record;
BEGIN
    SELECT * INTO log FROM wheels.partitioned_logs() p WHERE p.relation = retire_day_partition.relation;
    SELECT p.partition, p.day INTO oldest
    FROM wheels.day_partitions(relation) p
    WHERE p.day IS NOT NULL AND ((p.day + 1)::timestamp AT TIME ZONE 'UTC') <= as_of - log.keep
    ORDER BY p.day LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('lock_timeout', wheels.setting('partition_lock_timeout_ms') || 'ms', true);
    EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', relation, oldest.partition);
    RETURN oldest.day;
END
$$;

-- Drop the day tables retire_day_partition detached from a declared log:
-- tables of its schema named as create_day_partitions names its days
-- (<log>_pYYYYMMDD) that are no partition. Normally the one day just
-- detached; also any a crash between the two transactions left behind.
-- Returns how many.
CREATE OR REPLACE FUNCTION wheels.drop_detached_days(relation regclass) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    detached regclass;
    dropped int := 0;
BEGIN
    FOR detached IN
        SELECT c.oid::regclass
        FROM pg_class log
        JOIN pg_class c ON c.relnamespace = log.relnamespace
        WHERE log.oid = relation AND c.relkind = 'r' AND NOT c.relispartition
          AND left(c.relname, length(log.relname) + 2) = log.relname || '_p'
          AND substr(c.relname, length(log.relname) + 3) ~ '^[0-9]{8}$'
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %s', detached);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$$;
