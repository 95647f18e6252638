-- One UTC day's figures for the team, as the daily_report email's
-- `data` and `cli.py report` print them: PAM messages, distinct users, success
-- rate, response-time percentiles and top intents from wheels.pam_daily (never
-- the raw events), emails by kind from wheels.email_outcomes, and the success
-- metrics since the activation as they stood at the end of the day
-- (wheels.success_metrics). A day without a rollup row has zeros and
-- `rolled_up` false.
CREATE OR REPLACE FUNCTION wheels.daily_figures(report_day date) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'day', report_day,
        'rolled_up', d.day IS NOT NULL,
        'messages', coalesce(d.messages, 0),
        'responses', coalesce(d.responses, 0),
        'distinct_users', coalesce(d.distinct_users, 0),
        'successes', coalesce(d.successes, 0),
        'failures', coalesce(d.failures, 0),
        'success_rate', d.success_rate,
        'p50_ms', d.response_time_p50_ms,
        'p95_ms', d.response_time_p95_ms,
        'p99_ms', d.response_time_p99_ms,
        'top_intents', (
            SELECT coalesce(jsonb_agg(jsonb_build_object('intent', t.key, 'count', t.n) ORDER BY t.n DESC, t.key), '[]')
            FROM (SELECT i.key, i.value::int AS n FROM jsonb_each_text(d.intents) i
                  ORDER BY 2 DESC, 1 LIMIT 5) t),
        'emails', (
            SELECT coalesce(jsonb_agg(jsonb_build_object('kind', e.kind, 'sent', e.sent,
                                                         'dead_lettered', e.dead_lettered, 'suppressed', e.suppressed)
                                      ORDER BY e.kind), '[]')
            FROM wheels.email_outcomes(report_day, report_day + 1) e),
        'activated_at', to_char(wheels.activated_at() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'success', (
            SELECT jsonb_agg(jsonb_build_object('metric', m.metric, 'label', m.label, 'checkpoint', m.checkpoint,
                                                'value', m.value, 'target', m.target, 'status', m.status,
                                                'shown', m.shown, 'target_shown', m.target_shown, 'note', m.note)
                             ORDER BY m.ordinality)
            FROM wheels.success_metrics((report_day + 1)::timestamp AT TIME ZONE 'UTC') WITH ORDINALITY AS m))
    FROM (SELECT) one
    LEFT JOIN wheels.pam_daily d ON d.day = report_day
$$;

-- The daily report: one daily_report intent per admin address (setting
-- admin_emails) with yesterday's (UTC) figures, once per address and day: the
-- ledger's (daily_report, address, day) decides, through wheels._enqueue like
-- every other email (an intent without a user, to its recipient). Suppressed
-- addresses get nothing and leave no ledger row. Waits for the rollup: while
-- yesterday has hourly rows but no daily row it enqueues nothing, and a later
-- run of the day sends the report. `as_of` fixes "now" for tests and replays.
CREATE OR REPLACE FUNCTION wheels.daily_report(as_of timestamptz DEFAULT now()) RETURNS text
LANGUAGE plpgsql
SET timezone = 'UTC'
AS $$
DECLARE
    report_day date := as_of::date - 1;
    figures jsonb;
    sent int;
BEGIN
    PERFORM wheels.lock_job('daily_report');
    IF NOT EXISTS (SELECT 1 FROM wheels.pam_daily WHERE day = report_day)
       AND EXISTS (SELECT 1 FROM wheels.pam_hourly WHERE hour >= report_day AND hour < report_day + 1) THEN
        RETURN format('daily_report: %s is not rolled up yet (analytics_daily), nothing enqueued', report_day);
    END IF;
    figures := wheels.daily_figures(report_day);

    SELECT coalesce(sum(e.enqueued), 0) INTO sent
    FROM wheels._enqueue(ARRAY(
        SELECT ROW('daily_report', a.email, report_day::text, NULL, a.email, figures)::wheels.intent
        FROM (SELECT DISTINCT lower(btrim(a)) AS email
              FROM unnest(string_to_array(wheels.setting('admin_emails'), ',')) a
              WHERE btrim(a) <> '') a)) e;
    RETURN format('daily_report: %s, %s enqueued', report_day, wheels.plural(sent, 'report', 'reports'));
END
$$;
