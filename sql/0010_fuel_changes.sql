-- wheels-jobs, part 10: fuel consumption that follows the fills (issue 13).
-- The daily fuel_consumption measured every vehicle from every fill: 39 s at a
-- million users, whatever had changed. Now the source's triggers name the
-- owners whose fills (or the vehicle a fill belongs to) changed, in the
-- writing transaction (sources/*/contract.sql: fuel_changed()), and the job
-- measures only their vehicles. (docs/SCALING.md; the job is
-- sql/functions/fuel_consumption.sql.)
-- depends: 0009_day_partitions

-- Insert-only, no key: an app write never waits for, locks or conflicts with a
-- row of ours. The job consumes the rows (DELETE ... RETURNING, so what
-- commits meanwhile stays for its next run) under its job lock.
CREATE TABLE wheels.fuel_changes (
    user_id  uuid
);
COMMENT ON TABLE wheels.fuel_changes IS
    'Owners whose fills changed since fuel_consumption last ran (from the source''s fuel_changed() triggers); '
    'a NULL user_id: every vehicle is measured again (install, a trigger that could not name the owners).';
-- The first run after install measures every vehicle, as the job always did.
INSERT INTO wheels.fuel_changes (user_id) VALUES (NULL);

INSERT INTO wheels.source_contract (relation, position, column_name, type, meaning) VALUES
    ('fuel_fills', 6, 'user_id', 'uuid', 'the vehicle''s owner: fuel_consumption measures the vehicles of owners whose fills changed'),
    ('fuel_changed()', 1, 'returns', 'trigger',
     'statement-level trigger on every app table whose writes change wheels_source.fuel_fills rows or the vehicle they '
     'belong to; hands their owners to wheels.record_fuel_changes in the same transaction, and never fails the app''s write');
