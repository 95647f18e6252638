-- Remove the demo app (app.sql) after `cli.py migrate --rollback` dropped
-- schema wheels_source (its views, functions and the welcome trigger). The
-- demo app belongs to this source, so its tables and data go with it.
DROP TABLE public.pam_analytics_logs, public.maintenance_records, public.fuel_logs, public.vehicles,
    public.expenses, public.budget_categories, public.email_preferences, public.profiles;
DROP FUNCTION public.is_time_zone(text);
