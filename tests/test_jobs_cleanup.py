"""cleanup: bounded batches, each committed, a time cap per run, counts in the
result line, a retention setting for every table that grows per email or per
event, and pg_cron's history both where pg_cron lives in another database
(skipped, said so) and where it lives in ours."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import own_server

# Reads the calendar: also run at other instants (tests/test_any_instant.py).
pytestmark = pytest.mark.clock

SKIPPED = "; not in this database: cron.job_run_details"


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


def run(conn) -> str:
    """A cleanup run as pg_cron starts it."""
    return conn.execute("CALL wheels.run_job('cleanup')").fetchone()["result"]


def count(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def add_logs(conn, n: int, age: str, *, apart: str = "1 second") -> None:
    conn.execute(
        "INSERT INTO pam_analytics_logs (created_at, event_type)"
        " SELECT now() - %s::interval - i * %s::interval, 'message' FROM generate_series(1, %s) i",
        [age, apart, n],
    )


def add_archived(conn, n: int, age: str) -> None:
    conn.execute(
        "INSERT INTO pgmq.a_email_intents (msg_id, read_ct, enqueued_at, archived_at, vt, message)"
        " SELECT nextval('pgmq.q_email_intents_msg_id_seq'), 1, now() - %s::interval, now() - %s::interval, now(), '{}'"
        " FROM generate_series(1, %s)",
        [age, age, n],
    )


def add_history(conn, n: int, age: str, *, ended: bool = True) -> None:
    conn.execute(
        "INSERT INTO cron.job_run_details (jobid, status, command, start_time, end_time)"
        " SELECT 1, 'succeeded', 'SELECT 1', now() - %s::interval, CASE WHEN %s THEN now() - %s::interval END"
        " FROM generate_series(1, %s)",
        [age, ended, age, n],
    )


@pytest.fixture
def conn(db_url):
    with connect(db_url) as conn:
        conn.execute("UPDATE wheels.settings SET value = '5' WHERE name = 'cleanup_batch_size'")
        conn.execute("UPDATE wheels.settings SET value = '0' WHERE name = 'cleanup_pause_ms'")
        yield conn


def test_deletes_expired_rows_in_bounded_batches_and_counts_them(conn):
    add_logs(conn, 12, "91 days")
    add_logs(conn, 3, "89 days")
    add_archived(conn, 7, "31 days")
    add_archived(conn, 2, "29 days")

    result = run(conn)

    # 12 rows in batches of 5: 5, 5, then a short 2 ends the table.
    assert result == ("cleanup: deleted 7 pgmq.a_email_intents rows in 2 batches, "
                      "12 public.pam_analytics_logs rows in 3 batches" + SKIPPED)
    assert count(conn, "pam_analytics_logs") == 3
    assert count(conn, "pgmq.a_email_intents") == 2
    assert run(conn) == "cleanup: nothing expired" + SKIPPED


def test_a_full_last_batch_takes_one_more_empty_batch(conn):
    add_logs(conn, 10, "100 days")
    assert run(conn) == "cleanup: deleted 10 public.pam_analytics_logs rows in 3 batches" + SKIPPED


def test_rows_of_one_instant_across_batch_boundaries_all_go(conn):
    add_logs(conn, 12, "95 days", apart="0 seconds")
    assert run(conn) == "cleanup: deleted 12 public.pam_analytics_logs rows in 3 batches" + SKIPPED
    assert count(conn, "pam_analytics_logs") == 0


def test_each_batch_commits_and_a_run_stops_at_its_time_cap(conn):
    # The run log is the first table visited; its rows are 91 days old (retention 90).
    conn.execute("INSERT INTO wheels.job_runs (job, runner, started_at, finished_at, outcome)"
                 " SELECT 'fuel_consumption', 'pg_cron', now() - interval '91 days', now() - interval '91 days',"
                 " 'succeeded' FROM generate_series(1, 12)")
    conn.execute("UPDATE wheels.settings SET value = '0' WHERE name = 'cleanup_max_seconds'")
    # The cap is reached after the first batch: that batch is committed, the rest waits.
    assert run(conn) == ("cleanup: deleted 5 wheels.job_runs rows in 1 batch; stopped after 0 s "
                         "(cleanup_max_seconds): the next run goes on")
    assert count(conn, "wheels.job_runs WHERE job = 'fuel_consumption'") == 7
    conn.execute("UPDATE wheels.settings SET value = '60' WHERE name = 'cleanup_max_seconds'")
    assert run(conn) == "cleanup: deleted 7 wheels.job_runs rows in 2 batches" + SKIPPED


def test_retention_comes_from_the_settings(conn):
    conn.execute("UPDATE wheels.settings SET value = '10' WHERE name = 'analytics_retention_days'")
    add_logs(conn, 4, "11 days")
    add_logs(conn, 1, "9 days")
    assert run(conn) == "cleanup: deleted 4 public.pam_analytics_logs rows in 1 batch" + SKIPPED
    assert count(conn, "pam_analytics_logs") == 1


def test_everything_that_grows_per_email_or_event_has_a_retention(conn):
    """The ledger (with its deliveries), webhook events, dead letters, the run log and the
    hourly rollup: rows past their setting go, younger ones stay."""
    for days, subject in ((401, "old"), (399, "young")):
        ledger = conn.execute(
            "INSERT INTO wheels.email_ledger (kind, subject, period, recipient, created_at)"
            " VALUES ('welcome', %s, '', 'x@example.com', now() - make_interval(days => %s)) RETURNING id",
            [subject, days]).fetchone()["id"]
        conn.execute("INSERT INTO wheels.deliveries (intent_id, status) VALUES (%s, 'sent')", [ledger])
    conn.execute("INSERT INTO wheels.delivery_events (svix_id, type, payload, received_at)"
                 " VALUES ('old', 'email.delivered', '{}', now() - interval '181 days'),"
                 "        ('young', 'email.delivered', '{}', now() - interval '179 days')")
    conn.execute("INSERT INTO wheels.dead_letters (reason, created_at)"
                 " VALUES ('old', now() - interval '91 days'), ('young', now() - interval '89 days')")
    conn.execute("INSERT INTO wheels.job_runs (job, runner, started_at, finished_at, outcome)"
                 " VALUES ('budget_alerts', 'pg_cron', now() - interval '91 days', now() - interval '91 days', 'succeeded')")
    conn.execute("INSERT INTO wheels.pam_hourly (hour, messages, responses, distinct_users, successes, failures)"
                 " VALUES (date_trunc('hour', now()) - interval '401 days', 1, 1, 1, 1, 0),"
                 "        (date_trunc('hour', now()) - interval '399 days', 1, 1, 1, 1, 0)")
    assert run(conn) == (
        "cleanup: deleted 1 wheels.job_runs row in 1 batch, 1 wheels.email_ledger row in 1 batch, "
        "1 wheels.delivery_events row in 1 batch, 1 wheels.dead_letters row in 1 batch, "
        "1 wheels.pam_hourly row in 1 batch" + SKIPPED)
    assert [r["subject"] for r in conn.execute("SELECT subject FROM wheels.email_ledger")] == ["young"]
    assert count(conn, "wheels.deliveries") == 1
    assert [r["svix_id"] for r in conn.execute("SELECT svix_id FROM wheels.delivery_events")] == ["young"]
    assert [r["reason"] for r in conn.execute("SELECT reason FROM wheels.dead_letters")] == ["young"]
    assert count(conn, "wheels.pam_hourly") == 1


def test_a_batch_size_below_one_is_refused_and_the_run_logged_as_failed(conn):
    conn.execute("UPDATE wheels.settings SET value = '0' WHERE name = 'cleanup_batch_size'")
    with pytest.raises(psycopg.errors.RaiseException, match="cleanup failed: wheels.settings cleanup_batch_size must be at least 1, not 0"):
        run(conn)
    assert conn.execute("SELECT outcome FROM wheels.job_runs WHERE job = 'cleanup'").fetchone()["outcome"] == "failed"


def test_a_failing_table_fails_the_run_and_keeps_the_batches_already_done(conn):
    add_archived(conn, 7, "31 days")
    add_logs(conn, 3, "91 days")
    with psycopg.connect(conn.info.dsn) as app:  # the app holds its table: cleanup cannot wait forever
        app.execute("LOCK TABLE public.pam_analytics_logs IN ACCESS EXCLUSIVE MODE")
        conn.execute("UPDATE wheels.jobs SET time_limit = '1 second' WHERE job = 'cleanup'")
        with pytest.raises(psycopg.errors.RaiseException, match="cleanup failed: public.pam_analytics_logs: canceling statement due to lock timeout"):
            run(conn)
    assert count(conn, "pgmq.a_email_intents") == 0  # those batches were committed before
    assert count(conn, "pam_analytics_logs") == 3


@pytest.fixture(scope="module")
def pg_cron_here():
    """A server whose pg_cron lives in the app database itself, as on the embedded cluster."""
    with own_server() as (_, url):
        yield url


def test_pg_cron_history_is_trimmed_where_pg_cron_lives(pg_cron_here):
    with connect(pg_cron_here) as conn:
        conn.execute("UPDATE wheels.settings SET value = '5' WHERE name = 'cleanup_batch_size'")
        add_history(conn, 6, "8 days")
        add_history(conn, 1, "9 days", ended=False)  # never ended (a crash): expires by its start
        add_history(conn, 2, "6 days")

        assert run(conn) == "cleanup: deleted 7 cron.job_run_details rows in 2 batches"
        assert count(conn, "cron.job_run_details") == 2
        assert run(conn) == "cleanup: nothing expired"


def test_finished_send_batches_and_old_heartbeats_go_but_batches_with_dead_members_stay(conn):
    batches = conn.execute(
        "INSERT INTO wheels.send_batches (idempotency_key, size, status, created_at, finished_at)"
        " SELECT 'k' || i, 1, s, now() - a::interval, now() - a::interval"
        " FROM (VALUES (1, 'done', '40 days'), (2, 'done', '40 days'), (3, 'done', '1 day'), (4, 'pending', '40 days'))"
        "      AS v (i, s, a)"
        " RETURNING id"
    ).fetchall()
    ledger = conn.execute(
        "INSERT INTO wheels.email_ledger (kind, subject, period, recipient) VALUES ('welcome', 'x', '', 'x@example.com')"
        " RETURNING id"
    ).fetchone()["id"]
    # Batch 2 has a dead member: `dlq replay` reads its batch to decide, so it stays.
    conn.execute("INSERT INTO wheels.deliveries (intent_id, status, batch_id) VALUES (%s, 'dead', %s)",
                 [ledger, batches[1]["id"]])
    conn.execute(
        "INSERT INTO wheels.sender_heartbeats (host, pid, started_at, transport, last_seen_at)"
        " VALUES ('h', 1, now() - interval '9 days', 'outbox', now() - interval '8 days'),"
        "        ('h', 2, now() - interval '1 hour', 'outbox', now())"
    )
    assert run(conn) == ("cleanup: deleted 1 wheels.send_batches row in 1 batch, "
                         "1 wheels.sender_heartbeats row in 1 batch" + SKIPPED)
    left = {r["idempotency_key"] for r in conn.execute("SELECT idempotency_key FROM wheels.send_batches")}
    assert left == {"k2", "k3", "k4"}
    assert [r["pid"] for r in conn.execute("SELECT pid FROM wheels.sender_heartbeats")] == [2]
