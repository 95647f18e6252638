"""wheels-jobs as a guest in a Supabase-shaped database (tests/supabase_support.py):
migrated twice by the non-superuser owner with pgmq 1.4.4 and pg_cron already
there, every job on app-shaped data through the supabase-wheels source, sign-ups
with and without an address, opt-outs written into the app's own settings,
`source check`, nothing of ours usable by the API roles, the sender delivering
as wheels_sender, and migrate + rollback leaving the app's catalog as it was."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import dict_row

from tests import supabase_support
from tests.conftest import run_cli
from tests.sender_support import run_sender
from wheels_jobs import source
from wheels_jobs.migrate import migrate, rollback

AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)  # Sydney: 23:00 on the 20th; Los Angeles: 04:00
OURS = ("wheels", "wheels_source", "wheels_migrations")


@pytest.fixture(scope="module")
def supabase():
    with supabase_support.server() as instance:
        instance.pristine = supabase_support.catalog(instance.admin_url)
        yield instance


@pytest.fixture(scope="module")
def installed(supabase):
    migrate(supabase.owner_url, "supabase-wheels")
    return supabase


@pytest.fixture
def app(installed):
    """The installed system with no app data and nothing decided or queued yet."""
    with psycopg.connect(installed.admin_url, autocommit=True) as conn:
        conn.execute("TRUNCATE auth.users, public.audio_cache, public.user_active_sessions, public.pam_analytics_logs CASCADE")
        conn.execute("TRUNCATE wheels.email_ledger, wheels.deliveries, wheels.dead_letters, wheels.job_runs,"
                     " wheels.send_batches, wheels.pam_hourly, wheels.pam_daily, wheels.rollup_state,"
                     " pgmq.q_email_intents, pgmq.a_email_intents CASCADE")
        # TRUNCATE fires no row or statement trigger: the budget state goes the same way.
        conn.execute("TRUNCATE wheels.spending_changes, wheels.user_changes, wheels.spending_months,"
                     " wheels.spending_days, wheels.user_zones, wheels.digest_zones, wheels.budgets_to_check")
    return installed


def owner(supabase) -> psycopg.Connection:
    return psycopg.connect(supabase.owner_url, autocommit=True, row_factory=dict_row)


def intents(supabase, kind: str | None = None) -> list[dict]:
    with owner(supabase) as conn:
        rows = conn.execute("SELECT message FROM pgmq.q_email_intents ORDER BY msg_id").fetchall()
    return [r["message"] for r in rows if kind is None or r["message"]["kind"] == kind]


def settings(conn, user, tz=None, currency=None, units=None, **notifications) -> None:
    regional = {k: v for k, v in (("timezone", tz), ("currency", currency), ("units", units)) if v is not None}
    conn.execute("INSERT INTO public.user_settings (user_id, regional_preferences, notification_preferences)"
                 " VALUES (%s, %s, %s)",
                 [user, json.dumps(regional), json.dumps({"email_notifications": True, **notifications})])


def job(conn, name: str) -> str:
    return conn.execute(f"SELECT wheels.{name}(%s) AS r", [AS_OF]).fetchone()["r"]


# -- install ------------------------------------------------------------------------


def test_the_owner_migrates_twice_without_superuser_rights(supabase):
    first = run_cli("migrate", "--source", "supabase-wheels", env={"DATABASE_URL": supabase.owner_url})
    assert first.returncode == 0, first.stderr
    assert "source supabase-wheels: installed" in first.stdout
    # pg_cron and pgmq 1.4.4 were already there: nothing to create, the platform's pgmq is used.
    assert "pg_cron:" not in first.stdout and "pgmq:" not in first.stdout
    assert "cron wheels:budget_alerts: scheduled '5 * * * *'" in first.stdout  # pg_cron in this very database
    second = run_cli("migrate", env={"DATABASE_URL": supabase.owner_url})
    assert (second.returncode, second.stdout.strip()) == (0, "nothing to do: the database is up to date")
    with owner(supabase) as conn:
        assert conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pgmq'").fetchone()["extversion"] == "1.4.4"
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()["rolsuper"] is False
        jobs = conn.execute("SELECT jobname, username FROM cron.job ORDER BY 1").fetchall()
    assert len(jobs) == 10 and {j["username"] for j in jobs} == {"postgres"}


def test_nothing_of_ours_is_usable_by_the_api_roles(installed):
    with psycopg.connect(installed.admin_url) as conn:
        exposed = conn.execute(
            """SELECT format('%%s %%s to %%s', kind, name, r.rolname) FROM (
                   SELECT 'schema' AS kind, n.nspname::text AS name, n.oid AS schema, NULL::oid AS rel, NULL::oid AS fn
                   FROM pg_namespace n WHERE n.nspname = ANY (%(ours)s)
                   UNION ALL
                   SELECT 'relation', c.oid::regclass::text, c.relnamespace, c.oid, NULL FROM pg_class c
                   WHERE c.relnamespace::regnamespace::text = ANY (%(ours)s)
                      OR obj_description(c.oid, 'pg_class') LIKE 'wheels-jobs:%%'
                   UNION ALL
                   SELECT 'function', p.oid::regprocedure::text, p.pronamespace, NULL, p.oid FROM pg_proc p
                   WHERE p.pronamespace::regnamespace::text = ANY (%(ours)s)) o
               CROSS JOIN pg_roles r
               WHERE r.rolname IN ('anon', 'authenticated')
                 AND CASE WHEN o.rel IS NOT NULL
                          THEN has_schema_privilege(r.oid, o.schema, 'USAGE')
                               AND has_table_privilege(r.oid, o.rel, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                          WHEN o.fn IS NOT NULL
                          THEN has_schema_privilege(r.oid, o.schema, 'USAGE') AND has_function_privilege(r.oid, o.fn, 'EXECUTE')
                          ELSE has_schema_privilege(r.oid, o.schema, 'USAGE, CREATE') END""",
            {"ours": list(OURS)}).fetchall()
    assert exposed == []
    for role in ("anon", "authenticated"):
        with installed.as_role(role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM analytics_summary WHERE period = 'hourly' ORDER BY timestamp DESC LIMIT 10")


def test_the_activation_guides_checks_work_for_the_owner(app):
    with owner(app) as conn:
        conn.execute("INSERT INTO public.pam_analytics_logs (event_type, response_time_ms, success, created_at)"
                     " SELECT 'pam_response', 900, true, '2026-11-19T10:00Z'::timestamptz + i * interval '1 minute'"
                     " FROM generate_series(1, 30) i")
        conn.execute("SELECT wheels.analytics_hourly(as_of => %s)", [AS_OF])
        job(conn, "analytics_daily")
        hourly = conn.execute("SELECT * FROM analytics_summary WHERE period = 'hourly' ORDER BY timestamp DESC LIMIT 10").fetchall()
        daily = conn.execute("SELECT * FROM analytics_daily ORDER BY date DESC LIMIT 7").fetchall()
    assert sum(h["responses"] for h in hourly) == 30
    assert [(str(d["date"]), d["responses"]) for d in daily] == [("2026-11-19", 30)]


# -- sign-ups ----------------------------------------------------------------------


def test_sign_ups_with_an_address_get_one_welcome_and_without_one_none(app):
    ana = app.sign_up("ana@example.com", "Ana Souza")
    phone_only = app.sign_up(None)
    blank = app.sign_up("   ")
    welcomes = intents(app, "welcome")
    assert [(w["user_id"], w["to"], w["name"]) for w in welcomes] == [(str(ana), "ana@example.com", "Ana Souza")]
    with owner(app) as conn:  # the app's own trigger made every profile, with or without an address
        assert conn.execute("SELECT count(*) AS n FROM public.profiles").fetchone()["n"] == 3
        assert conn.execute("SELECT count(*) AS n FROM wheels.email_ledger").fetchone()["n"] == 1
    assert {str(phone_only), str(blank)}.isdisjoint(w["user_id"] for w in welcomes)


def test_a_sign_up_goes_through_when_email_cannot_be_queued(app):
    with psycopg.connect(app.admin_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE pgmq.q_email_intents RENAME TO q_email_intents_away")
    try:
        user = app.sign_up("ana@example.com")  # as supabase_auth_admin: no error
    finally:
        with psycopg.connect(app.admin_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE pgmq.q_email_intents_away RENAME TO q_email_intents")
    with owner(app) as conn:
        assert conn.execute("SELECT count(*) AS n FROM auth.users WHERE id = %s", [user]).fetchone()["n"] == 1
        [run] = conn.execute("SELECT job, runner, outcome, result FROM wheels.job_runs").fetchall()
    assert (run["job"], run["runner"], run["outcome"]) == ("welcome", "sign-up trigger", "failed")
    assert run["result"].startswith("no welcome email for 1 new user(s): ")


# -- the jobs on app-shaped data ------------------------------------------------------


@pytest.fixture
def people(app):
    """Users as the app keeps them, each with what one rule of the source is about."""
    users = {
        "ana": app.sign_up("ana@example.com", "Ana Souza"),   # Sydney, AUD, metric
        "bob": app.sign_up("bob@example.com", "Bob"),         # Los Angeles, USD, imperial; no maintenance emails
        "cat": app.sign_up("cat@example.com", "Cat"),         # every optional email off
        "dan": app.sign_up("dan@example.com", "Dan"),         # a time zone and currency the app never validated
        "erin": app.sign_up("erin@example.com", "Erin"),      # a profile address of her own; no settings at all
        "phone": app.sign_up(None),                           # no address
    }
    with owner(app) as conn:
        settings(conn, users["ana"], "Australia/Sydney", "AUD", "metric")
        settings(conn, users["bob"], "America/Los_Angeles", "USD", "imperial", maintenance_alerts=False)
        settings(conn, users["cat"], "Europe/London", "GBP", "metric", email_notifications=False)
        settings(conn, users["dan"], "Mars/Olympus_Mons", "DOLLARS", "metric")
        conn.execute("UPDATE public.profiles SET email = 'erin.work@example.com', nickname = 'Ez' WHERE id = %s",
                     [users["erin"]])
    with psycopg.connect(app.admin_url, autocommit=True) as conn:
        conn.execute("TRUNCATE pgmq.q_email_intents")  # the welcomes: tested above
    return users


def test_budget_alerts_per_budget_threshold_dates_currency_and_opt_outs(app, people):
    ana, bob, cat, dan = people["ana"], people["bob"], people["cat"], people["dan"]
    with owner(app) as conn:
        def budget(user, category, limit, threshold=None, start=None, end=None):
            return str(conn.execute(
                "INSERT INTO public.budgets (user_id, category, monthly_limit, alert_threshold, start_date, end_date)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id", [user, category, limit, threshold, start, end]).fetchone()["id"])

        def spend(user, category, amount, day="2026-11-10"):
            conn.execute("INSERT INTO public.expenses (user_id, category, amount, date) VALUES (%s, %s, %s, %s)",
                         [user, category, amount, day])

        fuel = budget(ana, "Fuel", 400, 80)                 # 85%: its threshold is 80
        food = budget(ana, "Food", 200, 50)                 # 55%: its own threshold is 50
        budget(ana, "Camping", 100, None, "2026-12-01")     # not in force yet
        budget(ana, "Repairs", None)                        # no limit: skipped
        bob_fuel = budget(bob, "Fuel", 100)                 # NULL threshold: 80; 120% in US dollars
        budget(cat, "Fuel", 100)                            # over, but cat switched budget emails off
        budget(dan, "Fuel", 100)                            # 90% in a month counted in UTC
        spend(ana, "Fuel", 300)
        spend(ana, "fuel ", 40)                             # the expense's category, however it is typed
        spend(ana, "Fuel", 500, "2026-10-31")               # last month
        spend(ana, "Food", 110)
        spend(ana, "Camping", 150)
        spend(ana, "Repairs", 999)
        spend(bob, "Fuel", 120)
        spend(cat, "Fuel", 200)
        spend(dan, "Fuel", 90)
        assert job(conn, "budget_alerts") == "budget_alerts: 4 intents enqueued (3 warnings, 1 over budget)"
        assert job(conn, "budget_alerts") == "budget_alerts: 0 intents enqueued (0 warnings, 0 over budget)"
    alerts = {(m["kind"], m["data"]["category"], m["to"]): m["data"] for m in intents(app)}
    assert alerts[("budget_warning", "Fuel", "ana@example.com")] == {
        "category": "Fuel", "month": "2026-11", "spent": 340.00, "limit": 400.00, "percent": 85.0, "currency": "AUD"}
    assert alerts[("budget_warning", "Food", "ana@example.com")]["percent"] == 55.0
    assert alerts[("over_budget", "Fuel", "bob@example.com")]["currency"] == "USD"
    assert alerts[("budget_warning", "Fuel", "dan@example.com")]["currency"] == "DOLLARS"
    subjects = {m["intent_id"]: m for m in intents(app)}
    with owner(app) as conn:
        ledger = {r["subject"] for r in conn.execute("SELECT subject FROM wheels.email_ledger")}
    assert {fuel, food, bob_fuel} <= ledger and len(subjects) == 4


def test_maintenance_reminders_done_undated_and_opted_out(app, people):
    ana, bob = people["ana"], people["bob"]
    with owner(app) as conn:
        for user, task, due, status in [(ana, "Oil change", "2026-11-25", "pending"), (ana, "Brakes", "2026-11-18", None),
                                        (ana, "Tyres", "2026-11-22", "completed"), (ana, "Wash", None, None),
                                        (bob, "Oil change", "2026-11-21", "scheduled")]:
            conn.execute("INSERT INTO public.maintenance_records (user_id, task, next_due_date, status)"
                         " VALUES (%s, %s, %s, %s)", [user, task, due, status])
        assert job(conn, "maintenance_reminders") == "maintenance_reminders: 2 intents enqueued (1 reminder, 1 overdue)"
    got = {m["kind"]: m["data"] for m in intents(app)}
    # Ana's local today is the 20th (23:00 in Sydney).
    assert got == {
        "maintenance_reminder": {"title": "Oil change", "vehicle": None, "due_date": "2026-11-25", "days_left": 5},
        "maintenance_overdue": {"title": "Brakes", "vehicle": None, "due_date": "2026-11-18", "days_overdue": 2},
    }


def test_the_digest_reads_the_apps_days_events_and_budgets(app, people):
    ana, erin = people["ana"], people["erin"]
    with owner(app) as conn:
        conn.execute("INSERT INTO public.budgets (user_id, category, monthly_limit) VALUES (%s, 'Fuel', 400)", [ana])
        for amount, day in ((100, "2026-11-05"), (80, "2026-11-19"), (30, "2026-11-20")):
            conn.execute("INSERT INTO public.expenses (user_id, category, amount, date) VALUES (%s, 'Fuel', %s, %s)",
                         [ana, amount, day])
        conn.execute("INSERT INTO public.expenses (user_id, category, amount, date) VALUES (%s, 'Snacks', 12.5, '2026-11-19')",
                     [ana])
        # PAM: two messages in Ana's local 19th (Sydney is UTC+11), one the day before, a response.
        for event_type, at in (("user_message", "2026-11-19T01:00Z"), ("user_message", "2026-11-19T12:00Z"),
                               ("user_message", "2026-11-18T10:00Z"), ("pam_response", "2026-11-19T01:00:02Z")):
            conn.execute("INSERT INTO public.pam_analytics_logs (user_id, event_type, created_at) VALUES (%s, %s, %s)",
                         [ana, event_type, at])
        conn.execute("INSERT INTO public.maintenance_records (user_id, task, next_due_date) VALUES (%s, 'Oil change', '2026-11-24')",
                     [ana])
        conn.execute("INSERT INTO public.expenses (user_id, category, amount, date) VALUES (%s, 'Fuel', 5, '2026-11-19')",
                     [erin])
        assert job(conn, "daily_digest") == "daily_digest: 2 digests enqueued"
    digests = {m["to"]: m for m in intents(app)}
    assert digests["ana@example.com"]["data"] == {
        "day": "2026-11-19", "currency": "AUD",
        "spending": [{"category": "Fuel", "amount": 80.00}, {"category": "Snacks", "amount": 12.50}],
        "budgets": [{"category": "Fuel", "spent": 180.00, "limit": 400.00, "percent": 45.0}],
        "maintenance": [{"title": "Oil change", "vehicle": None, "due_date": "2026-11-24"}],
        "pam": {"messages": 2},
    }
    # Erin: no settings at all, so the app's default time zone (New York: 07:00 on the 20th) and
    # her profile's own address and nickname.
    assert digests["erin.work@example.com"]["name"] == "Ez"
    assert digests["erin.work@example.com"]["data"]["currency"] is None


def test_pam_rollups_read_the_apps_event_types_and_failures(app):
    with owner(app) as conn:
        rows = [("user_message", "trip_planning", None, None, None, False), ("pam_response", None, 1200, True, False, False),
                ("user_message", None, None, None, None, False), ("pam_response", None, 800, False, False, False),
                ("pam_response", None, 400, True, True, False), ("error_occurred", None, None, None, True, False),
                ("api_call", None, 50, None, False, False)]
        for event_type, intent, ms, success, has_error, _ in rows:
            conn.execute("INSERT INTO public.pam_analytics_logs (event_type, intent, response_time_ms, success, has_error,"
                         " event_data, created_at) VALUES (%s, %s, %s, %s, %s, %s, '2026-11-19T10:30Z')",
                         [event_type, intent, ms, success, has_error,
                          json.dumps({"intent": "weather"}) if intent is None and event_type == "user_message" else "{}"])
        conn.execute("SELECT wheels.analytics_hourly(as_of => %s)", [AS_OF])
        day = conn.execute("SELECT wheels.analytics_daily(%s)", [AS_OF]).fetchone()
        daily = conn.execute("SELECT * FROM wheels.pam_daily").fetchone()
    assert day is not None
    assert (daily["messages"], daily["responses"], daily["successes"], daily["failures"]) == (2, 3, 1, 3)
    assert daily["response_time_p50_ms"] == Decimal("800.0") and daily["response_time_max_ms"] == 1200
    assert daily["intents"] == {"trip_planning": 1, "weather": 1}


FEED_EQUALS_LOG = """
    SELECT (SELECT array_agg(f ORDER BY f.event_id) FROM wheels.pam_event_feed f)
           IS NOT DISTINCT FROM
           (SELECT array_agg(e ORDER BY e.event_id)
            FROM public.pam_analytics_logs l CROSS JOIN LATERAL wheels_source.pam_event_of(l) e) AS equal
"""


def test_the_pam_feed_holds_exactly_what_the_apps_log_holds_after_every_kind_of_write(app):
    with owner(app) as conn:
        conn.execute("INSERT INTO public.pam_analytics_logs (event_type, intent, response_time_ms, success, created_at)"
                     " SELECT (ARRAY['user_message', 'pam_response', 'api_call'])[1 + i %% 3], NULL, 100 * i, i %% 4 <> 0,"
                     " %s::timestamptz - i * interval '50 minutes' FROM generate_series(1, 60) i", [AS_OF])
        assert conn.execute(FEED_EQUALS_LOG).fetchone()["equal"]
        assert conn.execute("SELECT count(*) AS n FROM wheels.pam_event_feed").fetchone()["n"] == 60
        # An edit moves an event to another hour and type; a delete removes some.
        conn.execute("UPDATE public.pam_analytics_logs SET created_at = created_at + interval '3 hours',"
                     " event_type = 'pam_response', has_error = true WHERE id % 5 = 0")
        conn.execute("DELETE FROM public.pam_analytics_logs WHERE id % 7 = 0")
        assert conn.execute(FEED_EQUALS_LOG).fetchone()["equal"]
        left = conn.execute("SELECT count(*) AS n FROM public.pam_analytics_logs").fetchone()["n"]
        assert 40 < left < 60
        # The rollups read the feed: an hour's messages as the app's log has them.
        hour = conn.execute("SELECT date_trunc('hour', created_at) AS h FROM public.pam_analytics_logs"
                            " WHERE event_type = 'user_message' ORDER BY id LIMIT 1").fetchone()["h"]
        stats = conn.execute("SELECT * FROM wheels._pam_stats(%s, %s + interval '1 hour')", [hour, hour]).fetchone()
        messages = conn.execute("SELECT count(*) AS n FROM public.pam_analytics_logs WHERE event_type = 'user_message'"
                                " AND created_at >= %s AND created_at < %s + interval '1 hour'", [hour, hour]).fetchone()
        assert stats["messages"] == messages["n"] > 0
        conn.execute("TRUNCATE public.pam_analytics_logs")
        assert conn.execute("SELECT count(*) AS n FROM wheels.pam_event_feed").fetchone()["n"] == 0


def test_an_event_the_feed_cannot_take_is_still_logged_and_the_run_log_says_so(app):
    with owner(app) as conn:
        conn.execute("ALTER TABLE wheels.pam_event_feed ADD CONSTRAINT refuse_boom CHECK (kind <> 'boom')")
        try:
            conn.execute("INSERT INTO public.pam_analytics_logs (event_type, created_at) VALUES ('boom', %s)", [AS_OF])
        finally:
            conn.execute("ALTER TABLE wheels.pam_event_feed DROP CONSTRAINT refuse_boom")
        logged = conn.execute("SELECT count(*) AS n FROM public.pam_analytics_logs").fetchone()["n"]
        copied = conn.execute("SELECT count(*) AS n FROM wheels.pam_event_feed").fetchone()["n"]
        run = conn.execute("SELECT job, outcome, result FROM wheels.job_runs").fetchone()
    assert (logged, copied) == (1, 0)
    assert (run["job"], run["outcome"]) == ("analytics_hourly", "failed")
    assert run["result"].startswith("wheels_pam_events_insert could not copy PAM events into wheels.pam_event_feed"
                                    " (they are missing from the rollups until `cli.py migrate --reinstall-source`): "),\
        run["result"]
    assert "refuse_boom" in run["result"]


def test_install_copies_the_logs_last_days_into_their_partitions_and_an_update_copies_nothing_twice(app):
    with owner(app) as conn:
        conn.execute("INSERT INTO public.pam_analytics_logs (event_type, created_at)"
                     " SELECT 'user_message', now() - i * interval '1 day' FROM generate_series(0, 9) i")
        conn.execute("TRUNCATE wheels.pam_event_feed")  # as before the install: the log without its copies
    migrate(app.owner_url, "supabase-wheels", reinstall_source=True)
    with owner(app) as conn:
        kept = conn.execute("SELECT count(*) AS n FROM wheels.pam_event_feed").fetchone()["n"]
        in_default = conn.execute("SELECT count(*) AS n FROM wheels.pam_event_feed_default").fetchone()["n"]
    # pam_feed_retention_days (3): the events of today and the three days before it (today's may be 0-3 days old).
    assert kept == 4 and in_default == 0
    migrate(app.owner_url, "supabase-wheels", reinstall_source=True)
    with owner(app) as conn:
        assert conn.execute("SELECT count(*) AS n FROM wheels.pam_event_feed").fetchone()["n"] == 4


def test_fuel_consumption_in_the_users_units_written_to_all_five_columns(app, people):
    bob, ana = people["bob"], people["ana"]
    with owner(app) as conn:
        van = conn.execute("INSERT INTO public.vehicles (user_id, name, is_primary) VALUES (%s, 'Van', true) RETURNING id",
                           [bob]).fetchone()["id"]
        conn.execute("INSERT INTO public.vehicles (user_id, name, is_primary) VALUES (%s, 'Bike', false)", [bob])
        # Miles and US gallons, all full tanks: 30, 25 and 30 mpg.
        for day, miles, gallons in (("2026-11-01", 10000, 10), ("2026-11-05", 10300, 10), ("2026-11-09", 10600, 12),
                                    ("2026-11-13", 10900, 10)):
            conn.execute("INSERT INTO public.fuel_log (user_id, date, odometer, volume, filled_to_top)"
                         " VALUES (%s, %s, %s, %s, true)", [bob, day, miles, gallons])
        # Ana: litres and km, but only two intervals: not enough.
        conn.execute("INSERT INTO public.vehicles (user_id, name, is_primary) VALUES (%s, 'Troopy', true)", [ana])
        for day, km, litres in (("2026-11-01", 5000, 40), ("2026-11-05", 5500, 50), ("2026-11-09", 6000, 50)):
            conn.execute("INSERT INTO public.fuel_log (user_id, date, odometer, volume, filled_to_top)"
                         " VALUES (%s, %s, %s, %s, true)", [ana, day, km, litres])
        result = conn.execute("SELECT wheels.fuel_consumption() AS r").fetchone()["r"]
        car = conn.execute("SELECT fuel_consumption_mpg AS mpg, fuel_consumption_l_per_100km AS l,"
                           " fuel_consumption_source AS source, fuel_consumption_sample_size AS n,"
                           " fuel_consumption_last_updated IS NOT NULL AS dated FROM public.vehicles WHERE id = %s",
                           [van]).fetchone()
    assert result == "fuel_consumption: 1 vehicle updated, 1 measured, 1 with fewer than 3 full-tank intervals"
    assert car == {"mpg": Decimal("28.33"), "l": Decimal("8.30"), "source": "calculated", "n": 3, "dated": True}

    # Then only the owners whose fills changed are measured: nothing, then Bob's van once his
    # readings are metric (the same numbers, now litres and km), equal to measuring every vehicle.
    with owner(app) as conn:
        assert conn.execute("SELECT wheels.fuel_consumption() AS r").fetchone()["r"] == \
            "fuel_consumption: 0 vehicles updated, 0 measured"
        conn.execute("UPDATE public.user_settings SET regional_preferences = regional_preferences"
                     " || '{\"units\": \"metric\"}' WHERE user_id = %s", [bob])
        assert conn.execute("SELECT wheels.fuel_consumption() AS r").fetchone()["r"] == \
            "fuel_consumption: 1 vehicle updated, 1 measured"
        measured = conn.execute("SELECT fuel_consumption_l_per_100km AS l FROM public.vehicles WHERE id = %s",
                                [van]).fetchone()["l"]
        conn.execute("INSERT INTO wheels.fuel_changes (user_id) VALUES (NULL)")
        assert conn.execute("SELECT wheels.fuel_consumption() AS r").fetchone()["r"] == \
            "fuel_consumption: 0 vehicles updated, 1 measured, 1 with fewer than 3 full-tank intervals"
    assert measured == Decimal("3.53")


def test_the_fills_view_reads_the_vehicles_once_not_once_per_fill(app, people):
    """The app has no index on vehicles (user_id) and we may add none: a per-fill lookup of the
    primary vehicle scanned every vehicle for every fill (quadratic: a first run at 100k users
    did not finish in 7 minutes)."""
    with owner(app) as conn:
        for user in people.values():
            conn.execute("INSERT INTO public.vehicles (user_id, name, is_primary) VALUES (%s, 'Van', true)", [user])
            for n in range(5):
                conn.execute("INSERT INTO public.fuel_log (user_id, date, odometer, volume, filled_to_top)"
                             " VALUES (%s, '2026-11-01'::date + %s, 1000 + 300 * %s, 40, true)", [user, n, n])
        plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM wheels_source.fuel_fills").fetchone()

    def scans(node):
        if node.get("Relation Name") == "vehicles":
            yield node
        for child in node.get("Plans", []):
            yield from scans(child)

    assert [n["Actual Loops"] for n in scans(plan["QUERY PLAN"][0]["Plan"])] == [1]


FILLS_COPY_EQUALS_LOG = """
    SELECT (SELECT array_agg(c ORDER BY c.fill_id) FROM wheels.fuel_fill_feed c)
           IS NOT DISTINCT FROM
           (SELECT array_agg(c ORDER BY c.fill_id)
            FROM public.fuel_log f CROSS JOIN LATERAL wheels_source.fuel_fill_of(f) c) AS equal
"""


def test_the_fills_copy_follows_every_write_of_the_apps_fuel_log_and_a_reinstall_repairs_it(app, people):
    bob, ana = people["bob"], people["ana"]
    with owner(app) as conn:
        conn.execute("INSERT INTO public.fuel_log (user_id, date, odometer, volume, filled_to_top)"
                     " SELECT u, '2026-11-01'::date + i, 1000 + 300 * i, 40, i %% 2 = 0"
                     " FROM unnest(%s::uuid[]) u CROSS JOIN generate_series(1, 6) i", [[bob, ana]])
        assert conn.execute(FILLS_COPY_EQUALS_LOG).fetchone()["equal"]
        # A fill moved to another owner, a volume corrected, two fills deleted.
        conn.execute("UPDATE public.fuel_log SET user_id = %s WHERE id = (SELECT min(id) FROM public.fuel_log"
                     " WHERE user_id = %s)", [ana, bob])
        conn.execute("UPDATE public.fuel_log SET volume = 41.5 WHERE odometer = 1900")
        conn.execute("DELETE FROM public.fuel_log WHERE odometer = 2800")
        assert conn.execute(FILLS_COPY_EQUALS_LOG).fetchone()["equal"]
        assert conn.execute("SELECT count(*) AS n FROM wheels.fuel_fill_feed").fetchone()["n"] == 10
        conn.execute("DELETE FROM wheels.fuel_fill_feed WHERE user_id = %s", [ana])  # as a failed trigger leaves it
    migrate(app.owner_url, "supabase-wheels", reinstall_source=True)
    with owner(app) as conn:
        assert conn.execute(FILLS_COPY_EQUALS_LOG).fetchone()["equal"]
        conn.execute("TRUNCATE public.fuel_log")
        assert conn.execute("SELECT count(*) AS n FROM wheels.fuel_fill_feed").fetchone()["n"] == 0


def test_cleanup_trims_the_apps_expired_data_and_skips_tables_it_lacks(app):
    with owner(app) as conn:
        conn.execute("CALL wheels.run_job('cleanup')")  # what the clock expired since install (a run at midnight)
        conn.execute("INSERT INTO public.audio_cache (text_hash, expires_at)"
                     " VALUES ('a', now() - interval '1 hour'), ('b', now() + interval '1 hour')")
        conn.execute("INSERT INTO public.user_active_sessions (expires_at) VALUES (now() - interval '1 minute')")
        conn.execute("INSERT INTO public.pam_analytics_logs (event_type, created_at)"
                     " VALUES ('user_message', now() - interval '91 days'), ('user_message', now() - interval '89 days')")
        result = conn.execute("CALL wheels.run_job('cleanup')").fetchone()["result"]
        left = [conn.execute(f"SELECT count(*) AS n FROM public.{t}").fetchone()["n"]
                for t in ("audio_cache", "user_active_sessions", "pam_analytics_logs")]
        feed = conn.execute("SELECT count(*) AS n FROM wheels.pam_event_feed").fetchone()["n"]
    assert result == ("cleanup: deleted 1 public.audio_cache row in 1 batch, 1 public.user_active_sessions row in "
                      "1 batch, 1 public.pam_analytics_logs row in 1 batch, 1 wheels.pam_event_feed row in 1 batch; "
                      "not in this database: "
                      "public.pam_conversation_memory, public.active_recommendations")
    assert left == [1, 0, 1]
    # The feed lost the deleted event's copy with it, and keeps no copy past its 3 days.
    assert feed == 0


def test_cleanup_takes_the_pam_logs_oldest_rows_by_id_and_an_out_of_order_one_waits(app):
    with owner(app) as conn:
        conn.execute("UPDATE wheels.settings SET value = '2' WHERE name = 'cleanup_batch_size'")
        try:
            # By id: five expired, one fresh, then an expired one out of order (a late backfill).
            conn.execute("INSERT INTO public.pam_analytics_logs (event_type, created_at)"
                         " SELECT 'user_message', now() - interval '95 days' + i * interval '1 hour'"
                         " FROM generate_series(1, 5) i")
            conn.execute("INSERT INTO public.pam_analytics_logs (event_type, created_at) VALUES"
                         " ('user_message', now() - interval '1 day'), ('pam_response', now() - interval '99 days')")
            result = conn.execute("CALL wheels.run_job('cleanup')").fetchone()["result"]
            left = conn.execute("SELECT event_type, created_at < now() - interval '90 days' AS expired"
                                " FROM public.pam_analytics_logs ORDER BY id").fetchall()
        finally:
            conn.execute("UPDATE wheels.settings SET value = '5000' WHERE name = 'cleanup_batch_size'")
    assert "5 public.pam_analytics_logs rows in 3 batches" in result, result
    assert [(r["event_type"], r["expired"]) for r in left] == [("user_message", False), ("pam_response", True)]


# -- preferences in the app's own settings ------------------------------------------------


def test_unsubscribing_changes_the_apps_settings_and_the_jobs_follow(app, people):
    ana, cat = people["ana"], people["cat"]
    with owner(app) as conn:
        assert conn.execute("SELECT wheels.save_email_preferences(%s, '{budget_alerts}', '{false}') AS ok",
                            [ana]).fetchone()["ok"] is True
        prefs = conn.execute("SELECT notification_preferences AS p FROM public.user_settings WHERE user_id = %s",
                             [ana]).fetchone()["p"]
        assert prefs == {"email_notifications": True, "budget_alert_emails": False}
        shown = dict(conn.execute("SELECT preference_kind, enabled FROM wheels.email_preferences(%s)", [ana]).fetchall()
                     and [(r["preference_kind"], r["enabled"]) for r in
                          conn.execute("SELECT * FROM wheels.email_preferences(%s)", [ana])])
        assert shown == {"budget_alerts": False, "daily_digest": True, "maintenance": True}
        # Cat has every email off (the app's master switch): turning maintenance on turns the master
        # on and the other kinds off explicitly, so nothing else starts arriving.
        conn.execute("SELECT wheels.save_email_preferences(%s, '{maintenance}', '{true}')", [cat])
        cat_prefs = conn.execute("SELECT notification_preferences AS p FROM public.user_settings WHERE user_id = %s",
                                 [cat]).fetchone()["p"]
        assert cat_prefs == {"email_notifications": True, "maintenance_alerts": True, "budget_alert_emails": False,
                             "daily_digest_emails": False}
        # A user without a settings row gets one; an unknown user is refused.
        assert conn.execute("SELECT wheels.save_email_preferences(%s, '{daily_digest}', '{false}') AS ok",
                            [people["erin"]]).fetchone()["ok"] is True
        assert conn.execute("SELECT wheels.save_email_preferences(gen_random_uuid(), '{daily_digest}', '{false}') AS ok"
                            ).fetchone()["ok"] is False
        conn.execute("INSERT INTO public.budgets (user_id, category, monthly_limit) VALUES (%s, 'Fuel', 10)", [ana])
        conn.execute("INSERT INTO public.expenses (user_id, category, amount, date) VALUES (%s, 'Fuel', 20, '2026-11-10')", [ana])
        assert job(conn, "budget_alerts").startswith("budget_alerts: 0 intents")


# -- the source check -----------------------------------------------------------------


def test_source_check_finds_no_violation_and_lists_the_apps_data_findings(app, people):
    with owner(app) as conn:
        conn.execute("INSERT INTO public.budgets (user_id, category, monthly_limit) VALUES (%s, 'Fuel', NULL)", [people["ana"]])
    result = run_cli("source", "check", "--json", env={"DATABASE_URL": app.owner_url})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "supabase-wheels" and report["violations"] == 0
    found = {(f["subject"], f["value"]): f["count"] for f in report["findings"]}
    assert found == {
        ("users.time_zone", "Mars/Olympus_Mons"): 1,
        ("users.email", "(none)"): 1,
        ("users.currency", "DOLLARS"): 1,
        ("budgets.monthly_limit", "(none)"): 1,
        ("expiring public.active_recommendations", None): None,
        ("expiring public.pam_conversation_memory", None): None,
    }
    strict = run_cli("source", "check", "--strict", env={"DATABASE_URL": app.owner_url, "COLUMNS": "200"})
    assert strict.returncode == 1 and "Mars/Olympus_Mons" in strict.stdout


def test_source_check_reports_an_order_column_that_is_missing_or_that_no_index_leads_with(app):
    with psycopg.connect(app.owner_url, row_factory=dict_row) as conn:  # one transaction, rolled back
        conn.execute("""CREATE OR REPLACE VIEW wheels_source.expiring AS
            SELECT e.relation, e.time_column, e.keep, e.in_order_of
            FROM (VALUES ('public.audio_cache', 'expires_at'::name, interval '0', 'nope'::name),
                         ('public.user_active_sessions', 'expires_at', interval '0', 'user_id'),
                         ('public.pam_analytics_logs', 'created_at', interval '90 days', 'id')
            ) AS e (relation, time_column, keep, in_order_of)""")
        found = {f.subject: (f.severity, f.problem) for f in source.data_findings(conn)
                 if f.subject.startswith("expiring ")}
        conn.rollback()
    assert found == {
        "expiring public.audio_cache": ("violation", "has no column nope: cleanup would fail"),
        "expiring public.user_active_sessions":
            ("data", "no index leads with user_id: each cleanup batch reads the whole table"),
    }


def test_source_check_reports_copies_behind_the_app_and_a_reinstall_repairs_them_and_the_rollups(app, people):
    with owner(app) as conn:
        # A day ago (out of the hourly rollup's recompute window, within the feed's days): nine responses.
        conn.execute("INSERT INTO public.pam_analytics_logs (event_type, response_time_ms, created_at)"
                     " SELECT 'pam_response', 100 * i, now() - interval '1 day' - i * interval '20 minutes'"
                     " FROM generate_series(1, 9) i")
        conn.execute("INSERT INTO public.fuel_log (user_id, date, odometer, volume, filled_to_top)"
                     " VALUES (%s, '2026-11-01', 1000, 40, true)", [people["bob"]])
        # As failed triggers leave the copies: two events missing, one changed, the fill missing.
        conn.execute("DELETE FROM wheels.pam_event_feed"
                     " WHERE event_id IN (SELECT id FROM public.pam_analytics_logs ORDER BY id LIMIT 2)")
        conn.execute("UPDATE wheels.pam_event_feed SET response_time_ms = 1"
                     " WHERE event_id = (SELECT max(id) FROM public.pam_analytics_logs)")
        conn.execute("DELETE FROM wheels.fuel_fill_feed")
        conn.execute("SELECT wheels.analytics_hourly()")
        rolled_up = ("SELECT sum(h.events) AS n, (SELECT sum(t * c) FROM wheels.pam_hourly,"
                     " unnest(response_times, response_time_counts) AS u (t, c)) AS total_ms FROM wheels.pam_hourly h")
        assert conn.execute(rolled_up).fetchone() == {"n": 7, "total_ms": 300 + 400 + 500 + 600 + 700 + 800 + 1}

    behind = [f for f in source.check(app.owner_url).findings if f.subject.startswith("wheels.")]
    problem = "differs from a fresh copy of the app's rows: the jobs read it; " \
              "`cli.py migrate --reinstall-source` copies it afresh"
    # The missing rows count once each; the changed one twice (the copy's row and the app's).
    assert behind == [source.Finding("data", "wheels.fuel_fill_feed", problem, count=1),
                      source.Finding("data", "wheels.pam_event_feed", problem, count=4)]

    migrate(app.owner_url, "supabase-wheels", reinstall_source=True)
    assert not [f for f in source.check(app.owner_url).findings if f.subject.startswith("wheels.")]
    with owner(app) as conn:
        # The install took the hourly rollup back to where the copy starts: the day-old hours again.
        conn.execute("SELECT wheels.analytics_hourly()")
        repaired = conn.execute(rolled_up).fetchone()
    assert repaired == {"n": 9, "total_ms": sum(100 * i for i in range(1, 10))}


# -- the sender on pgmq 1.4.4 ---------------------------------------------------------


def test_the_sender_delivers_as_wheels_sender_from_pgmq_1_4_4(app, tmp_path):
    app.sign_up("ana@example.com", "Ana")
    app.sign_up("bob@example.com", "Bob")
    with psycopg.connect(app.admin_url, autocommit=True) as conn:
        conn.execute("ALTER ROLE wheels_sender LOGIN")
    url = app.owner_url.replace("postgres@", "wheels_sender@", 1)
    done = run_sender(url, "--once", "--outbox-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name.split(".")[1] for p in tmp_path.glob("*.eml")) == ["eml", "eml"]
    with owner(app) as conn:
        assert conn.execute("SELECT count(*) AS n FROM wheels.deliveries WHERE status = 'sent'").fetchone()["n"] == 2
        assert conn.execute("SELECT count(*) AS n FROM pgmq.q_email_intents").fetchone()["n"] == 0


# -- rollback --------------------------------------------------------------------------


def test_migrate_changes_no_app_object_and_rollback_restores_the_catalog_exactly(installed):
    pristine = installed.pristine
    now = supabase_support.catalog(installed.admin_url)
    # Installed: the app's objects are as they were, plus only what is ours and documented:
    # the two activation-guide views in public, the welcome trigger on auth.users and the
    # budget state's, fuel consumption's and maintenance's statement-level triggers (sources/supabase-wheels/contract.sql), each
    # calling a function of ours.
    ours = {"public.analytics_summary", "public.analytics_daily"}
    assert [r for r in now["relations"] if r[0] not in ours] == pristine["relations"]
    assert [r for r in now["columns"] if r[0] not in ours] == pristine["columns"]
    our_triggers = {
        ("auth.users", "wheels_welcome"): "welcome_new_users",
        ("auth.users", "wheels_users_insert"): "users_changed",
        ("public.user_settings", "wheels_settings_insert"): "users_changed",
        ("public.user_settings", "wheels_settings_update"): "users_changed",
        ("public.user_settings", "wheels_settings_delete"): "users_changed",
        ("public.budgets", "wheels_budgets_insert"): "budgets_changed",
        ("public.budgets", "wheels_budgets_update"): "budgets_changed",
        ("public.budgets", "wheels_budgets_delete"): "budgets_changed",
        ("public.expenses", "wheels_expenses_insert"): "expenses_changed",
        ("public.expenses", "wheels_expenses_update"): "expenses_changed",
        ("public.expenses", "wheels_expenses_delete"): "expenses_changed",
        ("public.fuel_log", "wheels_fuel_fills_insert"): "fuel_changed",
        ("public.fuel_log", "wheels_fuel_fills_update"): "fuel_changed",
        ("public.fuel_log", "wheels_fuel_fills_delete"): "fuel_changed",
        ("public.fuel_log", "wheels_fuel_fills_truncate"): "fuel_changed",
        ("public.vehicles", "wheels_fuel_vehicles_insert"): "fuel_changed",
        ("public.vehicles", "wheels_fuel_vehicles_update"): "fuel_changed",
        ("public.vehicles", "wheels_fuel_vehicles_delete"): "fuel_changed",
        ("public.user_settings", "wheels_fuel_settings_insert"): "fuel_changed",
        ("public.user_settings", "wheels_fuel_settings_update"): "fuel_changed",
        ("public.user_settings", "wheels_fuel_settings_delete"): "fuel_changed",
        ("public.maintenance_records", "wheels_maintenance_insert"): "maintenance_changed",
        ("public.maintenance_records", "wheels_maintenance_update"): "maintenance_changed",
        ("public.user_settings", "wheels_maintenance_settings_insert"): "maintenance_changed",
        ("public.user_settings", "wheels_maintenance_settings_update"): "maintenance_changed",
        ("public.user_settings", "wheels_maintenance_settings_delete"): "maintenance_changed",
        ("public.pam_analytics_logs", "wheels_pam_events_insert"): "pam_events_changed",
        ("public.pam_analytics_logs", "wheels_pam_events_update"): "pam_events_changed",
        ("public.pam_analytics_logs", "wheels_pam_events_delete"): "pam_events_changed",
        ("public.pam_analytics_logs", "wheels_pam_events_truncate"): "pam_events_changed",
    }
    assert [t for t in now["triggers"] if t[:2] not in our_triggers] == pristine["triggers"]
    found = {t[:2]: t[3] for t in now["triggers"] if t[:2] in our_triggers}
    assert found.keys() == our_triggers.keys()
    for key, function in our_triggers.items():
        assert found[key].endswith(f"FOR EACH STATEMENT EXECUTE FUNCTION wheels_source.{function}()"), found[key]
    for part in ("schemas", "constraints", "indexes", "policies", "functions", "default_privileges", "extensions"):
        assert now[part] == pristine[part], part

    result = run_cli("migrate", "--rollback", env={"DATABASE_URL": installed.owner_url})
    assert result.returncode == 0, result.stderr
    assert supabase_support.catalog(installed.admin_url) == pristine
    with owner(installed) as conn:
        left = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY (%s)", [list(OURS)]).fetchall()
        cron = conn.execute("SELECT count(*) AS n FROM cron.job").fetchone()["n"]
        queues = conn.execute("SELECT count(*) AS n FROM pgmq.meta").fetchone()["n"]
    assert (left, cron, queues) == ([], 0, 0)
    assert rollback(installed.owner_url) == []
    migrate(installed.owner_url, "supabase-wheels")  # as the module's other tests found it
