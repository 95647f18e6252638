-- Undo 0014_hourly_histograms.
DROP FUNCTION IF EXISTS wheels._pam_stats(timestamptz, timestamptz);
DROP TYPE wheels.pam_measures CASCADE;  -- and _pam_stats_of_hours, which returns it
ALTER TABLE wheels.pam_hourly DROP COLUMN events, DROP COLUMN response_times, DROP COLUMN response_time_counts;
