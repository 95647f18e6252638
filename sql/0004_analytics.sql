-- wheels-jobs, part 4: the PAM analytics rollups (analytics_hourly,
-- analytics_daily), the hourly rollup's progress, and the two monitoring views
-- the Celery activation guide queried, so its checks work unchanged:
--     SELECT * FROM analytics_summary WHERE period = 'hourly' ORDER BY timestamp DESC LIMIT 10;
--     SELECT * FROM analytics_daily ORDER BY date DESC LIMIT 7;
-- depends: 0003_web

------------------------------------------------------------------------------
-- Rollups. UTC hours and days; the measures of wheels._pam_stats
-- (sql/functions/pam_stats.sql) over the source's PAM events.
------------------------------------------------------------------------------
CREATE TABLE wheels.pam_hourly (
    hour                  timestamptz PRIMARY KEY,
    messages              int NOT NULL,
    responses             int NOT NULL,
    distinct_users        int NOT NULL,
    successes             int NOT NULL,
    failures              int NOT NULL,
    success_rate          numeric(5, 4),
    response_time_avg_ms  numeric(10, 1),
    response_time_p50_ms  numeric(10, 1),
    response_time_p95_ms  numeric(10, 1),
    response_time_p99_ms  numeric(10, 1),
    response_time_max_ms  int,
    intents               jsonb NOT NULL DEFAULT '{}',
    computed_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE wheels.pam_hourly IS 'Hourly rollup of the PAM events (UTC hours), upserted by analytics_hourly.';
COMMENT ON COLUMN wheels.pam_hourly.intents IS 'Events per intent in the hour ({"intent": count}); events without an intent are not counted.';
COMMENT ON COLUMN wheels.pam_hourly.computed_at IS 'When this hour''s numbers last changed; analytics_daily recomputes a day whose hours changed after its own row.';

CREATE TABLE wheels.pam_daily (
    day                   date PRIMARY KEY,
    messages              int NOT NULL,
    responses             int NOT NULL,
    distinct_users        int NOT NULL,
    successes             int NOT NULL,
    failures              int NOT NULL,
    success_rate          numeric(5, 4),
    response_time_avg_ms  numeric(10, 1),
    response_time_p50_ms  numeric(10, 1),
    response_time_p95_ms  numeric(10, 1),
    response_time_p99_ms  numeric(10, 1),
    response_time_max_ms  int,
    intents               jsonb NOT NULL DEFAULT '{}',
    computed_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE wheels.pam_daily IS 'Daily rollup of the PAM events (UTC days), upserted by analytics_daily.';
COMMENT ON COLUMN wheels.pam_daily.computed_at IS 'When this day was last computed (start of that analytics_daily run).';

-- One row per incremental rollup. No row means "never ran with data": the
-- first run then backfills everything the source's event log holds.
CREATE TABLE wheels.rollup_state (
    rollup        text PRIMARY KEY CHECK (rollup IN ('analytics_hourly')),
    rolled_up_to  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE wheels.rollup_state IS 'How far each incremental rollup got: every hour before rolled_up_to is in its table.';

-- The dashboard (wheels_web) reads the rollups: counts, no personal data.
GRANT SELECT ON wheels.pam_hourly, wheels.pam_daily TO wheels_web;

------------------------------------------------------------------------------
-- The activation guide's views, the only objects of ours in `public`: created
-- only where the names are free (the live app has neither), marked as ours by
-- their comment (the rollback drops only a view that carries it), and with
-- every privilege revoked, including the ones Supabase's default privileges
-- give anon and authenticated on anything new in `public`: the owner (the
-- role that migrates) reads them, the API does not.
------------------------------------------------------------------------------
DO $$
DECLARE
    view_name text;
    grantee text;
BEGIN
    IF to_regclass('public.analytics_summary') IS NULL THEN
        CREATE VIEW public.analytics_summary AS
        SELECT 'hourly'::text AS period, h.hour AS "timestamp", h.messages, h.responses, h.distinct_users,
               h.successes, h.failures, h.success_rate, h.response_time_avg_ms, h.response_time_p50_ms,
               h.response_time_p95_ms, h.response_time_p99_ms, h.response_time_max_ms, h.intents, h.computed_at
        FROM wheels.pam_hourly h
        UNION ALL
        SELECT 'daily', d.day::timestamp AT TIME ZONE 'UTC', d.messages, d.responses, d.distinct_users,
               d.successes, d.failures, d.success_rate, d.response_time_avg_ms, d.response_time_p50_ms,
               d.response_time_p95_ms, d.response_time_p99_ms, d.response_time_max_ms, d.intents, d.computed_at
        FROM wheels.pam_daily d;
        COMMENT ON VIEW public.analytics_summary IS
            'wheels-jobs: the PAM rollups by period (hourly, daily; UTC), for the activation guide''s checks. Read-only.';
    END IF;
    IF to_regclass('public.analytics_daily') IS NULL THEN
        CREATE VIEW public.analytics_daily AS
        SELECT d.day AS date, d.messages, d.responses, d.distinct_users, d.successes, d.failures,
               d.success_rate, d.response_time_avg_ms, d.response_time_p50_ms, d.response_time_p95_ms,
               d.response_time_p99_ms, d.response_time_max_ms, d.intents, d.computed_at
        FROM wheels.pam_daily d;
        COMMENT ON VIEW public.analytics_daily IS
            'wheels-jobs: the daily PAM rollup (UTC days), for the activation guide''s checks. Read-only.';
    END IF;
    -- Only on ours (the comment says so): never a grant on somebody else's object.
    FOR view_name IN
        SELECT c.oid::regclass::text FROM pg_class c
        WHERE c.oid IN (to_regclass('public.analytics_summary'), to_regclass('public.analytics_daily'))
          AND obj_description(c.oid, 'pg_class') LIKE 'wheels-jobs:%'
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', view_name);
        FOR grantee IN
            SELECT DISTINCT a.grantee::regrole::text
            FROM pg_class c, aclexplode(c.relacl) a
            WHERE c.oid = view_name::regclass AND a.grantee NOT IN (c.relowner, 0)
        LOOP
            EXECUTE format('REVOKE ALL ON %s FROM %s', view_name, grantee);
        END LOOP;
    END LOOP;
END
$$;
