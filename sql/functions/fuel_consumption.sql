-- Fuel consumption that follows the fills (sql/0010_fuel_changes.sql,
-- docs/SCALING.md): the source's fuel_changed() triggers name the owners whose
-- fills changed (record_fuel_changes); the daily job measures only their
-- vehicles, so its cost is the day's fills, not every vehicle's.

-- Called by the source's fuel_changed triggers, in the app's transaction: these
-- owners' vehicles are measured at the next run. An insert into a table
-- without keys: it never waits for anybody. No exception block of its own: the
-- trigger's catches a failure. PL/pgSQL, not SQL: its plan is kept across calls.
CREATE OR REPLACE FUNCTION wheels.record_fuel_changes(user_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO wheels.fuel_changes (user_id)
    SELECT DISTINCT u FROM unnest(user_ids) u WHERE u IS NOT NULL;
END
$$;

-- What a fuel_changed trigger's exception block calls: nobody could be named,
-- so every vehicle is measured at the next run (a NULL row), and the problem
-- goes to the server log. Never raises: the app's write goes through.
CREATE OR REPLACE FUNCTION wheels.fuel_changes_trouble(what text, problem text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE WARNING 'wheels-jobs: % could not record a change (every vehicle is measured at the next '
                  'fuel_consumption; a source that copies the fills: `cli.py migrate --reinstall-source` copies '
                  'them afresh): %', what, problem;
    INSERT INTO wheels.fuel_changes (user_id) VALUES (NULL);
EXCEPTION WHEN OTHERS THEN
    NULL;  -- the warning is all there is
END
$$;

-- Each vehicle's fuel consumption, as the Celery task measured it but from
-- the source's fills: between two consecutive full-tank fills (by odometer) the
-- distance driven and all the fuel bought after the first of them (partial
-- fills in between included) make one interval; the mean mpg of the vehicle's
-- last 10 intervals, from at least 3, is its consumption, and
-- L/100 km = 235.214583 / mpg (US gallons and miles). Implausible intervals
-- (outside 1-100 L/100 km: an odometer typo) are left out. Only the vehicles
-- of owners whose fills changed since the last run are measured (all of them
-- after install or when a trigger could not name the owners), and the source
-- writes only those whose value changed (all five fuel_consumption_* columns
-- on the live app).
CREATE OR REPLACE FUNCTION wheels.fuel_consumption() RETURNS text
LANGUAGE plpgsql
-- A day's changes are a few owners' rows, found by index where the source has
-- one. With the default random_page_cost (4: disks that seek) the planner read
-- every fill, vehicle and profile instead for 1% of the owners (at 100k users:
-- 0.11 s, 0.07 s with this).
SET random_page_cost = 1.1
AS $$
DECLARE
    every_vehicle boolean;
    owners uuid[];
    measured int;
    too_few int;
    written int;
    result text;
BEGIN
    PERFORM wheels.lock_job('fuel_consumption');

    -- What the triggers recorded up to this snapshot; later commits stay for the next run.
    WITH taken AS (
        DELETE FROM wheels.fuel_changes RETURNING user_id
    )
    SELECT coalesce(bool_or(t.user_id IS NULL), false), array_agg(DISTINCT t.user_id) FILTER (WHERE t.user_id IS NOT NULL)
    INTO every_vehicle, owners
    FROM taken t;

    IF NOT every_vehicle AND owners IS NULL THEN
        RETURN 'fuel_consumption: 0 vehicles updated, 0 measured';  -- no fill changed
    END IF;

    -- `every_vehicle OR ... = ANY (owners)`: a constant in this call's plan, so
    -- the owners' vehicles are found by index where the source has one.
    WITH fills AS (
        SELECT f.vehicle_id, f.odometer_km, f.full_tank,
               sum(f.litres) OVER (PARTITION BY f.vehicle_id ORDER BY f.odometer_km, f.filled_on
                                   ROWS UNBOUNDED PRECEDING) AS litres_so_far
        FROM wheels_source.fuel_fills f
        WHERE every_vehicle OR f.user_id = ANY (owners)
    ), full_tanks AS (
        SELECT vehicle_id, odometer_km, litres_so_far,
               lag(odometer_km) OVER w AS previous_km, lag(litres_so_far) OVER w AS previous_litres
        FROM fills
        WHERE full_tank
        WINDOW w AS (PARTITION BY vehicle_id ORDER BY odometer_km)
    ), intervals AS (
        SELECT vehicle_id, odometer_km,
               (litres_so_far - previous_litres) * 100 / (odometer_km - previous_km) AS l_per_100km
        FROM full_tanks
        WHERE odometer_km > previous_km
    ), recent AS (
        SELECT vehicle_id, 235.214583 / l_per_100km AS mpg,
               row_number() OVER (PARTITION BY vehicle_id ORDER BY odometer_km DESC) AS nth
        FROM intervals
        WHERE l_per_100km BETWEEN 1 AND 100
    ), per_vehicle AS (
        SELECT vehicle_id, count(*)::int AS intervals, avg(mpg) AS mpg
        FROM recent
        WHERE nth <= 10
        GROUP BY vehicle_id
    ), measurable AS (
        SELECT vehicle_id, intervals, round(mpg, 2) AS mpg, round(235.214583 / mpg, 2) AS l_per_100km
        FROM per_vehicle
        WHERE intervals >= 3
    )
    -- The source writes only the vehicles whose stored value differs (found by its own key).
    SELECT (SELECT count(*) FROM measurable),
           (SELECT count(*) FROM per_vehicle WHERE intervals < 3),
           (SELECT wheels_source.set_fuel_consumption(array_agg(vehicle_id), array_agg(l_per_100km),
                                                       array_agg(mpg), array_agg(intervals))
            FROM measurable)
    INTO measured, too_few, written;

    result := format('fuel_consumption: %s updated, %s measured%s',
                     wheels.plural(coalesce(written, 0), 'vehicle', 'vehicles'), measured,
                     CASE WHEN too_few > 0 THEN format(', %s with fewer than 3 full-tank intervals', too_few) ELSE '' END);
    RAISE LOG '%', result;
    RETURN result;
END
$$;
