"""The team's daily report (issue 8): the daily_report job enqueues one intent per
admin address a day, after the rollup, with the figures `cli.py report` prints;
the sender renders it; `cli.py migrate` copies ADMIN_EMAILS into the setting."""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.rows import dict_row

from sender.render import BadIntent, render
from tests.conftest import run_cli
from tests.sender_support import deliveries, enqueue, wait_for
from tests.test_email_jobs import documented_data_keys
from tests.test_render import SETTINGS
from tests.test_web import drain_to_outbox

# Reads the calendar: also run at other instants (tests/test_any_instant.py).
pytestmark = pytest.mark.clock

AS_OF = datetime(2026, 11, 30, 2, 30, tzinfo=timezone.utc)
DAY = "2026-11-29"
ADMINS = "Ops@Example.com, lead@example.com,, ops@example.com , gone@example.com"

# Yesterday (UTC): 10 messages and 10 responses, 9 of them successful, from 4 users.
EVENTS = """
INSERT INTO pam_analytics_logs (created_at, user_id, event_type, intent, response_time_ms, success, error)
SELECT '2026-11-29 08:00Z'::timestamptz + make_interval(mins => g),
       ('00000000-0000-4000-8000-00000000000' || (g % 4))::uuid, e.type,
       (ARRAY['weather', 'weather', 'weather', 'campsites', 'campsites', 'fuel_prices', 'budget_query',
              'maintenance', 'general', 'trip_planning'])[g],
       CASE WHEN e.type = 'response' THEN g * 100 END,
       CASE WHEN e.type = 'response' THEN g <> 10 END,
       CASE WHEN e.type = 'response' AND g = 10 THEN 'upstream model timeout' END
FROM generate_series(1, 10) g CROSS JOIN (VALUES ('message'), ('response')) e (type);
"""


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
        c.execute("UPDATE wheels.settings SET value = %s WHERE name = 'admin_emails'", [ADMINS])
        c.execute("INSERT INTO wheels.suppressions (email, reason) VALUES ('gone@example.com', 'complaint')")
        yield c


def activation(conn) -> datetime:
    return conn.execute("SELECT activated_at FROM wheels.activation").fetchone()["activated_at"]


def run(conn, job: str, *args) -> str:
    return conn.execute(f"SELECT wheels.{job}({', '.join(['%s'] * len(args))}) AS r", list(args)).fetchone()["r"]


def roll_up(conn) -> None:
    run(conn, "analytics_hourly", None, AS_OF)
    run(conn, "analytics_daily", AS_OF)


def reports(conn) -> list[dict]:
    return [r["message"] for r in conn.execute(
        "SELECT message FROM pgmq.q_email_intents WHERE message->>'kind' = 'daily_report' ORDER BY msg_id")]


def yesterdays_emails(db_url: str) -> None:
    """Two welcomes sent and one dead letter, yesterday."""
    sent = [enqueue(db_url, "welcome", f"user{i}@example.com") for i in range(2)]
    with psycopg.connect(db_url) as c:
        c.execute("INSERT INTO wheels.deliveries (intent_id, status, kind, sent_at, updated_at) "
                  "SELECT i, 'sent', 'welcome', '2026-11-29 10:00Z', '2026-11-29 10:00Z' FROM unnest(%s::bigint[]) i",
                  [sent])
        c.execute("INSERT INTO wheels.dead_letters (reason, kind, created_at) "
                  "VALUES ('invalid recipient', 'budget_warning', '2026-11-29 11:00Z')")
        c.execute("DELETE FROM pgmq.q_email_intents")


def test_one_report_per_admin_address_a_day_with_yesterdays_figures(db_url, conn):
    conn.execute(EVENTS)
    yesterdays_emails(db_url)
    roll_up(conn)
    assert run(conn, "daily_report", AS_OF) == f"daily_report: {DAY}, 2 reports enqueued"
    assert run(conn, "daily_report", AS_OF) == f"daily_report: {DAY}, 0 reports enqueued"  # once per day
    messages = reports(conn)
    assert [m["to"] for m in messages] == ["lead@example.com", "ops@example.com"]  # deduplicated; suppressed: none
    figures = run(conn, "daily_figures", DAY)
    success = figures.pop("success")
    activated_at = figures.pop("activated_at")
    assert figures == {
        "day": DAY, "rolled_up": True, "messages": 10, "responses": 10, "distinct_users": 4,
        "successes": 9, "failures": 1, "success_rate": 0.9, "p50_ms": 550.0, "p95_ms": 955.0, "p99_ms": 991.0,
        "top_intents": [{"intent": "weather", "count": 6}, {"intent": "campsites", "count": 4},
                        {"intent": "budget_query", "count": 2}, {"intent": "fuel_prices", "count": 2},
                        {"intent": "general", "count": 2}],
        "emails": [{"kind": "budget_warning", "sent": 0, "dead_lettered": 1, "suppressed": 0},
                   {"kind": "welcome", "sent": 2, "dead_lettered": 0, "suppressed": 0}]}
    # The success metrics as they stood at the end of the day, counted from the activation.
    assert activated_at == f"{activation(conn):%Y-%m-%dT%H:%M:%SZ}"
    assert [m["metric"] for m in success] == [r["metric"] for r in conn.execute(
        "SELECT metric FROM wheels.success_metrics('2026-11-30 00:00Z')")]
    figures = {**figures, "success": success, "activated_at": activated_at}
    for m in messages:
        assert set(m) == {"v", "kind", "intent_id", "user_id", "to", "name", "data"}
        assert (m["v"], m["kind"], m["user_id"], m["name"], m["data"]) == (1, "daily_report", None, None, figures)
        assert set(m["data"]) == documented_data_keys()["daily_report"]
    ledger = conn.execute("SELECT subject, period, user_id FROM wheels.email_ledger WHERE kind = 'daily_report' "
                          "ORDER BY subject").fetchall()
    assert ledger == [{"subject": "lead@example.com", "period": DAY, "user_id": None},
                      {"subject": "ops@example.com", "period": DAY, "user_id": None}]
    # The next day is a new report (a quiet one).
    assert run(conn, "daily_report", AS_OF + timedelta(days=1)) == "daily_report: 2026-11-30, 2 reports enqueued"


def test_two_runs_at_once_send_each_address_one_report(db_url, conn):
    roll_up(conn)
    with psycopg.connect(db_url) as first, psycopg.connect(db_url, autocommit=True) as observer:
        assert first.execute("SELECT wheels.daily_report(%s)", [AS_OF]).fetchone()[0].endswith("2 reports enqueued")
        results: list[str] = []
        second = threading.Thread(target=lambda: results.append(
            run_once(f"{db_url}?application_name=second_report", AS_OF)))
        second.start()
        # The second run waits on the first's uncommitted ledger rows (the unique key), then skips them.
        wait_for(lambda: observer.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                          "'second_report' AND wait_event_type = 'Lock'").fetchone()[0] == 1,
                 timeout_s=30)
        assert results == []
        first.commit()
        second.join(30)
    assert results == [f"daily_report: {DAY}, 0 reports enqueued"]
    assert len(reports(conn)) == 2


def run_once(url: str, as_of: datetime) -> str:
    with psycopg.connect(url, autocommit=True) as own:
        return own.execute("SELECT wheels.daily_report(%s)", [as_of]).fetchone()[0]


def test_the_report_waits_for_the_daily_rollup_and_no_admins_means_no_report(conn):
    conn.execute(EVENTS)
    run(conn, "analytics_hourly", None, AS_OF)
    assert run(conn, "daily_report", AS_OF) == (
        f"daily_report: {DAY} is not rolled up yet (analytics_daily), nothing enqueued")
    run(conn, "analytics_daily", AS_OF)
    conn.execute("UPDATE wheels.settings SET value = '' WHERE name = 'admin_emails'")
    assert run(conn, "daily_report", AS_OF) == f"daily_report: {DAY}, 0 reports enqueued"
    assert reports(conn) == []


def test_the_sender_delivers_the_report_without_an_unsubscribe_link(db_url, conn, tmp_path):
    conn.execute(EVENTS)
    conn.execute("UPDATE wheels.activation SET activated_at = '2026-11-20 06:00Z'")
    yesterdays_emails(db_url)
    roll_up(conn)
    run(conn, "daily_report", AS_OF)
    drain_to_outbox(db_url, tmp_path / "outbox")
    files = sorted((tmp_path / "outbox").iterdir())
    assert len(files) == 2 and all(d["status"] == "sent" for d in deliveries(db_url).values())
    sent = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert sent["To"] == "lead@example.com"
    assert sent["Subject"] == "Wheels daily report for Sunday 29 November 2026: 10 PAM messages"
    assert "List-Unsubscribe" not in sent
    text = sent.get_body(("plain",)).get_content()
    for fact in ("Distinct users:   4", "Success rate:     90.0%", "Failed responses: 1",
                 "p50 / p95 / p99: 550 ms / 955 ms / 991 ms", "weather: 6", "welcome: 2 / 0 / 0",
                 "Success since activation (2026-11-20 06:00 UTC), at the end of the day",
                 "Welcome emails sent (after 1 week): 2, target 10+, not yet",
                 "PAM interactions logged (after 1 week): 20, target 1,000+, not yet",
                 "Critical errors (after 1 week): 1, target 0, not met\n    0 failed job runs, 1 dead letter, 0 sender crashes",
                 "Spending in the rest of the month after a budget alert (long term): –\n    too little data"):
        assert fact in text, (fact, text)
    html = sent.get_body(("html",)).get_content()
    assert "admin_emails" in html and "Success since activation" in html
    assert re.search(r"<td>Welcome emails sent <span[^>]*>\(after 1 week\)</span></td>"
                     r"<td[^>]*>2</td><td[^>]*>10\+</td><td[^>]*>not yet</td>", html)


def test_render_checks_the_report_data():
    data = {"day": DAY, "rolled_up": False, "messages": 0, "responses": 0, "distinct_users": 0, "successes": 0,
            "failures": 0, "success_rate": None, "p50_ms": None, "p95_ms": None, "p99_ms": None,
            "top_intents": [], "emails": []}
    message = {"v": 1, "kind": "daily_report", "intent_id": 5, "user_id": None, "to": "ops@example.com",
               "name": None, "data": data}
    quiet = render(message, SETTINGS)
    assert "Success rate:     n/a" in quiet.text and "none" in quiet.text and "List-Unsubscribe" not in quiet.headers
    for bad, reason in [({"messages": "10"}, "field 'data.messages' must be an integer, got '10'"),
                        ({"p95_ms": "fast"}, "field 'data.p95_ms' must be a number, got 'fast'"),
                        ({"emails": [{"kind": "welcome", "sent": 1}]}, "missing field 'data.emails[0].dead_lettered'"),
                        ({"top_intents": None}, "field 'data.top_intents' must be an array, got null")]:
        with pytest.raises(BadIntent, match=reason.replace("[", r"\[").replace("]", r"\]")):
            render({**message, "data": {**data, **bad}}, SETTINGS)


def test_cli_report_prints_the_figures_as_a_table_and_as_json(db_url, conn):
    conn.execute(EVENTS)
    conn.execute("UPDATE wheels.activation SET activated_at = '2026-11-20 06:00Z'")
    yesterdays_emails(db_url)
    roll_up(conn)
    as_json = run_cli("report", "--date", DAY, "--json", env={"DATABASE_URL": db_url})
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == run(conn, "daily_figures", DAY)
    text = run_cli("report", "--date", DAY, env={"DATABASE_URL": db_url})  # not a terminal: whole lines
    assert text.returncode == 0, text.stderr
    lines = [" ".join(line.replace("│", " ").split()) for line in text.stdout.splitlines()]
    for row in ("messages 10", "distinct users 4", "success rate 90.0%", "response time p95 955 ms",
                "weather 6", "welcome 2 0 0", "budget_warning 0 1 0",
                "after 1 week Welcome emails sent 2 10+ not yet",
                "after 1 week Critical errors 1 0 not met 0 failed job runs, 1 dead letter, 0 sender crashes"):
        assert row in lines, (row, text.stdout)
    assert f"Wheels daily report for {DAY} (UTC)" in text.stdout
    bad = run_cli("report", "--date", "2026-02-30", env={"DATABASE_URL": db_url})
    assert bad.returncode == 2 and "'2026-02-30' is not a date YYYY-MM-DD" in bad.stderr


def test_migrate_copies_admin_emails_into_the_setting(db_url):
    done = run_cli("migrate", env={"DATABASE_URL": db_url, "ADMIN_EMAILS": " Ops@Example.com,lead@example.com "})
    assert done.returncode == 0, done.stderr
    assert "setting admin_emails: 2 address(es) from ADMIN_EMAILS" in done.stdout
    again = run_cli("migrate", env={"DATABASE_URL": db_url, "ADMIN_EMAILS": "ops@example.com, lead@example.com"})
    assert "admin_emails" not in again.stdout  # unchanged
    bad = run_cli("migrate", env={"DATABASE_URL": db_url, "ADMIN_EMAILS": "ops@example.com, not an address"})
    assert bad.returncode == 1
    assert bad.stderr.strip() == ("error: ADMIN_EMAILS: 'not an address' is not a usable address "
                                  "(contains whitespace)")
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT wheels.setting('admin_emails')").fetchone()[0] == "ops@example.com,lead@example.com"
