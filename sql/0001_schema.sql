-- wheels-jobs schema, part 1: the app tables the jobs read, the email ledger the
-- jobs write, and the delivery tables the sender writes.
-- App tables live in `public` (where the app and Supabase keep them); the job
-- system's own machinery lives in the `wheels` schema so grants stay simple.
-- Append-only: change the schema with a new numbered file, never by editing this one.

------------------------------------------------------------------------------
-- Roles. Roles are cluster-wide and may be shared by several databases, so they
-- are created if missing and never dropped by a rollback. NOLOGIN: an operator
-- gives them a password (ALTER ROLE wheels_sender LOGIN PASSWORD '...').
------------------------------------------------------------------------------
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wheels_app') THEN
        CREATE ROLE wheels_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'wheels_sender') THEN
        CREATE ROLE wheels_sender NOLOGIN;
    END IF;
END
$$;

CREATE SCHEMA wheels;
COMMENT ON SCHEMA wheels IS 'wheels-jobs machinery: settings, email ledger, deliveries, job state.';

-- IMMUTABLE on purpose: it lets a CHECK constraint reject an unknown time zone at
-- insert time, so one bad profile cannot make an hourly job fail for everybody.
-- The tz database changes rarely and never removes names.
CREATE FUNCTION wheels.is_time_zone(name text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    PERFORM now() AT TIME ZONE name;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;

------------------------------------------------------------------------------
-- App tables
------------------------------------------------------------------------------
CREATE TABLE profiles (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL UNIQUE,
    full_name   text,
    timezone    text NOT NULL DEFAULT 'UTC' CHECK (wheels.is_time_zone(timezone)),
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE profiles IS 'One row per registered user; timezone is an IANA name used for local months and mornings.';

-- The kinds of email and which preference switch governs each (NULL: not optional).
CREATE TABLE wheels.email_kinds (
    kind            text PRIMARY KEY,
    preference_kind text,
    description     text NOT NULL
);
COMMENT ON TABLE wheels.email_kinds IS 'Every email kind an intent may carry, and the email_preferences kind that can switch it off.';
INSERT INTO wheels.email_kinds (kind, preference_kind, description) VALUES
    ('welcome',              NULL,            'sent once when a profile is created'),
    ('budget_warning',       'budget_alerts', 'a budget category passed the warning threshold this month'),
    ('over_budget',          'budget_alerts', 'a budget category passed its monthly limit'),
    ('maintenance_reminder', 'maintenance',   'a maintenance task is due within the reminder window'),
    ('maintenance_overdue',  'maintenance',   'a maintenance task is past its due date'),
    ('daily_digest',         'daily_digest',  'the morning summary of yesterday');

CREATE TABLE email_preferences (
    user_id     uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('budget_alerts', 'maintenance', 'daily_digest')),
    enabled     boolean NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind)
);
COMMENT ON TABLE email_preferences IS 'Opt-outs per user and preference kind; no row means enabled.';

CREATE TABLE budget_categories (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    name           text NOT NULL,
    monthly_limit  numeric(12, 2) NOT NULL CHECK (monthly_limit > 0),
    created_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE budget_categories IS 'A user''s spending category with its monthly limit, in the user''s currency.';
-- Serves the digest and alerts joining a user's categories.
CREATE INDEX budget_categories_user_id_idx ON budget_categories (user_id);

CREATE TABLE expenses (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    category_id  bigint NOT NULL REFERENCES budget_categories (id) ON DELETE CASCADE,
    amount       numeric(12, 2) NOT NULL,
    description  text,
    spent_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE expenses IS 'One spending event; amount may be negative for a refund.';
-- Serves budget alerts: the sum per category over the current local month.
CREATE INDEX expenses_category_spent_at_idx ON expenses (category_id, spent_at) INCLUDE (amount);
-- Serves the digest: a user's spending yesterday.
CREATE INDEX expenses_user_spent_at_idx ON expenses (user_id, spent_at);

CREATE TABLE vehicles (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                 uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    name                    text NOT NULL,
    make                    text,
    model                   text,
    year                    int,
    avg_l_per_100km         numeric(6, 2),
    consumption_updated_at  timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE vehicles IS 'A user''s vehicle; avg_l_per_100km is maintained by the fuel_consumption job.';
CREATE INDEX vehicles_user_id_idx ON vehicles (user_id);

CREATE TABLE fuel_logs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vehicle_id   bigint NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    liters       numeric(8, 2) NOT NULL CHECK (liters > 0),
    odometer_km  numeric(10, 1) NOT NULL CHECK (odometer_km >= 0),
    filled_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE fuel_logs IS 'One fill-up: litres bought and the odometer reading at the pump.';
-- Serves fuel_consumption: a vehicle's fills in odometer order.
CREATE INDEX fuel_logs_vehicle_filled_at_idx ON fuel_logs (vehicle_id, filled_at);

CREATE TABLE maintenance_records (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    vehicle_id    bigint REFERENCES vehicles (id) ON DELETE CASCADE,
    title         text NOT NULL,
    due_date      date NOT NULL,
    completed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE maintenance_records IS 'A maintenance task with a due date; completed_at set when done.';
-- Serves maintenance reminders and the digest: open tasks by due date.
CREATE INDEX maintenance_records_open_due_idx ON maintenance_records (due_date) WHERE completed_at IS NULL;

-- PAM events, append-only and the largest table. The primary key leads with
-- created_at so that (1) the rollups' hour-range scans use it and (2) the table
-- can become `PARTITION BY RANGE (created_at)` unchanged (a partitioned table's
-- keys must include the partition column); retention then drops whole partitions.
CREATE TABLE pam_analytics_logs (
    id                bigint GENERATED ALWAYS AS IDENTITY,
    created_at        timestamptz NOT NULL DEFAULT now(),
    user_id           uuid,
    event_type        text NOT NULL CHECK (event_type IN ('message', 'response')),
    intent            text,
    response_time_ms  int CHECK (response_time_ms >= 0),
    success           boolean,
    error             text,
    PRIMARY KEY (created_at, id)
);
COMMENT ON TABLE pam_analytics_logs IS 'One row per PAM chat message or response; user_id has no foreign key so logging never fails.';

CREATE TABLE analytics_summary (
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
COMMENT ON TABLE analytics_summary IS 'Hourly rollup of pam_analytics_logs (UTC hours), upserted by analytics_hourly.';

CREATE TABLE analytics_daily (
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
COMMENT ON TABLE analytics_daily IS 'Daily rollup of pam_analytics_logs (UTC days), upserted by analytics_daily.';

------------------------------------------------------------------------------
-- Job machinery
------------------------------------------------------------------------------
CREATE TABLE wheels.settings (
    name         text PRIMARY KEY,
    value        text NOT NULL,
    description  text NOT NULL
);
COMMENT ON TABLE wheels.settings IS 'Tunable job settings (thresholds, retention, windows); each job reads them here, not from code.';

-- Once per fact (ARCHITECTURE invariant 2): a job inserts here with ON CONFLICT DO
-- NOTHING and enqueues only the rows it inserted, in the same transaction.
CREATE TABLE wheels.email_ledger (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL REFERENCES wheels.email_kinds (kind),
    subject     text NOT NULL,
    period      text NOT NULL,
    user_id     uuid,
    recipient   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, subject, period)
);
COMMENT ON TABLE wheels.email_ledger IS 'One row per email intent ever decided: (kind, subject, period) is the fact; id is the intent_id.';
COMMENT ON COLUMN wheels.email_ledger.subject IS 'What the email is about: a profile, category or maintenance record id.';
COMMENT ON COLUMN wheels.email_ledger.period IS 'Which occurrence: a month (2026-11), a local day, a due date; '''' when once ever.';

CREATE TABLE wheels.deliveries (
    intent_id            bigint PRIMARY KEY REFERENCES wheels.email_ledger (id) ON DELETE CASCADE,
    status               text NOT NULL CHECK (status IN ('sending', 'sent', 'retrying', 'dead', 'suppressed')),
    attempts             int NOT NULL DEFAULT 0,
    provider_message_id  text,
    last_error           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE wheels.deliveries IS 'What the sender did with each intent: the status, attempts and provider id of its email.';
-- Serves `status`: emails sent today and this month.
CREATE INDEX deliveries_status_updated_at_idx ON wheels.deliveries (status, updated_at);

CREATE TABLE wheels.dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    msg_id      bigint,
    intent_id   bigint,
    payload     jsonb,
    reason      text NOT NULL,
    attempts    int NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE wheels.dead_letters IS 'Intents that failed for good or could not be read, with the reason; replayable.';

CREATE TABLE wheels.suppressions (
    email       text PRIMARY KEY CHECK (email = lower(email)),
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE wheels.suppressions IS 'Addresses never to mail again (hard bounce, complaint, manual), lower-cased.';

------------------------------------------------------------------------------
-- The intent queue. Lower-case name: pgmq 1.13's insert notification breaks on
-- upper case. Insert notifications wake the sender without polling.
------------------------------------------------------------------------------
DO $$
BEGIN
    PERFORM pgmq.create('email_intents');
    PERFORM pgmq.enable_notify_insert('email_intents', 0);
END
$$;
