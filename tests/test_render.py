"""Intent validation, templates and unsubscribe tokens (no database needed)."""

from __future__ import annotations

import email
import email.policy
import logging
import re
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from wheels_core import email_settings
from wheels_core import tokens
from sender.render import MAX_INTENT_BYTES, BadIntent, render
from wheels_core.email_settings import EmailSettings
from sender.transports import as_message
from wheels_core.errors import ConfigError

SECRET = b"test-secret"
SETTINGS = EmailSettings("Wheels <noreply@wheels.test>", "https://wheels.test/unsubscribe", SECRET)
USER = "9b2e7c1a-3f4d-4e5a-9b6c-7d8e9f0a1b2c"

# The data examples of docs/INTENTS.md, one per kind.
EXAMPLES = {
    "welcome": {},
    "budget_warning": {"category": "Fuel", "month": "2026-11", "spent": 412.50, "limit": 500.00, "percent": 82.5},
    "over_budget": {"category": "Fuel", "month": "2026-11", "spent": 512.50, "limit": 500.00, "percent": 102.5},
    "maintenance_reminder": {"title": "Oil change", "vehicle": "Troopy", "due_date": "2026-12-05", "days_left": 5},
    "maintenance_overdue": {"title": "Oil change", "vehicle": "Troopy", "due_date": "2026-11-20", "days_overdue": 10},
    "daily_digest": {"day": "2026-11-29", "spending": [{"category": "Fuel", "amount": 80.00}],
                     "budgets": [{"category": "Fuel", "spent": 412.50, "limit": 500.00, "percent": 82.5}],
                     "maintenance": [{"title": "Oil change", "vehicle": "Troopy", "due_date": "2026-12-05"}],
                     "pam": {"messages": 12}},
}
# When emails about these facts go out: their unsubscribe tokens verify then, whatever today is.
EXAMPLES_SENT_AT_S = datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp()

SUBJECTS = {
    "welcome": "Welcome to Wheels, Ana Souza",
    "budget_warning": "Fuel: 82.5% of your November 2026 budget used",
    "over_budget": "Fuel is over budget for November 2026",
    "maintenance_reminder": "Oil change for Troopy is due in 5 days",
    "maintenance_overdue": "Oil change for Troopy is 10 days overdue",
    "daily_digest": "Your Wheels summary for Sunday 29 November 2026",
}

# A phrase from each kind's body that only appears when its data was rendered.
BODY_FACTS = {
    "welcome": "Your Wheels account is ready",
    "budget_warning": "87.50",  # left to spend
    "over_budget": "12.50",  # over by
    "maintenance_reminder": "Saturday 5 December 2026",
    "maintenance_overdue": "Friday 20 November 2026, 10 days ago",
    "daily_digest": "You and PAM exchanged 12 messages",
}


def intent(kind: str = "budget_warning", **changes) -> dict:
    message = {"v": 1, "kind": kind, "intent_id": 17, "user_id": USER, "to": "ana@example.com",
               "name": "Ana Souza", "data": dict(EXAMPLES[kind])}
    message.update(changes)
    return message


def with_data(kind: str = "budget_warning", **changes) -> dict:
    return intent(kind, data={**EXAMPLES[kind], **changes})


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url.strip("<>")).query)["token"][0]


@pytest.mark.parametrize("kind", list(EXAMPLES))
def test_every_kind_renders_subject_html_and_text(kind):
    e = render(intent(kind), SETTINGS)
    assert (e.intent_id, e.kind, e.user_id, e.to, e.from_) == (17, kind, USER, "ana@example.com", SETTINGS.from_address)
    assert e.subject == SUBJECTS[kind]
    assert e.html.lstrip().startswith("<!DOCTYPE html>") and "Hi Ana Souza," in e.html
    assert "Hi Ana Souza," in e.text and "<p>" not in e.text
    assert BODY_FACTS[kind] in e.html and BODY_FACTS[kind] in e.text
    assert e.headers["X-Wheels-Intent-Id"] == "17"


def test_a_null_name_and_vehicle_read_naturally():
    e = render(intent("maintenance_overdue", name=None, data={**EXAMPLES["maintenance_overdue"], "vehicle": None}),
               SETTINGS)
    assert e.subject == "Oil change is 10 days overdue"
    assert e.text.startswith("Hi,\n")
    assert "None" not in e.text and "None" not in e.html


def test_welcome_has_no_unsubscribe_headers():
    e = render(intent("welcome", user_id=None), SETTINGS)
    assert "List-Unsubscribe" not in e.headers and "List-Unsubscribe-Post" not in e.headers
    assert "unsubscribe" not in e.text.lower()


def test_the_welcome_email_links_the_preferences_page_with_a_token_for_that_page_only():
    e = render(intent("welcome", data={"day": "2026-11-30"}), SETTINGS)
    links = re.findall(r'href="([^"]*preferences[^"]*)"', e.html)
    assert len(links) == 2 and len(set(links)) == 1  # "your email preferences page", and the footer
    link = links[0]
    assert link.startswith("https://wheels.test/preferences?token=") and link in e.text
    assert tokens.verify(token_of(link), SECRET, now_s=EXAMPLES_SENT_AT_S) == (USER, tokens.PREFERENCES_PAGE)
    assert "your settings" not in e.text and "You get this email because you signed up for Wheels." in e.text
    # Welcomes queued before the day was in their data, or without a user: no link, words that still hold.
    for old in (intent("welcome"), intent("welcome", user_id=None, data={"day": "2026-11-30"})):
        e = render(old, SETTINGS)
        assert "preferences" not in e.html + e.text
        assert "every optional email has a link for it at the bottom" in e.text


@pytest.mark.parametrize("message", [intent(kind) for kind in EXAMPLES] + [
    intent("welcome", user_id=None), intent("welcome", data={"day": "2026-11-30"}),
    {"v": 1, "kind": "daily_report", "intent_id": 17, "user_id": None, "to": "ops@example.com", "name": None, "data": {
        "day": "2026-11-29", "rolled_up": False, "messages": 0, "responses": 0, "distinct_users": 0, "successes": 0,
        "failures": 0, "success_rate": None, "p50_ms": None, "p95_ms": None, "p99_ms": None, "top_intents": [],
        "emails": []}}], ids=lambda m: f"{m['kind']}-{m['user_id'] is not None}-{sorted(m['data'])[:1]}")
def test_no_email_has_an_empty_paragraph(message):
    e = render(message, SETTINGS)
    assert not re.search(r"<p[^>]*>\s*</p>", e.html), e.html


@pytest.mark.parametrize("kind, preference", [("budget_warning", "budget_alerts"), ("over_budget", "budget_alerts"),
                                              ("maintenance_reminder", "maintenance"),
                                              ("maintenance_overdue", "maintenance"), ("daily_digest", "daily_digest")])
def test_optional_kinds_carry_one_click_unsubscribe_bound_to_user_and_preference(kind, preference):
    e = render(intent(kind), SETTINGS)
    assert e.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = e.headers["List-Unsubscribe"]
    assert re.fullmatch(r"<https://wheels\.test/unsubscribe\?token=[A-Za-z0-9_.-]+>", header)
    url = header.strip("<>")
    assert url in e.text and url in e.html
    assert tokens.verify(token_of(header), SECRET, now_s=EXAMPLES_SENT_AT_S) == (USER, preference)
    with pytest.raises(tokens.BadToken, match="signature"):
        tokens.verify(token_of(header), b"another secret", now_s=EXAMPLES_SENT_AT_S)


def test_unsubscribe_base_url_with_a_query_gets_the_token_appended():
    settings = EmailSettings("w@wheels.test", "https://wheels.test/u?lang=en", SECRET)
    url = render(intent(), settings).headers["List-Unsubscribe"].strip("<>")
    assert url.startswith("https://wheels.test/u?lang=en&token=")


def test_rendering_is_deterministic_so_a_resent_batch_is_byte_identical(monkeypatch):
    first = render(intent("maintenance_reminder"), SETTINGS)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)  # much later
    second = render(intent("maintenance_reminder"), SETTINGS)
    assert first == second


def test_user_text_is_escaped_in_html():
    e = render(intent("daily_digest", name="<script>alert(1)</script>",
                      data={**EXAMPLES["daily_digest"],
                            "spending": [{"category": "<img src=x onerror=alert(2)>", "amount": 1}],
                            "maintenance": [{"title": "Tyres & \"rims\"", "vehicle": "<b>Troopy</b>",
                                             "due_date": "2026-12-05"}]}), SETTINGS)
    for raw in ("<script>", "<img", "<b>Troopy"):
        assert raw not in e.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in e.html
    assert "&lt;img src=x onerror=alert(2)&gt;" in e.html
    assert "Tyres &amp; &#34;rims&#34;" in e.html
    assert "<script>alert(1)</script>" in e.text  # plain text is not markup


def test_line_breaks_in_user_text_never_reach_subject_or_headers():
    attack = "Fuel\r\nBcc: victim@example.com\r\n\r\n<h1>hi</h1>"
    e = render(intent("budget_warning", name="Ana\nBcc: victim@example.com",
                      data={**EXAMPLES["budget_warning"], "category": attack}), SETTINGS)
    assert e.subject == "Fuel Bcc: victim@example.com <h1>hi</h1>: 82.5% of your November 2026 budget used"
    for value in [e.subject, e.from_, e.to, *e.headers.values()]:
        assert not re.search(r"[\r\n\x00-\x1f\u2028\u2029]", value)
    parsed = email.message_from_bytes(as_message(e).as_bytes(), policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert parsed["To"] == "ana@example.com"


def test_subject_and_long_user_text_are_cut():
    e = render(with_data(category="Fuel " * 100), SETTINGS)
    assert len(e.subject) <= 200 and "\n" not in e.subject
    assert e.subject.endswith("…")


# -- malformed intents ----------------------------------------------------------

NO_USER_BUDGET = intent(user_id=None)
HUGE = intent(data={**EXAMPLES["budget_warning"], "category": "x" * (1024 * 1024)})

MALFORMED = [
    ([], "message is not a JSON object (got array)"),
    ("hello", "message is not a JSON object (got string)"),
    (None, "message is not a JSON object (got null)"),
    (HUGE, "intent payload is"),  # the exact wording is checked in the test
    ({k: v for k, v in intent().items() if k != "intent_id"}, "message has no intent_id"),
    (intent(intent_id="17"), "message has an invalid intent_id '17' (needs a positive integer)"),
    (intent(intent_id=-3), "message has an invalid intent_id -3 (needs a positive integer)"),
    (intent(intent_id=True), "message has an invalid intent_id True (needs a positive integer)"),
    (intent(v=2), "intent 17: unsupported version 2"),
    (intent(v="1"), "intent 17: unsupported version '1'"),
    ({k: v for k, v in intent().items() if k != "v"}, "intent 17: missing field 'v'"),
    ({**intent(), "kind": "foo"}, "intent 17: unknown kind 'foo'"),
    ({k: v for k, v in intent().items() if k != "kind"}, "intent 17: missing field 'kind'"),
    (intent(to=""), "intent 17: invalid recipient address '' (empty)"),
    ({k: v for k, v in intent().items() if k != "to"}, "intent 17: missing field 'to'"),
    (intent(to="ana@example.com\r\nBcc: victim@example.com"),
     "intent 17: invalid recipient address 'ana@example.com\\r\\nBcc: victim@example.com' (contains control"),
    (intent(to="ana@example.com\nX-Evil: 1"), "(contains control characters)"),
    (intent(to="ana@example.com,victim@example.com"), "(needs exactly one @)"),
    (intent(to="Ana <ana@example.com>"), "(contains whitespace)"),
    (intent(to="ana@localhost"), "intent 17: invalid recipient address 'ana@localhost' (domain has no dot)"),
    (intent(to="ana@-bad-.com"), "(domain is not a valid host name)"),
    (intent(to="an..a@example.com"), "(local part has characters that are not allowed)"),
    (intent(to="a" * 65 + "@example.com"), "(local part must have 1 to 64 characters)"),
    (intent(to=["ana@example.com"]), "intent 17: invalid recipient address ['ana@example.com'] (must be a string"),
    (intent(user_id="not-a-uuid"), "intent 17: user_id 'not-a-uuid' is not a UUID"),
    (NO_USER_BUDGET, "intent 17: kind 'budget_warning' needs a user_id"),
    ({k: v for k, v in intent().items() if k != "data"}, "intent 17: missing field 'data'"),
    (intent(data=[]), "intent 17: field 'data' must be an object, got array"),
    (with_data(spent="412.50"), "intent 17: field 'data.spent' must be a number, got '412.50'"),
    (with_data(spent=True), "intent 17: field 'data.spent' must be a number, got True"),
    (with_data(month="2026-13"), "intent 17: field 'data.month' must be a month YYYY-MM, got '2026-13'"),
    (intent("budget_warning", data={k: v for k, v in EXAMPLES["budget_warning"].items() if k != "category"}),
     "intent 17: missing field 'data.category'"),
    (with_data(category="  \r\n "), "intent 17: field 'data.category' is empty"),
    (with_data("maintenance_reminder", due_date="2026-02-30"),
     "intent 17: field 'data.due_date' must be a date YYYY-MM-DD, got '2026-02-30'"),
    (with_data("maintenance_reminder", days_left=5.5), "intent 17: field 'data.days_left' must be an integer"),
    (with_data("daily_digest", spending=[1]), "intent 17: field 'data.spending[0]' must be an object, got number"),
    (with_data("daily_digest", budgets=[{"category": "Fuel", "spent": 1, "limit": 2}]),
     "intent 17: missing field 'data.budgets[0].percent'"),
    (with_data("daily_digest", pam=None), "intent 17: field 'data.pam' must be an object, got null"),
    (with_data(percent=float("nan")), "message is not plain JSON: ValueError"),
    (intent(name=42), "intent 17: field 'name' must be a string, got number"),
    # Values a batch-wide query or the calendar cannot take (issue 11).
    (intent(intent_id=2**63), "message has an intent_id 9223372036854775808 out of range (at most 9223372036854775807"),
    (with_data("maintenance_reminder", days_left=2**63),
     "intent 17: field 'data.days_left' is out of range (a bigint), got 9223372036854775808"),
    (with_data("maintenance_overdue", days_overdue=10**9),
     "intent 17: data.due_date and its day count put the intent's date out of range"),
    (with_data(spent=10**400), "intent 17: field 'data.spent' must be a finite number, got 1000000000"),
    (with_data("daily_digest", pam={"messages": -(2**63) - 1}), "intent 17: field 'data.pam.messages' is out of range"),
]


@pytest.mark.parametrize("message, reason", MALFORMED, ids=[str(i) for i in range(len(MALFORMED))])
def test_malformed_intents_raise_bad_intent_with_a_specific_one_line_reason(message, reason):
    with pytest.raises(BadIntent) as caught:
        render(message, SETTINGS)
    text = str(caught.value)
    assert "\n" not in text and len(text) < 300
    if message is HUGE:
        assert re.fullmatch(rf"intent payload is \d{{7}} bytes, over the {MAX_INTENT_BYTES} limit", text)
    else:
        assert text.startswith(reason) if reason.startswith(("intent", "message")) else reason in text


def test_the_largest_bigint_is_a_valid_intent_id():
    assert render(intent(intent_id=2**63 - 1), SETTINGS).intent_id == 2**63 - 1


def test_malformed_list_is_long_enough():
    assert len(MALFORMED) >= 20


# -- settings ---------------------------------------------------------------------

def test_settings_from_env_defaults_and_overrides():
    s = EmailSettings.from_env({"UNSUBSCRIBE_SECRET": "abc"})
    assert s == EmailSettings("Wheels <noreply@wheels.local>", "http://127.0.0.1:8000/unsubscribe", b"abc")
    s = EmailSettings.from_env({"UNSUBSCRIBE_SECRET": "abc", "EMAIL_FROM": "Me <me@x.org>",
                                 "UNSUBSCRIBE_BASE_URL": "https://x.org/u"})
    assert (s.from_address, s.unsubscribe_base_url) == ("Me <me@x.org>", "https://x.org/u")


def test_missing_secret_is_a_config_error_when_required_and_a_quiet_fallback_otherwise(caplog):
    with pytest.raises(ConfigError, match="UNSUBSCRIBE_SECRET is not set"):
        EmailSettings.from_env({}, require_secret=True)
    with caplog.at_level(logging.DEBUG):
        fallback = EmailSettings.from_env({})
    # Each process says it once, in its own words (sender drain and cli.py web log it; demo and up
    # print a note before they run): never a log line from here, in the middle of their output.
    assert fallback.unsubscribe_secret == email_settings.DEV_SECRET and fallback.dev_secret
    assert caplog.records == []
    assert not EmailSettings.from_env({"UNSUBSCRIBE_SECRET": "s"}).dev_secret


@pytest.mark.parametrize("env, problem", [({"EMAIL_FROM": "Wheels <a@b.c>\r\nBcc: x@y.z"}, "EMAIL_FROM"),
                                          ({"UNSUBSCRIBE_BASE_URL": "javascript:alert(1)"}, "UNSUBSCRIBE_BASE_URL")])
def test_unusable_settings_are_config_errors(env, problem):
    with pytest.raises(ConfigError, match=problem):
        EmailSettings.from_env({"UNSUBSCRIBE_SECRET": "s", **env})


# -- tokens -------------------------------------------------------------------------

def test_token_round_trip_and_preference_binding():
    token = tokens.sign(USER, "over_budget", SECRET)
    assert tokens.verify(token, SECRET) == (USER, "budget_alerts")
    assert tokens.verify(tokens.sign(USER, "maintenance", SECRET), SECRET) == (USER, "maintenance")
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
    with pytest.raises(ValueError, match="welcome"):
        tokens.sign(USER, "welcome", SECRET)


def test_tampered_tokens_fail():
    token = tokens.sign(USER, "daily_digest", SECRET)
    payload, mac = token.split(".")
    other_payload = tokens.sign("00000000-0000-0000-0000-000000000000", "daily_digest", SECRET).split(".")[0]
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    for bad in (f"{other_payload}.{mac}", f"{payload}.{flipped}", payload, "", "a.b.c", "!!!.???"):
        with pytest.raises(tokens.BadToken):
            tokens.verify(bad, SECRET)


def test_expired_and_future_tokens_fail():
    now = int(time.time())
    old = tokens.sign(USER, "maintenance", SECRET, issued_at=now - 3600)
    assert tokens.verify(old, SECRET, max_age_s=7200) == (USER, "maintenance")
    with pytest.raises(tokens.BadToken, match="expired"):
        tokens.verify(old, SECRET, max_age_s=60)
    with pytest.raises(tokens.BadToken, match="future"):
        tokens.verify(tokens.sign(USER, "maintenance", SECRET, issued_at=now + 3 * 24 * 3600), SECRET)


@pytest.mark.parametrize("currency, shown", [("AUD", "A$412.50"), ("USD", "$412.50"), ("EUR", "€412.50"),
                                             (None, "412.50"), ("A$", "412.50"), (12, "412.50")])
def test_amounts_carry_the_users_currency_and_an_unusable_one_shows_plain_amounts(currency, shown):
    e = render(with_data("budget_warning", currency=currency), SETTINGS)
    assert f"Spent so far:  {shown}" in e.text and shown in e.html
    digest = render(with_data("daily_digest", currency=currency), SETTINGS)
    assert f"Fuel: {shown} of " in digest.text
