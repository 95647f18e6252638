-- Day partitions: daily at 00:10 UTC, a week ahead (partition_days_ahead),
-- so a day's partition exists long before its first event; a run missed for
-- days only sends that many days' events to the DEFAULT partition.
-- time limit: 5 min
-- schedule: 10 0 * * *
CALL wheels.run_job('partitions');
