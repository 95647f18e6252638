"""The sender and a database that is not there yet, refuses it, or fails a
statement for a passing reason (issue 11, item 3): it waits, retries with
backoff and delivers every intent once; only a refusal for good stops it.

Each failure is provoked for real where PostgreSQL lets us (a cluster that is
stopped, locks held by another session, a real deadlock, pg_terminate_backend);
a serialization failure cannot happen to the sender's read-committed
statements unless an operator makes the database serializable, so a trigger
raises it.
"""

from __future__ import annotations

import re
import signal
from collections import Counter

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from sender.store import APPLICATION_NAME, LOCK_TIMEOUT_S, STATEMENT_TIMEOUT_S, Store, batch_key
from tests.conftest import own_server
from tests.sender_support import (
    enqueue_welcomes,
    queue_length,
    rows,
    run_sender,
    sender_backend,
    start_sender,
    wait_for,
)
from tests.test_sender_drain import drain_once, resend

LOOP = ("--visibility-timeout", "2", "--poll-interval", "0.5")


def sent_once(stub, ids: list[int]) -> bool:
    counts = Counter(a.intent_id for a in stub.accepted)
    return sorted(counts) == ids and set(counts.values()) == {1}


def stop(sender, log) -> None:
    """SIGTERM the sender; it exits 0."""
    sender.send_signal(signal.SIGTERM)
    assert sender.wait(timeout=15) == 0, log.read_text()[-3000:]


def waiting_on_a_lock(url: str) -> dict | None:
    backend = sender_backend(url)
    return backend if backend and backend["wait_event_type"] == "Lock" else None


def test_the_senders_sessions_set_their_timeouts_and_name_and_the_url_can_change_them(db_url):
    store = Store(db_url)
    store.connect()
    settings = store.conn.execute("SELECT current_setting('statement_timeout') AS statement, "
                                  "current_setting('lock_timeout') AS lock, "
                                  "current_setting('application_name') AS name").fetchone()
    assert settings == {"statement": f"{STATEMENT_TIMEOUT_S}s", "lock": f"{LOCK_TIMEOUT_S}s", "name": APPLICATION_NAME}
    store.close()
    store = Store(make_conninfo(db_url, options="-c lock_timeout=250", application_name="mine"))
    store.connect()
    assert store.conn.execute("SELECT current_setting('lock_timeout') AS lock, "
                              "current_setting('application_name') AS name").fetchone() == {"lock": "250ms", "name": "mine"}
    store.close()


def test_a_sender_started_before_its_database_waits_and_delivers_once_it_is_up(resend_stub, tmp_path):
    with own_server() as (cluster, url):
        ids = enqueue_welcomes(url, 5)
        cluster.stop()
        log = tmp_path / "sender.log"
        with open(log, "w") as err:
            sender = start_sender(url, *LOOP, stub=resend_stub, stderr=err)
            wait_for(lambda: sender.poll() is not None or log.read_text().count("action=database_wait") >= 3)
            assert sender.poll() is None, log.read_text()
            cluster.start()
            wait_for(lambda: len(resend_stub.accepted) >= 5, timeout_s=60)
            stop(sender, log)
        assert sent_once(resend_stub, ids)
        text = log.read_text()
        waits = [float(w) for w in re.findall(r"WARNING \S+ action=database_wait wait_s=([\d.]+) error=cannot reach", text)]
        assert len(waits) >= 3 and waits == sorted(waits) and waits[0] < waits[1] < waits[2]  # growing intervals
        assert text.index("action=start") > text.rindex("action=database_wait")
        assert " ERROR " not in text


def test_sigterm_while_waiting_for_the_database_exits_0(resend_stub, tmp_path):
    log = tmp_path / "sender.log"
    with open(log, "w") as err:
        sender = start_sender("postgresql://nobody@127.0.0.1:1/none", stub=resend_stub, stderr=err)
        wait_for(lambda: sender.poll() is not None or "action=database_wait" in log.read_text())
        assert sender.poll() is None, log.read_text()
        stop(sender, log)


@pytest.mark.parametrize("change, says", [
    ({"user": "wheels_sender"}, 'role "wheels_sender" is not permitted to log in'),  # NOLOGIN until granted
    ({"user": "nobody"}, 'role "nobody" does not exist'),
    ({"dbname": "no_such_db"}, 'database "no_such_db" does not exist'),
    ({"options": "-c lock_timeout=soon"}, 'invalid value for parameter "lock_timeout"'),
], ids=["nologin", "no-role", "no-database", "bad-option"])
def test_a_database_that_refuses_the_sender_for_good_stops_it_with_one_line(db_url, resend_stub, change, says):
    done = run_sender(make_conninfo(db_url, **change), stub=resend_stub, timeout=30)  # long-running, not --once
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot connect to the database at 127.0.0.1:") and says in last
    assert "waiting will not help (check DATABASE_URL and the role)" in last
    assert "action=database_wait" not in done.stderr


@pytest.mark.parametrize("lock, options, sqlstate", [
    ("SELECT * FROM wheels.sender_throttle FOR UPDATE", "-c lock_timeout=200", "55P03"),
    ("LOCK TABLE pgmq.q_email_intents IN ACCESS EXCLUSIVE MODE", "-c lock_timeout=200", "55P03"),
    ("SELECT * FROM wheels.sender_throttle FOR UPDATE", "-c statement_timeout=300", "57014"),
], ids=["lock-timeout-on-the-throttle-row", "lock-timeout-on-the-queue", "statement-timeout"])
def test_a_lock_held_by_another_session_is_retried_until_every_intent_is_sent_once(db_url, resend_stub, tmp_path,
                                                                                  lock, options, sqlstate):
    ids = enqueue_welcomes(db_url, 5)
    log = tmp_path / "sender.log"
    with open(log, "w") as err, psycopg.connect(db_url) as holder:
        holder.execute(lock)  # held until the rollback below
        sender = start_sender(make_conninfo(db_url, options=options), "--rate-limit", "5", *LOOP, stub=resend_stub,
                              stderr=err)
        wait_for(lambda: sender.poll() is not None or log.read_text().count("action=database_retry") >= 2)
        assert sender.poll() is None, log.read_text()
        holder.rollback()
        wait_for(lambda: len(resend_stub.accepted) >= 5 and not queue_length(db_url))
        stop(sender, log)
    assert sent_once(resend_stub, ids)
    text = log.read_text()
    waits = [float(w) for w in re.findall(rf"WARNING \S+ action=database_retry sqlstate={sqlstate} wait_s=([\d.]+) "
                                          r"error=\S", text)]
    assert len(waits) >= 2 and waits == sorted(waits) and waits[0] < waits[-1]  # backing off
    assert " ERROR " not in text


def test_a_real_deadlock_with_another_transaction_is_retried(db_url, resend_stub, tmp_path):
    [intent] = enqueue_welcomes(db_url, 1)
    msg_id = rows(db_url, "SELECT msg_id FROM pgmq.q_email_intents")[0]["msg_id"]
    with psycopg.connect(db_url) as conn:  # an operator replayed a dead intent: the sender re-claims its row
        conn.execute("INSERT INTO wheels.deliveries (intent_id, status, last_error) VALUES (%s, 'dead', 'x')", [intent])
    log = tmp_path / "sender.log"
    with open(log, "w") as err, psycopg.connect(db_url) as other:
        other.execute("SET deadlock_timeout = '60s'")  # the sender's check (1 s) finds the cycle, not ours
        other.execute("SELECT 1 FROM wheels.deliveries WHERE intent_id = %s FOR UPDATE", [intent])
        sender = start_sender(db_url, *LOOP, stub=resend_stub, stderr=err)
        # It has inserted its batch (key not committed) and waits for our row; now we wait for its key.
        wait_for(lambda: sender.poll() is not None or waiting_on_a_lock(db_url), interval_s=0.02)
        assert sender.poll() is None, log.read_text()
        other.execute("INSERT INTO wheels.send_batches (idempotency_key, size) VALUES (%s, 1)",
                      [batch_key([(intent, msg_id)])])
        other.rollback()
        wait_for(lambda: resend_stub.accepted and not queue_length(db_url))
        stop(sender, log)
    assert sent_once(resend_stub, [intent])
    assert re.search(r"action=database_retry sqlstate=40P01 wait_s=[\d.]+ error=deadlock \(40P01\)", log.read_text())


def test_a_serialization_failure_is_retried(db_url, resend_stub, caplog):
    ids = enqueue_welcomes(db_url, 3)
    with psycopg.connect(db_url) as conn:
        conn.execute("""
            CREATE SEQUENCE test_faults;
            CREATE FUNCTION test_serialization_failure() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('test_faults') <= 2 THEN
                    RAISE EXCEPTION 'could not serialize access (test)' USING ERRCODE = 'serialization_failure';
                END IF;
                RETURN NULL;
            END $$;
            CREATE TRIGGER test_serialization_failure BEFORE INSERT ON wheels.send_batches
                FOR EACH STATEMENT EXECUTE FUNCTION test_serialization_failure();
        """)
    caplog.set_level("INFO", logger="sender.drain")
    drain_once(db_url, resend(resend_stub), visibility_timeout_s=1)
    assert sent_once(resend_stub, ids)
    retries = [r for r in caplog.records if "action=database_retry" in r.getMessage()]
    assert len(retries) == 2 and all("sqlstate=40001" in r.getMessage() and r.levelname == "WARNING" for r in retries)
    assert queue_length(db_url) == 0


def test_an_admin_shutdown_of_the_senders_session_mid_batch_loses_nothing(db_url, resend_stub, tmp_path):
    ids = enqueue_welcomes(db_url, 4)
    log = tmp_path / "sender.log"
    with open(log, "w") as err, psycopg.connect(db_url) as holder:
        holder.execute("SELECT * FROM wheels.sender_throttle FOR UPDATE")  # the sender waits for a request slot
        sender = start_sender(db_url, "--rate-limit", "5", *LOOP, stub=resend_stub, stderr=err)
        backend = wait_for(lambda: sender.poll() is not None or waiting_on_a_lock(db_url))
        assert sender.poll() is None, log.read_text()
        assert rows(db_url, "SELECT pg_terminate_backend(%s) AS done", [backend["pid"]]) == [{"done": True}]
        holder.rollback()
        wait_for(lambda: len(resend_stub.accepted) >= 4 and not queue_length(db_url))
        stop(sender, log)
    assert sent_once(resend_stub, ids)
    text = log.read_text()
    assert text.count("action=database_lost") == 1 and text.count("action=database_back") == 1
