-- What `cli.py migrate` itself calls in the database.

-- Objects of somebody else's (not in our schemas) that depend on something in
-- `schema_name`: a view over our tables, a foreign key to them. Dropping a
-- schema of ours with CASCADE would drop those too, so the rollback of
-- 0001_wheels and `cli.py migrate` (before it replaces wheels_source) refuse
-- when this returns anything, naming it (docs/ARCHITECTURE.md, invariant 9).
CREATE OR REPLACE FUNCTION wheels.dependents_outside(schema_name name) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT coalesce(view.oid::regclass::text, c.conname || ' on ' || c.conrelid::regclass::text)
    FROM pg_depend d
    JOIN pg_class ours ON d.refclassid = 'pg_class'::regclass AND ours.oid = d.refobjid
    LEFT JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid
    LEFT JOIN pg_class view ON view.oid = r.ev_class
    LEFT JOIN pg_constraint c ON d.classid = 'pg_constraint'::regclass AND c.oid = d.objid
    LEFT JOIN pg_class constrained ON constrained.oid = c.conrelid
    WHERE ours.relnamespace = to_regnamespace(schema_name)
      AND coalesce(view.relnamespace, constrained.relnamespace) NOT IN (
              SELECT oid FROM pg_namespace WHERE nspname IN ('wheels', 'wheels_source', 'wheels_migrations'))
      -- the activation guide's views in public are ours (sql/0004_analytics.sql)
      AND coalesce(obj_description(view.oid, 'pg_class'), '') NOT LIKE 'wheels-jobs:%'
$$;

-- Drop the overloads of the named functions that this migrate did not just
-- (re-)create: CREATE OR REPLACE of a changed signature leaves the old one
-- beside it, and a cron command calling the name could then be ambiguous. Run
-- in the transaction that applied sql/functions/ (the survivors' rows carry
-- its xid). Returns the signatures dropped.
CREATE OR REPLACE FUNCTION wheels.drop_stale_overloads(names text[]) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    stale text;
BEGIN
    FOR stale IN
        SELECT p.oid::regprocedure::text FROM pg_proc p
        WHERE p.pronamespace = 'wheels'::regnamespace AND p.proname = ANY (names)
          AND p.xmin <> xid(pg_current_xact_id())
    LOOP
        EXECUTE format('DROP ROUTINE %s', stale);
        RETURN NEXT stale;
    END LOOP;
END
$$;
