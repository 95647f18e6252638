"""Make docs/dashboard.png: the dashboard of the demo data, in headless Chromium.

    .venv/bin/python scripts/dashboard_screenshot.py [docs/dashboard.png]

On a throwaway cluster under /tmp (pg_cron in its own database, as in the
tests): migrate, load the demo data (wheels_jobs/demo.py), roll up every hour
and each day of the demo week (`as_of`, as pg_cron would have run them), run
the email jobs and the daily report, deliver with `sender drain --once` to an
outbox folder, then serve `cli.py web` and capture /dashboard.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chromium import Chromium  # noqa: E402
from tests.web_support import web_server  # noqa: E402
from wheels_jobs.demo import load_demo_data  # noqa: E402
from wheels_jobs.embedded import Cluster  # noqa: E402
from wheels_jobs.migrate import migrate  # noqa: E402

TOKEN = "demo-dashboard-token-0123456789"
WIDTH_PX = 800


def prepare(url: str, outbox: Path) -> None:
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
        for job in ("budget_alerts", "maintenance_reminders", "daily_digest"):
            print(conn.execute(f"SELECT wheels.{job}()").fetchone()[0])
    env = {**os.environ, "DATABASE_URL": url, "OUTBOX_DIR": str(outbox)}
    env.pop("RESEND_API_KEY", None)
    subprocess.run([str(ROOT / ".venv" / "bin" / "sender"), "drain", "--once", "--no-rate-limit"],
                   env=env, check=True)


def screenshot(url: str, target: Path, work: Path) -> None:
    with web_server(url, work / "web.log", DASHBOARD_TOKEN=TOKEN) as base:
        browser = Chromium(work / "chromium-profile")
        try:
            browser.call("Emulation.setDeviceMetricsOverride", page=True, width=WIDTH_PX, height=1200,
                         deviceScaleFactor=1, mobile=False)
            browser.call("Network.enable", page=True)
            browser.call("Network.setExtraHTTPHeaders", page=True, headers={"authorization": f"Bearer {TOKEN}"})
            browser.call("Page.enable", page=True)
            browser.open(f"{base}/dashboard")
            shot = browser.call("Page.captureScreenshot", page=True, format="png", captureBeyondViewport=True)
        finally:
            browser.close()
    target.write_bytes(base64.b64decode(shot["data"]))
    print(f"{target}: {target.stat().st_size // 1024} KB")


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "dashboard.png").resolve()
    work = Path(tempfile.mkdtemp(prefix="wheels-dashboard-"))
    work.chmod(0o755)  # the server's OS user (when run as root) must reach the data folder
    cluster = Cluster(work / "data", database="postgres")
    try:
        cluster.ensure_running()
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE wheels_demo")
        url = cluster.url("wheels_demo")
        prepare(url, work / "outbox")
        screenshot(url, target, work)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
