"""`cli.py demo` end to end, and `cli.py up` as a newcomer runs it (embedded cluster, Ctrl-C)."""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests import clock
from tests.conftest import run_cli
from tests.sender_support import rows, wait_for
from wheels_jobs.demo import DEMO_USERS, STEPS
from wheels_jobs.embedded import PROJECT_ROOT

# Reads the calendar: also run at other instants (tests/test_any_instant.py).
pytestmark = pytest.mark.clock



def table_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in [*STEPS, "wheels.email_ledger", "wheels.deliveries", "wheels.pam_hourly", "wheels.pam_daily"]}


def outbox_kinds(folder: Path) -> Counter:
    kinds = Counter()
    for path in folder.glob("*.eml"):
        kinds[email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["X-Wheels-Kind"]] += 1
    return kinds


def cells(output: str, name: str) -> list[str]:
    """The cells after `name` in the table row that has it."""
    for line in output.splitlines():
        row = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if name in row:
            return row[row.index(name) + 1:]
    raise AssertionError(f"no row {name!r} in:\n{output}")


def test_demo_from_an_empty_database_fills_the_outbox_and_a_second_run_adds_nothing(empty_db_url, tmp_path):
    # Both runs in one UTC day: one that begins between them brings its daily report (and one
    # that begins between analytics_daily and daily_report holds the report back), rightly.
    clock.within_one_utc_day(120)
    env = {"DATABASE_URL": empty_db_url}  # not a terminal: tables come out whole
    assert run_cli("migrate", "--source", "demo", env=env).returncode == 0
    outbox = tmp_path / "outbox"
    # Not the embedded database: made-up users go in only when asked for.
    refused = run_cli("demo", "--outbox-dir", str(outbox), env=env)
    assert refused.returncode == 1 and refused.stderr.startswith("error: the demo loads made-up users")
    assert len(refused.stderr.splitlines()) == 1 and not outbox.exists()
    # With a Resend key in the environment the demo still writes the outbox: Resend only with --resend.
    env = {**env, "RESEND_API_KEY": "re_not_used_by_the_demo", "RESEND_API_URL": "http://127.0.0.1:9"}
    first = run_cli("demo", "--force", "--outbox-dir", str(outbox), env=env)
    assert first.returncode == 0, first.stderr

    sent = rows(empty_db_url, "SELECT intent_id, kind, status FROM wheels.deliveries")
    ledger = Counter(r["kind"] for r in rows(empty_db_url, "SELECT kind FROM wheels.email_ledger"))
    assert {r["status"] for r in sent} == {"sent"} and len(sent) == sum(ledger.values())
    # Every intent the jobs decided is one .eml file, named by its intent id.
    assert sorted(p.name for p in outbox.glob("*.eml")) == sorted(f"{r['intent_id']}.eml" for r in sent)
    assert outbox_kinds(outbox) == ledger
    assert set(ledger) == {"welcome", "budget_warning", "over_budget", "maintenance_reminder",
                           "maintenance_overdue", "daily_digest", "daily_report"}  # every kind there is
    assert ledger["daily_report"] == 1  # to the made-up team address, with the success metrics
    report = next(email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                  for p in outbox.glob("*.eml") if b"X-Wheels-Kind: daily_report" in p.read_bytes())
    assert report["To"] == "ops@example.com"
    assert "Success since activation" in report.get_body(("plain",)).get_content()
    assert ledger["welcome"] == DEMO_USERS
    # The summary: emails by kind, sent by this run and in all, with a subject each, and the last day's
    # PAM numbers; whole lines although the output is not a terminal.
    for kind, count in ledger.items():
        assert cells(first.stdout, kind)[:2] == [str(count), str(count)]
    assert cells(first.stdout, "total")[:2] == [str(len(sent))] * 2
    assert "Welcome to Wheels, " in first.stdout and "…" not in first.stdout
    assert "success rate" in first.stdout and "p95" in first.stdout
    assert f"emails went to {outbox}" in first.stdout
    # The success panel, filled from the demo data (its history starts before the activation's week).
    assert "Success since activation" in first.stdout
    for metric in ("Welcome emails sent", "PAM interactions logged", "Critical errors",
                   "Hours of PAM analytics on the dashboard", "Budget alerts sent", "Maintenance reminders sent",
                   "Daily digests sent"):
        assert cells(first.stdout, metric)[2] == "met", metric
    assert cells(first.stdout, "Email engagement rate")[2:] == [
        "not yet", "no email went out through Resend since activation (the outbox has no opens or clicks)"]
    assert cells(first.stdout, "Spending in the rest of the month after a budget alert")[3].startswith(
        "too little data")
    # One plain note about the development secret, before anything ran; no log line.
    assert first.stdout.startswith("note: UNSUBSCRIBE_SECRET is not set, so unsubscribe links are signed")
    assert first.stdout.count("UNSUBSCRIBE_SECRET") == 1 and "WARNING" not in first.stderr

    before = table_counts(empty_db_url)
    files = {p.name: p.stat().st_mtime_ns for p in outbox.iterdir()}
    second = run_cli("demo", "--force", "--outbox-dir", str(outbox), env=env)
    assert second.returncode == 0, second.stderr
    assert "demo data: already loaded" in second.stdout
    # Nothing was sent again, and the summary says so rather than reprinting the totals as if sent now.
    for kind, count in ledger.items():
        assert cells(second.stdout, kind)[:2] == ["0", str(count)]
    assert "no new email this run" in second.stdout
    assert table_counts(empty_db_url) == before
    assert {p.name: p.stat().st_mtime_ns for p in outbox.iterdir()} == files


def test_up_runs_the_system_until_ctrl_c(tmp_path):
    parent = Path(tempfile.mkdtemp(prefix="wheels-test-up-"))
    parent.chmod(0o755)  # the server's OS user (root runs it as postgres) must reach its data folder
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RESEND_API_KEY")}
    env.update({"WHEELS_PGDATA": str(parent / "pgdata"), "PYTHONUNBUFFERED": "1"})
    outbox = tmp_path / "outbox"
    up = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "cli.py"), "up", "--outbox-dir", str(outbox)],
                          env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: up.poll() is not None or len(list(outbox.glob("*.eml"))) >= DEMO_USERS, timeout_s=60)
        assert up.poll() is None, up.communicate()
        # Ctrl-C once the long-running drain is up: its heartbeat follows the demo's --once drain's.
        url = run_cli("db", "url", env=env).stdout.strip()
        wait_for(lambda: rows(url, "SELECT count(*) = 2 AND bool_or(stopped_at IS NULL) AS up"
                                   " FROM wheels.sender_heartbeats")[0]["up"])
        up.send_signal(signal.SIGINT)
        stdout, stderr = up.communicate(timeout=20)
        assert up.returncode == 0, stderr
        assert "sender drain is running" in stdout and stdout.rstrip().endswith("stopped")
        assert "`.venv/bin/python cli.py status` in another terminal" in stdout
        # Said once, in plain words, before the run; not a timestamped log line amid the tables.
        assert stdout.startswith("note: UNSUBSCRIBE_SECRET is not set") and stdout.count("UNSUBSCRIBE_SECRET") == 1
        assert stderr.splitlines() == [f"created and started the embedded database in {parent / 'pgdata'} "
                                       "(it keeps running; `.venv/bin/python cli.py db stop` stops it)"], stderr
        status = run_cli("status", "--json", env=env)
        assert '"healthy": true' in status.stdout, status.stdout
        # A look at a stopped embedded database starts it again, and says so (on stderr: the JSON stays clean).
        assert run_cli("db", "stop", env=env).returncode == 0
        status = run_cli("status", "--json", env=env)
        assert status.stderr.splitlines()[0] == (f"started the embedded database in {parent / 'pgdata'} "
                                                 "(it keeps running; `.venv/bin/python cli.py db stop` stops it)")
        assert '"healthy": true' in status.stdout, status.stdout
    finally:
        if up.poll() is None:
            up.kill()
        run_cli("db", "stop", env=env)
        shutil.rmtree(parent, ignore_errors=True)
