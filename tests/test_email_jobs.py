"""The email jobs and the welcome trigger against a real database: thresholds,
local time zones, once per fact (re-runs, concurrent runs), opt-outs and the
intent shape of docs/INTENTS.md. Every job takes `as_of`, so time is fixed."""

from __future__ import annotations

import json
import re
import threading
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.sender_support import wait_for
from wheels_jobs.embedded import PROJECT_ROOT

AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
JOBS = ["budget_alerts", "maintenance_reminders", "daily_digest"]


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
        yield c


def run(conn, job: str, as_of: datetime = AS_OF) -> str:
    return conn.execute(f"SELECT wheels.{job}(%s) AS result", [as_of]).fetchone()["result"]


def intents(conn, kind: str | None = None) -> list[dict]:
    """Every message on the queue (read with a zero visibility timeout: left in place)."""
    rows = conn.execute("SELECT message FROM pgmq.read('email_intents', 0, 10000) ORDER BY msg_id").fetchall()
    return [r["message"] for r in rows if kind is None or r["message"]["kind"] == kind]


def user(conn, email: str, tz: str = "UTC", name: str | None = None) -> str:
    return conn.execute(
        "INSERT INTO profiles (email, full_name, timezone) VALUES (%s, %s, %s) RETURNING id", [email, name, tz]
    ).fetchone()["id"]


def category(conn, user_id: str, name: str, limit: str = "100.00") -> int:
    return conn.execute(
        "INSERT INTO budget_categories (user_id, name, monthly_limit) VALUES (%s, %s, %s) RETURNING id",
        [user_id, name, limit],
    ).fetchone()["id"]


def expense(conn, category_id: int, amount: str, spent_at: str | datetime = "2026-11-10 12:00Z") -> None:
    conn.execute(
        "INSERT INTO expenses (user_id, category_id, amount, spent_at)"
        " SELECT user_id, id, %s, %s FROM budget_categories WHERE id = %s",
        [amount, spent_at, category_id],
    )


def task(conn, user_id: str, title: str, due: str, vehicle: str | None = None) -> int:
    vehicle_id = None
    if vehicle:
        vehicle_id = conn.execute(
            "INSERT INTO vehicles (user_id, name) VALUES (%s, %s) RETURNING id", [user_id, vehicle]
        ).fetchone()["id"]
    return conn.execute(
        "INSERT INTO maintenance_records (user_id, vehicle_id, title, due_date) VALUES (%s, %s, %s, %s) RETURNING id",
        [user_id, vehicle_id, title, due],
    ).fetchone()["id"]


def pam_message(conn, user_id: str, at: str) -> None:
    conn.execute("INSERT INTO pam_analytics_logs (user_id, event_type, created_at) VALUES (%s, 'message', %s)", [user_id, at])


def by_subject(messages: list[dict]) -> dict[str, str]:
    """{subject-ish key: kind}: category / record name from data, for readable asserts."""
    return {m["data"].get("category") or m["data"].get("title"): m["kind"] for m in messages}


def drop_welcomes(conn) -> None:
    """Users made by a test get welcome intents; clear them to look at a job's output alone."""
    conn.execute("SELECT pgmq.purge_queue('email_intents')")


def seed_every_job(conn, users: int = 20) -> None:
    """`users` users who each get a budget warning, a maintenance reminder and a digest at AS_OF."""
    for i in range(users):
        uid = user(conn, f"u{i}@example.com")
        c = category(conn, uid, "Fuel")
        expense(conn, c, "85.00", "2026-11-19 10:00Z")
        task(conn, uid, "Oil change", "2026-11-23")
    drop_welcomes(conn)


# -- budget_alerts ---------------------------------------------------------------


def test_budget_thresholds_79_99_80_and_100_percent(conn):
    uid = user(conn, "ana@example.com", name="Ana")
    for name, spent in [("below", "79.99"), ("warn", "80.00"), ("almost", "99.99"), ("over", "100.00")]:
        expense(conn, category(conn, uid, name), spent)
    drop_welcomes(conn)
    assert run(conn, "budget_alerts") == "budget_alerts: 3 intents enqueued (2 warnings, 1 over budget)"
    assert by_subject(intents(conn)) == {"warn": "budget_warning", "almost": "budget_warning", "over": "over_budget"}
    almost = next(m for m in intents(conn) if m["data"]["category"] == "almost")
    assert almost["data"]["percent"] == 99.9  # truncated, never a "100.0" warning


def test_warning_then_over_budget_then_nothing_more_this_month(conn):
    uid = user(conn, "ana@example.com")
    fuel, food = category(conn, uid, "Fuel"), category(conn, uid, "Food")
    expense(conn, fuel, "85.00")
    expense(conn, food, "150.00")  # straight past 100 %: over_budget only
    drop_welcomes(conn)
    assert run(conn, "budget_alerts").startswith("budget_alerts: 2 intents enqueued (1 warning, 1 over budget)")
    expense(conn, fuel, "20.00")
    expense(conn, food, "-60.00")  # a refund back to 90 %: no warning after "over budget"
    assert run(conn, "budget_alerts") == "budget_alerts: 1 intent enqueued (0 warnings, 1 over budget)"
    assert run(conn, "budget_alerts") == "budget_alerts: 0 intents enqueued (0 warnings, 0 over budget)"
    assert sorted((m["data"]["category"], m["kind"]) for m in intents(conn)) == [
        ("Food", "over_budget"), ("Fuel", "budget_warning"), ("Fuel", "over_budget")]
    # A new local month re-arms the category.
    expense(conn, fuel, "90.00", "2026-12-02 12:00Z")
    assert run(conn, "budget_alerts", datetime(2026, 12, 3, tzinfo=timezone.utc)).startswith("budget_alerts: 1 intent ")


def test_budget_month_is_the_users_local_month(conn):
    sydney = category(conn, user(conn, "syd@example.com", "Australia/Sydney"), "Fuel")
    utc = category(conn, user(conn, "utc@example.com", "UTC"), "Fuel")
    # 2026-10-31 20:00 UTC is 2026-11-01 07:00 in Sydney.
    expense(conn, sydney, "90.00", "2026-10-31 20:00Z")
    expense(conn, utc, "90.00", "2026-10-31 20:00Z")
    drop_welcomes(conn)
    # Late on 31 October UTC: October for the UTC user, already November in Sydney.
    run(conn, "budget_alerts", datetime(2026, 10, 31, 23, 0, tzinfo=timezone.utc))
    assert sorted((m["to"], m["data"]["month"]) for m in intents(conn)) == [
        ("syd@example.com", "2026-11"), ("utc@example.com", "2026-10")]
    # November for both: the UTC user's November has nothing yet, Sydney's was alerted.
    assert run(conn, "budget_alerts", datetime(2026, 11, 15, tzinfo=timezone.utc)).startswith("budget_alerts: 0 intents")


# -- maintenance_reminders ----------------------------------------------------------


def test_maintenance_window_overdue_and_local_dates(conn):
    # AS_OF is 2026-11-20 12:00 UTC = 2026-11-20 23:00 in Sydney; 2026-11-20 14:00 UTC is already the 21st there.
    ana = user(conn, "ana@example.com")
    task(conn, ana, "due today", "2026-11-20", vehicle="Troopy")
    task(conn, ana, "in 7 days", "2026-11-27")
    task(conn, ana, "in 8 days", "2026-11-28")
    task(conn, ana, "1 day late", "2026-11-19")
    task(conn, ana, "8 days late", "2026-11-12")  # overdue before the look-back window: no mail
    done = task(conn, ana, "done", "2026-11-22")
    conn.execute("UPDATE maintenance_records SET completed_at = now() WHERE id = %s", [done])
    syd = user(conn, "syd@example.com", "Australia/Sydney")
    task(conn, syd, "sydney 7 days", "2026-11-28")
    drop_welcomes(conn)
    as_of = datetime(2026, 11, 20, 14, 0, tzinfo=timezone.utc)
    assert run(conn, "maintenance_reminders", as_of) == "maintenance_reminders: 4 intents enqueued (3 reminders, 1 overdue)"
    data = {m["data"]["title"]: (m["kind"], m["data"]) for m in intents(conn)}
    assert data == {
        "due today": ("maintenance_reminder", {"title": "due today", "vehicle": "Troopy", "due_date": "2026-11-20", "days_left": 0}),
        "in 7 days": ("maintenance_reminder", {"title": "in 7 days", "vehicle": None, "due_date": "2026-11-27", "days_left": 7}),
        "1 day late": ("maintenance_overdue", {"title": "1 day late", "vehicle": None, "due_date": "2026-11-19", "days_overdue": 1}),
        "sydney 7 days": ("maintenance_reminder", {"title": "sydney 7 days", "vehicle": None, "due_date": "2026-11-28", "days_left": 7}),
    }


def test_moving_the_due_date_rearms_the_reminder_and_overdue_follows(conn):
    record = task(conn, user(conn, "ana@example.com"), "Oil change", "2026-11-22")
    drop_welcomes(conn)
    assert run(conn, "maintenance_reminders").startswith("maintenance_reminders: 1 intent ")
    assert run(conn, "maintenance_reminders").startswith("maintenance_reminders: 0 intents")
    conn.execute("UPDATE maintenance_records SET due_date = '2026-11-25' WHERE id = %s", [record])
    assert run(conn, "maintenance_reminders").startswith("maintenance_reminders: 1 intent ")
    late = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    assert run(conn, "maintenance_reminders", late) == "maintenance_reminders: 1 intent enqueued (0 reminders, 1 overdue)"
    assert [(m["kind"], m["data"]["due_date"]) for m in intents(conn)] == [
        ("maintenance_reminder", "2026-11-22"), ("maintenance_reminder", "2026-11-25"), ("maintenance_overdue", "2026-11-25")]


def ledger(conn) -> set[tuple[str, str, str]]:
    return {(r["kind"], r["subject"], r["period"]) for r in conn.execute(
        "SELECT kind, subject, period FROM wheels.email_ledger WHERE kind LIKE 'maintenance%%'")}


def test_maintenance_day_by_day_looks_at_what_came_and_decides_what_a_full_look_would(conn):
    # Tasks due every day from 12 days back to 12 ahead, in zones from UTC-11 to UTC+14: each
    # later run looks only at the tasks whose reminder or overdue date came since (and the
    # owners whose tasks changed), and a full look at every task in the window then finds
    # nothing left to decide.
    zones = ["Pacific/Pago_Pago", "UTC", "Australia/Sydney", "Pacific/Kiritimati"]
    people = [user(conn, f"m{i}@example.com", zones[i]) for i in range(len(zones))]
    for offset in range(-12, 13):
        for who in people:
            task(conn, who, f"task {offset}", f"2026-11-{20 + offset:02d}" if 20 + offset <= 30
                 else f"2026-12-{20 + offset - 30:02d}")
    drop_welcomes(conn)
    moved = task(conn, people[1], "moved", "2026-12-25")
    for day in range(8):
        as_of = datetime(2026, 11, 14 + day, 6, 0, tzinfo=timezone.utc)
        if day == 3:
            conn.execute("UPDATE maintenance_records SET due_date = '2026-11-19' WHERE id = %s", [moved])
            task(conn, people[2], "added", "2026-11-20")
        if day == 5:  # reopened: it gets what it would have had
            done = task(conn, people[0], "done, then not", "2026-11-22")
            conn.execute("UPDATE maintenance_records SET completed_at = now() WHERE id = %s", [done])
            run(conn, "maintenance_reminders", as_of)
            conn.execute("UPDATE maintenance_records SET completed_at = NULL WHERE id = %s", [done])
        run(conn, "maintenance_reminders", as_of)
        decided = ledger(conn)
        with conn.transaction(force_rollback=True):
            conn.execute("INSERT INTO wheels.maintenance_changes (user_id) VALUES (NULL)")
            assert run(conn, "maintenance_reminders", as_of).startswith("maintenance_reminders: 0 intents"), as_of
        assert ledger(conn) == decided
    assert ("maintenance_reminder", str(moved), "2026-11-19") in decided
    assert {("maintenance_reminder", "2026-11-20"), ("maintenance_reminder", "2026-11-22")} <= \
        {(k, p) for k, _, p in decided if k == "maintenance_reminder"}


def test_maintenance_hour_by_hour_reads_the_zones_whose_date_turned_and_decides_what_a_full_look_would(conn):
    # Hourly runs (the schedule) look only at the owners whose local date turned since the
    # last run: each owner's reminder comes in the first run after their midnight, and after
    # every run a full look at every task finds nothing left to decide.
    zones = ["Pacific/Pago_Pago", "America/New_York", "UTC", "Asia/Kathmandu", "Pacific/Kiritimati"]
    zone_of_task = {}
    for zone in zones:
        who = user(conn, f"{zone.split('/')[-1].lower()}@example.com", zone)
        for due in ("2026-11-19", "2026-11-20", "2026-11-21", "2026-11-27", "2026-11-28", "2026-11-29"):
            zone_of_task[str(task(conn, who, due, due))] = zone
    drop_welcomes(conn)
    start = datetime(2026, 11, 20, 0, 15, tzinfo=timezone.utc)
    run(conn, "maintenance_reminders", start)
    decided_at = {}
    for hour in range(1, 37):  # Pago Pago's midnight of the 21st is 11:00 UTC on the 21st
        as_of = start + timedelta(hours=hour)
        before = ledger(conn)
        run(conn, "maintenance_reminders", as_of)
        decided = ledger(conn)
        decided_at.update({(kind, period, zone_of_task[subject]): as_of for kind, subject, period in decided - before})
        with conn.transaction(force_rollback=True):
            conn.execute("INSERT INTO wheels.maintenance_changes (user_id) VALUES (NULL)")
            assert run(conn, "maintenance_reminders", as_of).startswith("maintenance_reminders: 0 intents"), as_of
        assert ledger(conn) == decided
    # The 28th enters the 7-day window at each owner's midnight of the 21st, the 20th becomes overdue then.
    for zone in zones:
        for fact in (("maintenance_reminder", "2026-11-28", zone), ("maintenance_overdue", "2026-11-20", zone)):
            at = decided_at[fact]
            assert (at.astimezone(ZoneInfo(zone)).date(), (at - timedelta(hours=1)).astimezone(ZoneInfo(zone)).date()) \
                == (date(2026, 11, 21), date(2026, 11, 20)), fact


def test_maintenance_next_day_enqueues_only_the_dates_that_came(conn):
    ana = user(conn, "ana@example.com")
    for due in ("2026-11-19", "2026-11-20", "2026-11-26", "2026-11-27", "2026-11-28", "2026-11-29"):
        task(conn, ana, due, due)
    drop_welcomes(conn)
    assert run(conn, "maintenance_reminders") == "maintenance_reminders: 4 intents enqueued (3 reminders, 1 overdue)"
    # The next day: the task due on the 28th enters the window, the one due on the 20th is overdue.
    assert run(conn, "maintenance_reminders", datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)) == \
        "maintenance_reminders: 2 intents enqueued (1 reminder, 1 overdue)"
    # A replay as of an earlier instant looks at every task in the window again (the ledger decides).
    assert run(conn, "maintenance_reminders").startswith("maintenance_reminders: 0 intents")


def test_an_owner_moving_east_is_reminded_of_the_date_the_move_brought(conn):
    # 12:00 UTC is 01:00 on the 20th in Pago Pago: a task due on the 28th is 8 days off. An hour
    # later the owner lives in Kiritimati, where it is 03:00 on the 21st: 7 days off, in the
    # window, though for the clock alone (in the new zone) that date came before the last run.
    ana = user(conn, "ana@example.com", "Pacific/Pago_Pago")
    task(conn, ana, "Oil change", "2026-11-28")
    drop_welcomes(conn)
    assert run(conn, "maintenance_reminders").startswith("maintenance_reminders: 0 intents")
    conn.execute("UPDATE profiles SET timezone = 'Pacific/Kiritimati' WHERE id = %s", [ana])
    assert run(conn, "maintenance_reminders", datetime(2026, 11, 20, 13, 0, tzinfo=timezone.utc)) == \
        "maintenance_reminders: 1 intent enqueued (1 reminder, 0 overdue)"


def test_a_maintenance_trigger_that_fails_has_every_task_looked_at_and_fails_no_app_write(conn):
    ana = user(conn, "ana@example.com")
    drop_welcomes(conn)
    run(conn, "maintenance_reminders")
    conn.execute("ALTER FUNCTION wheels.record_maintenance_changes(uuid[]) RENAME TO record_maintenance_changes_gone")
    try:
        task(conn, ana, "Oil change", "2026-11-22")
    finally:
        conn.execute("ALTER FUNCTION wheels.record_maintenance_changes_gone(uuid[]) RENAME TO record_maintenance_changes")
    assert conn.execute("SELECT array_agg(user_id) AS u FROM wheels.maintenance_changes").fetchone()["u"] == [None]
    assert run(conn, "maintenance_reminders", datetime(2026, 11, 20, 13, 0, tzinfo=timezone.utc)) == \
        "maintenance_reminders: 1 intent enqueued (1 reminder, 0 overdue)"


# -- daily_digest ------------------------------------------------------------------


def test_digest_after_local_digest_hour_once_per_local_day(conn):
    syd = user(conn, "syd@example.com", "Australia/Sydney")  # UTC+11 in November
    utc = user(conn, "utc@example.com", "UTC")
    for uid in (syd, utc):
        expense(conn, category(conn, uid, "Fuel"), "10.00", "2026-11-19 12:00Z")  # local yesterday for both at the times below
    drop_welcomes(conn)
    # 2026-11-19 20:00 UTC is 20 Nov 07:00 in Sydney; for the UTC user it is 19 Nov,
    # whose yesterday (18 Nov) has nothing to report.
    assert run(conn, "daily_digest", datetime(2026, 11, 19, 19, 59, tzinfo=timezone.utc)) == "daily_digest: 0 digests enqueued"
    assert run(conn, "daily_digest", datetime(2026, 11, 19, 20, 0, tzinfo=timezone.utc)) == "daily_digest: 1 digest enqueued"
    assert [(m["to"], m["data"]["day"]) for m in intents(conn)] == [("syd@example.com", "2026-11-19")]
    # 20 Nov 06:59 UTC: not yet 07:00 for the UTC user; 07:00: sent; 07:15: nothing new for anyone.
    assert run(conn, "daily_digest", datetime(2026, 11, 20, 6, 59, tzinfo=timezone.utc)) == "daily_digest: 0 digests enqueued"
    assert run(conn, "daily_digest", datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc)) == "daily_digest: 1 digest enqueued"
    assert run(conn, "daily_digest", datetime(2026, 11, 20, 7, 15, tzinfo=timezone.utc)) == "daily_digest: 0 digests enqueued"
    assert [(m["to"], m["data"]["day"]) for m in intents(conn)][1:] == [("utc@example.com", "2026-11-19")]


def test_a_zone_with_more_users_than_a_batch_goes_on_at_the_next_runs(conn):
    conn.execute("UPDATE wheels.settings SET value = '2' WHERE name = 'digest_batch_users'")
    emails = [f"utc{i}@example.com" for i in range(5)] + ["berlin@example.com"]
    for email in emails:
        uid = user(conn, email, "Europe/Berlin" if email.startswith("berlin") else "UTC")
        expense(conn, category(conn, uid, "Fuel"), "10.00", "2026-11-19 12:00Z")
    drop_welcomes(conn)
    # 07:00 UTC, 08:00 in Berlin: both zones are due; a run takes 2 users in (zone, user) order.
    at = datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc)
    assert [run(conn, "daily_digest", at + timedelta(minutes=i)) for i in range(4)] == [
        "daily_digest: 2 digests enqueued (1 zone goes on at the next run)",  # Berlin's one user and a UTC one
        "daily_digest: 2 digests enqueued (1 zone goes on at the next run)",
        "daily_digest: 2 digests enqueued",  # the last two: UTC is decided for the day
        "daily_digest: 0 digests enqueued",
    ]
    assert sorted(m["to"] for m in intents(conn, "daily_digest")) == sorted(emails)
    # The next day (no news) starts each zone from its first user again.
    assert run(conn, "daily_digest", at + timedelta(days=1)) == \
        "daily_digest: 0 digests enqueued (1 zone goes on at the next run)"


def test_digest_content_and_who_gets_none(conn):
    ana = user(conn, "ana@example.com", name="Ana")
    fuel, food = category(conn, ana, "Fuel", "500.00"), category(conn, ana, "Food", "200.00")
    expense(conn, fuel, "332.50", "2026-11-05 12:00Z")
    expense(conn, fuel, "50.00", "2026-11-19 08:00Z")
    expense(conn, fuel, "30.00", "2026-11-19 09:00Z")
    expense(conn, food, "12.00", "2026-11-20 09:00Z")  # today: not in yesterday's digest
    task(conn, ana, "Oil change", "2026-11-27", vehicle="Troopy")
    task(conn, ana, "Tyres", "2026-11-28")  # 8 days: not due soon
    pam_message(conn, ana, "2026-11-19 10:00Z")
    pam_message(conn, ana, "2026-11-19 23:59Z")
    pam_message(conn, ana, "2026-11-20 00:00Z")  # today
    silent = user(conn, "silent@example.com")
    expense(conn, category(conn, silent, "Fuel"), "99.00", "2026-11-10 12:00Z")  # budget only: nothing to report
    opted_out = user(conn, "out@example.com")
    expense(conn, category(conn, opted_out, "Fuel"), "5.00", "2026-11-19 12:00Z")
    conn.execute("INSERT INTO email_preferences (user_id, kind, enabled) VALUES (%s, 'daily_digest', false)", [opted_out])
    drop_welcomes(conn)
    assert run(conn, "daily_digest") == "daily_digest: 1 digest enqueued"
    [digest] = intents(conn)
    assert digest["to"] == "ana@example.com" and digest["name"] == "Ana"
    assert digest["data"] == {
        "day": "2026-11-19", "currency": "AUD",
        "spending": [{"category": "Fuel", "amount": 80.00}],
        "budgets": [
            {"category": "Food", "spent": 0, "limit": 200.00, "percent": 0},
            {"category": "Fuel", "spent": 412.50, "limit": 500.00, "percent": 82.5},
        ],
        "maintenance": [{"title": "Oil change", "vehicle": "Troopy", "due_date": "2026-11-27"}],
        "pam": {"messages": 2},
    }


# -- every job -----------------------------------------------------------------


@pytest.mark.parametrize("job", JOBS)
def test_empty_tables_enqueue_nothing(conn, job):
    assert re.fullmatch(rf"{job}: 0 (intents|digests) enqueued.*", run(conn, job))
    assert intents(conn) == []


@pytest.mark.parametrize("job", JOBS)
def test_rerun_enqueues_nothing_new(conn, job):
    seed_every_job(conn, users=3)
    assert re.match(rf"{job}: 3 ", run(conn, job))
    assert re.match(rf"{job}: 0 ", run(conn, job))
    assert len(intents(conn)) == 3


@pytest.mark.parametrize("job", JOBS)
def test_two_concurrent_runs_enqueue_each_fact_once(db_url, conn, job):
    seed_every_job(conn, users=30)
    results: dict[str, str] = {}

    def second() -> None:
        with psycopg.connect(db_url, application_name=f"second {job}") as own:
            results["second"] = own.execute(f"SELECT wheels.{job}(%s)", [AS_OF]).fetchone()[0]

    with psycopg.connect(db_url) as first:
        results["first"] = first.execute(f"SELECT wheels.{job}(%s)", [AS_OF]).fetchone()[0]
        thread = threading.Thread(target=second)
        thread.start()
        # The second run has started and waits on the first one's uncommitted work.
        wait_for(lambda: conn.execute(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            [f"second {job}"]).fetchone()["n"])
    # leaving the block commits the first run
    thread.join()
    assert re.match(rf"{job}: 30 ", results["first"]), results
    assert re.match(rf"{job}: 0 ", results["second"]), results
    assert len(intents(conn)) == 30
    ledger = conn.execute(
        "SELECT count(*) AS n, count(DISTINCT (kind, subject, period)) AS facts FROM wheels.email_ledger WHERE kind <> 'welcome'"
    ).fetchone()
    assert ledger == {"n": 30, "facts": 30}


def test_opted_out_and_suppressed_users_get_nothing_and_leave_no_ledger_row(conn):
    users = {name: user(conn, f"{name}@example.com") for name in ("out", "suppressed", "digest_only_out")}
    for uid in users.values():
        expense(conn, category(conn, uid, "Fuel"), "90.00")
    conn.execute("INSERT INTO email_preferences (user_id, kind, enabled) VALUES (%s, 'budget_alerts', false)", [users["out"]])
    conn.execute("INSERT INTO email_preferences (user_id, kind, enabled) VALUES (%s, 'daily_digest', false)", [users["digest_only_out"]])
    conn.execute("INSERT INTO wheels.suppressions (email, reason) VALUES ('suppressed@example.com', 'hard bounce')")
    drop_welcomes(conn)
    assert run(conn, "budget_alerts").startswith("budget_alerts: 1 intent ")
    assert [m["to"] for m in intents(conn)] == ["digest_only_out@example.com"]
    # Opting back in within the month still delivers: opt-outs leave no ledger row behind.
    conn.execute("UPDATE email_preferences SET enabled = true WHERE user_id = %s", [users["out"]])
    assert run(conn, "budget_alerts").startswith("budget_alerts: 1 intent ")


# -- welcome -------------------------------------------------------------------


def test_welcome_is_enqueued_by_the_insert_and_rolled_back_with_it(db_url, conn):
    with psycopg.connect(db_url) as other:
        other.execute("INSERT INTO profiles (email) VALUES ('gone@example.com')")
        other.rollback()
    assert intents(conn) == []
    assert conn.execute("SELECT count(*) AS n FROM wheels.email_ledger").fetchone()["n"] == 0
    conn.execute("INSERT INTO profiles (email, full_name) VALUES ('a@example.com', 'A'), ('b@example.com', NULL)")
    # data.day, the UTC day of sign-up, dates the link to the preferences page.
    today = conn.execute("SELECT (now() AT TIME ZONE 'UTC')::date::text AS d").fetchone()["d"]
    assert sorted((m["kind"], m["to"], m["name"], m["data"]) for m in intents(conn)) == [
        ("welcome", "a@example.com", "A", {"day": today}), ("welcome", "b@example.com", None, {"day": today})]


# -- the contract of docs/INTENTS.md ------------------------------------------------


def documented_data_keys() -> dict[str, set[str]]:
    """{kind: keys of `data`} from the table in docs/INTENTS.md."""
    text = (PROJECT_ROOT / "docs" / "INTENTS.md").read_text()
    keys = {}
    for kinds, example in re.findall(r"^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \| `(\{.*?\})`[^|]*\|", text, flags=re.M):
        for kind in re.findall(r"`([a-z_]+)`", kinds):
            keys[kind] = set(json.loads(example))
    return keys


def test_every_intent_matches_docs_intents_md(conn):
    documented = documented_data_keys()
    assert set(documented) == {r["kind"] for r in conn.execute("SELECT kind FROM wheels.email_kinds")}
    ana = user(conn, "ana@example.com", name="Ana")
    fuel, food = category(conn, ana, "Fuel", "500.00"), category(conn, ana, "Food", "100.00")
    expense(conn, fuel, "412.50", "2026-11-19 10:00Z")
    expense(conn, food, "100.00", "2026-11-19 10:00Z")
    task(conn, ana, "Oil change", "2026-11-25", vehicle="Troopy")
    task(conn, ana, "Tyres", "2026-11-18")
    for job in JOBS:
        run(conn, job)
    messages = intents(conn)
    # daily_report, the team's email with no user, is checked in tests/test_daily_report.py.
    assert {m["kind"] for m in messages} == set(documented) - {"daily_report"}
    ledger = {r["id"]: r for r in conn.execute("SELECT id, kind, user_id::text, recipient FROM wheels.email_ledger")}
    for m in messages:
        assert set(m) == {"v", "kind", "intent_id", "user_id", "to", "name", "data"}
        assert m["v"] == 1 and m["user_id"] == str(ana) and m["to"] == "ana@example.com" and m["name"] == "Ana"
        assert (ledger[m["intent_id"]]["kind"], ledger[m["intent_id"]]["recipient"]) == (m["kind"], m["to"])
        assert set(m["data"]) == documented[m["kind"]], m["kind"]
    # Amounts travel with two decimals, dates as YYYY-MM-DD.
    raw = conn.execute("SELECT message::text AS m FROM pgmq.read('email_intents', 0, 100) WHERE message->>'kind' = 'budget_warning'").fetchone()["m"]
    assert '"spent": 412.50' in raw and '"limit": 500.00' in raw and '"month": "2026-11"' in raw


def test_a_role_that_may_only_insert_profiles_signs_up_and_an_unusable_address_gets_no_welcome(db_url, conn):
    """The welcome trigger is a definer with a pinned search_path: the inserting role needs no
    right on anything of ours, and a profile without a usable address signs up with no intent."""
    conn.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'signup_only') THEN"
                 " CREATE ROLE signup_only NOLOGIN; END IF; END $$")
    conn.execute("GRANT INSERT ON profiles TO signup_only")
    try:
        with psycopg.connect(db_url, autocommit=True) as own:
            own.execute("SET ROLE signup_only")
            own.execute("SET search_path = public")  # what an app session might have; the trigger ignores it
            own.execute("INSERT INTO profiles (email, full_name) VALUES ('ana@example.com', 'Ana'),"
                        " ('not an address', 'Nobody'), ('bob@localhost', 'Bob')")
    finally:
        conn.execute("REVOKE ALL ON profiles FROM signup_only")
    assert [(m["kind"], m["to"]) for m in intents(conn)] == [("welcome", "ana@example.com")]
    assert conn.execute("SELECT count(*) AS n FROM profiles").fetchone()["n"] == 3
