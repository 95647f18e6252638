"""`sender drain` end to end against real PostgreSQL and the Resend stand-in:
delivery, delivery records, exactly-once re-sends, bad input, suppression."""

from __future__ import annotations

import email
import email.policy

import psycopg

from sender.config import DrainConfig
from sender.drain import Drainer, Stopper, drain
from sender.render import render
from wheels_core.email_settings import EmailSettings
from sender.store import Store
from sender.transports import ResendTransport
from tests.resend_stub import Fault
from tests.sender_support import (
    BUDGET_DATA,
    accepted_intents,
    dead_letters,
    deliveries,
    enqueue,
    enqueue_welcomes,
    profile,
    queue_length,
    rows,
    run_sender,
    send_raw,
)

SETTINGS = EmailSettings.from_env({"UNSUBSCRIBE_SECRET": "test-secret"})


def drain_once(url: str, transport, **config) -> None:
    config = {"once": True, "rate_limit_per_s": 0.0, "retry_initial_s": 0.0, **config}
    drain(Store(url), transport, SETTINGS, DrainConfig(**config), handle_signals=False)


def resend(stub, **kwargs) -> ResendTransport:
    return ResendTransport(stub.api_key, stub.url, **kwargs)


def test_outbox_end_to_end(db_url, tmp_path):
    ids = enqueue_welcomes(db_url, 3)
    done = run_sender(db_url, "--once", "--outbox-dir", str(tmp_path / "outbox"))
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == sorted(f"{i}.eml" for i in ids)
    message = email.message_from_bytes((tmp_path / "outbox" / f"{ids[0]}.eml").read_bytes(), policy=email.policy.default)
    assert message["To"] == "user1@example.com"
    assert {d["status"] for d in deliveries(db_url).values()} == {"sent"}
    assert queue_length(db_url) == 0
    assert "action=batch read=3 batches=1 sent=3" in done.stderr


def test_each_intent_is_sent_once_in_batches_of_100_and_recorded(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 250)
    drain_once(db_url, resend(resend_stub))
    assert accepted_intents(resend_stub) == ids
    assert [r.emails for r in resend_stub.requests] == [100, 100, 50]
    recorded = deliveries(db_url)
    by_intent = {a.intent_id: a.id for a in resend_stub.accepted}
    assert {i: (d["status"], d["provider_message_id"], d["attempts"]) for i, d in recorded.items()} == \
        {i: ("sent", by_intent[i], 1) for i in ids}
    assert queue_length(db_url) == 0
    assert rows(db_url, "SELECT count(*) AS n FROM pgmq.a_email_intents")[0]["n"] == 250
    assert rows(db_url, "SELECT DISTINCT status, emails IS NULL AS cleared FROM wheels.send_batches") == \
        [{"status": "done", "cleared": True}]


def test_a_batch_fixed_before_a_crash_is_resent_with_the_same_key_and_payload(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 5)
    # The provider takes the batch but the answer is lost (the sender dies or times out).
    resend_stub.script([Fault(500, processed=True)])
    drain_once(db_url, resend(resend_stub))
    first, second = resend_stub.requests
    assert first.idempotency_key == second.idempotency_key and second.replayed
    assert accepted_intents(resend_stub) == ids
    assert {d["status"] for d in deliveries(db_url).values()} == {"sent"}


def test_a_read_message_of_an_unfinished_batch_resends_that_batch(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 4)
    store = Store(db_url)
    store.connect()
    # A sender read the messages, fixed the batch, and died before calling.
    messages = store.read(10, 0)
    batch, _ = store.create_batch([(render(m.message, SETTINGS), m.msg_id) for m in messages])
    key = batch.idempotency_key
    store.close()  # its session lock goes with it
    drain_once(db_url, resend(resend_stub))
    assert [r.idempotency_key for r in resend_stub.requests] == [key]
    assert accepted_intents(resend_stub) == ids


def test_two_senders_holding_members_of_one_unfinished_batch_send_it_once(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 4)
    crashed = Store(db_url)
    crashed.connect()
    batch, _ = crashed.create_batch([(render(m.message, SETTINGS), m.msg_id) for m in crashed.read(10, 0)])
    crashed.close()
    calling = Store(db_url)  # another sender re-sending that batch right now
    calling.connect()
    assert calling.lock_batch(batch.id)
    one_step(db_url, resend(resend_stub), batch_size=2)  # holds two of its members
    assert resend_stub.requests == []
    calling.close()  # ... and dies before an answer
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE pgmq.q_email_intents SET vt = now()")
    drain_once(db_url, resend(resend_stub), batch_size=2)
    assert [r.idempotency_key for r in resend_stub.requests] == [batch.idempotency_key]
    assert accepted_intents(resend_stub) == ids
    assert queue_length(db_url) == 0


def test_an_intent_already_sent_is_only_archived(db_url, resend_stub):
    [intent] = enqueue_welcomes(db_url, 1)
    drain_once(db_url, resend(resend_stub))
    message = rows(db_url, "SELECT message FROM pgmq.a_email_intents")[0]["message"]
    send_raw(db_url, message)  # the same intent enqueued again
    drain_once(db_url, resend(resend_stub))
    assert accepted_intents(resend_stub) == [intent]
    assert queue_length(db_url) == 0


def test_a_batch_whose_key_the_provider_forgot_is_not_resent_blindly(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 2)
    resend_stub.script([Fault(500, processed=True)])  # delivered, but the answer was lost
    one_step(db_url, resend(resend_stub), retry_initial_s=600)
    # A day later (say the sender was down): the provider no longer knows the key.
    resend_stub.expire_idempotency_keys()
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE wheels.send_batches SET first_call_at = now() - interval '25 hours'")
        conn.execute("UPDATE pgmq.q_email_intents SET vt = now()")
    drain_once(db_url, resend(resend_stub))
    assert len(resend_stub.requests) == 1
    assert accepted_intents(resend_stub) == ids
    letters = dead_letters(db_url)
    assert sorted(x["intent_id"] for x in letters) == ids
    assert all("without a recorded answer" in x["reason"] for x in letters)
    assert queue_length(db_url) == 0


def test_an_old_batch_that_only_ever_got_definite_refusals_is_sent_again(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 2)
    resend_stub.script([Fault.rate_limited(retry_after_s=1)])  # a 429: certainly not sent
    one_step(db_url, resend(resend_stub))
    resend_stub.expire_idempotency_keys()
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE wheels.send_batches SET first_call_at = now() - interval '25 hours'")
        conn.execute("UPDATE pgmq.q_email_intents SET vt = now()")
        conn.execute("UPDATE wheels.sender_throttle SET not_before = now()")
    drain_once(db_url, resend(resend_stub))
    assert accepted_intents(resend_stub) == ids
    assert dead_letters(db_url) == []


def one_step(url: str, transport, **config) -> None:
    """A single read-render-send step, leaving whatever it hid hidden."""
    config = {"rate_limit_per_s": 0.0, "retry_initial_s": 0.0, **config}
    drainer = Drainer(Store(url), transport, SETTINGS, DrainConfig(**config), Stopper())
    drainer.start()
    drainer.drain_batch()
    drainer.release()


BAD_INTENTS = [
    "not an object",
    [1, 2, 3],
    None,
    42,
    {},
    {"v": 1, "kind": "welcome", "to": "a@example.com", "data": {}},
    {"v": 1, "kind": "welcome", "intent_id": "7", "to": "a@example.com", "data": {}},
    {"v": 1, "kind": "welcome", "intent_id": -3, "to": "a@example.com", "data": {}},
    {"v": 2, "kind": "welcome", "intent_id": 900001, "user_id": None, "to": "a@example.com", "data": {}},
    {"v": 1, "kind": "postcard", "intent_id": 900002, "user_id": None, "to": "a@example.com", "data": {}},
    {"v": 1, "kind": "welcome", "intent_id": 900003, "user_id": None, "to": "", "data": {}},
    {"v": 1, "kind": "welcome", "intent_id": 900004, "user_id": None, "to": "not-an-address", "data": {}},
    {"v": 1, "kind": "welcome", "intent_id": 900005, "user_id": None, "to": "a@b@example.com", "data": {}},
    {"v": 1, "kind": "welcome", "intent_id": 900006, "user_id": None, "to": "x@example.com\r\nBcc: all@example.com",
     "data": {}},
    {"v": 1, "kind": "welcome", "intent_id": 900007, "user_id": None, "to": ["a@example.com"], "data": {}},
    {"v": 1, "kind": "budget_warning", "intent_id": 900008, "user_id": None, "to": "a@example.com",
     "data": BUDGET_DATA},
    {"v": 1, "kind": "budget_warning", "intent_id": 900009, "user_id": "not-a-uuid", "to": "a@example.com",
     "data": BUDGET_DATA},
    {"v": 1, "kind": "budget_warning", "intent_id": 900010, "user_id": "9b2e4c1e-7c41-4c1e-9a8e-2f6a3c1b0d11",
     "to": "a@example.com", "data": {"category": "Fuel"}},
    {"v": 1, "kind": "maintenance_reminder", "intent_id": 900011, "user_id": "9b2e4c1e-7c41-4c1e-9a8e-2f6a3c1b0d11",
     "to": "a@example.com", "data": {"title": "Oil", "vehicle": None, "due_date": "someday", "days_left": 5}},
    {"v": 1, "kind": "welcome", "intent_id": 900012, "user_id": None, "to": "a@example.com", "data": "nope"},
    {"v": 1, "kind": "welcome", "intent_id": 900013, "user_id": None, "to": "a@example.com", "data": {},
     "name": "x" * 1_000_000},
    {"v": 1, "kind": "welcome", "intent_id": 900014, "user_id": None, "to": "a@example.com", "data": {},
     "name": 12},
]


def test_bad_input_is_dead_lettered_with_a_reason_and_good_intents_around_it_are_delivered(db_url, resend_stub):
    good_before = enqueue_welcomes(db_url, 3, prefix="before")
    bad_msg_ids = [send_raw(db_url, m) for m in BAD_INTENTS]
    # Valid in shape, but no ledger row decided it: the sender does not invent facts.
    unknown = {"v": 1, "kind": "welcome", "intent_id": 999999, "user_id": None, "to": "z@example.com", "data": {},
               "name": None}
    bad_msg_ids.append(send_raw(db_url, unknown))
    good_after = enqueue_welcomes(db_url, 3, prefix="after")
    drain_once(db_url, resend(resend_stub), batch_size=10)
    assert accepted_intents(resend_stub) == good_before + good_after
    letters = dead_letters(db_url)
    assert sorted(x["msg_id"] for x in letters) == sorted(bad_msg_ids)
    reasons = {x["msg_id"]: x["reason"] for x in letters}
    assert all(reason and "\n" not in reason for reason in reasons.values())
    assert "not a JSON object" in reasons[bad_msg_ids[0]]
    assert "unsupported version 2" in reasons[bad_msg_ids[8]]
    assert "unknown kind" in reasons[bad_msg_ids[9]]
    assert "999999 is not in wheels.email_ledger" in reasons[bad_msg_ids[-1]]
    payloads = {x["msg_id"]: x["payload"] for x in letters}
    assert payloads[bad_msg_ids[1]] == [1, 2, 3]  # replayable: the message as it was
    assert queue_length(db_url) == 0


def test_a_message_that_trips_a_bug_in_rendering_is_dead_lettered_and_the_loop_goes_on(db_url, resend_stub,
                                                                                        monkeypatch):
    ids = enqueue_welcomes(db_url, 3)

    def render_with_a_bug(message, settings):
        if message["intent_id"] == ids[1]:
            raise ZeroDivisionError("division by zero")
        return render(message, settings)

    monkeypatch.setattr("sender.drain.render", render_with_a_bug)
    drain_once(db_url, resend(resend_stub))
    assert accepted_intents(resend_stub) == [ids[0], ids[2]]
    [letter] = dead_letters(db_url)
    assert letter["intent_id"] == ids[1] and letter["reason"] == "rendering failed: ZeroDivisionError: division by zero"


def test_a_rejected_recipient_dead_letters_that_intent_only(db_url, resend_stub):
    good = enqueue_welcomes(db_url, 2)
    bad = enqueue(db_url, to="bounce@mail.invalid")
    drain_once(db_url, resend(resend_stub))
    assert accepted_intents(resend_stub) == good
    recorded = deliveries(db_url)
    assert recorded[bad]["status"] == "dead" and "Invalid `to` field" in recorded[bad]["last_error"]
    assert [x["intent_id"] for x in dead_letters(db_url)] == [bad]
    assert dead_letters(db_url)[0]["recipient"] == "bounce@mail.invalid"


def test_suppressed_addresses_and_opted_out_users_are_skipped_without_a_call(db_url, resend_stub):
    ana = profile(db_url, "ana@example.com")
    ben = profile(db_url, "ben@example.com", "Ben")
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO wheels.suppressions (email, reason) VALUES ('ana@example.com', 'hard bounce')")
        conn.execute("INSERT INTO email_preferences (user_id, kind, enabled) VALUES (%s, 'budget_alerts', false)", [ben])
    suppressed = enqueue(db_url, "budget_warning", "Ana@Example.com", user_id=ana, data=BUDGET_DATA)
    opted_out = enqueue(db_url, "over_budget", "ben@example.com", user_id=ben, data=BUDGET_DATA)
    wanted = enqueue(db_url, "maintenance_reminder", "ben@example.com", user_id=ben,
                     data={"title": "Oil change", "vehicle": "Troopy", "due_date": "2026-12-05", "days_left": 5})
    drain_once(db_url, resend(resend_stub))
    assert accepted_intents(resend_stub) == [wanted]
    recorded = deliveries(db_url)
    assert recorded[suppressed]["status"] == "suppressed" and "hard bounce" in recorded[suppressed]["last_error"]
    assert recorded[opted_out]["status"] == "suppressed" and "budget_alerts" in recorded[opted_out]["last_error"]
    assert queue_length(db_url) == 0
