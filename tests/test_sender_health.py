"""`cli.py sender-health` (issue 16, item 3): the health check of the sender for a Render cron
job or an uptime monitor, run as the real CLI against real PostgreSQL and a real sender."""

from __future__ import annotations

import signal

from psycopg.conninfo import make_conninfo

from tests.conftest import run_cli
from tests.sender_support import logged_in_as, rows, start_sender, wait_for


def health(url: str) -> tuple[int, str]:
    done = run_cli("sender-health", env={"DATABASE_URL": url})
    assert done.stdout.count("\n") <= 1 and done.stderr.count("\n") <= 1, (done.stdout, done.stderr)
    return done.returncode, (done.stdout or done.stderr).strip()


def heartbeat(url: str, pid: int, seen_ago: str, stopped_ago: str | None = None) -> None:
    rows(url, "INSERT INTO wheels.sender_heartbeats (host, pid, started_at, transport, last_seen_at, stopped_at) "
              "VALUES ('worker-1', %s, now() - interval '1 day', 'resend', now() - %s::interval, "
              "now() - %s::interval) RETURNING pid", [pid, seen_ago, stopped_ago])


def test_a_fresh_heartbeat_is_healthy_and_silence_or_a_clean_exit_is_not(db_url):
    assert health(db_url) == (1, "no sender has ever run against this database (wheels.sender_heartbeats is empty)")
    heartbeat(db_url, 41, "5 minutes")
    code, line = health(db_url)
    assert code == 1 and line.startswith("no sender running: the last, worker-1 pid 41, was seen 0:05:0")
    assert line.endswith("longer than sender_seen_minutes (2)")
    heartbeat(db_url, 42, "1 minute", stopped_ago="1 minute")
    code, line = health(db_url)
    assert code == 1 and line.startswith("no sender running: the last, worker-1 pid 42, stopped cleanly 0:01:0")
    # The threshold is the setting, read where the check runs.
    rows(db_url, "UPDATE wheels.settings SET value = '10' WHERE name = 'sender_seen_minutes' RETURNING name")
    code, line = health(db_url)
    assert code == 0 and line.startswith("1 sender(s) running; worker-1 pid 41 seen 0:05:0")
    heartbeat(db_url, 43, "3 seconds")
    code, line = health(db_url)
    assert code == 0 and line.startswith("2 sender(s) running; worker-1 pid 43 seen 0:00:0")


def test_it_follows_a_real_sender_and_needs_no_more_than_the_sender_role(db_url, tmp_path):
    with logged_in_as(db_url, "wheels_sender") as sender_url:
        with open(tmp_path / "sender.log", "w") as err:
            sender = start_sender(sender_url, "--poll-interval", "600", stderr=err,
                                  OUTBOX_DIR=str(tmp_path / "outbox"))
            try:
                wait_for(lambda: rows(db_url, "SELECT 1 FROM wheels.sender_heartbeats WHERE pid = %s", [sender.pid]))
                code, line = health(sender_url)
                assert code == 0 and f"pid {sender.pid} seen 0:00:0" in line
            finally:
                sender.send_signal(signal.SIGTERM)
                assert sender.wait(timeout=10) == 0
        code, line = health(sender_url)
    assert code == 1 and f"pid {sender.pid}, stopped cleanly 0:00:0" in line


def test_an_unreachable_database_is_one_line_and_exit_1(pg_server):
    unreachable = make_conninfo(pg_server.url("postgres"), port=1, password="pw-not-to-leak")
    code, line = health(unreachable)
    assert code == 1 and line.startswith("error: cannot reach the database at 127.0.0.1:1/postgres: ")
    assert "pw-not-to-leak" not in line
