-- wheels-jobs, part 11: maintenance reminders that look only at what is new
-- (issue 13). The daily maintenance_reminders read every open task due within
-- the reminder window, every day, and asked the ledger about each (21 s at a
-- million users for the first run, most of it again on every later one). Now
-- it remembers when it last looked, and looks only at the tasks whose reminder
-- or overdue date came since, plus the tasks of owners the source's triggers
-- name (a task added, moved to another date, reopened: maintenance_changed()).
-- (docs/SCALING.md; the job is sql/functions/maintenance_reminders.sql.)
-- depends: 0010_fuel_changes

-- Insert-only, no key, as wheels.fuel_changes: an app write never waits for a
-- row of ours; the job consumes the rows under its job lock.
CREATE TABLE wheels.maintenance_changes (
    user_id  uuid
);
COMMENT ON TABLE wheels.maintenance_changes IS
    'Owners whose tasks were added or changed since maintenance_reminders last ran (from the source''s maintenance_changed() '
    'triggers); a NULL user_id: every task in the window is looked at (a trigger that could not name the owners).';

CREATE TABLE wheels.maintenance_state (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    reminded_as_of  timestamptz
);
COMMENT ON TABLE wheels.maintenance_state IS
    'reminded_as_of: the instant maintenance_reminders last looked as of; the next run looks at the tasks whose dates came '
    'since (NULL, or a run as of an earlier instant: every task in the window).';
INSERT INTO wheels.maintenance_state DEFAULT VALUES;

INSERT INTO wheels.source_contract (relation, position, column_name, type, meaning) VALUES
    ('maintenance_changed()', 1, 'returns', 'trigger',
     'statement-level trigger on every app table whose writes add wheels_source.maintenance_tasks rows or change their '
     'user_id, due_on or done; hands their owners to wheels.record_maintenance_changes in the same transaction, and never '
     'fails the app''s write');
