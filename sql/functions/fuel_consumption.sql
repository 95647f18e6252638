-- Each vehicle's average consumption in L/100 km by the full-tank method: the
-- litres of every fill after the first (the first only filled the tank the
-- distance starts from) over the distance between the lowest and highest
-- odometer readings. Fills are ordered by odometer, the pump's own record of
-- when they happened. Vehicles with fewer than two fills, no distance, or an
-- absurd result (a typo in a reading; the column holds < 10000) are left alone.
-- Only changed vehicles are written, so a daily run does not rewrite every row.
CREATE OR REPLACE FUNCTION wheels.fuel_consumption() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    measurable int;
    no_distance int;
    implausible int;
    changed int;
    result text;
BEGIN
    -- One run at a time (pg_cron and `jobs run` may overlap): the second waits and
    -- then finds nothing changed.
    PERFORM pg_advisory_xact_lock(hashtext('wheels.fuel_consumption'));

    WITH fills AS (
        SELECT f.vehicle_id, f.liters, f.odometer_km,
               row_number() OVER (PARTITION BY f.vehicle_id ORDER BY f.odometer_km, f.filled_at, f.id) AS nth
        FROM fuel_logs f
    ), per_vehicle AS (
        SELECT vehicle_id,
               sum(liters) FILTER (WHERE nth > 1) AS litres,
               max(odometer_km) - min(odometer_km) AS distance_km
        FROM fills
        GROUP BY vehicle_id
        HAVING count(*) >= 2
    ), consumption AS (
        SELECT vehicle_id, round(litres / distance_km * 100, 2) AS l_per_100km
        FROM per_vehicle
        WHERE distance_km > 0
    ), updated AS (
        UPDATE vehicles v
        SET avg_l_per_100km = c.l_per_100km, consumption_updated_at = now()
        FROM consumption c
        WHERE v.id = c.vehicle_id AND c.l_per_100km < 10000
          AND v.avg_l_per_100km IS DISTINCT FROM c.l_per_100km
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM consumption WHERE l_per_100km < 10000),
           (SELECT count(*) FROM consumption WHERE l_per_100km >= 10000),
           (SELECT count(*) FROM per_vehicle WHERE distance_km = 0),
           (SELECT count(*) FROM updated)
    INTO measurable, implausible, no_distance, changed;

    result := format('fuel_consumption: %s vehicles updated, %s measured%s%s',
                     changed, measurable,
                     CASE WHEN no_distance > 0 THEN format(', %s skipped: zero distance', no_distance) ELSE '' END,
                     CASE WHEN implausible > 0 THEN format(', %s skipped: over 10000 L/100 km', implausible) ELSE '' END);
    RAISE LOG '%', result;
    RETURN result;
END
$$;
