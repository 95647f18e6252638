-- wheels-jobs, part 8: budget state that follows changes (issue 13). The
-- hourly budget_alerts and the digest used to re-sum every budget's month from
-- the expenses on every run: cost grew with the data, not with what changed.
-- Now the source's triggers hand every change over in the writing transaction
-- (sources/*/contract.sql), the jobs fold the changes into per-user spending
-- sums, and budget_alerts looks only at what changed since its last run.
-- (docs/SCALING.md; the functions are sql/functions/budget_state.sql.)
-- depends: 0007_provider_outage

------------------------------------------------------------------------------
-- What the source's triggers hand over. Insert-only, no key, no constraint
-- beyond NOT NULL: an app write never waits for, locks or conflicts with a row
-- of ours, so two app transactions never block or deadlock each other on our
-- account. The jobs consume them (DELETE ... RETURNING, so what commits later
-- stays for the next run) under one lock (wheels.budget_state_refresh).
------------------------------------------------------------------------------
CREATE TYPE wheels.spending_change AS (
    user_id   uuid,
    category  text,
    spent_on  date,
    amount    numeric,
    expenses  int
);
COMMENT ON TYPE wheels.spending_change IS
    'One expense row entering (+1, its amount) or leaving (-1, its amount negated) wheels_source.expenses.';

CREATE TABLE wheels.spending_changes (
    user_id   uuid NOT NULL,
    category  text NOT NULL,
    spent_on  date NOT NULL,
    amount    numeric NOT NULL,
    expenses  int NOT NULL
);
COMMENT ON TABLE wheels.spending_changes IS
    'Expense rows that entered (+1) or left (-1) wheels_source.expenses, written by the source''s trigger, folded by the jobs.';

CREATE TABLE wheels.user_changes (
    user_id    uuid NOT NULL,
    recompute  boolean NOT NULL,
    due_on     date
);
COMMENT ON TABLE wheels.user_changes IS
    'Users whose zone, settings or budgets changed (from the source''s triggers) or whose spending a trigger could not describe.';
COMMENT ON COLUMN wheels.user_changes.recompute IS
    'true: sum their spending afresh from the source (a change no delta describes: a zone that moves local dates, a renamed category, a trigger that failed).';
COMMENT ON COLUMN wheels.user_changes.due_on IS
    'NULL: now; else not before their local date reaches it (a budget that starts later, a month with spending already in it).';

------------------------------------------------------------------------------
-- The state. Keys are the source's own: user, local month or day, and the
-- expense category as budgets match it (lower(btrim(category))), so a change
-- to a budget (limit, threshold, name, dates, deletion) changes no sum: the
-- budget just reads another key. Months are what budget_alerts reads (month to
-- date, future-dated days included, as the re-sum did); days are what the
-- digest needs (yesterday's spending, and a month as of the end of yesterday =
-- the month minus its later days). cleanup keeps months from the previous one
-- and days from three days back: all the jobs read.
------------------------------------------------------------------------------
CREATE TABLE wheels.spending_months (
    user_id       uuid NOT NULL,
    month         date NOT NULL,
    category_key  text NOT NULL,
    amount        numeric NOT NULL,
    expenses      int NOT NULL,
    next_alert_at numeric,
    PRIMARY KEY (user_id, month, category_key)
)
-- Room on each page for the fold's updates to stay there (HOT: no index
-- entry per update): an hour of 10,000 changes folded 40% faster.
WITH (fillfactor = 70);
COMMENT ON TABLE wheels.spending_months IS
    'Spending per user, local month and category key (lower(btrim(category))), kept from the source''s changes.';
COMMENT ON COLUMN wheels.spending_months.next_alert_at IS
    'The lowest amount at which a budget on this key would get an alert it has not had this month (Infinity: none can); '
    'NULL: not known yet. The fold asks budget_alerts to look only at sums that reach it.';
-- Serves cleanup: months before the previous one go.
CREATE INDEX spending_months_month_idx ON wheels.spending_months (month);

CREATE TABLE wheels.spending_days (
    user_id       uuid NOT NULL,
    day           date NOT NULL,
    category_key  text NOT NULL,
    category      text NOT NULL,
    amount        numeric NOT NULL,
    expenses      int NOT NULL,
    PRIMARY KEY (user_id, day, category_key)
) WITH (fillfactor = 70);  -- as spending_months
COMMENT ON TABLE wheels.spending_days IS
    'Spending per user, local day and category key: yesterday''s for the digest, and today''s and later days'' to take a month back to the end of yesterday.';
COMMENT ON COLUMN wheels.spending_days.category IS
    'The category as the day''s expenses spell it (the first in sort order seen; a rebuild makes it exact).';
-- Serves cleanup: days older than three go.
CREATE INDEX spending_days_day_idx ON wheels.spending_days (day);

-- Each user's time zone of record, so the digest finds the users whose
-- morning has come without reading every user; kept from the users' changes.
CREATE TABLE wheels.user_zones (
    user_id  uuid PRIMARY KEY,
    zone     text NOT NULL
);
COMMENT ON TABLE wheels.user_zones IS 'Each user''s time zone as wheels.users() resolves it, kept from the source''s user changes.';
-- Serves daily_digest: the users of the zones whose digest hour has come.
CREATE INDEX user_zones_zone_idx ON wheels.user_zones (zone);

-- The zones the digest has decided for, and for which local day.
CREATE TABLE wheels.digest_zones (
    zone        text PRIMARY KEY,
    decided_on  date
);
COMMENT ON TABLE wheels.digest_zones IS
    'Every zone users have, and the local day whose digests daily_digest last decided for its users (NULL: never).';

-- What budget_alerts has to look at next: filled by the fold, emptied by budget_alerts.
CREATE TABLE wheels.budgets_to_check (
    user_id       uuid NOT NULL,
    category_key  text
);
COMMENT ON TABLE wheels.budgets_to_check IS
    'Users (and category keys; NULL: all their budgets) whose spending, budgets or zone changed since budget_alerts last ran.';

CREATE TABLE wheels.budget_state (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    check_all   boolean NOT NULL DEFAULT true,
    rebuilt_at  timestamptz
);
COMMENT ON TABLE wheels.budget_state IS
    'check_all: the next budget_alerts looks at every budget (after a rebuild); rebuilt_at: the last budget_state_rebuild.';
INSERT INTO wheels.budget_state DEFAULT VALUES;

------------------------------------------------------------------------------
-- The contract: three trigger functions every source provides and attaches
-- (checked by `cli.py source check`, which also compares the state with a
-- fresh sum).
------------------------------------------------------------------------------
INSERT INTO wheels.source_contract (relation, position, column_name, type, meaning) VALUES
    ('expenses_changed()', 1, 'returns', 'trigger',
     'statement-level trigger (AFTER INSERT, UPDATE, DELETE, with transition tables) on every app table whose writes change '
     'wheels_source.expenses rows; hands the rows leaving and entering, in contract shape, to wheels.record_spending in '
     'the same transaction, and never fails the app''s write'),
    ('budgets_changed()', 1, 'returns', 'trigger',
     'statement-level trigger on every app table whose writes change wheels_source.budgets rows; hands their owners '
     '(and a later starts_on) to wheels.record_user_changes, and never fails the app''s write'),
    ('users_changed()', 1, 'returns', 'trigger',
     'statement-level trigger on every app table whose writes change a user''s time_zone or opted_out, or add a user; '
     'hands the users to wheels.record_user_changes (recompute when their expenses'' local dates moved), and never fails '
     'the app''s write');

