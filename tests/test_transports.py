"""ResendTransport (the real SDK against the stand-in) and OutboxTransport (no database needed)."""

from __future__ import annotations

import dataclasses
import email.policy
import threading
import time
from email.parser import BytesParser
from pathlib import Path

import pytest

from sender.render import render
from wheels_core.email_settings import EmailSettings
from sender.transports import (Accepted, BatchRejected, InvalidCredentials, OutboxTransport, QuotaExhausted,
                               RateLimited, Rejected, ResendTransport, RetryLater, _results, transport_from_env)
from tests.resend_stub import Fault

SETTINGS = EmailSettings("Wheels <noreply@wheels.test>", "https://wheels.test/unsubscribe", b"secret")
USER = "9b2e7c1a-3f4d-4e5a-9b6c-7d8e9f0a1b2c"
TIMEOUT_S = 0.3


def make_emails(count: int, first_id: int = 1) -> list:
    data = {"category": "Fuel", "month": "2026-11", "spent": 412.5, "limit": 500, "percent": 82.5}
    return [render({"v": 1, "kind": "budget_warning", "intent_id": i, "user_id": USER, "to": f"user{i}@example.com",
                    "name": f"User {i}", "data": data}, SETTINGS) for i in range(first_id, first_id + count)]


@pytest.fixture
def transport(resend_stub):
    return ResendTransport(resend_stub.api_key, resend_stub.url, timeout_s=TIMEOUT_S)


# -- Resend ---------------------------------------------------------------------

def test_a_batch_is_accepted_with_the_providers_ids_in_order(transport, resend_stub):
    emails = make_emails(3)
    results = transport.send_batch(emails, "batch-1")
    accepted = resend_stub.accepted
    assert results == [Accepted(a.id) for a in accepted]
    assert [a.intent_id for a in accepted] == [1, 2, 3]
    sent = accepted[0].payload
    assert (sent["from"], sent["to"], sent["subject"]) == (emails[0].from_, ["user1@example.com"], emails[0].subject)
    assert (sent["html"], sent["text"]) == (emails[0].html, emails[0].text)
    assert sent["headers"]["List-Unsubscribe"] == emails[0].headers["List-Unsubscribe"]
    assert {a.idempotency_key for a in accepted} == {"batch-1"}
    assert transport.send_batch([], "empty") == [] and len(resend_stub.requests) == 1
    with pytest.raises(ValueError, match="at most 100"):
        transport.send_batch(make_emails(101), "too-many")


def test_permissive_batch_rejects_only_the_bad_address(transport, resend_stub):
    emails = make_emails(100)
    emails[42] = dataclasses.replace(emails[42], to="nobody@mailbox.invalid")
    results = transport.send_batch(emails, "batch-mixed")
    assert [type(r) for r in results].count(Accepted) == 99
    assert isinstance(results[42], Rejected) and "Invalid `to` field" in results[42].reason
    accepted = resend_stub.accepted
    assert [r.provider_id for r in results if isinstance(r, Accepted)] == [a.id for a in accepted]
    assert 43 not in {a.intent_id for a in accepted}


def test_resending_with_the_same_key_returns_the_same_ids_and_sends_nothing_again(transport, resend_stub):
    emails = make_emails(5)
    first = transport.send_batch(emails, "batch-again")
    assert transport.send_batch(emails, "batch-again") == first
    assert len(resend_stub.accepted) == 5
    assert [r.replayed for r in resend_stub.requests] == [False, True]


def test_the_same_key_with_another_payload_is_rejected(transport):
    transport.send_batch(make_emails(2), "batch-k")
    with pytest.raises(BatchRejected, match="409 invalid_idempotent_request"):
        transport.send_batch(make_emails(3), "batch-k")


def test_rate_limited_carries_retry_after_and_limit(transport, resend_stub):
    resend_stub.script([Fault.rate_limited(retry_after_s=3, limit=5),
                        # Mixed-case names: the SDK keeps the server's case, the transport must not care.
                        Fault(429, headers={"RateLimit-Reset": "4", "RateLimit-Limit": "10",
                                            "RateLimit-Policy": "10;w=5"})])
    with pytest.raises(RateLimited) as first:
        transport.send_batch(make_emails(1), "k1")
    assert (first.value.retry_after_s, first.value.limit_per_s) == (3, 5)
    with pytest.raises(RateLimited) as second:
        transport.send_batch(make_emails(1), "k1")
    assert (second.value.retry_after_s, second.value.limit_per_s) == (4, 2)
    assert resend_stub.accepted == []


def test_the_stubs_real_rate_limit_surfaces_as_rate_limited(transport, resend_stub):
    assert transport.reported_limit_per_s is None
    resend_stub.rate_limit(1)
    transport.send_batch(make_emails(1), "r1")
    assert transport.reported_limit_per_s == 1  # read from the successful answer's headers
    with pytest.raises(RateLimited) as caught:
        for i in range(2, 10):
            transport.send_batch(make_emails(1, first_id=i), f"r{i}")
    assert caught.value.limit_per_s == 1 and caught.value.retry_after_s >= 1


@pytest.mark.parametrize("fault", [Fault(500), Fault(502, "internal_server_error"), Fault.unavailable(),
                                   Fault(409, "concurrent_idempotent_requests")], ids=["500", "502", "503-html", "409"])
def test_transient_failures_are_retry_later(transport, resend_stub, fault):
    resend_stub.script([fault])
    with pytest.raises(RetryLater) as caught:
        transport.send_batch(make_emails(2), "k")
    assert type(caught.value) is RetryLater and "\n" not in str(caught.value)
    assert f"Resend {fault.status}" in str(caught.value)
    assert transport.send_batch(make_emails(2), "k") == [Accepted(a.id) for a in resend_stub.accepted]


def test_connection_refused_is_retry_later():
    with pytest.raises(RetryLater, match="HttpClientError"):
        ResendTransport("key", "http://127.0.0.1:9", timeout_s=TIMEOUT_S).send_batch(make_emails(1), "k")


def test_a_timeout_is_retry_later_and_the_retry_sends_nothing_twice(transport, resend_stub):
    emails = make_emails(4)
    resend_stub.script([Fault.slow(60)])
    with pytest.raises(RetryLater, match="timed out"):
        transport.send_batch(emails, "slow-batch")
    # The stand-in is still working on it, as Resend would be.
    with pytest.raises(RetryLater, match="concurrent_idempotent_requests"):
        transport.send_batch(emails, "slow-batch")
    resend_stub.release()
    resend_stub.wait_until(lambda stub: stub.in_flight == 0)
    results = transport.send_batch(emails, "slow-batch")
    assert results == [Accepted(a.id) for a in resend_stub.accepted] and len(results) == 4


def test_a_lost_answer_is_retried_without_a_second_email(transport, resend_stub):
    resend_stub.script([Fault(500, processed=True)])
    emails = make_emails(3)
    with pytest.raises(RetryLater):
        transport.send_batch(emails, "lost")
    assert len(resend_stub.accepted) == 3
    assert transport.send_batch(emails, "lost") == [Accepted(a.id) for a in resend_stub.accepted]
    assert len(resend_stub.accepted) == 3


@pytest.mark.parametrize("period", ["daily", "monthly"])
def test_quota_errors_pause_instead_of_retrying(transport, resend_stub, period):
    # ratelimit-reset is about the 1-second request window, not the quota.
    no_hint = dataclasses.replace(Fault.quota(period), headers={"ratelimit-reset": "1"})
    resend_stub.script([no_hint, Fault.quota(period, retry_after_s=60)])
    with pytest.raises(QuotaExhausted, match=f"{period}_quota_exceeded") as caught:
        transport.send_batch(make_emails(1), "q")
    midnight_s = 86400 - time.time() % 86400
    assert midnight_s - 60 < caught.value.resume_after_s < midnight_s + 1  # no hint: the next UTC midnight
    with pytest.raises(QuotaExhausted) as hinted:
        transport.send_batch(make_emails(1), "q")
    assert hinted.value.resume_after_s == 60


def test_a_wrong_api_key_is_invalid_credentials(resend_stub):
    with pytest.raises(InvalidCredentials, match="401"):
        ResendTransport("re_wrong", resend_stub.url).send_batch(make_emails(1), "k")
    resend_stub.script([Fault(403)])
    with pytest.raises(InvalidCredentials, match="403 invalid_api_key"):
        ResendTransport(resend_stub.api_key, resend_stub.url).send_batch(make_emails(1), "k")
    assert resend_stub.accepted == []


@pytest.mark.parametrize("status", [400, 422])
def test_a_refused_payload_is_batch_rejected(transport, resend_stub, status):
    resend_stub.script([Fault(status)])
    with pytest.raises(BatchRejected, match=f"Resend {status} validation_error"):
        transport.send_batch(make_emails(2), "k")


def test_a_response_that_does_not_add_up_is_retried_not_trusted():
    with pytest.raises(RetryLater, match="1 ids and 0 errors for 2 emails"):
        _results({"data": [{"id": "a"}]}, 2)
    with pytest.raises(RetryLater):
        _results({"data": [{"id": "a"}], "errors": [{"index": 5, "message": "x"}]}, 2)
    assert _results({"data": [{"id": "b"}], "errors": [{"index": 0, "message": "bad\nto"}]}, 2) == [
        Rejected("Resend: bad to"), Accepted("b")]


def test_transport_from_env_picks_resend_with_a_key_and_respects_the_api_url(resend_stub, tmp_path):
    chosen = transport_from_env({"RESEND_API_KEY": resend_stub.api_key, "RESEND_API_URL": resend_stub.url},
                                outbox_dir=tmp_path)
    assert (chosen.name, chosen.max_batch) == ("resend", 100)
    assert isinstance(chosen.send_batch(make_emails(1), "env")[0], Accepted)
    assert len(resend_stub.accepted) == 1 and list(tmp_path.iterdir()) == []


def test_transport_from_env_falls_back_to_the_outbox(tmp_path, monkeypatch):
    chosen = transport_from_env({}, outbox_dir=tmp_path / "out")
    assert (chosen.name, chosen.max_batch, chosen.folder) == ("outbox", 100, tmp_path / "out")
    monkeypatch.chdir(tmp_path)
    assert transport_from_env({"RESEND_API_KEY": ""}).folder == Path("outbox")


# -- outbox ------------------------------------------------------------------------

def parse(path: Path):
    with path.open("rb") as f:
        return BytesParser(policy=email.policy.default).parse(f)


def test_outbox_writes_parseable_eml_files(tmp_path):
    outbox = OutboxTransport(tmp_path)
    emails = make_emails(2)
    assert outbox.send_batch(emails, "k") == [Accepted("outbox:1.eml"), Accepted("outbox:2.eml")]
    msg = parse(tmp_path / "1.eml")
    e = emails[0]
    assert (msg["From"], msg["To"], msg["Subject"]) == (e.from_, e.to, e.subject)
    assert msg["List-Unsubscribe"] == e.headers["List-Unsubscribe"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["X-Wheels-Intent-Id"] == "1" and msg["Message-ID"] == "<intent-1@wheels.test>"
    assert msg["Date"] is not None
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("plain",)).get_content() == e.text
    assert msg.get_body(("html",)).get_content() == e.html


def test_outbox_writes_each_intent_once(tmp_path):
    outbox = OutboxTransport(tmp_path)
    first = make_emails(1)
    outbox.send_batch(first, "k")
    before = (tmp_path / "1.eml").read_bytes()
    changed = dataclasses.replace(first[0], subject="Something else")
    assert outbox.send_batch([changed], "k2") == [Accepted("outbox:1.eml")]
    assert [p.name for p in tmp_path.iterdir()] == ["1.eml"]  # no second file, no temp leftovers
    assert (tmp_path / "1.eml").read_bytes() == before


def test_two_senders_writing_the_same_intents_at_once_leave_one_file_each(tmp_path):
    emails = make_emails(20)
    results = []
    writers = [threading.Thread(target=lambda: results.append(OutboxTransport(tmp_path).send_batch(emails, "k")))
               for _ in range(2)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    assert results[0] == results[1] == [Accepted(f"outbox:{i}.eml") for i in range(1, 21)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{i}.eml" for i in range(1, 21))
    assert all(parse(p)["X-Wheels-Intent-Id"] == p.stem for p in tmp_path.iterdir())


def test_outbox_rejects_an_email_with_a_broken_header_and_keeps_the_rest(tmp_path):
    good, bad = make_emails(2)
    bad = dataclasses.replace(bad, subject="hi\r\nBcc: victim@example.com")
    results = OutboxTransport(tmp_path).send_batch([bad, good], "k")
    assert isinstance(results[0], Rejected) and "linefeed" in results[0].reason
    assert results[1] == Accepted("outbox:1.eml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.eml"]


def test_an_unwritable_outbox_is_retry_later(tmp_path):
    outbox = OutboxTransport(tmp_path / "box")
    (tmp_path / "box").rmdir()
    (tmp_path / "box").write_text("not a folder")
    with pytest.raises(RetryLater, match="outbox: cannot write"):
        outbox.send_batch(make_emails(1), "k")
