"""`cli.py status`: a healthy empty system, and a busy one with every condition that needs attention."""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.conftest import run_cli
from tests.sender_support import enqueue_welcomes
from wheels_jobs.migrate import migrate, schedules

# Reads the calendar: also run at other instants (tests/test_any_instant.py).
pytestmark = pytest.mark.clock

WIDE = {"COLUMNS": "250"}


def status(url: str, *args: str):
    return run_cli("status", *args, env={"DATABASE_URL": url, **WIDE})


def test_an_empty_system_is_healthy(db_url):
    text = status(db_url)
    assert text.returncode == 0, text.stdout + text.stderr
    assert "email_intents" in text.stdout and "dead letters: 0" in text.stdout
    assert "sender processes: none seen in 24 h" in text.stdout
    assert text.stdout.rstrip().endswith("healthy")

    report = json.loads(status(db_url, "--json").stdout)
    assert report["healthy"] is True and report["attention"] == []
    assert report["queues"] == [{"queue": "email_intents", "depth": 0, "visible": 0, "in_flight": 0, "oldest_age_s": None}]
    assert report["dead_letters"] == {"count": 0, "oldest_at": None}
    assert sorted(j["name"] for j in report["jobs"]) == sorted(s.job for s in schedules())
    assert all(j["failures_24h"] == 0 and not j["scheduled"] for j in report["jobs"])
    assert report["emails"] == {"sent_today": 0, "quota_daily": 100, "percent_daily": 0.0, "sent_month": 0,
                                "quota_monthly": 3000, "percent_monthly": 0.0, "warn_percent": 80.0, "outbox_today": 0}
    assert report["senders"] == []
    assert report["delivery_events"]["complaint_rate"] is None


@pytest.fixture
def busy(db_url, pg_server):
    """A system with a failed job run an hour ago, a dead letter, a visible message 20 minutes old and no
    sender running, 90 of 100 emails of today's quota, one complaint in 90 sent, and messages in flight."""
    migrate(db_url)
    dbname = conninfo_to_dict(db_url)["dbname"]
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as cron:
        cron.execute("SELECT cron.alter_job(jobid, active := false) FROM cron.job WHERE database = %s", [dbname])
    ids = enqueue_welcomes(db_url, 93)
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO wheels.job_runs (job, runner, started_at, finished_at, outcome, result)"
                     " VALUES ('cleanup', 'pg_cron', now() - interval '1 hour', now() - interval '1 hour' + interval '2 s',"
                     "         'failed', 'cleanup failed: division by zero')")
        conn.execute("INSERT INTO wheels.deliveries (intent_id, status, provider_message_id, sent_at, kind, recipient)"
                     " SELECT id, 'sent', 're_' || id, now(), kind, recipient FROM wheels.email_ledger WHERE id = ANY(%s)",
                     [ids[:90]])
        conn.execute("INSERT INTO wheels.delivery_events (svix_id, type, recipient, payload)"
                     " VALUES ('msg_1', 'email.complained', 'user1@example.com', '{}')")
        conn.execute("INSERT INTO wheels.dead_letters (reason, kind) VALUES ('boom', 'welcome')")
        # Of the three queued messages: one visible and 20 minutes old, two in flight.
        conn.execute("UPDATE pgmq.q_email_intents SET enqueued_at = now() - interval '20 minutes'"
                     " WHERE msg_id = (SELECT min(msg_id) FROM pgmq.q_email_intents)")
        conn.execute("DELETE FROM pgmq.q_email_intents WHERE msg_id IN"
                     " (SELECT msg_id FROM pgmq.q_email_intents ORDER BY msg_id OFFSET 3)")
        conn.execute("UPDATE pgmq.q_email_intents SET vt = now() + interval '1 minute'"
                     " WHERE msg_id IN (SELECT msg_id FROM pgmq.q_email_intents ORDER BY msg_id OFFSET 1)")
        conn.execute("INSERT INTO wheels.sender_heartbeats (host, pid, started_at, transport, last_seen_at, stopped_at)"
                     " VALUES ('worker-1', 42, now() - interval '2 hours', 'resend', now() - interval '1 hour', NULL)")
    return db_url


def test_a_busy_system_needs_attention(busy):
    result = status(busy, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["healthy"] is False
    [queue] = report["queues"]
    assert (queue["depth"], queue["visible"], queue["in_flight"]) == (3, 1, 2)
    assert queue["oldest_age_s"] >= 20 * 60
    assert report["oldest_visible_age_s"] >= 20 * 60
    assert report["dead_letters"]["count"] == 1
    cleanup = next(j for j in report["jobs"] if j["name"] == "cleanup")
    assert cleanup["failures_24h"] == 1 and cleanup["last_status"] == "failed"
    assert report["emails"]["sent_today"] == 90 and report["emails"]["percent_daily"] == 90.0
    assert [(s["host"], s["running"]) for s in report["senders"]] == [("worker-1", False)]
    assert report["delivery_events"]["complaints"] == 1
    attention = "\n".join(report["attention"])
    assert "job cleanup: 1 failed run(s) in the last 24 h (last error: cleanup failed: division by zero)" in attention
    assert "1 dead letter(s)" in attention
    assert "queue email_intents is stuck: a visible message 20 min old and no sender running" in attention
    assert "daily email quota 90% used (90 of 100)" in attention
    assert "complaint rate 1.11%" in attention
    assert len(report["attention"]) == 5

    text = status(busy)
    assert text.returncode == 1
    assert "needs attention:" in text.stdout and "worker-1" in text.stdout and "silent" in text.stdout
    for line in report["attention"]:
        assert line in text.stdout


def test_a_running_sender_means_the_queue_is_not_stuck(busy):
    with psycopg.connect(busy) as conn:
        conn.execute("UPDATE wheels.sender_heartbeats SET last_seen_at = now()")
    report = json.loads(status(busy, "--json").stdout)
    assert report["senders"][0]["running"] is True
    assert not any("stuck" in line for line in report["attention"])


def test_status_help_names_the_conditions():
    result = run_cli("status", "--help", env=WIDE)
    assert result.returncode == 0
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "Exit code 1 when something needs attention" in text
    assert "a job failed in the last 24 h" in text and "dead letters are waiting" in text and "stuck" in text


def test_status_names_the_database_it_looks_at(db_url):
    """Staging beside production: the report says which database (without credentials) and source."""
    dbname = db_url.rsplit("/", 1)[1]
    report = json.loads(status(db_url, "--json").stdout)
    assert report["database"] == {"name": f"127.0.0.1:{db_url.split(':')[2].split('/')[0]}/{dbname}", "source": "demo"}
    assert status(db_url).stdout.startswith(f"database {report['database']['name']} (source demo)")
