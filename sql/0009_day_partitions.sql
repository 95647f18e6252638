-- wheels-jobs, part 9: event logs partitioned by day (issue 13). A source may
-- declare app tables that are partitioned by range of a timestamptz column
-- into UTC days and left to wheels-jobs to run: the `partitions` job creates
-- the days ahead, cleanup retires whole days (DETACH + DROP: no row-by-row
-- delete of a 2.4M-row day) and deletes expired rows only from the DEFAULT
-- partition, where rows outside every day land (so an insert never fails for
-- want of a partition). The demo source's PAM log is one; on supabase-wheels
-- the log is the app's own, and docs/SCALING.md says how the app partitions it.
-- depends: 0008_budget_state

INSERT INTO wheels.source_contract (relation, position, column_name, type, meaning) VALUES
    ('partitioned_by_day', 1, 'relation', 'text',
     'a schema-qualified app table PARTITION BY RANGE (time_column) into UTC days [d, d + 1), with a DEFAULT partition, '
     'whose partitions wheels-jobs creates ahead and retires; none: an empty relation'),
    ('partitioned_by_day', 2, 'time_column', 'name', 'its partition key, a timestamptz column'),
    ('partitioned_by_day', 3, 'keep', 'interval',
     'a day whose end is older than now() - keep is detached and dropped; expired rows of the DEFAULT partition are deleted');

INSERT INTO wheels.settings (name, value, description) VALUES
    ('partition_days_ahead', '7',
     'partitions: day partitions exist from today (UTC) to this many days ahead for every relation of wheels_source.partitioned_by_day'),
    ('partition_lock_timeout_ms', '2000',
     'partitions and cleanup wait at most this long for the lock that attaching or detaching a day takes on the log; '
     'past it they give up until the next run, so app writes never queue behind them for long');
