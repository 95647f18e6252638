-- wheels-jobs, part 18: a source's copies of app rows, checked (issue 13).
-- supabase-wheels keeps two copies of the app's rows in tables of ours, by
-- triggers (wheels.pam_event_feed, wheels.fuel_fill_feed): the jobs read them
-- because the app's tables have no index for the jobs' reads. A trigger that
-- fails never fails the app's write, so a copy can fall behind the app; until
-- now nothing said whether it had. The contract's copy_drift names each copy
-- a source keeps and how many of its rows differ from a fresh copy of the
-- app's: `cli.py source check` reports any, and `cli.py migrate
-- --reinstall-source` copies them afresh. A source that keeps no copies
-- (demo) has no rows.
-- depends: 0017_fuel_fill_feed

INSERT INTO wheels.source_contract (relation, position, column_name, type, meaning) VALUES
    ('copy_drift', 1, 'copy', 'text',
     'a table of ours holding a copy of app rows that the source''s triggers keep (wheels.pam_event_feed, ...); none: '
     'an empty relation'),
    ('copy_drift', 2, 'differing', 'bigint',
     'rows of the copy that a fresh copy of the app''s rows would not hold, plus those it lacks (the days the copy '
     'keeps); 0: it follows the app. source check reports the others; migrate --reinstall-source copies afresh');
