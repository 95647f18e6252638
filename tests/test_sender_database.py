"""The sender and its database: least privilege, and PostgreSQL restarting under it."""

from __future__ import annotations

import signal
import time
from collections import Counter

import psycopg
import pytest

from tests.conftest import own_server
from tests.resend_stub import Fault
from tests.sender_support import (
    BUDGET_DATA,
    accepted_intents,
    dead_letters,
    deliveries,
    enqueue,
    enqueue_welcomes,
    logged_in_as,
    profile,
    queue_length,
    run_sender,
    send_raw,
    start_sender,
    wait_for,
)

@pytest.fixture
def sender_url(db_url):
    """db_url, connecting as wheels_sender (roles are cluster-wide: LOGIN only for this test)."""
    with logged_in_as(db_url, "wheels_sender") as url:
        yield url


def test_the_sender_role_drains_the_queue_with_what_it_was_granted(db_url, sender_url, resend_stub):
    ana = profile(db_url, "ana@example.com")
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO email_preferences (user_id, kind, enabled) VALUES (%s, 'budget_alerts', false)", [ana])
    ids = enqueue_welcomes(db_url, 3)
    opted_out = enqueue(db_url, "budget_warning", "ana@example.com", user_id=ana, data=BUDGET_DATA)
    send_raw(db_url, {"v": 1, "kind": "nope"})
    resend_stub.script([Fault(500)])
    done = run_sender(sender_url, "--once", "--retry-initial", "0", stub=resend_stub)
    assert done.returncode == 0, done.stderr
    assert accepted_intents(resend_stub) == ids
    assert deliveries(db_url)[opted_out]["status"] == "suppressed"
    assert len(dead_letters(db_url)) == 1
    assert queue_length(db_url) == 0


@pytest.mark.parametrize("statement", [
    *(f"SELECT * FROM {t}" for t in ["profiles", "budget_categories", "expenses", "pam_analytics_logs"]),
    "INSERT INTO profiles (email) VALUES ('x@example.com')",
    "INSERT INTO pam_analytics_logs (event_type) VALUES ('message')",
    "UPDATE budget_categories SET monthly_limit = 1",
    "DELETE FROM expenses",
    "DELETE FROM wheels.email_ledger",
    "DELETE FROM wheels.suppressions",
    "UPDATE wheels.email_kinds SET preference_kind = NULL",
    "INSERT INTO wheels.settings (name, value, description) VALUES ('x', 'y', 'z')",
    "SELECT pgmq.send('email_intents', '{}')",
    "SELECT pgmq.create('other')",
    "DELETE FROM wheels.dead_letters",
])
def test_the_sender_role_cannot_touch_anything_else(sender_url, statement):
    with psycopg.connect(sender_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_a_postgresql_restart_mid_drain_loses_nothing_and_sends_nothing_twice(resend_stub, tmp_path):
    with own_server() as (cluster, url):
        ids = enqueue_welcomes(url, 200)
        log = tmp_path / "sender.log"
        with open(log, "w") as err:
            sender = start_sender(url, "--rate-limit", "5", "--batch-size", "10", "--visibility-timeout", "3",
                                  "--poll-interval", "0.5", stub=resend_stub, stderr=err)
            wait_for(lambda: len(resend_stub.accepted) >= 30)
            cluster.stop()
            time.sleep(2)  # the outage
            cluster.start()
            wait_for(lambda: not queue_length(url), timeout_s=60)
            sender.send_signal(signal.SIGTERM)
            assert sender.wait(timeout=10) == 0
        counts = Counter(a.intent_id for a in resend_stub.accepted)
        assert sorted(counts) == ids and set(counts.values()) == {1}
        assert {d["status"] for d in deliveries(url).values()} == {"sent"}
        text = log.read_text()
        assert text.count("action=database_lost") == 1 and text.count("action=database_back") == 1


def test_an_unreachable_database_at_start_is_one_line_and_exit_1(resend_stub):
    done = run_sender("postgresql://nobody@127.0.0.1:1/none", "--once", stub=resend_stub)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: cannot reach the database at 127.0.0.1:1/none")
