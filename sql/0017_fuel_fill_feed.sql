-- wheels-jobs, part 17: the fuel fill feed (issue 13). fuel_consumption
-- measures only the vehicles of owners whose fills changed, but on
-- supabase-wheels it found their fills by reading the app's whole fuel_log,
-- which has no index on user_id (the guest rule adds none): 0.85 s at 100k
-- users for 10,000 changed owners, growing with the log. So that source's
-- triggers on fuel_log copy each fill, as the app keeps it (its units, no
-- vehicle: a fill belongs to its owner's primary vehicle at read time), into
-- this table of ours, keyed by owner; wheels_source.fuel_fills reads it.
-- The source copies the whole log afresh whenever it is installed or updated
-- (`migrate --reinstall-source` repairs a copy a failed trigger left behind).
-- A source whose fills are indexed by owner (demo) leaves it empty.
--
-- And set_fuel_consumption now skips a vehicle whose stored consumption
-- already equals the new one: it finds the vehicles by their own key, where
-- the job compared them through wheels_source.vehicles, whose text vehicle_id
-- no index serves (a read of every vehicle at every run, on both sources).
-- (docs/SCALING.md, "Fuel consumption".)
-- depends: 0016_expiring_in_order

CREATE TABLE wheels.fuel_fill_feed (
    user_id uuid NOT NULL,
    fill_id bigint NOT NULL,  -- the app's own id: an UPDATE or DELETE of its row finds the copy
    filled_on date,
    odometer numeric,
    volume numeric,
    full_tank boolean,
    PRIMARY KEY (user_id, fill_id)
);
COMMENT ON TABLE wheels.fuel_fill_feed IS
    'Copies of the app''s fuel fills, in its units, for a source whose fills have no index by owner (supabase-wheels); '
    'kept by its triggers, copied afresh when the source is installed or updated.';

UPDATE wheels.source_contract
SET meaning = 'stores vehicles'' consumption (vehicle ids, L/100 km, mpg, fills used) in the app, skipping a vehicle '
              'whose stored L/100 km already equals it; returns the vehicles written'
WHERE relation = 'set_fuel_consumption(text[], numeric[], numeric[], integer[])' AND column_name = 'returns';
