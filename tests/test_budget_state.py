"""Budget state that follows changes (issue 13), on both shipped sources, through
the real triggers on the apps' tables:

- a property test: after any sequence of the changes issue 13 lists (new,
  edited, deleted and refunded expenses, moves between categories and months,
  a user's new time zone, budgets changed, renamed, re-dated, deleted, many
  rows in one statement), the state equals a fresh sum of the source, and so
  does what budget_alerts and the digest read, at instants on both sides of a
  month boundary in zones from UTC-11 to UTC+14;
- a rebuild gives the same state, and `source check` reports drift;
- an app write goes through when the state cannot record it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import supabase_support
from tests.budget_state_support import BOUNDARY, CATEGORIES, ZONES, DemoApp, SupabaseApp, day, differences
from tests.conftest import run_cli
from wheels_jobs.migrate import migrate

# Instants around the month boundary: 10:00 UTC on the 30th is already the 1st
# at UTC+14; 10:00 UTC on the 1st is still the 30th at UTC-11.
INSTANTS = [datetime.combine(BOUNDARY, datetime.min.time(), timezone.utc) + timedelta(hours=h)
            for h in (-38, -14, -1, 10, 13, 36)]


@pytest.fixture(scope="module")
def supabase():
    with supabase_support.server() as instance:
        migrate(instance.owner_url, "supabase-wheels", schedule_jobs=False)
        yield instance


@pytest.fixture(params=["demo", "supabase-wheels"])
def app_conn(request, db_url):
    """A connection to a migrated database of each source, in a transaction the test rolls back."""
    url = db_url if request.param == "demo" else request.getfixturevalue("supabase").admin_url
    with psycopg.connect(url) as conn:
        yield (DemoApp if request.param == "demo" else SupabaseApp)(conn)
        conn.rollback()


# -- the property ------------------------------------------------------------------------

amounts = st.decimals(min_value=-50, max_value=200, places=2, allow_nan=False, allow_infinity=False)
offsets = st.integers(min_value=-35, max_value=20)  # previous month, this month, next month
picks = st.integers(min_value=0, max_value=10_000)

changes = st.one_of(
    st.tuples(st.just("add_expense"), picks, st.sampled_from(CATEGORIES), offsets, amounts, st.integers(0, 23)),
    st.tuples(st.just("refund"), picks, st.sampled_from(CATEGORIES), offsets, amounts.map(lambda a: -abs(a))),
    st.tuples(st.just("edit_amount"), picks, amounts),
    st.tuples(st.just("redate"), picks, offsets, st.integers(0, 23)),
    st.tuples(st.just("recategorise"), picks, st.sampled_from(CATEGORIES)),
    st.tuples(st.just("delete_expense"), picks),
    st.tuples(st.just("bump_all"), picks, amounts),
    st.tuples(st.just("new_zone"), picks, st.sampled_from(ZONES)),
    st.tuples(st.just("add_budget"), picks, st.sampled_from(CATEGORIES), offsets, st.integers(1, 40)),
    st.tuples(st.just("rename_budget"), picks, st.sampled_from(CATEGORIES)),
    st.tuples(st.just("change_limit"), picks, st.integers(1, 500), st.integers(10, 120)),
    st.tuples(st.just("redate_budget"), picks, offsets, st.integers(0, 40)),
    st.tuples(st.just("delete_budget"), picks),
)


def apply(app, users: list, change: tuple) -> None:
    """One change of issue 13's list, written to the app's tables."""
    kind, pick, *args = change
    user = users[pick % len(users)]
    expenses = app.expenses_of(user)
    budgets = app.budgets_of(user)
    if kind == "add_expense":
        category, offset, amount, hour = args
        app.add_expense(user, category, day(offset), amount, hour)
    elif kind == "refund":
        category, offset, amount = args
        app.add_expense(user, category, day(offset), amount)
    elif kind == "edit_amount" and expenses:
        app.change_expense(expenses[pick % len(expenses)], amount=args[0])
    elif kind == "redate" and expenses:
        app.change_expense(expenses[pick % len(expenses)], on=day(args[0]), hour=args[1])
    elif kind == "recategorise" and expenses:
        app.change_expense(expenses[pick % len(expenses)], category=args[0])
    elif kind == "delete_expense" and expenses:
        app.delete_expense(expenses[pick % len(expenses)])
    elif kind == "bump_all":
        app.bump_all(user, args[0])
    elif kind == "new_zone":
        app.set_zone(user, args[0])
    elif kind == "add_budget":
        category, offset, length = args
        app.add_budget(user, category, 100, None, day(offset), day(offset + length))
    elif kind == "rename_budget" and budgets:
        app.change_budget(budgets[pick % len(budgets)], category=args[0])
    elif kind == "change_limit" and budgets:
        app.change_budget(budgets[pick % len(budgets)], limit=args[0], threshold=args[1])
    elif kind == "redate_budget" and budgets:
        app.change_budget(budgets[pick % len(budgets)], starts=day(args[0]), ends=day(args[0] + args[1]))
    elif kind == "delete_budget" and budgets:
        app.delete_budget(budgets[pick % len(budgets)])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=4), steps=st.lists(changes, max_size=25),
       fold_every=st.integers(min_value=1, max_value=30))
def test_the_state_always_equals_a_fresh_sum(app_conn, zones, steps, fold_every):
    app = app_conn
    app.conn.execute("SAVEPOINT example")
    try:
        users = [app.add_user(zone) for zone in zones]
        for user in users:
            app.add_budget(user, "Fuel", 300)
            app.add_budget(user, "food", 200, 50)
        for i, change in enumerate(steps, 1):
            apply(app, users, change)
            if i % fold_every == 0:  # the jobs fold now and then, between changes
                app.conn.execute("SELECT wheels.budget_state_refresh()")
        assert differences(app.conn, INSTANTS) == []
    finally:
        app.conn.execute("ROLLBACK TO SAVEPOINT example")


# -- what the jobs do with it ---------------------------------------------------------------

AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


def alerts(conn, as_of: datetime = AS_OF) -> str:
    return conn.execute("SELECT wheels.budget_alerts(%s)", [as_of]).fetchone()[0]


def queued(conn) -> list[tuple]:
    return [(m["to"].split("@")[0], m["kind"], m["data"]["month"]) for (m,) in conn.execute(
        "SELECT message FROM pgmq.q_email_intents WHERE message ->> 'kind' IN ('budget_warning', 'over_budget')"
        " ORDER BY msg_id")]


def test_budget_alerts_reads_the_state_and_looks_only_at_what_changed(conn):
    app = DemoApp(conn)
    ana = app.add_user("UTC")
    fuel = app.add_budget(ana, "Fuel", 100)
    app.add_expense(ana, fuel, day(-15), 85)
    assert alerts(conn) == "budget_alerts: 1 intent enqueued (1 warning, 0 over budget)"
    # An expense the triggers never saw (replica mode skips them): the state, and so the job, do not know it.
    conn.execute("SET session_replication_role = replica")
    app.add_expense(ana, fuel, day(-14), 30)
    conn.execute("RESET session_replication_role")
    assert alerts(conn) == "budget_alerts: 0 intents enqueued (0 warnings, 0 over budget)"
    # A change to the budget itself is seen: a lower limit puts it over (85 of 80).
    app.change_budget(fuel, limit=80)
    assert alerts(conn) == "budget_alerts: 1 intent enqueued (0 warnings, 1 over budget)"
    assert queued(conn) == [(conn.execute("SELECT email FROM profiles").fetchone()[0].split("@")[0], k, "2026-11")
                            for k in ("budget_warning", "over_budget")]


def test_spending_dated_in_a_month_alerts_when_that_month_begins_in_the_owners_zone(conn):
    app = DemoApp(conn)
    sydney, utc = app.add_user("Australia/Sydney"), app.add_user("UTC")
    for user in (sydney, utc):
        app.add_expense(user, app.add_budget(user, "Fuel", 100), day(1), 90)  # 2 December, 12:00 UTC
    conn.execute("SELECT pgmq.purge_queue('email_intents')")
    assert alerts(conn).startswith("budget_alerts: 0 intents")  # 20 November
    # 30 November 14:00 UTC is already 1 December in Sydney, not yet in UTC.
    assert alerts(conn, datetime(2026, 11, 30, 14, tzinfo=timezone.utc)).startswith("budget_alerts: 1 intent enqueued")
    assert alerts(conn, datetime(2026, 11, 30, 23, tzinfo=timezone.utc)).startswith("budget_alerts: 0 intents")
    assert alerts(conn, datetime(2026, 12, 1, 0, 5, tzinfo=timezone.utc)).startswith("budget_alerts: 1 intent enqueued")
    assert [month for (_, _, month) in queued(conn)] == ["2026-12", "2026-12"]


def test_a_budget_that_starts_later_alerts_when_it_starts(supabase):
    with psycopg.connect(supabase.admin_url) as conn:
        app = SupabaseApp(conn)
        ana = app.add_user("UTC")
        app.add_budget(ana, "Fuel", 100, None, day(4), None)  # counts from 5 December
        app.add_expense(ana, "fuel", day(0), 95)  # 1 December, spent before the budget counts

        def run(at: datetime) -> str:
            return conn.execute("SELECT wheels.budget_alerts(%s)", [at]).fetchone()[0]

        assert run(datetime(2026, 11, 30, 12, tzinfo=timezone.utc)).startswith("budget_alerts: 0 intents")
        assert run(datetime(2026, 12, 1, 0, 5, tzinfo=timezone.utc)).startswith("budget_alerts: 0 intents")
        assert run(datetime(2026, 12, 5, 0, 5, tzinfo=timezone.utc)) == (
            "budget_alerts: 1 intent enqueued (1 warning, 0 over budget)")
        conn.rollback()


def test_rebuild_gives_the_same_state_and_source_check_reports_drift(db_url, conn):
    app = DemoApp(conn)
    today = datetime.now(timezone.utc).date()
    for zone in ZONES:
        user = app.add_user(zone)
        for category in ("Fuel", "Food"):
            budget = app.add_budget(user, category, 100)
            for offset in (0, 1, 3, 20, 40):
                app.add_expense(user, budget, today - timedelta(days=offset), Decimal("12.34") + offset)
    conn.execute("SELECT wheels.budget_state_refresh()")
    kept = ("FROM wheels.spending_months WHERE month >= (SELECT first_month FROM wheels.spending_kept_from(now()))"
            " ORDER BY 1, 2, 3")
    state = conn.execute(f"SELECT user_id, month, category_key, amount, expenses {kept}").fetchall()
    assert len(state) == len(ZONES) * 2 * (2 if today.day > 3 else 3) or state

    def drift() -> list[dict]:
        result = run_cli("source", "check", "--json", env={"DATABASE_URL": db_url})
        assert result.returncode == 0, result.stderr
        return [f for f in json.loads(result.stdout)["findings"] if f["subject"] == "budget state"]

    assert drift() == []
    conn.execute("SET session_replication_role = replica")  # an expense no trigger sees
    conn.execute("UPDATE expenses SET amount = amount + 1 WHERE id = (SELECT min(id) FROM expenses)")
    conn.execute("RESET session_replication_role")
    [finding] = drift()
    assert finding["count"] == 1 and "budget_state_rebuild" in finding["problem"]

    rebuilt = run_cli("jobs", "run", "budget_state_rebuild", env={"DATABASE_URL": db_url})
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.startswith(f"budget_state_rebuild: {len(ZONES)} users")
    assert drift() == []
    after = conn.execute(f"SELECT user_id, month, category_key, amount, expenses {kept}").fetchall()
    assert len(after) == len(state) and sum(r[3] for r in after) == sum(r[3] for r in state) + 1


def test_an_app_write_goes_through_when_the_state_cannot_record_it(conn):
    app = DemoApp(conn)
    ana = app.add_user("UTC")
    fuel = app.add_budget(ana, "Fuel", 100)
    conn.execute("ALTER TABLE wheels.spending_changes RENAME TO spending_changes_away")
    try:
        app.add_expense(ana, fuel, day(-15), 85)  # no error
    finally:
        conn.execute("ALTER TABLE wheels.spending_changes_away RENAME TO spending_changes")
    [run] = conn.execute("SELECT runner, outcome, result FROM wheels.job_runs WHERE job = 'budget_state_rebuild'"
                         ).fetchall()
    assert run[:2] == ("source trigger", "failed") and "1 user marked for a fresh sum" in run[2]
    # The owner is summed afresh at the next fold: the alert still comes.
    assert alerts(conn) == "budget_alerts: 1 intent enqueued (1 warning, 0 over budget)"


def test_source_check_names_a_trigger_function_nothing_calls(db_url, conn):
    conn.execute("ALTER TABLE expenses DISABLE TRIGGER wheels_expenses_insert")
    conn.execute("ALTER TABLE expenses DISABLE TRIGGER wheels_expenses_update")
    conn.execute("ALTER TABLE expenses DISABLE TRIGGER wheels_expenses_delete")
    result = run_cli("source", "check", "--json", env={"DATABASE_URL": db_url})
    assert result.returncode == 1
    assert [f["subject"] for f in json.loads(result.stdout)["findings"]] == ["wheels_source.expenses_changed()"]
