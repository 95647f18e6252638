-- wheels-jobs, part 5: the source contract, as data. The jobs read the app's
-- data only through schema wheels_source (one source installed per database:
-- sources/<name>/contract.sql), and these rows say what it must hold: every
-- relation with its columns, their types and meaning, and the functions that
-- write back to the app. `cli.py source check` compares the installed source
-- with them; docs/ADOPTING.md shows them (a test keeps the two equal).
-- depends: 0004_analytics

CREATE TABLE wheels.source_contract (
    relation     text NOT NULL,
    position     int NOT NULL,
    column_name  text NOT NULL,
    type         text NOT NULL,
    meaning      text NOT NULL,
    PRIMARY KEY (relation, column_name),
    UNIQUE (relation, position)
);
COMMENT ON TABLE wheels.source_contract IS 'The columns each wheels_source relation must have (type as format_type prints it), and what they mean.';

INSERT INTO wheels.source_contract (relation, position, column_name, type, meaning) VALUES
    ('users', 1, 'user_id', 'uuid', 'the app''s user id; every other relation refers to users by it'),
    ('users', 2, 'email', 'text', 'where their email goes; NULL (or unusable) when they have no address: no email at all'),
    ('users', 3, 'name', 'text', 'how emails greet them; NULL: no name'),
    ('users', 4, 'time_zone', 'text', 'IANA time zone: local days, months and mornings are counted in it (unknown: UTC, reported by source check)'),
    ('users', 5, 'currency', 'text', 'ISO 4217 code of their amounts (AUD, USD, ...); NULL: amounts without a currency'),
    ('users', 6, 'units', 'text', '''metric'' (litres, km, L/100 km) or ''imperial'' (US gallons, miles, mpg)'),
    ('users', 7, 'opted_out', 'text[]', 'preference kinds they switched off: budget_alerts, maintenance, daily_digest; empty: all on'),
    ('budgets', 1, 'budget_id', 'text', 'the budget''s id, as text'),
    ('budgets', 2, 'user_id', 'uuid', 'its owner'),
    ('budgets', 3, 'category', 'text', 'the expenses that count against it: the owner''s, with this category (case and surrounding spaces ignored)'),
    ('budgets', 4, 'monthly_limit', 'numeric', 'the limit for one local month, in the owner''s currency; a budget without a positive limit is skipped (reported)'),
    ('budgets', 5, 'alert_threshold', 'numeric', 'percent of the limit that sends the warning; NULL: setting budget_warning_percent (80)'),
    ('budgets', 6, 'starts_on', 'date', 'first local day it counts; NULL: always has'),
    ('budgets', 7, 'ends_on', 'date', 'last local day it counts; NULL: open-ended'),
    ('expenses', 1, 'expense_id', 'text', 'the expense''s id, as text'),
    ('expenses', 2, 'user_id', 'uuid', 'who spent'),
    ('expenses', 3, 'category', 'text', 'matched with budgets.category'),
    ('expenses', 4, 'amount', 'numeric', 'in the owner''s currency; negative for a refund'),
    ('expenses', 5, 'spent_on', 'date', 'the owner''s local date of the expense'),
    ('vehicles', 1, 'vehicle_id', 'text', 'the vehicle''s id, as text'),
    ('vehicles', 2, 'user_id', 'uuid', 'its owner'),
    ('vehicles', 3, 'name', 'text', 'what emails call it'),
    ('vehicles', 4, 'l_per_100km', 'numeric', 'the consumption stored now (NULL: none): fuel_consumption writes only changes'),
    ('fuel_fills', 1, 'vehicle_id', 'text', 'the vehicle filled'),
    ('fuel_fills', 2, 'filled_on', 'date', 'the owner''s local date of the fill'),
    ('fuel_fills', 3, 'odometer_km', 'numeric', 'the odometer at the pump, in km'),
    ('fuel_fills', 4, 'litres', 'numeric', 'fuel bought, in litres'),
    ('fuel_fills', 5, 'full_tank', 'boolean', 'the tank was filled to the top: consumption is measured between full fills'),
    ('maintenance_tasks', 1, 'task_id', 'text', 'the task''s id, as text'),
    ('maintenance_tasks', 2, 'user_id', 'uuid', 'its owner'),
    ('maintenance_tasks', 3, 'title', 'text', 'what is due (Oil change)'),
    ('maintenance_tasks', 4, 'vehicle', 'text', 'the vehicle''s name; NULL: not said'),
    ('maintenance_tasks', 5, 'due_on', 'date', 'local due date; NULL: never reminded'),
    ('maintenance_tasks', 6, 'done', 'boolean', 'done tasks are never reminded'),
    ('pam_events', 1, 'occurred_at', 'timestamp with time zone', 'when it happened; the rollups read UTC hours of it'),
    ('pam_events', 2, 'user_id', 'uuid', 'whose chat; NULL: anonymous'),
    ('pam_events', 3, 'kind', 'text', '''message'' (the user wrote), ''response'' (PAM answered), or the app''s own other types'),
    ('pam_events', 4, 'intent', 'text', 'what the user wanted (trip_planning, ...); NULL: unknown'),
    ('pam_events', 5, 'response_time_ms', 'integer', 'how long PAM took; the percentiles read it from responses'),
    ('pam_events', 6, 'succeeded', 'boolean', 'false: a failure; true: a success; NULL: neither (the success rate ignores it)'),
    ('expiring', 1, 'relation', 'text', 'a schema-qualified app table whose old rows cleanup deletes; one this database lacks is skipped (reported)'),
    ('expiring', 2, 'time_column', 'name', 'its timestamptz column that says how old a row is'),
    ('expiring', 3, 'keep', 'interval', 'rows with time_column older than now() - keep go (0: at time_column)'),
    ('set_email_preferences(uuid, text[], boolean[])', 1, 'returns', 'boolean',
     'switches preference kinds of one user on or off in the app''s own settings; false: no such user'),
    ('set_fuel_consumption(text[], numeric[], numeric[], integer[])', 1, 'returns', 'integer',
     'stores vehicles'' consumption (vehicle ids, L/100 km, mpg, fills used) in the app; returns the vehicles written');
