-- Undo 0017_fuel_fill_feed.
DROP TABLE wheels.fuel_fill_feed;
UPDATE wheels.source_contract
SET meaning = 'stores vehicles'' consumption (vehicle ids, L/100 km, mpg, fills used) in the app; returns the vehicles written'
WHERE relation = 'set_fuel_consumption(text[], numeric[], numeric[], integer[])' AND column_name = 'returns';
