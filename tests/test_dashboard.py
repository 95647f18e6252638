"""/dashboard (issue 8) through Starlette's TestClient against real PostgreSQL:
the figures on the page are the database's, the token guards it, and the web
role reads it with its aggregate-only grants; then the real server in headless
Chromium."""

from __future__ import annotations

import base64
import re
from html import unescape

import psycopg
import pytest

from tests.chromium import CHROMIUM, Chromium
from tests.sender_support import enqueue, rows
from tests.test_web import client_for, web_url  # noqa: F401  (web_url: a fixture, connects as wheels_web)
from tests.web_support import ENV, web_server
from web.app import WebSettings
from wheels_core.errors import ConfigError

TOKEN = "dashboard-token-for-tests"
SETTINGS = WebSettings.from_env({**ENV, "DASHBOARD_TOKEN": TOKEN})
BEARER = {"authorization": f"Bearer {TOKEN}"}

SEED = """
-- Two hours of PAM rollups (3 and 2 hours ago) and two days (yesterday, the day before).
INSERT INTO wheels.pam_hourly (hour, messages, responses, distinct_users, successes, failures, success_rate,
                               response_time_p50_ms, response_time_p95_ms, response_time_p99_ms, intents)
VALUES (date_trunc('hour', now(), 'UTC') - interval '3 hours', 120, 118, 40, 112, 6, 0.9492, 812.5, 4100.0, 7300.0,
        '{"weather": 70, "campsites": 50}'),
       (date_trunc('hour', now(), 'UTC') - interval '2 hours', 95, 95, 31, 95, 0, 1.0, 640.0, 2950.0, 3980.0,
        '{"weather": 95}');
INSERT INTO wheels.pam_daily (day, messages, responses, distinct_users, successes, failures, success_rate, intents)
VALUES ((now() AT TIME ZONE 'UTC')::date - 1, 4321, 4300, 187, 4200, 100, 0.9767,
        '{"weather": 2000, "campsites": 1500, "fuel_prices": 821}'),
       ((now() AT TIME ZONE 'UTC')::date - 2, 3999, 3990, 170, 3900, 90, 0.9774, '{"weather": 3999}');
"""


@pytest.fixture
def seeded(db_url) -> str:
    with psycopg.connect(db_url) as conn:
        conn.execute(SEED)
    sent = [enqueue(db_url, "welcome", f"user{i}@example.com") for i in range(3)]
    skipped = enqueue(db_url, "daily_digest", "ana@example.com")
    rows(db_url, "INSERT INTO wheels.deliveries (intent_id, status, kind, sent_at) "
                 "SELECT i, 'sent', 'welcome', now() FROM unnest(%s::bigint[]) i RETURNING intent_id", [sent])
    rows(db_url, "INSERT INTO wheels.deliveries (intent_id, status, kind) VALUES (%s, 'suppressed', 'daily_digest') "
                 "RETURNING intent_id", [skipped])
    rows(db_url, "INSERT INTO wheels.dead_letters (reason, kind, recipient) VALUES "
                 "('bad address', 'budget_warning', 'x@example'), ('unreadable', NULL, NULL) RETURNING id")
    rows(db_url, "INSERT INTO wheels.suppressions (email, reason) VALUES ('bob@example.com', 'bounce: General'), "
                 "('cat@example.com', 'complaint') RETURNING email")
    return db_url


def table(page: str, table_id: str) -> list[list[str]]:
    """The body rows of one data table, as cell texts."""
    body = re.search(rf'<table class="data[^"]*" id="{table_id}">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return [[unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)]
            for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def seeded_labels(url: str) -> dict[str, str]:
    """The page's labels of the seeded hours and days, read back from what SEED wrote: the
    page may be drawn an hour (or a day) later than SEED ran, and must still show them."""
    return rows(url, "SELECT to_char(min(s.hour) AT TIME ZONE 'UTC', 'DD Mon HH24:00') AS three_hours_ago,"
                     "       to_char(max(s.hour) AT TIME ZONE 'UTC', 'DD Mon HH24:00') AS two_hours_ago,"
                     "       (SELECT to_char(max(day), 'YYYY-MM-DD') FROM wheels.pam_daily) AS yesterday,"
                     "       (SELECT to_char(min(day), 'YYYY-MM-DD') FROM wheels.pam_daily) AS day_before"
                     " FROM wheels.pam_hourly s")[0]


def by_label(rows: list[list[str]], label: str) -> list[str]:
    return next(cells[1:] for cells in rows if cells[0] == label)


@pytest.mark.clock  # reads the calendar: also run at other instants (tests/test_any_instant.py)
def test_the_figures_on_the_page_are_the_databases(seeded):
    # Hours are labelled in UTC even when the database's TimeZone is another (+05:45).
    with psycopg.connect(seeded, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET timezone = %L', current_database(), "
                     "'Asia/Kathmandu'); END $$")
    labels = seeded_labels(seeded)
    with client_for(seeded, SETTINGS) as client:
        page = client.get("/dashboard", headers=BEARER)
    assert page.status_code == 200
    text = page.text
    # Six charts, each drawn for screens and for phones (the stylesheet shows one).
    assert text.count('<svg class="chart wide"') == 6 and text.count('<svg class="chart narrow"') == 6
    hours = table(text, "hours-table")
    assert len(hours) == 48
    assert by_label(hours, labels["three_hours_ago"]) == ["120", "118", "94.9%", "812 ms", "4,100 ms", "7,300 ms"]  # "812.5" rounds half to even
    assert by_label(hours, labels["two_hours_ago"]) == ["95", "95", "100.0%", "640 ms", "2,950 ms", "3,980 ms"]
    assert hours[-1][1:] == ["–"] * 6  # the hour just completed has no row yet
    days = table(text, "intents-table")
    assert len(days) == 14
    # Columns: day, messages, distinct users, then intents by 14-day total (weather, campsites, fuel_prices).
    assert by_label(days, labels["yesterday"]) == ["4,321", "187", "2,000", "1,500", "821"]
    assert by_label(days, labels["day_before"]) == ["3,999", "170", "3,999", "0", "0"]
    assert [cells[1:] for cells in table(text, "emails-table")] == [
        ["budget_warning", "0", "1", "0"], ["daily_digest", "0", "0", "1"], ["unknown", "0", "1", "0"],
        ["welcome", "3", "0", "0"]]
    assert [cells[1:] for cells in table(text, "suppressions-table")] == [["bounce", "1"], ["complaint", "1"]]
    queue = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", text))
    assert queue["Intents waiting"] == "4" and queue["Ready to send"] == "4" and queue["In flight"] == "0"
    # Every job of sql/cron/ is listed (the test database has no schedules).
    assert {cells[0] for cells in table(text, "jobs-table")} >= {"analytics_daily", "daily_report", "budget_alerts"}
    # The success panel: every metric of the guide, counted from the activation (here: the migration).
    success = {cells[0]: cells[1:] for cells in table(text, "success-table")}
    assert success["Welcome emails sent"] == ["after 1 week", "3", "10+", "not yet"]
    errors = next(cells for label, cells in success.items() if label.startswith("Critical errors"))
    assert errors[1:] == ["2", "0", "not met"]  # the two dead letters
    assert len(success) == 9 and any(k.startswith("Spending in the rest of the month after a budget alert") for k in success)
    assert "How spending after a budget alert is measured" in text
    # Hours on the chart's axis carry their date.
    assert re.search(r"<tspan[^>]*>\d\dh</tspan><tspan[^>]*>\d\d [A-Z][a-z]{2}</tspan>", text)
    # Tooltips carry exact figures; no address or user appears anywhere.
    assert "<title>messages " in text and "welcome " in text
    assert "@" not in text


@pytest.mark.clock  # reads the calendar: also run at other instants (tests/test_any_instant.py)
def test_the_token_guards_the_dashboard(seeded):
    with client_for(seeded, SETTINGS) as client:
        for headers in ({}, {"authorization": "Bearer wrong-token-wrong-token"}, {"authorization": f"Basic {TOKEN}"}):
            denied = client.get("/dashboard", headers=headers)
            assert denied.status_code == 401 and denied.headers["www-authenticate"] == 'Bearer realm="dashboard"'
            assert 'name="token"' in denied.text and "<svg" not in denied.text
        wrong = client.post("/dashboard", data={"action": "login", "token": TOKEN[:-1]}, follow_redirects=False)
        assert wrong.status_code == 401 and "That token is not right." in wrong.text
        assert "set-cookie" not in wrong.headers

        signed_in = client.post("/dashboard", data={"action": "login", "token": TOKEN}, follow_redirects=False)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "dashboard"
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
        assert client.get("/dashboard").status_code == 200  # the cookie alone
        client.post("/dashboard", data={"action": "logout"}, follow_redirects=False)
        assert client.get("/dashboard").status_code == 401
        client.cookies.set("wheels_dashboard", "forged")
        assert client.get("/dashboard").status_code == 401

    unset = WebSettings.from_env(ENV)
    with client_for(seeded, unset) as client:
        for answer in (client.get("/dashboard", headers=BEARER), client.post("/dashboard", data={"token": ""})):
            assert answer.status_code == 404 and "set DASHBOARD_TOKEN" in answer.text
    for bad in ("short", f" {TOKEN} "):
        with pytest.raises(ConfigError, match="DASHBOARD_TOKEN needs at least 16 characters"):
            WebSettings.from_env({**ENV, "DASHBOARD_TOKEN": bad})


@pytest.mark.clock  # reads the calendar: also run at other instants (tests/test_any_instant.py)
def test_the_web_role_reads_the_dashboard_with_aggregate_grants_only(seeded, web_url):  # noqa: F811
    with client_for(web_url, SETTINGS) as client:
        page = client.get("/dashboard", headers=BEARER)
    assert page.status_code == 200
    assert by_label(table(page.text, "hours-table"), seeded_labels(seeded)["three_hours_ago"])[0] == "120"
    assert [cells[1:] for cells in table(page.text, "emails-table")][-1] == ["welcome", "3", "0", "0"]
    assert "Intents waiting</dt><dd>4<" in page.text
    with psycopg.connect(web_url, autocommit=True) as conn:
        for forbidden in ("SELECT count(*) FROM wheels.dead_letters", "SELECT count(*) FROM pgmq.a_email_intents",
                          "SELECT wheels_source.log_pam_event(NULL, 'message')", "SELECT * FROM wheels_source.users",
                          "SELECT wheels.daily_report()", "DELETE FROM wheels.pam_daily",
                          "SELECT * FROM analytics_daily", "SELECT * FROM profiles"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(forbidden)


def test_an_empty_dashboard_says_none_instead_of_drawing_empty_grids(db_url):
    with client_for(db_url, SETTINGS) as client:
        text = client.get("/dashboard", headers=BEARER).text
    charts = re.findall(r'<svg class="chart (?:wide|narrow)".*?</svg>', text, re.S)
    assert len(charts) == 12
    for chart in charts:
        assert 'class="grid"' not in chart and 'class="empty"' in chart
    assert text.count(">none in the last 14 days</text>") == 2  # dead-lettered and suppressed: wide and narrow
    assert text.count(">no PAM events in the last 48 hours</text>") == 2
    assert "None: no email went out through Resend in these 8 weeks" in text


@pytest.mark.clock  # reads the calendar: also run at other instants (tests/test_any_instant.py)
def test_engagement_per_week_and_kind_for_the_web_role(db_url, web_url):  # noqa: F811
    sent = [enqueue(db_url, "daily_digest", f"user{i}@example.com") for i in range(4)]
    rows(db_url, "INSERT INTO wheels.deliveries (intent_id, status, kind, sent_at, provider_message_id) "
                 "SELECT i, 'sent', 'daily_digest', now(), 're_' || i FROM unnest(%s::bigint[]) i RETURNING intent_id",
         [sent])
    rows(db_url, "INSERT INTO wheels.delivery_events (svix_id, type, provider_message_id, payload) "
                 "SELECT 'msg_' || n, t, 're_' || i, '{}' FROM unnest(%s::text[], %s::bigint[]) WITH ORDINALITY "
                 "AS e (t, i, n) RETURNING id",
         [["email.delivered"] * 4 + ["email.opened", "email.opened", "email.clicked"],
          sent + [sent[0], sent[0], sent[1]]])
    with client_for(web_url, SETTINGS) as client:
        text = client.get("/dashboard", headers=BEARER).text
    week = rows(db_url, "SELECT to_char(now() AT TIME ZONE 'UTC', 'IYYY-\"W\"IW') AS w")[0]["w"]
    assert table(text, "engagement-table") == [[week, "daily_digest", "4", "4", "1", "1", "25.0%", "25.0%"]]
    assert "@" not in text


def layout(browser: Chromium, base: str, width: int) -> dict:
    """The dashboard at `width` CSS pixels: the page's content width and the boxes (left, right,
    height) of what must line up; None for what is not displayed."""
    browser.call("Emulation.setDeviceMetricsOverride", page=True, width=width, height=900, deviceScaleFactor=1,
                 mobile=width < 600)
    browser.open(f"{base}/dashboard")
    root = browser.call("DOM.getDocument", page=True)["root"]["nodeId"]

    def box(selector: str):
        node = browser.call("DOM.querySelector", page=True, nodeId=root, selector=selector)["nodeId"]
        assert node, f"no element matches {selector!r}"
        try:
            quad = browser.call("DOM.getBoxModel", page=True, nodeId=node)["model"]["border"]
        except AssertionError:  # not displayed: no box
            return None
        return {"left": quad[0], "right": quad[2], "height": quad[5] - quad[1]}

    return {"content_width": browser.call("Page.getLayoutMetrics", page=True)["cssContentSize"]["width"],
            **{name: box(selector) for name, selector in {
                "heading": "h2#pam", "tiles": "dl.tiles", "success": "#success-table", "jobs": "#jobs-table",
                "wide": "svg.chart.wide", "narrow": "svg.chart.narrow",
                "wide_axis": "svg.chart.wide text.axis", "narrow_axis": "svg.chart.narrow text.axis"}.items()},
            "screenshot": base64.b64decode(browser.call("Page.captureScreenshot", page=True, format="png",
                                                        captureBeyondViewport=True)["data"])}


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium); scripts/setup.sh installs it")
def test_the_dashboard_fits_a_phone_and_a_desktop_in_chromium(seeded, tmp_path):
    with web_server(seeded, tmp_path / "web.log", DASHBOARD_TOKEN=TOKEN) as base:
        browser = Chromium(tmp_path / "chromium-profile")
        try:
            browser.call("Emulation.setScriptExecutionDisabled", page=True, value=True)  # no JavaScript needed
            for domain in ("Page", "Log", "Runtime", "Network"):
                browser.call(f"{domain}.enable", page=True)
            browser.call("Network.setExtraHTTPHeaders", page=True, headers=BEARER)
            phone, desktop = layout(browser, base, 390), layout(browser, base, 1280)
            problems = browser.events("Log.entryAdded") + browser.events("Runtime.exceptionThrown")
        finally:
            browser.close()
    assert [p for p in problems if p.get("entry", {}).get("level", "error") == "error"] == []
    # No sideways scrolling on a phone: the page is no wider than the screen.
    assert phone["content_width"] <= 390 and desktop["content_width"] <= 1280
    # Each screen gets the chart drawn for it, with axis text of a readable size (11 px, not scaled down).
    assert phone["wide"] is None and phone["narrow"] is not None and phone["narrow_axis"]["height"] >= 10
    assert desktop["narrow"] is None and desktop["wide"] is not None and desktop["wide_axis"]["height"] >= 10
    # Charts, tiles, tables and the headings' rule share both edges.
    for page in (phone, desktop):
        chart = page["narrow"] or page["wide"]
        for other in ("heading", "tiles", "success", "jobs"):
            assert abs(chart["left"] - page[other]["left"]) < 1 and abs(chart["right"] - page[other]["right"]) < 1, other
    assert desktop["wide"]["right"] - desktop["wide"]["left"] > 700
    for name, page in (("390", phone), ("1280", desktop)):
        shot = tmp_path / f"dashboard-{name}.png"
        shot.write_bytes(page["screenshot"])
        assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10000
