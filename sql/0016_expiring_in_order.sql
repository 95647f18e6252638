-- wheels-jobs, part 16: a source's expired rows found in order (issue 13).
-- cleanup deletes a declared app table's expired rows in batches, each found
-- by a scan for time_column < cutoff. Where that column has no index (the
-- supabase-wheels PAM log's created_at: the guest rule adds none), the last
-- batch of every run, the one that comes back short, read the whole table:
-- 0.24 s at 100k users with a week of events, growing with the log (90 days
-- of it at a million users). A source may now name a column that grows with
-- time_column and leads an index (the log's bigint id): cleanup then reads the
-- table's oldest rows by it, at most a batch of them, and deletes those that
-- expired. (sql/functions/cleanup.sql; docs/ADOPTING.md.)
-- depends: 0015_pam_event_feed

INSERT INTO wheels.source_contract (relation, position, column_name, type, meaning) VALUES
    ('expiring', 4, 'in_order_of', 'name',
     'NULL, or a column that grows with time_column and leads an index (a bigint id): cleanup reads the oldest rows by '
     'it, a batch at a time, instead of scanning for expired ones; a row whose time is out of that order waits for the '
     'rows before it');
