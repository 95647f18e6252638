-- Undo 0015_pam_event_feed.
DELETE FROM wheels.settings WHERE name = 'pam_feed_retention_days';
DROP TABLE wheels.pam_event_feed;
UPDATE wheels.source_contract
SET meaning = 'a schema-qualified app table PARTITION BY RANGE (time_column) into UTC days [d, d + 1), with a DEFAULT partition, '
              'whose partitions wheels-jobs creates ahead and retires; none: an empty relation'
WHERE relation = 'partitioned_by_day' AND column_name = 'relation';
