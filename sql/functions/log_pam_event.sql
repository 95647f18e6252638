-- The app's one call per PAM chat event (issue 8): one insert into
-- pam_analytics_logs and nothing else, so it is cheap on every message
-- (docs/BENCHMARKS.md). The checks repeat the table's constraints only to say
-- which argument was wrong and why; the rollups do the rest later.
-- SECURITY DEFINER: the app role (wheels_app) may log events without being
-- able to read or change the log. search_path is pinned, as for every definer.
CREATE OR REPLACE FUNCTION wheels.log_pam_event(
    user_id uuid,
    event_type text,
    intent text DEFAULT NULL,
    response_time_ms int DEFAULT NULL,
    success boolean DEFAULT NULL,
    error text DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF event_type IS NULL OR event_type NOT IN ('message', 'response') THEN
        RAISE EXCEPTION 'log_pam_event: unknown event_type %, expected message or response',
            coalesce(quote_literal(event_type), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF response_time_ms < 0 THEN
        RAISE EXCEPTION 'log_pam_event: response_time_ms % is negative', response_time_ms
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO public.pam_analytics_logs (user_id, event_type, intent, response_time_ms, success, error)
    VALUES (log_pam_event.user_id, log_pam_event.event_type, log_pam_event.intent,
            log_pam_event.response_time_ms, log_pam_event.success, log_pam_event.error);
END
$$;
REVOKE EXECUTE ON FUNCTION wheels.log_pam_event(uuid, text, text, int, boolean, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION wheels.log_pam_event(uuid, text, text, int, boolean, text) TO wheels_app;
