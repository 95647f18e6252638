"""The Resend stand-in itself, spoken to with plain HTTP (no SDK), as Resend documents its API."""

from __future__ import annotations

import re
import json
import subprocess
import sys
import threading

import pytest
import requests

from tests.resend_stub import Fault, ResendStub

GOOD = {"from": "Wheels <noreply@wheels.test>", "to": ["ana@example.com"], "subject": "Hi", "text": "Hello"}


@pytest.fixture
def http(resend_stub):
    """POST to the stand-in with its key (and any extra headers); returns the response."""
    session = requests.Session()

    def post(path: str, body, **headers):
        return session.post(resend_stub.url + path, json=body, timeout=10,
                            headers={"Authorization": f"Bearer {resend_stub.api_key}", **headers})

    yield post
    session.close()


def test_single_send_answers_an_id_and_records_the_email(http, resend_stub):
    answer = http("/emails", GOOD, **{"Idempotency-Key": "one"})
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
    [accepted] = resend_stub.accepted
    assert answer.json() == {"id": accepted.id}
    assert (accepted.to, accepted.subject, accepted.idempotency_key) == (("ana@example.com",), "Hi", "one")


@pytest.mark.parametrize("auth, name", [(None, "missing_api_key"), ("Bearer re_wrong", "validation_error")])
def test_requests_without_the_right_key_get_401(resend_stub, auth, name):
    headers = {} if auth is None else {"Authorization": auth}
    answer = requests.post(resend_stub.url + "/emails", json=GOOD, headers=headers, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["statusCode"] == 401 and answer.json()["name"] == name
    assert resend_stub.accepted == []


def test_strict_batches_fail_whole_permissive_ones_per_email(http, resend_stub):
    batch = [GOOD, {**GOOD, "to": ["x@host.invalid"]}, {**GOOD, "subject": ""}, GOOD]
    strict = http("/emails/batch", batch)
    assert strict.status_code == 422 and strict.json()["name"] == "validation_error"
    assert strict.json()["message"].startswith("emails[1]: Invalid `to` field")
    assert resend_stub.accepted == []
    permissive = http("/emails/batch", batch, **{"x-batch-validation": "permissive"}).json()
    assert [e["index"] for e in permissive["errors"]] == [1, 2]
    assert "Missing `subject`" in permissive["errors"][1]["message"]
    assert [d["id"] for d in permissive["data"]] == [a.id for a in resend_stub.accepted] and len(permissive["data"]) == 2


def test_an_email_over_the_size_limit_fails_the_whole_batch_in_either_mode_naming_it(http, resend_stub):
    resend_stub.max_email_bytes = 2000
    big = {**GOOD, "html": "x" * 3000}
    for mode in ("strict", "permissive"):
        refused = http("/emails/batch", [GOOD, GOOD, big], **{"x-batch-validation": mode})
        assert refused.status_code == 422 and refused.json()["name"] == "validation_error"
        assert re.fullmatch(r"emails\[2\]: The email is \d+ bytes, over the 2000 bytes limit\.", refused.json()["message"])
    assert http("/emails", big).status_code == 422
    assert resend_stub.accepted == []


@pytest.mark.parametrize("bad", [[], [GOOD] * 101, GOOD])
def test_a_batch_must_hold_1_to_100_emails(http, bad):
    assert http("/emails/batch", bad).status_code == 422


@pytest.mark.parametrize("to", ["Ana <ana@example.com>", ["a@example.com", "b@example.org"]])
def test_display_names_and_several_recipients_are_fine(http, to):
    assert http("/emails", {**GOOD, "to": to}).status_code == 200


def test_idempotency_key_replays_the_first_answer_and_refuses_another_payload(http, resend_stub):
    first = http("/emails/batch", [GOOD, GOOD], **{"Idempotency-Key": "k"})
    again = http("/emails/batch", [GOOD, GOOD], **{"Idempotency-Key": "k"})
    assert again.status_code == 200 and again.json() == first.json()
    assert len(resend_stub.accepted) == 2
    other = http("/emails/batch", [GOOD], **{"Idempotency-Key": "k"})
    assert other.status_code == 409 and other.json()["name"] == "invalid_idempotent_request"
    assert [(r.status, r.replayed) for r in resend_stub.requests] == [(200, False), (200, True), (409, False)]
    assert http("/emails", GOOD, **{"Idempotency-Key": "x" * 257}).json()["name"] == "invalid_idempotency_key"


def test_a_key_in_flight_gets_409_concurrent(http, resend_stub):
    resend_stub.script([Fault.slow(60)])
    slow = threading.Thread(target=http, args=("/emails", GOOD), kwargs={"Idempotency-Key": "busy"})
    slow.start()
    resend_stub.wait_until(lambda stub: stub.in_flight == 1)
    answer = http("/emails", GOOD, **{"Idempotency-Key": "busy"})
    assert answer.status_code == 409 and answer.json()["name"] == "concurrent_idempotent_requests"
    resend_stub.release()
    slow.join()
    assert len(resend_stub.accepted) == 1


def test_a_failed_request_does_not_consume_its_key(http, resend_stub):
    resend_stub.script([Fault(500)])
    assert http("/emails", GOOD, **{"Idempotency-Key": "k"}).status_code == 500
    assert http("/emails", GOOD, **{"Idempotency-Key": "k"}).status_code == 200
    assert len(resend_stub.accepted) == 1


def test_expired_keys_send_again(http, resend_stub):
    http("/emails", GOOD, **{"Idempotency-Key": "k"})
    resend_stub.expire_idempotency_keys()
    http("/emails", GOOD, **{"Idempotency-Key": "k"})
    assert len(resend_stub.accepted) == 2


def test_scripted_faults_come_in_order_then_normal_service(http, resend_stub):
    resend_stub.script([Fault.rate_limited(retry_after_s=2, limit=4), Fault.unavailable(), Fault.quota("monthly"),
                        Fault(500, processed=True)])
    limited = http("/emails", GOOD)
    assert limited.status_code == 429 and limited.json()["name"] == "rate_limit_exceeded"
    assert {k: limited.headers[k] for k in ("retry-after", "ratelimit-limit", "ratelimit-remaining",
                                            "ratelimit-reset")} == {"retry-after": "2", "ratelimit-limit": "4",
                                                                   "ratelimit-remaining": "0", "ratelimit-reset": "1"}
    html = http("/emails", GOOD)
    assert html.status_code == 503 and html.headers["Content-Type"] == "text/html" and b"<html>" in html.content
    assert http("/emails", GOOD).json()["name"] == "monthly_quota_exceeded"
    assert resend_stub.accepted == []
    lost = http("/emails", GOOD)
    assert lost.status_code == 500 and len(resend_stub.accepted) == 1  # done, but the answer was an error
    assert http("/emails", GOOD).status_code == 200


def test_fail_rate_is_reproducible_with_a_seed():
    def statuses(seed: int) -> list[int]:
        with ResendStub() as stub:
            stub.fail_rate(0.3, seed=seed)
            return [requests.post(stub.url + "/emails", json=GOOD, timeout=10,
                                  headers={"Authorization": f"Bearer {stub.api_key}"}).status_code for _ in range(30)]

    first = statuses(7)
    assert first == statuses(7)
    assert set(first) == {200, 500}


def test_the_real_rate_limit_admits_at_most_n_requests_in_any_second(http, resend_stub):
    resend_stub.rate_limit(2)
    answers = [http("/emails", GOOD) for _ in range(10)]
    assert answers[0].headers["ratelimit-limit"] == "2" and answers[0].headers["ratelimit-remaining"] == "1"
    refused = [a for a in answers if a.status_code == 429]
    assert refused and all(a.json()["name"] == "rate_limit_exceeded" for a in refused)
    assert refused[0].headers["ratelimit-limit"] == "2" and int(refused[0].headers["retry-after"]) >= 1
    admitted = [r.at for r in resend_stub.requests if r.status == 200]
    assert all(later - earlier >= 1.0 for earlier, later in zip(admitted, admitted[2:]))
    assert len(resend_stub.accepted) == len(admitted)


def test_unknown_paths_are_404(http):
    assert http("/domains", {}).status_code == 404


def test_runs_standalone_and_reports_what_it_accepted():
    with subprocess.Popen([sys.executable, "-m", "tests.resend_stub", "--port", "0", "--api-key", "k1"],
                          stdout=subprocess.PIPE, text=True) as proc:
        try:
            line = proc.stdout.readline()
            url = line.split()[0].removeprefix("RESEND_API_URL=")
            assert line.split()[1] == "RESEND_API_KEY=k1"
            assert requests.post(url + "/emails", json=GOOD, headers={"Authorization": "Bearer k1"},
                                 timeout=10).status_code == 200
            stats = json.loads(requests.get(url + "/_stub/stats", timeout=10).content)
            assert [a["to"] for a in stats["accepted"]] == [["ana@example.com"]]
            assert [r["status"] for r in stats["requests"]] == [200]
        finally:
            proc.terminate()
        assert proc.wait(timeout=10) == 0
