"""The two shipped sources' apps, driven the same way, for the budget-state tests
(tests/test_budget_state.py): users in far-apart time zones, budgets, expenses,
and every change issue 13 lists, written to the app's own tables so the real
triggers see them. One connection, one transaction (the caller rolls back)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time, timedelta, timezone

import psycopg

# From UTC-11 to UTC+14, with half- and quarter-hour offsets: at one instant
# three local dates and two local months can exist at once.
ZONES = ["Pacific/Pago_Pago", "America/New_York", "UTC", "Asia/Kathmandu", "Australia/Adelaide", "Pacific/Kiritimati"]
# Spellings that budgets match case- and space-insensitively.
CATEGORIES = ["Fuel", "fuel ", "FOOD", "Food", "Camping"]
# The month boundary the dates gather around.
BOUNDARY = date(2026, 12, 1)


def day(offset: int) -> date:
    return BOUNDARY + timedelta(days=offset)


class DemoApp:
    """The demo source's app (sources/demo/app.sql): a budget is a category of its
    owner's, an expense names its category by id and happens at an instant whose
    local date follows the owner's current zone."""

    source = "demo"

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def add_user(self, zone: str) -> uuid.UUID:
        return self.conn.execute("INSERT INTO profiles (email, timezone) VALUES (%s, %s) RETURNING id",
                                 [f"{uuid.uuid4().hex[:12]}@example.com", zone]).fetchone()[0]

    def set_zone(self, user: uuid.UUID, zone: str) -> None:
        self.conn.execute("UPDATE profiles SET timezone = %s WHERE id = %s", [zone, user])

    def add_budget(self, user, category, limit, threshold=None, starts=None, ends=None) -> int:
        return self.conn.execute(
            "INSERT INTO budget_categories (user_id, name, monthly_limit, alert_threshold) VALUES (%s, %s, %s, %s)"
            " RETURNING id", [user, category, limit, threshold]).fetchone()[0]

    def change_budget(self, budget, *, category=None, limit=None, threshold=None, starts=None, ends=None) -> None:
        self.conn.execute("UPDATE budget_categories SET name = coalesce(%s, name),"
                          " monthly_limit = coalesce(%s, monthly_limit), alert_threshold = coalesce(%s, alert_threshold)"
                          " WHERE id = %s", [category, limit, threshold, budget])

    def delete_budget(self, budget) -> None:
        self.conn.execute("DELETE FROM budget_categories WHERE id = %s", [budget])

    def budgets_of(self, user) -> list:
        return [r[0] for r in self.conn.execute("SELECT id FROM budget_categories WHERE user_id = %s ORDER BY id", [user])]

    def add_expense(self, user, budget_or_category, on: date, amount, hour: int = 12) -> int | None:
        """On the demo an expense belongs to one of its owner's categories (a budget)."""
        budgets = self.budgets_of(user)
        if not budgets:
            return None
        category = budgets[sum(map(ord, str(budget_or_category))) % len(budgets)]
        return self.conn.execute(
            "INSERT INTO expenses (user_id, category_id, amount, spent_at) VALUES (%s, %s, %s, %s) RETURNING id",
            [user, category, amount, datetime.combine(on, time(hour), timezone.utc)]).fetchone()[0]

    def change_expense(self, expense, *, amount=None, on: date | None = None, hour: int = 12, category=None) -> None:
        if category is not None:  # another category of the same owner
            self.conn.execute(
                "UPDATE expenses e SET category_id = c.id FROM ("
                "  SELECT c.id FROM budget_categories c JOIN expenses x ON x.user_id = c.user_id"
                "  WHERE x.id = %s ORDER BY c.id OFFSET %s LIMIT 1) c WHERE e.id = %s",
                [expense, sum(map(ord, str(category))) % 3, expense])
        self.conn.execute(
            "UPDATE expenses SET amount = coalesce(%s, amount), spent_at = coalesce(%s, spent_at) WHERE id = %s",
            [amount, datetime.combine(on, time(hour), timezone.utc) if on else None, expense])

    def bump_all(self, user, amount) -> None:
        """One statement changing many rows (a bulk edit in the app)."""
        self.conn.execute("UPDATE expenses SET amount = amount + %s WHERE user_id = %s", [amount, user])

    def delete_expense(self, expense) -> None:
        self.conn.execute("DELETE FROM expenses WHERE id = %s", [expense])

    def expenses_of(self, user) -> list:
        return [r[0] for r in self.conn.execute("SELECT id FROM expenses WHERE user_id = %s ORDER BY id", [user])]


class SupabaseApp:
    """The wheels app on Supabase (tests/supabase/app.sql): sign-ups in auth.users, the zone
    in user_settings, budgets by category name with dates, expenses with their own local date
    and category text."""

    source = "supabase-wheels"

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def add_user(self, zone: str) -> uuid.UUID:
        user = uuid.uuid4()
        self.conn.execute("INSERT INTO auth.users (id, email) VALUES (%s, %s)", [user, f"{user.hex[:12]}@example.com"])
        if zone != "America/New_York":  # the app's default for a user without settings
            self.conn.execute("INSERT INTO public.user_settings (user_id, regional_preferences) VALUES (%s, %s)",
                              [user, json.dumps({"timezone": zone, "currency": "AUD"})])
        return user

    def set_zone(self, user, zone: str) -> None:
        self.conn.execute(
            "INSERT INTO public.user_settings (user_id, regional_preferences) VALUES (%s, %s)"
            " ON CONFLICT (user_id) DO UPDATE SET regional_preferences = excluded.regional_preferences",
            [user, json.dumps({"timezone": zone})])

    def add_budget(self, user, category, limit, threshold=None, starts=None, ends=None) -> uuid.UUID:
        return self.conn.execute(
            "INSERT INTO public.budgets (user_id, category, monthly_limit, alert_threshold, start_date, end_date)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id", [user, category, limit, threshold, starts, ends]).fetchone()[0]

    def change_budget(self, budget, *, category=None, limit=None, threshold=None, starts=None, ends=None) -> None:
        self.conn.execute(
            "UPDATE public.budgets SET category = coalesce(%s, category), monthly_limit = coalesce(%s, monthly_limit),"
            " alert_threshold = coalesce(%s, alert_threshold), start_date = coalesce(%s, start_date),"
            " end_date = coalesce(%s, end_date) WHERE id = %s", [category, limit, threshold, starts, ends, budget])

    def delete_budget(self, budget) -> None:
        self.conn.execute("DELETE FROM public.budgets WHERE id = %s", [budget])

    def budgets_of(self, user) -> list:
        return [r[0] for r in self.conn.execute("SELECT id FROM public.budgets WHERE user_id = %s ORDER BY id", [user])]

    def add_expense(self, user, category, on: date, amount, hour: int = 12) -> int:
        return self.conn.execute(
            "INSERT INTO public.expenses (user_id, category, amount, date) VALUES (%s, %s, %s, %s) RETURNING id",
            [user, category, amount, on]).fetchone()[0]

    def change_expense(self, expense, *, amount=None, on: date | None = None, hour: int = 12, category=None) -> None:
        self.conn.execute("UPDATE public.expenses SET amount = coalesce(%s, amount), date = coalesce(%s, date),"
                          " category = coalesce(%s, category) WHERE id = %s", [amount, on, category, expense])

    def bump_all(self, user, amount) -> None:
        self.conn.execute("UPDATE public.expenses SET amount = amount + %s WHERE user_id = %s", [amount, user])

    def delete_expense(self, expense) -> None:
        self.conn.execute("DELETE FROM public.expenses WHERE id = %s", [expense])

    def expenses_of(self, user) -> list:
        return [r[0] for r in self.conn.execute("SELECT id FROM public.expenses WHERE user_id = %s ORDER BY id", [user])]


# -- the comparison ---------------------------------------------------------------------

# The state's sums against a fresh GROUP BY of the source, both ways (a sum the
# state lacks, a sum it has too many): per (user, month, key) and per (user, day, key).
STATE_VS_FRESH = """
WITH fresh_months AS (
    SELECT e.user_id, date_trunc('month', e.spent_on)::date AS month, wheels.category_key(e.category) AS category_key,
           sum(e.amount) AS amount, count(*)::int AS expenses
    FROM wheels_source.expenses e GROUP BY 1, 2, 3
), fresh_days AS (
    SELECT e.user_id, e.spent_on AS day, wheels.category_key(e.category) AS category_key,
           sum(e.amount) AS amount, count(*)::int AS expenses
    FROM wheels_source.expenses e GROUP BY 1, 2, 3
)
SELECT 'month' AS kind, coalesce(f.user_id, m.user_id) AS user_id, coalesce(f.month, m.month) AS at,
       coalesce(f.category_key, m.category_key) AS category_key, f.amount AS fresh, m.amount AS state
FROM fresh_months f FULL JOIN wheels.spending_months m USING (user_id, month, category_key)
WHERE (f.amount, f.expenses) IS DISTINCT FROM (m.amount, m.expenses)
UNION ALL
SELECT 'day', coalesce(f.user_id, d.user_id), coalesce(f.day, d.day), coalesce(f.category_key, d.category_key),
       f.amount, d.amount
FROM fresh_days f FULL JOIN wheels.spending_days d USING (user_id, day, category_key)
WHERE (f.amount, f.expenses) IS DISTINCT FROM (d.amount, d.expenses)
"""

# What the jobs read for every budget at one instant: budget_alerts the local
# month of today, the digest the month up to the end of the local yesterday;
# against the sums the old jobs made from the expenses. Empty: always equal.
BUDGETS_VS_FRESH = """
SELECT b.budget_id, u.zone, t.today, s.in_month, s2.through_day,
       (SELECT coalesce(sum(e.amount), 0) FROM wheels_source.expenses e
        WHERE e.user_id = b.user_id AND wheels.category_key(e.category) = wheels.category_key(b.category)
          AND e.spent_on >= t.month_start AND e.spent_on < (t.month_start + interval '1 month')::date) AS fresh_month,
       (SELECT coalesce(sum(e.amount), 0) FROM wheels_source.expenses e
        WHERE e.user_id = b.user_id AND wheels.category_key(e.category) = wheels.category_key(b.category)
          AND e.spent_on >= date_trunc('month', t.today - 1)::date AND e.spent_on <= t.today - 1) AS fresh_through
FROM wheels_source.budgets b
JOIN wheels.users() u ON u.user_id = b.user_id
CROSS JOIN LATERAL (SELECT (%(as_of)s::timestamptz AT TIME ZONE u.zone)::date AS today) l
CROSS JOIN LATERAL (SELECT l.today, date_trunc('month', l.today)::date AS month_start) t
CROSS JOIN LATERAL wheels.spent(b.user_id, b.category, t.month_start, NULL) s
CROSS JOIN LATERAL wheels.spent(b.user_id, b.category, date_trunc('month', t.today - 1)::date, t.today - 1) s2
"""


def differences(conn: psycopg.Connection, instants: list[datetime]) -> list:
    """Everything in which the state and a fresh sum disagree (after the fold the jobs do first)."""
    conn.execute("SET LOCAL jit = off")  # compiling these small queries took 0.5 s each
    conn.execute("SELECT wheels.budget_state_refresh()")
    found = [tuple(r) for r in conn.execute(STATE_VS_FRESH)]
    for as_of in instants:
        for r in conn.execute(BUDGETS_VS_FRESH, {"as_of": as_of}).fetchall():
            budget_id, zone, today, in_month, through, fresh_month, fresh_through = r
            if (in_month, through) != (fresh_month, fresh_through):
                found.append((as_of, budget_id, zone, today, in_month, fresh_month, through, fresh_through))
    return found
