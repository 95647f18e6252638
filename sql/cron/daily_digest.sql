-- Daily digest: every 15 minutes, because each user's digest hour is local and
-- time zones are offset by quarter hours (Nepal +05:45): a digest leaves within
-- 15 minutes of the user's morning. Users with nothing to report are checked
-- again on each later run of their day (cheap index probes; docs/BENCHMARKS.md).
-- time limit: 10 min
-- schedule: */15 * * * *
CALL wheels.run_job('daily_digest');
