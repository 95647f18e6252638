-- The demo app: a stand-in for the real app's tables, so the embedded
-- database (`cli.py up`, `demo`) has something to serve. Its tables live in
-- `public`, where an app keeps them, and belong to this source: `migrate
-- --source demo` creates them (once: re-applying changes nothing), the
-- rollback drops them. The jobs never read them directly, only through the
-- contract in contract.sql. Names and columns are those of the first
-- wheels-jobs schema; later columns are added, never renamed.

-- IMMUTABLE on purpose: it lets a CHECK constraint reject an unknown time
-- zone at insert time. The tz database changes rarely and never removes names.
CREATE OR REPLACE FUNCTION public.is_time_zone(name text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    PERFORM now() AT TIME ZONE name;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;

CREATE TABLE IF NOT EXISTS public.profiles (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL UNIQUE,
    full_name   text,
    timezone    text NOT NULL DEFAULT 'UTC' CHECK (public.is_time_zone(timezone)),
    currency    text NOT NULL DEFAULT 'AUD' CHECK (currency ~ '^[A-Z]{3}$'),
    units       text NOT NULL DEFAULT 'metric' CHECK (units IN ('metric', 'imperial')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.profiles IS 'Demo app: one row per user; timezone is an IANA name, currency an ISO 4217 code.';

CREATE TABLE IF NOT EXISTS public.email_preferences (
    user_id     uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('budget_alerts', 'maintenance', 'daily_digest')),
    enabled     boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind)
);
COMMENT ON TABLE public.email_preferences IS 'Demo app: opt-outs per user and preference kind; no row means enabled.';

CREATE TABLE IF NOT EXISTS public.budget_categories (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
    name             text NOT NULL,
    monthly_limit    numeric(12, 2) NOT NULL CHECK (monthly_limit > 0),
    alert_threshold  numeric(5, 1) CHECK (alert_threshold > 0),
    created_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.budget_categories IS 'Demo app: a spending category with its monthly limit and, optionally, its own warning threshold (percent).';
-- Serves the contract's budgets by user.
CREATE INDEX IF NOT EXISTS budget_categories_user_id_idx ON public.budget_categories (user_id);

CREATE TABLE IF NOT EXISTS public.expenses (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
    category_id  bigint NOT NULL REFERENCES public.budget_categories (id) ON DELETE CASCADE,
    amount       numeric(12, 2) NOT NULL,
    description  text,
    spent_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.expenses IS 'Demo app: one spending event; amount may be negative for a refund.';
-- Serves budget alerts and the digest: a user's spending over a local month or day.
CREATE INDEX IF NOT EXISTS expenses_user_spent_at_idx ON public.expenses (user_id, spent_at);
-- Serves deleting a category (its foreign key).
CREATE INDEX IF NOT EXISTS expenses_category_id_idx ON public.expenses (category_id);

CREATE TABLE IF NOT EXISTS public.vehicles (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                 uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
    name                    text NOT NULL,
    make                    text,
    model                   text,
    year                    int,
    avg_l_per_100km         numeric(6, 2),
    consumption_updated_at  timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.vehicles IS 'Demo app: a vehicle; avg_l_per_100km is maintained by the fuel_consumption job.';
CREATE INDEX IF NOT EXISTS vehicles_user_id_idx ON public.vehicles (user_id);

CREATE TABLE IF NOT EXISTS public.fuel_logs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vehicle_id   bigint NOT NULL REFERENCES public.vehicles (id) ON DELETE CASCADE,
    liters       numeric(8, 2) NOT NULL CHECK (liters > 0),
    odometer_km  numeric(10, 1) NOT NULL CHECK (odometer_km >= 0),
    full_tank    boolean NOT NULL DEFAULT true,
    filled_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.fuel_logs IS 'Demo app: one fill-up: litres bought, the odometer at the pump, and whether the tank was filled to the top.';
-- Serves fuel_consumption: a vehicle's fills in odometer order.
CREATE INDEX IF NOT EXISTS fuel_logs_vehicle_odometer_idx ON public.fuel_logs (vehicle_id, odometer_km);

CREATE TABLE IF NOT EXISTS public.maintenance_records (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
    vehicle_id    bigint REFERENCES public.vehicles (id) ON DELETE CASCADE,
    title         text NOT NULL,
    due_date      date NOT NULL,
    completed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.maintenance_records IS 'Demo app: a maintenance task with a due date; completed_at set when done.';
-- Serves maintenance reminders and the digest: open tasks by due date.
CREATE INDEX IF NOT EXISTS maintenance_records_open_due_idx ON public.maintenance_records (due_date) WHERE completed_at IS NULL;
-- Serves maintenance reminders: the tasks of owners whose tasks changed (and deleting a user).
CREATE INDEX IF NOT EXISTS maintenance_records_user_id_idx ON public.maintenance_records (user_id);

-- PAM events, append-only and the largest table: partitioned by UTC day on
-- created_at (wheels-jobs' `partitions` job creates the days ahead and
-- cleanup drops whole expired days: the contract's partitioned_by_day), with
-- a DEFAULT partition for rows outside every day, so logging never fails for
-- want of a partition. The primary key leads with created_at, the partition
-- key, as a partitioned table's keys must.
-- A demo database from before kept an unpartitioned table: it is renamed
-- aside here, and its rows move into the new one below.
DO $$
BEGIN
    IF (SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass('public.pam_analytics_logs')) = 'r' THEN
        ALTER TABLE public.pam_analytics_logs RENAME TO pam_analytics_logs_unpartitioned;
        ALTER TABLE public.pam_analytics_logs_unpartitioned
            RENAME CONSTRAINT pam_analytics_logs_pkey TO pam_analytics_logs_unpartitioned_pkey;
        ALTER INDEX IF EXISTS public.pam_analytics_logs_user_messages_idx
            RENAME TO pam_analytics_logs_unpartitioned_user_messages_idx;
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS public.pam_analytics_logs (
    id                bigint GENERATED ALWAYS AS IDENTITY,
    created_at        timestamptz NOT NULL DEFAULT now(),
    user_id           uuid,
    event_type        text NOT NULL CHECK (event_type IN ('message', 'response')),
    intent            text,
    response_time_ms  int CHECK (response_time_ms >= 0),
    success           boolean,
    error             text,
    PRIMARY KEY (created_at, id)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE public.pam_analytics_logs IS 'Demo app: one row per PAM chat message or response; user_id has no foreign key so logging never fails. Partitioned by UTC day.';
CREATE TABLE IF NOT EXISTS public.pam_analytics_logs_default PARTITION OF public.pam_analytics_logs DEFAULT;
-- Serves daily_digest (a user's PAM messages of a day: one range of it, read
-- index-only) and analytics_daily (a day's distinct users: the day's ids in
-- order from an index-only scan, 0.35 s at a million users where hashing them
-- takes 1.5 s). It replaced an index of messages only, which could not count
-- the users who only got responses.
DROP INDEX IF EXISTS public.pam_analytics_logs_user_messages_idx;
CREATE INDEX IF NOT EXISTS pam_analytics_logs_user_events_idx
    ON public.pam_analytics_logs (user_id, event_type, created_at);

DO $$
BEGIN
    IF to_regclass('public.pam_analytics_logs_unpartitioned') IS NOT NULL THEN
        INSERT INTO public.pam_analytics_logs
            (id, created_at, user_id, event_type, intent, response_time_ms, success, error)
        OVERRIDING SYSTEM VALUE
        SELECT id, created_at, user_id, event_type, intent, response_time_ms, success, error
        FROM public.pam_analytics_logs_unpartitioned;
        PERFORM setval(pg_get_serial_sequence('public.pam_analytics_logs', 'id'),
                       greatest((SELECT max(id) FROM public.pam_analytics_logs), 1));
        DROP TABLE public.pam_analytics_logs_unpartitioned;
    END IF;
END
$$;
