-- depends: 0004_sender 0005_web
-- wheels-jobs schema, part 7: the thresholds of `cli.py status`, the operator's
-- health check. They are settings rows, not constants in code, so one UPDATE
-- retunes the check where it runs (a host's health probe reads them too).
--
-- The quota defaults are Resend's free plan (3,000 emails a month, 100 a day):
-- the provider's hard limits, which the sender meets as a 429 and a pause;
-- `status` warns before that, at email_quota_warn_percent of either.
-- A stuck queue is visible messages older than queue_stuck_minutes while no
-- sender has been seen for sender_seen_minutes (a sender writes its heartbeat
-- every 10 s, so a few minutes of silence means none is running).

INSERT INTO wheels.settings (name, value, description) VALUES
    ('email_quota_monthly', '3000', 'emails the provider plan allows per calendar month (UTC); `cli.py status` compares the month''s sent emails with it'),
    ('email_quota_daily', '100', 'emails the provider plan allows per UTC day; `cli.py status` compares today''s sent emails with it'),
    ('email_quota_warn_percent', '80', '`cli.py status` warns (and exits non-zero) when today''s or this month''s sent emails reach this percent of a quota'),
    ('queue_stuck_minutes', '10', '`cli.py status` calls a queue stuck when a visible message is older than this and no sender was seen recently'),
    ('sender_seen_minutes', '2', 'a sender process counts as running when its heartbeat is at most this old');
