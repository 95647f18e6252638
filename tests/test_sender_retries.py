"""Every failure class of a provider call: what the sender does with the intents."""

from __future__ import annotations

import pytest

from tests.resend_stub import Fault
from tests.sender_support import accepted_intents, dead_letters, deliveries, enqueue_welcomes, queue_length, rows, run_sender
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


def test_after_max_attempts_the_intents_are_dead_lettered(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 2)
    resend_stub.fail_rate(1.0)
    drain_once(db_url, resend(resend_stub), max_attempts=3)
    assert len(resend_stub.requests) == 3
    letters = dead_letters(db_url)
    assert sorted(x["intent_id"] for x in letters) == ids
    assert all(x["reason"].startswith("gave up after 3 attempts: Resend 500") and x["attempts"] == 3 for x in letters)
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
    drain_once(db_url, resend(resend_stub), max_attempts=1)
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
