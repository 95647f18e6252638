"""Make docs/emails/: every kind of email, rendered as the sender renders it, to review without sending.

    .venv/bin/python scripts/email_gallery.py [docs/emails]

For each kind, from fixed example intents (docs/INTENTS.md's shapes, amounts in the user's
currency): <kind>.html (the HTML part), <kind>.txt (the plain-text part), and <kind>.png (the
HTML part in headless Chromium, 600 px wide, as a mail client's reading pane shows it); and
README.md, the index with each subject. tests/test_email_gallery.py renders the same into a
temporary folder and fails when the committed HTML or text differ, so the gallery stays current.
"""

from __future__ import annotations

import base64
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sender.render import Email, render  # noqa: E402
from wheels_core.email_settings import EmailSettings
from tests.chromium import Chromium  # noqa: E402

WIDTH_PX = 600
# Links carry tokens signed with this made-up secret; none of them works anywhere.
SETTINGS = EmailSettings("Wheels <noreply@wheels.example>", "https://wheels.example/unsubscribe",
                          b"gallery-secret-not-used-anywhere")
USER = "2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091"
SUCCESS = [
    ("welcome_emails", "Welcome emails sent", "after 1 week", 212, 10, "met", "212", "10+", None),
    ("pam_interactions", "PAM interactions logged", "after 1 week", 16804, 1000, "met", "16,804", "1,000+",
     "messages and responses, from the hourly rollups"),
    ("critical_errors", "Critical errors", "after 1 week", 0, 0, "met", "0", "0",
     "0 failed job runs, 0 dead letters, 0 sender crashes"),
    ("analytics_hours", "Hours of PAM analytics on the dashboard", "after 1 week", 168, 1, "met", "168", "1+",
     "hours rolled up with PAM events"),
    ("budget_alerts", "Budget alerts sent", "after 1 month", 4, 5, "not yet", "4", "5+", "warnings and over budget"),
    ("maintenance_reminders", "Maintenance reminders sent", "after 1 month", 9, 3, "met", "9", "3+",
     "due soon and overdue"),
    ("daily_digests", "Daily digests sent", "after 1 month", 120, 30, "met", "120", "30+", None),
    ("engagement_rate", "Email engagement rate", "long term", 23.4, 20, "met", "23.4%", "over 20%",
     "87 of 372 delivered emails opened or clicked"),
    ("spending_after_alert", "Spending in the rest of the month after a budget alert", "long term", None, None, None,
     "–", None, "too little data: 3 budgets with a complete month with an alert and one without since activation, "
                "needs 10 (setting alert_effect_min_budgets)"),
]
EXAMPLES = {
    "welcome": {"day": "2026-11-29"},
    "budget_warning": {"category": "Fuel", "month": "2026-11", "spent": 412.50, "limit": 500.00, "percent": 82.5,
                       "currency": "AUD"},
    "over_budget": {"category": "Camping", "month": "2026-11", "spent": 263.10, "limit": 250.00, "percent": 105.2,
                    "currency": "AUD"},
    "maintenance_reminder": {"title": "Oil change", "vehicle": "Troopy", "due_date": "2026-12-04", "days_left": 5},
    "maintenance_overdue": {"title": "Tyre rotation", "vehicle": "Troopy", "due_date": "2026-11-26",
                            "days_overdue": 3},
    "daily_digest": {"day": "2026-11-28", "currency": "AUD",
                     "spending": [{"category": "Fuel", "amount": 84.20}, {"category": "Groceries", "amount": 61.75}],
                     "budgets": [{"category": "Camping", "spent": 263.10, "limit": 250.00, "percent": 105.2},
                                 {"category": "Fuel", "spent": 412.50, "limit": 500.00, "percent": 82.5},
                                 {"category": "Groceries", "spent": 302.40, "limit": 600.00, "percent": 50.4}],
                     "maintenance": [{"title": "Oil change", "vehicle": "Troopy", "due_date": "2026-12-04"}],
                     "pam": {"messages": 6}},
    "daily_report": {"day": "2026-11-28", "rolled_up": True, "messages": 8412, "responses": 8409,
                     "distinct_users": 198, "successes": 8160, "failures": 249, "success_rate": 0.9704,
                     "p50_ms": 1412.0, "p95_ms": 5120.5, "p99_ms": 8801.0,
                     "top_intents": [{"intent": "weather", "count": 2450}, {"intent": "trip_planning", "count": 1870},
                                     {"intent": "fuel_prices", "count": 1102}],
                     "emails": [{"kind": "daily_digest", "sent": 180, "dead_lettered": 0, "suppressed": 2},
                                {"kind": "welcome", "sent": 3, "dead_lettered": 0, "suppressed": 0}],
                     "activated_at": "2026-11-21T00:00:00Z",
                     "success": [dict(zip(("metric", "label", "checkpoint", "value", "target", "status", "shown",
                                           "target_shown", "note"), row)) for row in SUCCESS]},
}


def emails() -> dict[str, Email]:
    """Every kind, rendered from its example intent."""
    return {kind: render({"v": 1, "kind": kind, "intent_id": 1000 + i,
                          "user_id": None if kind == "daily_report" else USER,
                          "to": "ops@wheels.example" if kind == "daily_report" else "ana@example.com",
                          "name": None if kind == "daily_report" else "Ana Souza", "data": data}, SETTINGS)
            for i, (kind, data) in enumerate(EXAMPLES.items())}


def index(rendered: dict[str, Email]) -> str:
    rows = "\n".join(f"| `{kind}` | {e.subject} | [{kind}.png]({kind}.png) | [{kind}.txt]({kind}.txt) | "
                     f"[{kind}.html]({kind}.html) |" for kind, e in rendered.items())
    return f"""# Every email, rendered

Made by `.venv/bin/python scripts/email_gallery.py` from example intents (fixed dates, amounts in
the user's currency), with the sender's own templates (`sender/templates/`). The pictures are the
HTML part in headless Chromium, {WIDTH_PX} px wide; the text files are the plain-text part. Links
carry tokens signed with a made-up secret. `tests/test_email_gallery.py` fails when these files
no longer match the templates: run the script again after changing one.

| kind | subject | HTML, {WIDTH_PX} px | text part | HTML |
| --- | --- | --- | --- | --- |
{rows}
"""


def write(target: Path, browser: Chromium | None) -> dict[str, Email]:
    """Render every kind into `target`: .html and .txt always, .png when a browser is given."""
    target.mkdir(parents=True, exist_ok=True)
    rendered = emails()
    for kind, e in rendered.items():
        (target / f"{kind}.html").write_text(e.html, encoding="utf-8")
        (target / f"{kind}.txt").write_text(e.text, encoding="utf-8")
        if browser is not None:
            (target / f"{kind}.png").write_bytes(screenshot(browser, target / f"{kind}.html"))
    (target / "README.md").write_text(index(rendered), encoding="utf-8")
    return rendered


def screenshot(browser: Chromium, page: Path) -> bytes:
    """The page as a PNG, WIDTH_PX wide and as tall as it is."""
    browser.call("Emulation.setDeviceMetricsOverride", page=True, width=WIDTH_PX, height=300, deviceScaleFactor=1,
                 mobile=False)
    browser.open(page.resolve().as_uri())
    shot = browser.call("Page.captureScreenshot", page=True, format="png", captureBeyondViewport=True)
    return base64.b64decode(shot["data"])


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "emails").resolve()
    work = Path(tempfile.mkdtemp(prefix="wheels-gallery-"))
    browser = Chromium(work / "chromium-profile")
    try:
        browser.call("Page.enable", page=True)
        browser.call("Emulation.setScriptExecutionDisabled", page=True, value=True)
        browser.call("Emulation.setScrollbarsHidden", page=True, hidden=True)
        for kind in write(target, browser):
            print(f"{target / kind}.png, .txt, .html")
    finally:
        browser.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
