"""Make docs/dashboard.png (1280 px wide) and docs/dashboard-390.png (a phone): the dashboard of
the demo data, in headless Chromium.

    .venv/bin/python scripts/dashboard_screenshot.py [docs]

On a throwaway cluster under /tmp (pg_cron in its own database, as in the
tests): migrate, load the demo data (wheels_jobs/demo.py, which moves the
activation to the start of its history), roll up every hour and each day of
the demo week and send each day's report (`as_of`, as pg_cron would have run
them), run every job once as `demo` does, and deliver with `sender drain --once` through the
local Resend stand-in (tests/resend_stub.py), so the emails have provider ids.
Then serve `cli.py web`, post Svix-signed webhook events for them as Resend
would (every email delivered; a fixed, seeded share opened and clicked:
simulated engagement, for the picture), and capture /dashboard at both widths.
"""

from __future__ import annotations

import base64
import os
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx2
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chromium import Chromium  # noqa: E402
from tests.resend_stub import ResendStub  # noqa: E402
from tests.web_support import UNSUBSCRIBE_SECRET, signed, web_server  # noqa: E402
from wheels_jobs.demo import load_demo_data, run_every_job  # noqa: E402
from wheels_jobs.embedded import Cluster  # noqa: E402
from wheels_jobs.migrate import migrate  # noqa: E402

TOKEN = "demo-dashboard-token-0123456789"
WIDTHS = {"dashboard.png": 1280, "dashboard-390.png": 390}
# Simulated engagement: the share of delivered emails opened (some twice) and clicked.
OPENED, CLICKED = 0.42, 0.12


def prepare(url: str, stub: ResendStub) -> None:
    migrate(url, "demo")  # schedules too, so job health lists them as pg_cron knows them
    load_demo_data(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE wheels.settings SET value = 'ops@example.com,lead@example.com' "
                     "WHERE name = 'admin_emails'")
        now = conn.execute("SELECT now()").fetchone()[0]
        print(conn.execute("SELECT wheels.analytics_hourly(NULL, %s)", [now]).fetchone()[0])
        for days_ago in range(7, -1, -1):  # 02:00 UTC of each day of the week, then today's run
            as_of = (now - timedelta(days=days_ago)).replace(hour=2, minute=0, second=0, microsecond=0)
            print(conn.execute("SELECT wheels.analytics_daily(%s)", [as_of]).fetchone()[0])
            print(conn.execute("SELECT wheels.daily_report(%s)", [as_of + timedelta(minutes=30)]).fetchone()[0])
    run_every_job(url, "wheels demo", lambda job, result: print(result))  # as `demo` does: in the run log
    env = {**os.environ, "DATABASE_URL": url, "RESEND_API_KEY": stub.api_key, "RESEND_API_URL": stub.url,
           "UNSUBSCRIBE_SECRET": UNSUBSCRIBE_SECRET}
    subprocess.run([str(ROOT / ".venv" / "bin" / "sender"), "drain", "--once", "--no-rate-limit",
                    "--log-level", "WARNING"], env=env, check=True)


def engage(base: str, stub: ResendStub) -> None:
    """Resend's webhook events for what the stand-in accepted: delivered, and a seeded share
    opened and clicked, each signed as Svix signs them."""
    chance = random.Random(7)
    events = []
    for email in stub.accepted:
        kinds = ["email.delivered"]
        if chance.random() < OPENED:
            kinds += ["email.opened"] * chance.choice((1, 1, 2))
            if chance.random() < CLICKED / OPENED:
                kinds.append("email.clicked")
        events += [(kind, email) for kind in kinds]
    at = datetime.now(timezone.utc).isoformat()
    with httpx2.Client(base_url=base, timeout=10) as client:
        for n, (kind, email) in enumerate(events):
            body, headers = signed({"type": kind, "created_at": at,
                                    "data": {"email_id": email.id, "to": list(email.to), "subject": email.subject}},
                                   svix_id=f"msg_screenshot_{n}")
            client.post("/webhooks/resend", content=body, headers=headers).raise_for_status()
    print(f"{len(events)} webhook events for {len(stub.accepted)} emails")


def screenshots(url: str, stub: ResendStub, folder: Path, work: Path) -> None:
    with web_server(url, work / "web.log", DASHBOARD_TOKEN=TOKEN) as base:
        engage(base, stub)
        browser = Chromium(work / "chromium-profile")
        try:
            browser.call("Network.enable", page=True)
            browser.call("Network.setExtraHTTPHeaders", page=True, headers={"authorization": f"Bearer {TOKEN}"})
            browser.call("Page.enable", page=True)
            for name, width in WIDTHS.items():
                browser.call("Emulation.setDeviceMetricsOverride", page=True, width=width, height=900,
                             deviceScaleFactor=1, mobile=width < 600)
                browser.call("Emulation.setScrollbarsHidden", page=True, hidden=True)
                browser.open(f"{base}/dashboard")
                shot = browser.call("Page.captureScreenshot", page=True, format="png", captureBeyondViewport=True)
                target = folder / name
                target.write_bytes(base64.b64decode(shot["data"]))
                print(f"{target}: {target.stat().st_size // 1024} KB")
        finally:
            browser.close()


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs").resolve()
    work = Path(tempfile.mkdtemp(prefix="wheels-dashboard-"))
    work.chmod(0o755)  # the server's OS user (when run as root) must reach the data folder
    cluster = Cluster(work / "data", database="postgres")
    try:
        cluster.ensure_running()
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE wheels_demo")
        url = cluster.url("wheels_demo")
        with ResendStub() as stub:
            prepare(url, stub)
            screenshots(url, stub, folder, work)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
