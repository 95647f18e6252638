-- A Supabase-shaped platform, as its superuser (supabase_admin) leaves a new
-- project's `postgres` database, from the facts in docs/ADOPTING.md: API
-- roles, a non-superuser owner `postgres`, Supabase Auth's schema, default
-- privileges that open everything new in public to the API roles, and the
-- extensions enabled from the dashboard (pg_cron by the platform, pgmq 1.4.4
-- created by `postgres`, which can then create queues). Test fixture only.

CREATE ROLE anon NOLOGIN NOINHERIT;
CREATE ROLE authenticated NOLOGIN NOINHERIT;
CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
CREATE ROLE authenticator LOGIN NOINHERIT;
GRANT anon, authenticated, service_role TO authenticator;
CREATE ROLE supabase_auth_admin LOGIN NOINHERIT CREATEROLE;
-- The role a project migrates as: not a superuser, owns the database, may create roles.
CREATE ROLE postgres LOGIN CREATEROLE CREATEDB;
ALTER DATABASE postgres OWNER TO postgres;
GRANT ALL ON SCHEMA public TO postgres;
ALTER SCHEMA public OWNER TO postgres;

-- Supabase Auth: its schema and users table belong to supabase_auth_admin, which
-- performs the sign-up inserts. `postgres` may read it and attach triggers (the
-- documented way to react to sign-ups).
CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;
CREATE TABLE auth.users (
    instance_id         uuid,
    id                  uuid PRIMARY KEY,
    aud                 varchar(255),
    role                varchar(255),
    email               varchar(255),
    encrypted_password  varchar(255),
    email_confirmed_at  timestamptz,
    raw_app_meta_data   jsonb,
    raw_user_meta_data  jsonb,
    phone               text,
    created_at          timestamptz DEFAULT now(),
    updated_at          timestamptz
);
ALTER TABLE auth.users OWNER TO supabase_auth_admin;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid
$$;
ALTER FUNCTION auth.uid() OWNER TO supabase_auth_admin;
GRANT USAGE ON SCHEMA auth TO postgres, anon, authenticated, service_role;
GRANT SELECT, REFERENCES, TRIGGER ON auth.users TO postgres;
GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, postgres;

-- Everything `postgres` creates in public is open to the API roles (RLS is what
-- protects app tables).
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;

-- Extensions from the dashboard: pg_cron in this database (cron.database_name),
-- usable by postgres; pgmq 1.4.4 created by postgres itself.
CREATE EXTENSION pg_cron;
GRANT USAGE ON SCHEMA cron TO postgres;
GRANT ALL ON ALL TABLES IN SCHEMA cron TO postgres;
GRANT ALL ON ALL SEQUENCES IN SCHEMA cron TO postgres;
SET ROLE postgres;
CREATE EXTENSION pgmq VERSION '1.4.4';
RESET ROLE;
