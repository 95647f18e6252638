"""cleanup: bounded batches, counts in the result line, and pg_cron's history both where
pg_cron lives in another database (skipped, said so) and where it lives in ours."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import FAST_SETTINGS, new_cluster, remove_cluster
from wheels_jobs.migrate import migrate

# Reads the calendar: also run at other instants (tests/test_any_instant.py).
pytestmark = pytest.mark.clock

SKIPPED = "; cron.job_run_details skipped: pg_cron lives in database postgres"


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


def run(conn) -> str:
    return conn.execute("SELECT wheels.cleanup() AS r").fetchone()["r"]


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
        yield conn


def test_deletes_expired_rows_in_bounded_batches_and_counts_them(conn):
    add_logs(conn, 12, "91 days")
    add_logs(conn, 3, "89 days")
    add_archived(conn, 7, "31 days")
    add_archived(conn, 2, "29 days")

    result = run(conn)

    # 12 rows in batches of 5: 5, 5, then a short 2 ends the table.
    assert result == (
        "cleanup: deleted 12 pam_analytics_logs rows in 3 batches, 7 pgmq.a_email_intents rows in 2 batches" + SKIPPED
    )
    assert count(conn, "pam_analytics_logs") == 3
    assert count(conn, "pgmq.a_email_intents") == 2
    assert run(conn) == "cleanup: nothing expired" + SKIPPED


def test_a_full_last_batch_takes_one_more_empty_batch(conn):
    add_logs(conn, 10, "100 days")
    assert run(conn) == "cleanup: deleted 10 pam_analytics_logs rows in 3 batches" + SKIPPED


def test_rows_of_one_instant_across_batch_boundaries_all_go(conn):
    add_logs(conn, 12, "95 days", apart="0 seconds")  # each batch resumes at the last one's timestamp
    assert run(conn) == "cleanup: deleted 12 pam_analytics_logs rows in 3 batches" + SKIPPED
    assert count(conn, "pam_analytics_logs") == 0


def test_retention_comes_from_the_settings(conn):
    conn.execute("UPDATE wheels.settings SET value = '10' WHERE name = 'analytics_retention_days'")
    add_logs(conn, 4, "11 days")
    add_logs(conn, 1, "9 days")
    assert run(conn) == "cleanup: deleted 4 pam_analytics_logs rows in 1 batches" + SKIPPED
    assert count(conn, "pam_analytics_logs") == 1


def test_a_batch_size_below_one_is_refused(conn):
    conn.execute("UPDATE wheels.settings SET value = '0' WHERE name = 'cleanup_batch_size'")
    with pytest.raises(psycopg.errors.RaiseException, match="cleanup_batch_size must be at least 1, not 0"):
        run(conn)


@pytest.fixture(scope="module")
def pg_cron_here():
    """A server whose pg_cron lives in the app database itself, as on the embedded cluster."""
    cluster = new_cluster(database="wheels", settings=FAST_SETTINGS)
    cluster.data_dir.parent.chmod(0o755)
    url = cluster.ensure_running()
    migrate(url, schedule_jobs=False)
    yield url
    remove_cluster(cluster)


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
    assert run(conn) == "cleanup: deleted 1 wheels.send_batches rows, 1 wheels.sender_heartbeats rows" + SKIPPED
    left = {r["idempotency_key"] for r in conn.execute("SELECT idempotency_key FROM wheels.send_batches")}
    assert left == {"k2", "k3", "k4"}
    assert [r["pid"] for r in conn.execute("SELECT pid FROM wheels.sender_heartbeats")] == [2]
