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

from tests.conftest import run_cli
from tests.sender_support import rows, wait_for
from wheels_jobs.demo import DEMO_USERS, STEPS
from wheels_jobs.embedded import PROJECT_ROOT

# Reads the calendar: also run at other instants (tests/test_any_instant.py).
pytestmark = pytest.mark.clock

WIDE = {"COLUMNS": "250"}


def table_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in [*STEPS, "wheels.email_ledger", "wheels.deliveries", "wheels.pam_hourly", "wheels.pam_daily"]}


def outbox_kinds(folder: Path) -> Counter:
    kinds = Counter()
    for path in folder.glob("*.eml"):
        kinds[email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["X-Wheels-Kind"]] += 1
    return kinds


def test_demo_from_an_empty_database_fills_the_outbox_and_a_second_run_adds_nothing(empty_db_url, tmp_path):
    env = {"DATABASE_URL": empty_db_url, **WIDE}
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
                           "maintenance_overdue", "daily_digest"}
    assert ledger["welcome"] == DEMO_USERS
    # The summary: emails by kind with a subject each, and the last day's PAM numbers.
    for kind, count in ledger.items():
        line = next(line for line in first.stdout.splitlines() if f" {kind} " in line)
        assert f" {count} " in line
    assert "Welcome to Wheels, " in first.stdout
    assert "success rate" in first.stdout and "p95" in first.stdout
    assert f"emails went to {outbox}" in first.stdout

    before = table_counts(empty_db_url)
    files = {p.name: p.stat().st_mtime_ns for p in outbox.iterdir()}
    second = run_cli("demo", "--force", "--outbox-dir", str(outbox), env=env)
    assert second.returncode == 0, second.stderr
    assert "demo data: already loaded" in second.stdout
    assert table_counts(empty_db_url) == before
    assert {p.name: p.stat().st_mtime_ns for p in outbox.iterdir()} == files


def test_up_runs_the_system_until_ctrl_c(tmp_path):
    parent = Path(tempfile.mkdtemp(prefix="wheels-test-up-"))
    parent.chmod(0o755)  # the server's OS user (root runs it as postgres) must reach its data folder
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RESEND_API_KEY")}
    env.update({"WHEELS_PGDATA": str(parent / "pgdata"), "PYTHONUNBUFFERED": "1", **WIDE})
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
        status = run_cli("status", "--json", env=env)
        assert '"healthy": true' in status.stdout, status.stdout
    finally:
        if up.poll() is None:
            up.kill()
        run_cli("db", "stop", env=env)
        shutil.rmtree(parent, ignore_errors=True)
