-- Undo 0004_analytics: the activation guide's views (only ours: a view of that
-- name without our comment belongs to somebody else and stays), the rollups
-- and their progress.
DO $$
BEGIN
    IF obj_description(to_regclass('public.analytics_summary'), 'pg_class') LIKE 'wheels-jobs:%' THEN
        DROP VIEW public.analytics_summary;
    END IF;
    IF obj_description(to_regclass('public.analytics_daily'), 'pg_class') LIKE 'wheels-jobs:%' THEN
        DROP VIEW public.analytics_daily;
    END IF;
END
$$;
DROP TABLE wheels.rollup_state, wheels.pam_daily, wheels.pam_hourly;
