"""Every failure class of a provider call: what the sender does with the intents."""

from __future__ import annotations

import re
import signal
import time
from collections import Counter

import psycopg
import pytest

from sender import backoff
from sender.ratelimit import Pace, Slot
from sender.store import Store
from tests.resend_stub import Fault
from tests.sender_support import (accepted_intents, dead_letters, deliveries, enqueue_welcomes, queue_length, rows,
                                  run_sender, start_sender, wait_for)
from tests.test_sender_drain import drain_once, resend


def batch_attempts(url: str) -> list[int]:
    return [r["attempts"] for r in rows(url, "SELECT attempts FROM wheels.send_batches ORDER BY id")]


@pytest.mark.parametrize("fault", [
    Fault(500),
    Fault.unavailable(),  # 503 with an HTML body
    Fault(409, "concurrent_idempotent_requests"),
    Fault(502, processed=True),  # taken, answer lost
], ids=["500", "503-html", "409-concurrent", "502-after-processing"])
def test_transient_failures_are_retried_with_the_same_key_until_sent(db_url, resend_stub, fault):
    ids = enqueue_welcomes(db_url, 3)
    resend_stub.script([fault])
    drain_once(db_url, resend(resend_stub))
    assert accepted_intents(resend_stub) == ids
    assert len({r.idempotency_key for r in resend_stub.requests}) == 1
    assert len(resend_stub.requests) == 2
    assert {(d["status"], d["attempts"]) for d in deliveries(db_url).values()} == {("sent", 2)}
    assert "Resend" in rows(db_url, "SELECT last_error FROM wheels.send_batches")[0]["last_error"]


def test_a_call_that_times_out_is_retried_and_the_email_sent_once(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 2)
    resend_stub.script([Fault.slow(1.5)])
    drain_once(db_url, resend(resend_stub, timeout_s=0.3), retry_initial_s=1.0)
    assert accepted_intents(resend_stub) == ids
    assert {d["status"] for d in deliveries(db_url).values()} == {"sent"}


def test_a_batch_that_keeps_failing_is_dead_lettered_by_age_not_by_a_count(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 2)
    resend_stub.fail_rate(1.0)
    started = time.monotonic()
    drain_once(db_url, resend(resend_stub), retry_initial_s=0.2, give_up_after_s=1.5)
    # Calls at 0, 1 and 2 s (retry delays are whole seconds of visibility timeout):
    # the third finds the batch failing for 2 s, past the 1.5 s give-up age.
    assert len(resend_stub.requests) == 3 and time.monotonic() - started >= 1.5
    letters = dead_letters(db_url)
    assert sorted(x["intent_id"] for x in letters) == ids
    assert all(re.fullmatch(r"gave up after 3 attempts in 2 s: Resend 500 .*", x["reason"]) and x["attempts"] == 3
               for x in letters)
    assert {d["status"] for d in deliveries(db_url).values()} == {"dead"}
    assert queue_length(db_url) == 0


def test_429_waits_for_its_retry_after_follows_the_reported_limit_and_burns_no_attempt(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 2)
    # retry-after 3 s, ratelimit-reset 1 s: a sender that read the reset, or ignored
    # both and took its first backoff (1 s), would call again after about a second.
    resend_stub.script([Fault.rate_limited(retry_after_s=3, limit=5, reset_s=1)])
    drain_once(db_url, resend(resend_stub), rate_limit_per_s=10.0)
    assert accepted_intents(resend_stub) == ids
    assert batch_attempts(db_url) == [1]  # the call that went through; the 429 burnt none
    throttle = rows(db_url, "SELECT reported_limit_per_s FROM wheels.sender_throttle")[0]
    assert throttle["reported_limit_per_s"] == 5
    limited, accepted = resend_stub.requests
    assert limited.status == 429 and accepted.status == 200
    # The stand-in's own clock: from the 429 to the call it accepted.
    assert 2.9 <= resend_stub.accepted[0].at - limited.at < 4.5


def test_an_exhausted_quota_pauses_all_senders_and_burns_no_attempt(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 2)
    resend_stub.script([Fault.quota("daily", retry_after_s=2)])
    drain_once(db_url, resend(resend_stub))
    assert accepted_intents(resend_stub) == ids
    assert batch_attempts(db_url) == [1]
    throttle = rows(db_url, "SELECT paused_until - now() > interval '-1 minute' AS recent, pause_reason "
                            "FROM wheels.sender_throttle")[0]
    assert throttle["recent"] and "daily_quota_exceeded" in throttle["pause_reason"]
    first, second = resend_stub.requests
    assert second.at - first.at >= 1.5


def test_a_rejected_request_dead_letters_its_batch(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 2)
    resend_stub.script([Fault(422, "validation_error", "Invalid `from` field.")])
    drain_once(db_url, resend(resend_stub))
    assert accepted_intents(resend_stub) == []
    assert sorted(x["intent_id"] for x in dead_letters(db_url)) == ids
    assert all("Invalid `from` field" in x["reason"] for x in dead_letters(db_url))


def test_a_bad_api_key_stops_the_sender_with_one_line_and_loses_nothing(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 2)
    done = run_sender(db_url, "--once", stub=resend_stub, RESEND_API_KEY="re_wrong")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith("error: Resend 401")
    assert accepted_intents(resend_stub) == []
    assert dead_letters(db_url) == []
    assert rows(db_url, "SELECT count(*) AS n FROM pgmq.q_email_intents WHERE vt <= now()")[0]["n"] == 2
    # With the right key the same batch goes out.
    done = run_sender(db_url, "--once", stub=resend_stub)
    assert done.returncode == 0, done.stderr
    assert accepted_intents(resend_stub) == ids
    assert batch_attempts(db_url) == [1]


def test_the_pace_follows_the_limit_the_provider_reports_on_any_answer(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 3)
    resend_stub.rate_limit(3)  # its answers carry ratelimit-limit: 3
    drain_once(db_url, resend(resend_stub), rate_limit_per_s=10.0, batch_size=1)
    assert accepted_intents(resend_stub) == ids
    assert rows(db_url, "SELECT reported_limit_per_s FROM wheels.sender_throttle")[0]["reported_limit_per_s"] == 3


# -- the provider down: one circuit breaker for all senders ------------------------

def probe_due(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE wheels.sender_throttle SET probe_at = now()")


def test_the_breaker_lets_one_probe_through_doubles_up_to_a_minute_and_closes_for_all(db_url):
    stores = [Store(db_url), Store(db_url)]
    for store in stores:
        store.connect()
    a, b = Pace(stores[0], 0), Pace(stores[1], 0)  # two senders without a request limit
    assert a.next_call() == Slot(0.0)
    wait_s, opened = a.provider_down("Resend 503", None, probe=False, initial_s=1.0)
    assert opened and 0.9 < wait_s <= 1.0
    pause = b.pause_left()  # b's next look, before it reads: hold
    assert b.outage and pause.paused_because == "provider down: Resend 503" and 0.8 < pause.wait_s <= 1.0
    probe_due(db_url)
    first, second = a.next_call(), b.next_call()  # the probe is due: one of them makes it
    assert (first.wait_s, first.probe) == (0.0, True)
    assert not second.probe and second.paused_because and second.wait_s > backoff.INITIAL_DELAY_S  # the lease
    wait_s, opened = b.provider_down("Resend 502", None, probe=False, initial_s=1.0)  # b's call, in flight before
    assert not opened and wait_s > 10  # changes nothing: still the probe's lease
    intervals = []
    for _ in range(8):  # failed probes: 2, 4, ... s, never over a minute
        wait_s, _ = a.provider_down("Resend 503", None, probe=True, initial_s=1.0)
        intervals.append(round(wait_s))
        probe_due(db_url)
        assert a.next_call().probe
    assert intervals == [2, 4, 8, 16, 32, 60, 60, 60]
    wait_s, _ = a.provider_down("Resend 503", 3600, probe=True, initial_s=1.0)  # a Retry-After of an hour
    assert 59 < wait_s <= 60  # still probes once a minute
    assert a.provider_back() > 0  # the provider answered: closed for everybody
    assert b.pause_left() == Slot(0.0) and not b.outage
    assert b.provider_back() is None
    for store in stores:
        store.close()


def test_an_unreachable_provider_holds_the_backlog_and_it_goes_out_when_the_provider_is_back(db_url, resend_stub,
                                                                                            tmp_path):
    ids = enqueue_welcomes(db_url, 300)
    resend_stub.go_down()  # connection refused: nothing leaves the machine
    log = tmp_path / "sender.log"
    with open(log, "w") as err:
        sender = start_sender(db_url, "--retry-initial", "0.2", "--poll-interval", "0.2", "--no-rate-limit",
                              stub=resend_stub, stderr=err)
        # Probes at 0.2, 0.6, 1.4 and 3.0 s after the first refusal: the interval is 3.2 s now.
        wait_for(lambda: rows(db_url, "SELECT probe_interval_s FROM wheels.sender_throttle")[0]["probe_interval_s"]
                 >= 3.2, timeout_s=30)
        batches = rows(db_url, "SELECT calls, attempts, maybe_delivered FROM wheels.send_batches")
        held = rows(db_url, "SELECT outage_since IS NOT NULL AS open, probe_interval_s FROM wheels.sender_throttle")[0]
        resend_stub.come_back()
        back = time.monotonic()
        wait_for(lambda: len(resend_stub.accepted) == 300, timeout_s=30)
        moved_s = time.monotonic() - back
        sender.send_signal(signal.SIGTERM)
        assert sender.wait(timeout=10) == 0
    # During the outage: the first call and one probe at a time; no batch spent its attempts
    # (three batches would have made 3 calls each by then), none may have reached the provider.
    assert held["open"]
    assert sum(b["calls"] for b in batches) <= 6
    assert not any(b["maybe_delivered"] for b in batches)
    assert moved_s < held["probe_interval_s"] * 2 + 2
    assert Counter(a.intent_id for a in resend_stub.accepted) == Counter(ids)
    assert dead_letters(db_url) == []
    assert rows(db_url, "SELECT outage_since FROM wheels.sender_throttle") == [{"outage_since": None}]
    text = log.read_text()
    assert text.count("action=provider_down") == 1 and text.count("action=provider_back") == 1
