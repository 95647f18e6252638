"""The real `python cli.py web` on a loopback port: an HTTP round trip, and the
preferences page driven by a user in headless Chromium."""

from __future__ import annotations

import base64

import httpx2
import pytest
from psycopg.conninfo import make_conninfo

from tests.chromium import CHROMIUM, Chromium
from tests.conftest import run_cli
from tests.sender_support import profile, rows
from tests.web_support import bounce, signed, token, web_server
from web.limits import BAD_LINK_FAILURES_BURST


def test_the_real_server_unsubscribes_and_takes_webhooks(db_url, tmp_path):
    ana = profile(db_url, "ana@example.com")
    with web_server(db_url, tmp_path / "web.log") as base, httpx2.Client(base_url=base) as http:
        one_click = http.post(f"/unsubscribe?token={token(ana, 'daily_digest')}",
                              content=b"List-Unsubscribe=One-Click",
                              headers={"content-type": "application/x-www-form-urlencoded"})
        assert one_click.status_code == 200 and "server" not in one_click.headers
        body, headers = signed(bounce("ana@example.com"))
        assert http.post("/webhooks/resend", content=body, headers=headers).json() == {"recorded": True,
                                                                                       "suppressed": 1}
        assert http.get("/preferences?token=forged").status_code == 400
    log = (tmp_path / "web.log").read_text()
    assert "unsubscribed from daily_digest" in log and token(ana, "daily_digest") not in log  # no token in logs
    assert rows(db_url, "SELECT kind, enabled FROM email_preferences") == [{"kind": "daily_digest", "enabled": False}]
    assert rows(db_url, "SELECT email FROM wheels.suppressions") == [{"email": "ana@example.com"}]


def test_the_real_server_believes_x_forwarded_for_only_when_told_it_is_behind_a_proxy(db_url, tmp_path):
    def statuses(base: str, addresses: list[str]) -> list[int]:
        with httpx2.Client(base_url=base) as http:
            return [http.get("/preferences?token=forged", headers={"x-forwarded-for": a}).status_code
                    for a in addresses]

    addresses = [f"192.0.2.{n}" for n in range(BAD_LINK_FAILURES_BURST + 1)]
    # uvicorn alone would believe any loopback peer's header; unset WEB_PROXY_HOPS means none.
    with web_server(db_url, tmp_path / "direct.log") as base:
        assert statuses(base, addresses) == [400] * BAD_LINK_FAILURES_BURST + [429]
    assert "refused GET /preferences from 127.0.0.1" in (tmp_path / "direct.log").read_text()
    with web_server(db_url, tmp_path / "proxied.log", WEB_PROXY_HOPS="1") as base:
        assert statuses(base, addresses) == [400] * len(addresses)


def test_the_real_server_reports_its_health(db_url, pg_server, tmp_path):
    with web_server(db_url, tmp_path / "up.log") as base:
        answer = httpx2.get(f"{base}/healthz")
    assert (answer.status_code, answer.text) == (200, "ok\n")
    unreachable = make_conninfo(pg_server.url("postgres"), port=1, password="pw-not-to-leak")
    with web_server(unreachable, tmp_path / "down.log") as base:
        answer = httpx2.get(f"{base}/healthz", timeout=10)
    assert (answer.status_code, answer.text) == (503, "database unavailable\n")
    log = (tmp_path / "down.log").read_text()
    assert "health check failed: no database connection to 127.0.0.1:1/postgres" in log
    assert "pw-not-to-leak" not in log


def test_a_public_address_needs_a_real_unsubscribe_secret(db_url):
    done = run_cli("web", "--host", "0.0.0.0", "--port", "0", env={"DATABASE_URL": db_url})
    assert done.returncode == 1
    assert done.stderr.strip() == ("error: UNSUBSCRIBE_SECRET is not set; "
                                   "it signs the unsubscribe links of real emails")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium); scripts/setup.sh installs it")
def test_a_user_changes_preferences_in_chromium_without_javascript(db_url, tmp_path):
    ana = profile(db_url, "ana@example.com")
    with web_server(db_url, tmp_path / "web.log") as base:
        browser = Chromium(tmp_path / "chromium-profile")
        try:
            browser.call("Emulation.setScriptExecutionDisabled", page=True, value=True)
            browser.call("Emulation.setDeviceMetricsOverride", page=True, width=720, height=760,
                         deviceScaleFactor=1, mobile=False)
            browser.call("Page.enable", page=True)
            browser.open(f"{base}/preferences?token={token(ana, 'maintenance')}")
            assert browser.checkboxes() == {"Budget alerts": True, "Maintenance reminders": True, "Daily digest": True}
            # Clicking a label toggles its checkbox: the labels really belong to the switches.
            browser.click('label[for="pref-budget_alerts"]')
            browser.click('label[for="pref-daily_digest"]')
            browser.click('button[type="submit"]')
            browser.wait_for("Page.loadEventFired")
            assert browser.checkboxes() == {"Budget alerts": False, "Maintenance reminders": True,
                                            "Daily digest": False}
            shot = browser.call("Page.captureScreenshot", page=True, format="png")["data"]
        finally:
            browser.close()
    screenshot = tmp_path / "preferences.png"
    screenshot.write_bytes(base64.b64decode(shot))
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 5000
    assert {r["kind"]: r["enabled"] for r in rows(db_url, "SELECT kind, enabled FROM email_preferences")} == {
        "budget_alerts": False, "maintenance": True, "daily_digest": False}
