-- Each vehicle's fuel consumption, as the Celery task measured it but from
-- the source's fills: between two consecutive full-tank fills (by odometer) the
-- distance driven and all the fuel bought after the first of them (partial
-- fills in between included) make one interval; the mean mpg of the vehicle's
-- last 10 intervals, from at least 3, is its consumption, and
-- L/100 km = 235.214583 / mpg (US gallons and miles). Implausible intervals
-- (outside 1-100 L/100 km: an odometer typo) are left out. Only vehicles whose
-- value changed are written, through the source (all five fuel_consumption_*
-- columns on the live app), so a daily run does not rewrite every row.
CREATE OR REPLACE FUNCTION wheels.fuel_consumption() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    measured int;
    too_few int;
    written int;
    result text;
BEGIN
    PERFORM wheels.lock_job('fuel_consumption');

    WITH fills AS (
        SELECT f.vehicle_id, f.odometer_km, f.full_tank,
               sum(f.litres) OVER (PARTITION BY f.vehicle_id ORDER BY f.odometer_km, f.filled_on
                                   ROWS UNBOUNDED PRECEDING) AS litres_so_far
        FROM wheels_source.fuel_fills f
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
    ), changed AS (
        SELECT m.*
        FROM measurable m
        JOIN wheels_source.vehicles v ON v.vehicle_id = m.vehicle_id
        WHERE v.l_per_100km IS DISTINCT FROM m.l_per_100km
    )
    SELECT (SELECT count(*) FROM measurable),
           (SELECT count(*) FROM per_vehicle WHERE intervals < 3),
           (SELECT wheels_source.set_fuel_consumption(array_agg(vehicle_id), array_agg(l_per_100km),
                                                       array_agg(mpg), array_agg(intervals))
            FROM changed)
    INTO measured, too_few, written;

    result := format('fuel_consumption: %s updated, %s measured%s',
                     wheels.plural(coalesce(written, 0), 'vehicle', 'vehicles'), measured,
                     CASE WHEN too_few > 0 THEN format(', %s with fewer than 3 full-tank intervals', too_few) ELSE '' END);
    RAISE LOG '%', result;
    RETURN result;
END
$$;
