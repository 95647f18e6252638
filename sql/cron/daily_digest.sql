-- Daily digest: every minute. Each user's digest hour is local and time zones
-- are offset by quarter hours (Nepal +05:45), and a run decides at most
-- digest_batch_users users (a zone with more goes on at the next run), so a
-- digest leaves within a minute or so of the user's morning. A run with no
-- zone due reads one small table (docs/BENCHMARKS.md).
-- time limit: 10 min
-- schedule: * * * * *
CALL wheels.run_job('daily_digest');
