"""The activation guide's success metrics (wheels.success_metrics), email
engagement from Resend's open and click events (wheels.engagement) and
spending after a budget alert (wheels.budget_alert_effect), against real
PostgreSQL: each counts from the activation, says met / not yet, and keeps no
personal data."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import run_cli
from tests.sender_support import profile, rows
from tests.test_web import client_for, webhook
from web.webhooks import ENGAGEMENT_EVENTS

ACTIVATED = datetime(2026, 11, 2, tzinfo=timezone.utc)
WEEK_LATER = ACTIVATED + timedelta(days=8)


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
        c.execute("UPDATE wheels.activation SET activated_at = %s", [ACTIVATED])
        yield c


def sent(conn, kind: str, at: datetime, n: int = 1, *, provider_id: str | None = None,
         status: str = "sent", subject: str | None = None, period: str = "") -> list[int]:
    """n emails of `kind` the sender delivered at `at` (ledger rows and their deliveries)."""
    ids = []
    for i in range(n):
        intent = conn.execute(
            "INSERT INTO wheels.email_ledger (kind, subject, period, recipient, created_at) "
            "VALUES (%s, %s, %s, 'x@example.com', %s) RETURNING id",
            [kind, subject or f"{kind}-{uuid.uuid4()}", period, at]).fetchone()["id"]
        conn.execute("INSERT INTO wheels.deliveries (intent_id, status, kind, sent_at, provider_message_id) "
                     "VALUES (%s, %s, %s, %s, %s)",
                     [intent, status, kind, at if status == "sent" else None,
                      (provider_id or f"re_{intent}") if status == "sent" else None])
        ids.append(intent)
    return ids


def metrics(conn, as_of: datetime) -> dict[str, dict]:
    return {r["metric"]: r for r in conn.execute("SELECT * FROM wheels.success_metrics(%s)", [as_of])}


def test_every_metric_of_the_guide_counts_from_the_activation(conn):
    before = ACTIVATED - timedelta(hours=1)
    after = ACTIVATED + timedelta(days=1)
    sent(conn, "welcome", before, 5)  # before the activation: not counted
    sent(conn, "welcome", after, 12)
    sent(conn, "budget_warning", after, 3)
    sent(conn, "over_budget", after, 2)
    sent(conn, "maintenance_reminder", after, 2)
    sent(conn, "maintenance_overdue", after, 1)
    sent(conn, "daily_digest", after, 29)
    sent(conn, "daily_digest", after, 1, status="dead")  # not sent: not counted
    conn.execute("""
        INSERT INTO wheels.pam_hourly (hour, messages, responses, distinct_users, successes, failures)
        VALUES (%(a)s - interval '1 hour', 400, 400, 9, 400, 0),
               (%(a)s + interval '1 day', 300, 290, 9, 290, 0),
               (%(a)s + interval '2 days', 210, 210, 9, 210, 0),
               (%(a)s + interval '3 days', 0, 0, 0, 0, 0)""", {"a": ACTIVATED})
    result = metrics(conn, WEEK_LATER)

    assert list(result) == ["welcome_emails", "pam_interactions", "critical_errors", "analytics_hours",
                            "budget_alerts", "maintenance_reminders", "daily_digests", "engagement_rate",
                            "spending_after_alert"]
    assert {k: (r["value"], r["target"], r["status"], r["checkpoint"]) for k, r in result.items()} == {
        "welcome_emails": (12, 10, "met", "after 1 week"),
        "pam_interactions": (1010, 1000, "met", "after 1 week"),
        "critical_errors": (0, 0, "met", "after 1 week"),
        "analytics_hours": (2, 1, "met", "after 1 week"),
        "budget_alerts": (5, 5, "met", "after 1 month"),
        "maintenance_reminders": (3, 3, "met", "after 1 month"),
        "daily_digests": (29, 30, "not yet", "after 1 month"),
        "engagement_rate": (None, 20, "not yet", "long term"),
        "spending_after_alert": (None, None, None, "long term"),
    }
    assert result["pam_interactions"]["shown"] == "1,010" and result["pam_interactions"]["target_shown"] == "1,000+"
    assert result["welcome_emails"]["met"] is True and result["daily_digests"]["met"] is False
    assert result["budget_alerts"]["due_at"] == ACTIVATED + timedelta(days=30)
    assert {r["since"] for r in result.values()} == {ACTIVATED}
    # Sent through Resend, but no webhook event came back: the page says where to look.
    assert result["engagement_rate"]["note"].startswith("no delivery, open or click events from Resend yet")
    assert result["spending_after_alert"]["note"].startswith("too little data: 0 budgets")


def test_critical_errors_are_failed_runs_dead_letters_and_silent_senders_judged_after_a_week(conn):
    during = ACTIVATED + timedelta(days=2)
    assert metrics(conn, ACTIVATED + timedelta(days=3))["critical_errors"]["status"] == "not yet"  # week not over
    assert "judged once the first week is over (2026-11-09 00:00 UTC)" in \
        metrics(conn, ACTIVATED + timedelta(days=3))["critical_errors"]["note"]
    conn.execute("INSERT INTO wheels.job_runs (job, runner, started_at, finished_at, outcome, result) VALUES "
                 "('budget_alerts', 'pg_cron', %(d)s, %(d)s, 'failed', 'boom'),"
                 "('budget_alerts', 'pg_cron', %(d)s, %(d)s, 'succeeded', 'ok'),"
                 "('cleanup', 'pg_cron', %(b)s, %(b)s, 'failed', 'before the activation')",
                 {"d": during, "b": ACTIVATED - timedelta(days=1)})
    conn.execute("INSERT INTO wheels.dead_letters (reason, kind, created_at) VALUES ('bad', 'welcome', %s)", [during])
    # A sender that went silent (crashed), one that stopped cleanly, one still running at as_of.
    conn.execute("INSERT INTO wheels.sender_heartbeats (host, pid, started_at, transport, last_seen_at, stopped_at) "
                 "VALUES ('a', 1, %(d)s, 'resend', %(d)s, NULL), ('a', 2, %(d)s, 'resend', %(d)s, %(d)s),"
                 "       ('a', 3, %(d)s, 'resend', %(now)s, NULL)",
                 {"d": during, "now": WEEK_LATER - timedelta(seconds=30)})
    errors = metrics(conn, WEEK_LATER)["critical_errors"]
    assert (errors["value"], errors["status"], errors["met"]) == (3, "not met", False)
    assert errors["note"] == "1 failed job run, 1 dead letter, 1 sender crash"


def test_the_activation_is_set_on_first_install_and_can_be_moved(db_url):
    with psycopg.connect(db_url, row_factory=dict_row) as c:
        first = c.execute("SELECT activated_at FROM wheels.activation").fetchone()["activated_at"]
        applied = c.execute("SELECT applied_at_utc FROM wheels_migrations._yoyo_migration "
                            "WHERE migration_id = '0001_wheels'").fetchone()["applied_at_utc"]
    assert first == applied.replace(tzinfo=timezone.utc)  # when wheels-jobs was first migrated here
    assert run_cli("activation", env={"DATABASE_URL": db_url}).stdout.startswith(
        f"activated {first:%Y-%m-%d %H:%M} UTC (0 days ago), set ")
    moved = run_cli("activation", "--set", "2026-11-02T09:30+10:00", env={"DATABASE_URL": db_url})
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.startswith("activated 2026-11-01 23:30 UTC (") and moved.stdout.rstrip().endswith("just set")
    assert rows(db_url, "SELECT activated_at FROM wheels.activation")[0]["activated_at"] == datetime(
        2026, 11, 1, 23, 30, tzinfo=timezone.utc)
    # The metrics count from there.
    assert {r["since"] for r in rows(db_url, "SELECT since FROM wheels.success_metrics()")} == {
        datetime(2026, 11, 1, 23, 30, tzinfo=timezone.utc)}
    # Its row deleted by hand: one line saying how to set it, and --set records it again.
    with psycopg.connect(db_url) as c:
        c.execute("DELETE FROM wheels.activation")
    gone = run_cli("activation", env={"DATABASE_URL": db_url})
    assert gone.returncode == 1 and gone.stderr.startswith("error: no activation is recorded: set one with")
    assert run_cli("activation", "--set", "now", env={"DATABASE_URL": db_url}).returncode == 0
    assert rows(db_url, "SELECT count(*) AS n FROM wheels.activation")[0]["n"] == 1


# -- engagement ----------------------------------------------------------------------


def test_opens_and_clicks_per_kind_and_week_with_unique_rates(conn):
    monday = datetime(2026, 11, 9, 9, tzinfo=timezone.utc)  # ISO week 46
    digests = sent(conn, "daily_digest", monday, 4)
    welcome = sent(conn, "welcome", monday + timedelta(days=7), 1)  # week 47
    outbox = sent(conn, "daily_digest", monday, 1, provider_id="outbox:1.eml")  # no opens or clicks there
    provider = {i: f"re_{i}" for i in digests + welcome + outbox}
    events = [("email.delivered", digests[0]), ("email.delivered", digests[1]), ("email.delivered", digests[2]),
              ("email.opened", digests[0]), ("email.opened", digests[0]), ("email.opened", digests[1]),
              ("email.clicked", digests[1]), ("email.clicked", digests[3]),  # clicked without a delivered event
              ("email.bounced", welcome[0])]
    conn.execute("INSERT INTO wheels.delivery_events (svix_id, type, provider_message_id, payload, received_at) "
                 "SELECT 'msg_' || n, t, p, '{}', %s FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS e (t, p, n)",
                 [monday + timedelta(hours=1), [t for t, _ in events], [provider[i] for _, i in events]])
    week = conn.execute("SELECT * FROM wheels.engagement(%s, %s)", [monday - timedelta(days=1),
                                                                     monday + timedelta(days=14)]).fetchall()
    assert [(r["week"].isoformat(), r["kind"], r["sent"], r["delivered"], r["opens"], r["unique_opens"], r["clicks"],
             r["unique_clicks"], r["open_rate"], r["click_rate"]) for r in week] == [
        ("2026-11-09", "daily_digest", 4, 4, 3, 2, 2, 2, Decimal("0.5000"), Decimal("0.5000")),
        ("2026-11-16", "welcome", 1, 0, 0, 0, 0, 0, None, None)]
    # The success metric: opened or clicked, each email once, of the delivered.
    conn.execute("UPDATE wheels.settings SET value = '4' WHERE name = 'engagement_min_delivered'")
    rate = metrics(conn, monday + timedelta(days=14))["engagement_rate"]
    assert (rate["value"], rate["shown"], rate["status"], rate["target_shown"]) == (Decimal("75.0"), "75.0%", "met",
                                                                                    "over 20%")
    assert rate["note"] == "3 of 4 delivered emails opened or clicked"
    conn.execute("UPDATE wheels.settings SET value = '100' WHERE name = 'engagement_min_delivered'")
    rate = metrics(conn, monday + timedelta(days=14))["engagement_rate"]
    assert rate["status"] == "not yet" and rate["note"].endswith("judged from 100 delivered (setting engagement_min_delivered)")


def test_opens_and_clicks_keep_the_event_the_email_and_the_time_only(db_url):
    intent = sent_one(db_url)
    click = {"type": "email.clicked", "created_at": "2026-11-30T08:00:00.000Z",
             "data": {"email_id": "re_7", "to": ["Ana@Example.com"], "subject": "Your Wheels summary",
                      "created_at": "2026-11-30T07:59:58.000Z",
                      "click": {"ipAddress": "203.0.113.9", "link": "https://wheels.test/unsubscribe?token=SECRET",
                                "timestamp": "2026-11-30T08:00:00.000Z", "userAgent": "Mozilla/5.0"}}}
    opened = {"type": "email.opened", "created_at": "2026-11-30T07:59:59.000Z",
              "data": {"email_id": "re_7", "to": ["ana@example.com"], "subject": "Your Wheels summary",
                       "created_at": "2026-11-30T07:59:58.000Z"}}
    with client_for(db_url) as client:
        assert webhook(client, click, svix_id="msg_click").json() == {"recorded": True, "suppressed": 0}
        assert webhook(client, opened, svix_id="msg_open").json() == {"recorded": True, "suppressed": 0}
    stored = rows(db_url, "SELECT type, provider_message_id, recipient, intent_id, occurred_at, payload, "
                          "payload::text AS text FROM wheels.delivery_events ORDER BY type")
    assert [r["type"] for r in stored] == sorted(ENGAGEMENT_EVENTS)
    for r in stored:
        assert (r["provider_message_id"], r["recipient"], r["intent_id"]) == ("re_7", None, intent)
        assert r["occurred_at"] is not None and set(r["payload"]) == {"type", "created_at", "data"}
        assert r["payload"]["data"] == {"email_id": "re_7"}
        for private in ("SECRET", "unsubscribe", "203.0.113.9", "Mozilla", "ana@", "Ana@", "subject"):
            assert private not in r["text"]
    assert rows(db_url, "SELECT count(*) AS n FROM wheels.suppressions")[0]["n"] == 0


def sent_one(url: str) -> int:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as c:
        return sent(c, "daily_digest", datetime.now(timezone.utc), provider_id="re_7")[0]


# -- spending after a budget alert ---------------------------------------------------------

# Fuel, limit 100, in UTC: 10 on the 5th, 7 on the 10th, 20 on the 15th and 30 on the 25th of every
# month; July (alerted on the 10th) spends 5 and 5 after it instead. September's alert was decided but
# suppressed: in neither group. November is not over; May is before the activation.
SPENDING = """
WITH b AS (
    INSERT INTO budget_categories (user_id, name, monthly_limit) VALUES (%(user)s, 'Fuel', 100) RETURNING id, user_id
)
INSERT INTO expenses (user_id, category_id, amount, spent_at)
SELECT b.user_id, b.id, CASE WHEN m = 7 AND d IN (15, 25) THEN 5 ELSE a END,
       make_timestamptz(2026, m, d, 12, 0, 0, 'UTC')
FROM b CROSS JOIN generate_series(5, 11) AS m
CROSS JOIN (VALUES (5, 10), (10, 7), (15, 20), (25, 30)) AS e (d, a)
RETURNING category_id
"""


def alert(conn, budget_id: int, kind: str, at: datetime, status: str = "sent") -> None:
    sent(conn, kind, at, subject=str(budget_id), period=f"{at:%Y-%m}", status=status)


@pytest.fixture
def spending(db_url, conn):
    conn.execute("UPDATE wheels.activation SET activated_at = '2026-06-01 00:00Z'")
    user = profile(db_url, "ana@example.com")
    budget = conn.execute(SPENDING, {"user": user}).fetchone()["category_id"]
    alert(conn, budget, "budget_warning", datetime(2026, 5, 20, 8, tzinfo=timezone.utc))  # before activation
    alert(conn, budget, "budget_warning", datetime(2026, 7, 10, 8, tzinfo=timezone.utc))
    alert(conn, budget, "over_budget", datetime(2026, 7, 28, 8, tzinfo=timezone.utc))  # the month's first counts
    alert(conn, budget, "budget_warning", datetime(2026, 9, 3, 8, tzinfo=timezone.utc), status="suppressed")
    alert(conn, budget, "budget_warning", datetime(2026, 11, 2, 8, tzinfo=timezone.utc))  # month not over
    return conn


AS_OF = datetime(2026, 11, 15, tzinfo=timezone.utc)


def test_spending_in_the_rest_of_the_month_after_an_alert_against_months_without(spending):
    effect = spending.execute("SELECT * FROM wheels.budget_alert_effect('2026-06-01 00:00Z', %s)", [AS_OF]).fetchone()
    # After July's alert on the 10th: 5 + 5 of 100. June, August, October after the 10th: 20 + 30.
    assert effect == {"budgets": 1, "alert_months": 1, "other_months": 3,
                      "after_alert_percent": Decimal("10.0"), "other_percent": Decimal("50.0")}


def test_spending_after_an_alert_is_shown_with_its_sample_or_says_there_is_too_little_data(spending):
    shown = metrics(spending, AS_OF)["spending_after_alert"]
    assert (shown["value"], shown["shown"], shown["status"]) == (None, "–", None)
    assert shown["note"] == ("too little data: 1 budget with a complete month with an alert and one without since "
                             "activation, needs 10 (setting alert_effect_min_budgets)")
    spending.execute("UPDATE wheels.settings SET value = '1' WHERE name = 'alert_effect_min_budgets'")
    shown = metrics(spending, AS_OF)["spending_after_alert"]
    assert (shown["value"], shown["shown"], shown["status"], shown["target"]) == (Decimal("-40.0"), "10.0% vs 50.0%",
                                                                                  None, None)
    assert shown["note"] == ("of the budget's limit, against the same days of months without an alert: 1 budget "
                             "(1 month with an alert, 3 without)")
