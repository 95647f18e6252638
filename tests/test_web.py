"""The web service through Starlette's TestClient against real PostgreSQL:
unsubscribe, preferences (and the sender honouring them), webhooks, limits."""

from __future__ import annotations

import email
import email.policy
import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from starlette.testclient import TestClient

from sender.config import DrainConfig
from sender.drain import drain
from sender.render import render
from wheels_core.email_settings import EmailSettings
from sender.store import Store as SenderStore
from sender.transports import OutboxTransport
from tests.sender_support import BUDGET_DATA, deliveries, enqueue, logged_in_as, profile, rows
from tests.web_support import ENV, bounce, signed, token
from web.app import WebSettings, create_app, is_loopback
from web.guard import MAX_BODY_BYTES
from web.store import Store
from web.webhooks import MAX_EVENT_DEPTH, check_secret
from wheels_core.errors import ConfigError
from wheels_jobs.status import delivery_event_counts

# Reads the calendar: also run at other instants (tests/test_any_instant.py).
pytestmark = pytest.mark.clock

SETTINGS = WebSettings.from_env(ENV)
PROXIED = WebSettings.from_env({**ENV, "WEB_PROXY_HOPS": "1"})  # behind one proxy: clients by X-Forwarded-For
# Facts of these days: the links in their emails are dated by them and must be valid today.
TODAY = datetime.now(timezone.utc).date()
MAINTENANCE = {"title": "Oil change", "vehicle": "Troopy", "due_date": str(TODAY + timedelta(days=5)), "days_left": 5}
DIGEST = {"day": str(TODAY - timedelta(days=2)), "spending": [], "budgets": [], "maintenance": [], "pam": {"messages": 0}}
THIS_MONTH = {**BUDGET_DATA, "month": f"{TODAY:%Y-%m}"}
ONE_CLICK = {"content": b"List-Unsubscribe=One-Click", "headers": {"content-type": "application/x-www-form-urlencoded"}}


def client_for(url: str, settings: WebSettings = SETTINGS) -> TestClient:
    return TestClient(create_app(Store(url), settings), base_url="http://127.0.0.1:8000")


@pytest.fixture
def client(db_url):
    with client_for(db_url) as c:
        yield c


@pytest.fixture
def ana(db_url) -> str:
    return profile(db_url, "ana@example.com")


def switches(url: str, user_id: str) -> dict[str, bool]:
    return {r["kind"]: r["enabled"] for r in rows(url, "SELECT kind, enabled FROM email_preferences WHERE user_id = %s",
                                                  [user_id])}


def drain_to_outbox(url: str, folder) -> None:
    drain(SenderStore(url), OutboxTransport(folder), EmailSettings.from_env(ENV),
          DrainConfig(once=True, rate_limit_per_s=0.0, retry_initial_s=0.0), handle_signals=False)


# -- unsubscribe ----------------------------------------------------------------


def test_one_click_post_opts_out_of_that_kind_at_once(client, db_url, ana):
    answer = client.post(f"/unsubscribe?token={token(ana, 'over_budget')}", **ONE_CLICK)
    assert answer.status_code == 200
    assert "no longer get <strong>budget alert emails</strong> from Wheels." in answer.text
    assert switches(db_url, ana) == {"budget_alerts": False}


def test_the_unsubscribe_page_changes_nothing_until_its_button_is_pressed(client, db_url, ana):
    page = client.get(f"/unsubscribe?token={token(ana, 'maintenance')}")
    assert page.status_code == 200 and "Unsubscribe from maintenance reminder emails" in page.text
    assert switches(db_url, ana) == {}  # link scanners that GET the URL unsubscribe nobody
    form = re.search(r'<form method="post" action="([^"]+)">', page.text).group(1)
    assert re.search(r'<a href="preferences\?token=[^"]+">', page.text)
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    done = client.post(f"/{form}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    assert switches(db_url, ana) == {"maintenance": False}


def test_every_unusable_token_gets_the_same_400_page_and_changes_nothing(db_url, ana):
    good = token(ana)
    payload, mac = good.split(".")
    tampered = token("00000000-0000-0000-0000-000000000000").split(".")[0] + "." + mac
    bad_tokens = {
        "tampered": tampered,
        "flipped": payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + mac,
        "expired": token(ana, issued_at=int(time.time()) - 400 * 24 * 3600),
        "foreign secret": token(ana, secret="another-deployment"),
        "garbage": "not-a-token",
        "missing": "",
    }
    pages = set()
    # Each reason from its own address (behind a proxy), so none reaches the failure limit.
    with client_for(db_url, PROXIED) as client:
        for n, (name, bad) in enumerate(bad_tokens.items()):
            for method, path in [("GET", "/unsubscribe"), ("POST", "/unsubscribe"),
                                 ("GET", "/preferences"), ("POST", "/preferences")]:
                answer = client.request(method, f"{path}?token={bad}", content=ONE_CLICK["content"],
                                        headers={**ONE_CLICK["headers"], "x-forwarded-for": f"192.0.2.{n}"})
                assert answer.status_code == 400, (name, method, path)
                pages.add(answer.text)
        # A genuine token whose user was deleted looks exactly the same.
        gone = token(profile(db_url, "gone@example.com"))
        rows(db_url, "DELETE FROM profiles WHERE email = 'gone@example.com' RETURNING id")
        answer = client.post(f"/unsubscribe?token={gone}", **ONE_CLICK)
        assert answer.status_code == 400
        pages.add(answer.text)
        assert len(pages) == 1 and "This link does not work" in pages.pop()
        assert rows(db_url, "SELECT * FROM email_preferences") == []
        assert client.get(f"/unsubscribe?token={good}").status_code == 200


# -- preferences ----------------------------------------------------------------


def test_preferences_are_shown_with_labels_and_saved(client, db_url, ana):
    url = f"/preferences?token={token(ana, 'daily_digest')}"
    page = client.get(url).text
    for kind, label in [("budget_alerts", "Budget alerts"), ("maintenance", "Maintenance reminders"),
                        ("daily_digest", "Daily digest")]:
        assert re.search(rf'<input type="checkbox" id="pref-{kind}" name="{kind}" value="on"[^>]* checked>', page)
        assert f'<label for="pref-{kind}">{label}</label>' in page
    saved = client.post(url, data={"budget_alerts": "on"})
    assert saved.status_code == 200 and "Your preferences are saved." in saved.text
    assert switches(db_url, ana) == {"budget_alerts": True, "maintenance": False, "daily_digest": False}
    page = client.get(url).text
    assert 'name="maintenance" value="on" aria-describedby="help-maintenance">' in page
    client.post(url, data={"budget_alerts": "on", "maintenance": "on", "daily_digest": "on"})
    assert switches(db_url, ana) == {"budget_alerts": True, "maintenance": True, "daily_digest": True}


def test_links_the_sender_puts_in_emails_work_and_the_sender_honours_the_choice(client, db_url, ana, tmp_path):
    first = enqueue(db_url, "daily_digest", "ana@example.com", user_id=ana, data=DIGEST)
    drain_to_outbox(db_url, tmp_path / "outbox")
    sent = email.message_from_bytes((tmp_path / "outbox" / f"{first}.eml").read_bytes(), policy=email.policy.default)
    link = urlsplit(sent["List-Unsubscribe"].strip("<>"))
    assert client.post(f"{link.path}?{link.query}", **ONE_CLICK).status_code == 200
    # And through the preferences page: budget alerts off too, maintenance stays on.
    client.post(f"/preferences?{link.query}", data={"maintenance": "on"})
    digest = enqueue(db_url, "daily_digest", "ana@example.com", user_id=ana, data={**DIGEST, "day": str(TODAY - timedelta(days=1))})
    budget = enqueue(db_url, "budget_warning", "ana@example.com", user_id=ana, data=THIS_MONTH)
    wanted = enqueue(db_url, "maintenance_reminder", "ana@example.com", user_id=ana, data=MAINTENANCE)
    drain_to_outbox(db_url, tmp_path / "outbox")
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == sorted([f"{first}.eml", f"{wanted}.eml"])
    recorded = deliveries(db_url)
    assert recorded[digest]["status"] == "suppressed" and "daily_digest" in recorded[digest]["last_error"]
    assert recorded[budget]["status"] == "suppressed" and "budget_alerts" in recorded[budget]["last_error"]
    assert recorded[wanted]["status"] == "sent"


def test_the_welcome_emails_link_opens_the_preferences_page_and_unsubscribes_from_nothing(client, db_url, ana):
    welcome = render({"v": 1, "kind": "welcome", "intent_id": 1, "user_id": ana, "to": "ana@example.com",
                      "name": "Ana", "data": {"day": str(TODAY)}}, EmailSettings.from_env(ENV))
    link = urlsplit(re.search(r'href="([^"]*/preferences\?token=[^"]+)"', welcome.html).group(1))
    page = client.get(f"{link.path}?{link.query}")
    assert page.status_code == 200 and 'id="pref-budget_alerts"' in page.text
    saved = client.post(f"{link.path}?{link.query}", data={"maintenance": "on", "daily_digest": "on"})
    assert saved.status_code == 200 and "Your preferences are saved." in saved.text
    assert switches(db_url, ana) == {"budget_alerts": False, "maintenance": True, "daily_digest": True}
    # It opens the page only: at /unsubscribe it is as unusable as any bad link, and changes nothing.
    for answer in (client.get(f"/unsubscribe?{link.query}"), client.post(f"/unsubscribe?{link.query}", **ONE_CLICK)):
        assert answer.status_code == 400
    assert switches(db_url, ana) == {"budget_alerts": False, "maintenance": True, "daily_digest": True}


# -- webhooks -------------------------------------------------------------------


def webhook(client: TestClient, event: dict | bytes, **kwargs):
    body, headers = signed(event, **kwargs)
    return client.post("/webhooks/resend", content=body, headers=headers)


def events(url: str) -> list[dict]:
    return rows(url, "SELECT svix_id, type, provider_message_id, recipient, intent_id FROM wheels.delivery_events")


def suppressions(url: str) -> dict[str, str]:
    return {r["email"]: r["reason"] for r in rows(url, "SELECT email, reason FROM wheels.suppressions")}


def test_a_signed_event_is_recorded_against_its_delivery(client, db_url):
    intent = enqueue(db_url, "welcome", "ana@example.com")
    rows(db_url, "INSERT INTO wheels.deliveries (intent_id, status, provider_message_id) "
                 "VALUES (%s, 'sent', 're_42') RETURNING intent_id", [intent])
    delivered = {"type": "email.delivered", "created_at": "2026-11-30T08:00:00Z",
                 "data": {"email_id": "re_42", "to": ["Ana@Example.com"], "subject": "Welcome"}}
    answer = webhook(client, delivered, svix_id="msg_delivered")
    assert answer.status_code == 200 and answer.json() == {"recorded": True, "suppressed": 0}
    assert events(db_url) == [{"svix_id": "msg_delivered", "type": "email.delivered", "provider_message_id": "re_42",
                               "recipient": "ana@example.com", "intent_id": intent}]
    assert suppressions(db_url) == {}


def test_bad_and_stale_signatures_are_rejected_and_redeliveries_recorded_once(client, db_url):
    event = bounce("ana@example.com")
    body, headers = signed(event)
    forged = client.post("/webhooks/resend", content=body.replace(b"ana@", b"bob@"), headers=headers)
    wrong_key = webhook(client, event, secret="whsec_" + "QUJD" * 8)
    stale = webhook(client, event, timestamp=int(time.time()) - 6 * 60)
    future = webhook(client, event, timestamp=int(time.time()) + 6 * 60)
    unsigned = client.post("/webhooks/resend", content=body, headers={"content-type": "application/json"})
    for answer in (forged, wrong_key, stale, future, unsigned):
        assert answer.status_code == 400 and answer.json() == {"error": "invalid webhook"}
    assert events(db_url) == [] and suppressions(db_url) == {}
    first = client.post("/webhooks/resend", content=body, headers=headers)
    replay = client.post("/webhooks/resend", content=body, headers=headers)
    assert first.json() == {"recorded": True, "suppressed": 1}
    assert replay.status_code == 200 and replay.json() == {"recorded": False, "suppressed": 0}
    assert len(events(db_url)) == 1


def test_permanent_bounces_complaints_and_provider_suppressions_suppress_and_transient_bounces_do_not(client, db_url):
    complained = {"type": "email.complained", "created_at": "2026-11-30T08:00:00Z",
                  "data": {"email_id": "re_3", "to": ["Cat@Example.com"]}}
    assert webhook(client, bounce("Ana@Example.com"), svix_id="msg_a").json()["suppressed"] == 1
    assert webhook(client, bounce("ben@example.com", bounce_type="Transient"), svix_id="msg_b").json()["suppressed"] == 0
    assert webhook(client, complained, svix_id="msg_c").json()["suppressed"] == 1
    # Already suppressed: the event is still recorded, the first reason stays.
    assert webhook(client, complained, svix_id="msg_d").json() == {"recorded": True, "suppressed": 0}
    refused = {"type": "email.suppressed", "data": {"email_id": "re_5", "to": ["dan@example.com"],
                                                    "suppressed": {"type": "OnAccountSuppressionList"}}}
    assert webhook(client, refused, svix_id="msg_e").json()["suppressed"] == 1
    assert suppressions(db_url) == {"ana@example.com": "bounce: General", "cat@example.com": "complaint",
                                    "dan@example.com": "suppressed by the provider"}
    assert len(events(db_url)) == 5


def test_a_bounce_suppresses_the_address_so_the_next_intent_to_it_is_skipped(client, db_url, ana, tmp_path):
    assert webhook(client, bounce("ANA@example.com")).status_code == 200
    skipped = enqueue(db_url, "maintenance_reminder", "ana@example.com", user_id=ana, data=MAINTENANCE)
    other = enqueue(db_url, "welcome", "ben@example.com")
    drain_to_outbox(db_url, tmp_path / "outbox")
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [f"{other}.eml"]
    recorded = deliveries(db_url)[skipped]
    assert recorded["status"] == "suppressed" and "bounce: General" in recorded["last_error"]


def test_signed_events_the_database_cannot_keep_get_400_not_500(client, db_url):
    # Genuinely signed, yet deeper than Python's parser recurses, or holding what jsonb
    # refuses (non-finite numbers, NUL, lone surrogates): refused, nothing half-stored.
    def with_data(inner: str) -> bytes:
        return b'{"type": "email.bounced", "data": {"to": ["ana@example.com"], "x": ' + inner.encode() + b"}}"

    unstorable = {"nested past the parser": with_data("[" * 30_000 + "]" * 30_000),
                  "nested past the limit": with_data("[" * (MAX_EVENT_DEPTH - 1) + "]" * (MAX_EVENT_DEPTH - 1)),
                  "infinite": with_data("1e999"), "not a number": with_data("NaN"),
                  "NUL": with_data('"a\\u0000b"'), "NUL in a key": with_data('{"a\\u0000": 1}'),
                  "lone surrogate": with_data('"\\ud800"')}
    for name, body in unstorable.items():
        assert len(body) <= MAX_BODY_BYTES, name
        answer = webhook(client, body, svix_id=f"msg_{len(body)}_{name}")
        assert (answer.status_code, answer.json()) == (400, {"error": "invalid webhook"}), name
    assert events(db_url) == [] and suppressions(db_url) == {}
    # The event object, its data, then the lists: exactly MAX_EVENT_DEPTH levels are kept.
    deep = with_data("[" * (MAX_EVENT_DEPTH - 2) + "]" * (MAX_EVENT_DEPTH - 2))
    assert webhook(client, deep, svix_id="msg_deep").json() == {"recorded": True, "suppressed": 0}


def test_without_a_webhook_secret_events_are_refused_with_503(db_url):
    with client_for(db_url, WebSettings.from_env({"UNSUBSCRIBE_SECRET": "test-secret"})) as unconfigured:
        assert webhook(unconfigured, bounce("ana@example.com")).status_code == 503
    assert events(db_url) == []


# -- limits, headers, settings -----------------------------------------------------


def test_bodies_over_the_limit_are_refused_with_413(client, db_url, ana):
    big = b"x" * (MAX_BODY_BYTES + 1)
    assert client.post("/webhooks/resend", content=big).status_code == 413

    def chunks():  # no Content-Length: the limit counts what arrives
        for _ in range(MAX_BODY_BYTES // 1024 + 1):
            yield b"a=" + b"b" * 1022
    assert client.post(f"/preferences?token={token(ana)}", content=chunks(),
                       headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 413
    assert client.post("/webhooks/resend", content=b"{}", headers={"content-length": "12x"}).status_code == 400
    assert switches(db_url, ana) == {}


def test_pages_carry_security_headers(client, ana):
    for answer in (client.get(f"/preferences?token={token(ana)}"), client.get("/unsubscribe?token=bad"),
                   client.get("/static/style.css")):
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert "form-action 'self'" in answer.headers["content-security-policy"]
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"


def test_without_a_database_pages_answer_503_and_the_service_keeps_running(pg_server):
    unreachable = make_conninfo(pg_server.url("postgres"), port=1)
    with TestClient(create_app(Store(unreachable, timeout_s=0.2), SETTINGS)) as client:
        user = "00000000-0000-4000-8000-000000000001"
        for _ in range(2):
            answer = client.post(f"/unsubscribe?token={token(user)}", **ONE_CLICK)
            assert answer.status_code == 503 and "Please try again in a few minutes." in answer.text
        assert client.get("/unsubscribe?token=bad").status_code == 400


def test_healthz_is_ok_while_the_database_answers(client):
    answer = client.get("/healthz")
    assert (answer.status_code, answer.text) == (200, "ok\n")
    assert answer.headers["content-type"].startswith("text/plain") and answer.headers["cache-control"] == "no-store"


def test_healthz_without_a_database_is_503_with_one_line_naming_nothing(pg_server):
    unreachable = make_conninfo(pg_server.url("postgres"), port=1, user="wheels_web", password="pw-not-to-leak")
    with TestClient(create_app(Store(unreachable, timeout_s=0.2), SETTINGS)) as client:
        started = time.monotonic()
        answer = client.get("/healthz")
        assert time.monotonic() - started < 2  # the store's shorter wait, not HEALTH_TIMEOUT_S
    assert (answer.status_code, answer.text) == (503, "database unavailable\n")


def test_settings():
    assert WebSettings.from_env(ENV).email.unsubscribe_secret == b"test-secret"
    with pytest.raises(ConfigError, match="UNSUBSCRIBE_SECRET is not set"):
        WebSettings.from_env({}, require_secret=True)
    for bad in ("abc", "whsec_not base64!", "whsec_"):
        with pytest.raises(ConfigError, match="RESEND_WEBHOOK_SECRET"):
            check_secret(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")


# -- least privilege and status ------------------------------------------------------


@pytest.fixture
def web_url(db_url):
    """db_url, connecting as wheels_web (roles are cluster-wide: LOGIN only for this test)."""
    with logged_in_as(db_url, "wheels_web") as url:
        yield url


def test_the_web_role_does_its_work_with_what_it_was_granted(web_url, db_url, ana):
    intent = enqueue(db_url, "welcome", "ana@example.com")
    rows(db_url, "INSERT INTO wheels.deliveries (intent_id, status, provider_message_id) "
                 "VALUES (%s, 'sent', 're_1') RETURNING intent_id", [intent])
    with client_for(web_url) as client:
        assert client.post(f"/unsubscribe?token={token(ana)}", **ONE_CLICK).status_code == 200
        assert client.post(f"/preferences?token={token(ana)}", data={"maintenance": "on"}).status_code == 200
        assert "Daily digest" in client.get(f"/preferences?token={token(ana)}").text
        assert webhook(client, bounce("ana@example.com")).json() == {"recorded": True, "suppressed": 1}
    assert switches(db_url, ana) == {"budget_alerts": False, "maintenance": True, "daily_digest": False}
    assert events(db_url)[0]["intent_id"] == intent


FORBIDDEN = [
    "SELECT * FROM profiles", "SELECT * FROM expenses", "SELECT * FROM budget_categories",
    "SELECT * FROM pam_analytics_logs", "SELECT * FROM wheels.email_ledger", "SELECT * FROM pgmq.q_email_intents",
    "SELECT last_error, recipient FROM wheels.deliveries", "UPDATE wheels.deliveries SET status = 'dead'",
    "DELETE FROM wheels.suppressions", "DELETE FROM email_preferences", "UPDATE wheels.delivery_events SET type = 'x'",
    "INSERT INTO profiles (email) VALUES ('x@example.com')",
]


def test_the_web_role_cannot_touch_anything_else(web_url):
    allowed = []
    with psycopg.connect(web_url, autocommit=True) as conn:
        for statement in FORBIDDEN:
            try:
                conn.execute(statement)
            except psycopg.errors.InsufficientPrivilege:
                continue
            allowed.append(statement)
    assert allowed == []


def test_delivery_event_counts_for_status(client, db_url):
    with psycopg.connect(db_url) as conn:
        assert delivery_event_counts(conn) == {"bounces": 0, "complaints": 0, "sent": 0, "complaint_rate": None,
                                               "complaint_rate_warning": False}
    intents = [enqueue(db_url, "welcome", f"user{i}@example.com") for i in range(4)]
    rows(db_url, "INSERT INTO wheels.deliveries (intent_id, status, sent_at) "
                 "SELECT i, 'sent', now() - make_interval(days => 8 * (i = %s)::int) FROM unnest(%s::bigint[]) i "
                 "RETURNING intent_id", [intents[0], intents])
    webhook(client, bounce("user1@example.com"), svix_id="msg_1")
    webhook(client, {"type": "email.complained", "data": {"to": ["user2@example.com"]}}, svix_id="msg_2")
    webhook(client, {"type": "email.complained", "data": {"to": ["user3@example.com"]}}, svix_id="msg_3")
    rows(db_url, "UPDATE wheels.delivery_events SET received_at = now() - interval '8 days' "
                 "WHERE svix_id = 'msg_3' RETURNING id")
    with psycopg.connect(db_url) as conn:
        counts = delivery_event_counts(conn)
    assert counts == {"bounces": 1, "complaints": 1, "sent": 3, "complaint_rate": pytest.approx(1 / 3),
                      "complaint_rate_warning": True}
