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
import shutil
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
    folder = supabase_support.new_folder()
    instance = supabase_support.start(folder)
    migrate(instance.owner_url, "supabase-wheels", schedule_jobs=False)
    yield instance
    instance.cluster.stop()
    shutil.rmtree(folder, ignore_errors=True)


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
