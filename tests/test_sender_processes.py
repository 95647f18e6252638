"""Real `sender drain` processes: chaos (SIGKILL at random moments, injected
faults, a provider outage, a PostgreSQL restart), several senders under one
rate limit, graceful shutdown."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter

import psycopg
import pytest

from sender import backoff
from sender.ratelimit import PROBE_LEASE_S
from tests.conftest import own_server
from tests.resend_stub import Fault
from tests.sender_support import (
    dead_letters,
    enqueue_welcomes,
    queue_length,
    rows,
    run_sender,
    start_sender,
    wait_for,
)

CHAOS_INTENTS = 2000
# Longer than the retry budget a batch had before issue 11 (8 attempts, with
# --retry-initial 0.1: visibility delays of 1, 1, 1, 1, 2, 4 and 7 s, 17 s): then
# the whole backlog was dead-lettered; now the senders hold it and probe.
OUTAGE_S = 20


@pytest.fixture
def own_cluster_url():
    """A migrated database on a server of this test's own, which it may restart."""
    with own_server() as (cluster, url):
        yield cluster, url


def test_chaos_sigkilled_senders_faults_an_outage_and_a_database_restart_still_send_every_intent_once(
        own_cluster_url, resend_stub, tmp_path):
    cluster, db_url = own_cluster_url
    ids = enqueue_welcomes(db_url, CHAOS_INTENTS)
    resend_stub.fail_rate(0.1, seed=11, faults=(Fault(500), Fault.unavailable(), Fault(502, processed=True)))
    args = ("--rate-limit", "200", "--batch-size", "25", "--visibility-timeout", "2", "--retry-initial", "0.1",
            "--poll-interval", "0.5")
    logs = [open(tmp_path / f"sender{i}.log", "a") for i in range(3)]

    def start(i: int) -> subprocess.Popen:
        return start_sender(db_url, *args, stub=resend_stub, stderr=logs[i])

    senders = [start(i) for i in range(3)]
    rng = random.Random(7)
    kills = 0
    started = time.monotonic()
    deadline = started + 180
    next_burst = started + 2
    down_at = back_at = restarted_at = None
    try:
        while queue_length(db_url) and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.3, 2.0))
            i = kills % 3  # each in turn, at a random moment
            senders[i].kill()
            senders[i].wait()
            senders[i] = start(i)
            kills += 1
            now = time.monotonic()
            if now >= next_burst:  # a burst of 429s every few seconds
                resend_stub.script([Fault.rate_limited(retry_after_s=1, limit=50)] * rng.randint(2, 4))
                next_burst = now + 5
            if down_at is None and (now >= started + 5 or len(resend_stub.accepted) >= CHAOS_INTENTS // 4):
                resend_stub.go_down()  # the provider unreachable: connections refused
                down_at = time.monotonic()  # once go_down() returns: requests under way have ended
            elif back_at is None and down_at is not None and now >= down_at + OUTAGE_S:
                resend_stub.come_back()
                back_at, sent_at_back = now, len(resend_stub.accepted)
            elif restarted_at is None and back_at is not None and len(resend_stub.accepted) > sent_at_back:
                # Sending resumed: PostgreSQL restarts under the senders (none is started while it is down).
                cluster.stop()
                time.sleep(2)
                cluster.start()
                restarted_at = time.monotonic()
    finally:
        if back_at is None:
            resend_stub.come_back()
        for sender in senders:  # SIGTERM once each is up (its heartbeat), not while it imports
            wait_for(lambda: rows(db_url, "SELECT 1 FROM wheels.sender_heartbeats WHERE pid = %s", [sender.pid]))
            sender.send_signal(signal.SIGTERM)
        codes = [sender.wait(timeout=30) for sender in senders]
        for log in logs:
            log.close()
    counts = Counter(a.intent_id for a in resend_stub.accepted)
    assert sorted(counts) == ids  # none lost
    assert [i for i, n in counts.items() if n > 1] == []  # none twice
    assert queue_length(db_url) == 0
    assert dead_letters(db_url) == []
    assert kills >= 3  # every sender was killed at least once
    assert codes == [0, 0, 0]
    statuses = [r.status for r in resend_stub.requests]
    assert 429 in statuses and 500 in statuses  # the faults did happen
    assert down_at and back_at and restarted_at, "the outage and the restart happened while intents were queued"
    during = [a.at for a in resend_stub.accepted if down_at < a.at < back_at]
    assert during == []  # nothing got through while the provider was down
    assert sum(a.at < down_at for a in resend_stub.accepted) < CHAOS_INTENTS  # a backlog sat through the outage
    # ... and started moving within a minute of the provider's return (plus a probe's lease, when
    # the sender that claimed it was killed mid-probe).
    first_after = min(a.at for a in resend_stub.accepted if a.at > back_at)
    assert first_after - back_at < backoff.MAX_PROBE_INTERVAL_S + PROBE_LEASE_S
    text = "".join((tmp_path / f"sender{i}.log").read_text() for i in range(3))
    assert "action=provider_down" in text and "action=database_lost" in text


def test_three_senders_together_stay_under_the_rate_limit(db_url, resend_stub, tmp_path):
    enqueue_welcomes(db_url, 24)
    resend_stub.rate_limit(6)  # the stand-in enforces it too: one request over and it answers 429
    senders = [start_sender(db_url, "--once", "--rate-limit", "6", "--batch-size", "1", "--poll-interval", "0.2", stub=resend_stub,
                            stderr=subprocess.DEVNULL) for _ in range(3)]
    for sender in senders:
        assert sender.wait(timeout=60) == 0
    # Every email once (a request retried under its key after a slow database answer is fine).
    assert sorted(Counter(a.intent_id for a in resend_stub.accepted).values()) == [1] * 24
    arrivals = sorted(r.at for r in resend_stub.requests)
    # In any one-second window the stand-in saw at most 6 requests.
    busiest = max(sum(1 for b in arrivals if a <= b < a + 1.0) for a in arrivals)
    assert busiest <= 6
    assert {r.status for r in resend_stub.requests} == {200}


def test_sigterm_mid_call_finishes_that_batch_and_exits_0(db_url, resend_stub, tmp_path):
    enqueue_welcomes(db_url, 30)
    resend_stub.script([Fault.slow(1.0)])  # the first call is held in flight when SIGTERM comes
    log = tmp_path / "sender.log"
    with open(log, "w") as err:
        sender = start_sender(db_url, "--batch-size", "10", "--no-rate-limit", stub=resend_stub, stderr=err)
        wait_for(lambda: resend_stub.requests or rows(db_url, "SELECT 1 FROM wheels.send_batches WHERE calls > 0"),
                 interval_s=0.02)
        sender.send_signal(signal.SIGTERM)
        code = sender.wait(timeout=10)
    assert code == 0, log.read_text()
    assert len(resend_stub.accepted) == 10  # the batch in flight, recorded; nothing after the signal
    assert rows(db_url, "SELECT count(*) AS n FROM wheels.deliveries WHERE status = 'sent'")[0]["n"] == 10
    assert visible(db_url) == queue_length(db_url) == 20
    assert rows(db_url, "SELECT stopped_at IS NOT NULL AS stopped FROM wheels.sender_heartbeats") == [{"stopped": True}]


def test_sigterm_while_waiting_for_a_slot_makes_the_read_messages_visible_again(db_url, resend_stub, tmp_path):
    ids = enqueue_welcomes(db_url, 5)
    with psycopg.connect(db_url) as conn:  # another sender took the next minute of request slots
        conn.execute("UPDATE wheels.sender_throttle SET not_before = now() + interval '60 seconds'")
    log = tmp_path / "sender.log"
    with open(log, "w") as err:
        sender = start_sender(db_url, "--rate-limit", "2", stub=resend_stub, stderr=err)
        wait_for(lambda: rows(db_url, "SELECT 1 FROM wheels.send_batches"), interval_s=0.02)
        sender.send_signal(signal.SIGTERM)
        code = sender.wait(timeout=10)
    assert code == 0, log.read_text()
    assert resend_stub.requests == []
    assert visible(db_url) == 5
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE wheels.sender_throttle SET not_before = now()")
    assert run_sender(db_url, "--once", stub=resend_stub).returncode == 0
    assert sorted(a.intent_id for a in resend_stub.accepted) == ids


def visible(url: str) -> int:
    return rows(url, "SELECT count(*) AS n FROM pgmq.q_email_intents WHERE vt <= now()")[0]["n"]


def test_an_idle_sender_wakes_on_the_insert_notification(db_url, resend_stub, tmp_path):
    with open(tmp_path / "sender.log", "w") as err:
        sender = start_sender(db_url, "--poll-interval", "600", stub=resend_stub, stderr=err)
        wait_for(lambda: rows(db_url, "SELECT 1 FROM wheels.sender_heartbeats WHERE pid = %s", [sender.pid]))
        ids = enqueue_welcomes(db_url, 2)
        # With a ten-minute poll interval, only pgmq's notification can have woken it.
        wait_for(lambda: len(resend_stub.accepted) == 2)
        sender.send_signal(signal.SIGTERM)
        assert sender.wait(timeout=10) == 0
    assert sorted(a.intent_id for a in resend_stub.accepted) == ids


def notifications_after(url: str, statements: list[str]) -> int:
    """How many notifications a sender's LISTEN gets while `statements` run, each in its own transaction."""
    with psycopg.connect(url, autocommit=True) as listener, psycopg.connect(url, autocommit=True) as producer:
        listener.execute('LISTEN "pgmq.q_email_intents.INSERT"')
        for statement in statements:
            producer.execute(statement)
        return sum(1 for _ in listener.notifies(timeout=1))


def test_every_enqueueing_statement_notifies_once_whatever_its_size(db_url):
    one = "SELECT pgmq.send('email_intents', '{}')"
    # Back to back: a throttled notification (pgmq's 250 ms) would wake the sender once.
    assert notifications_after(db_url, [one, one, one]) == 3
    # One statement of 1,000 messages: one wake-up, not 1,000.
    batch = "SELECT pgmq.send_batch('email_intents', array_fill('{}'::jsonb, ARRAY[1000]))"
    assert notifications_after(db_url, [batch]) == 1
