"""One message never stops all email (issue 11, item 2): whatever a message
holds (nesting too deep to decode, values out of PostgreSQL's range, wrong
types at any level, too big), it is dead-lettered once with a one-line reason
and the sender carries on, through restarts and kills."""

from __future__ import annotations

import signal
from collections import Counter
from dataclasses import dataclass

import pytest

from sender.render import MAX_INTENT_BYTES

from tests.sender_support import (
    BUDGET_DATA,
    accepted_intents,
    enqueue,
    enqueue_welcomes,
    queue_length,
    rows,
    send_json_text,
    send_raw,
    start_sender,
    wait_for,
)
from tests.test_sender_drain import drain_once, resend

USER = "9b2e4c1e-7c41-4c1e-9a8e-2f6a3c1b0d11"
DEEP = "[" * 1000 + "]" * 1000  # the message of issue 11: RecursionError in psycopg's jsonb loader


@dataclass(frozen=True)
class Text:
    """A message given as JSON text, sent as is."""

    json: str


def welcome(**fields) -> dict:
    return {"v": 1, "kind": "welcome", "intent_id": 900001, "user_id": None, "to": "a@example.com", "name": "A",
            "data": {}, **fields}


def budget(**data) -> dict:
    return welcome(kind="budget_warning", user_id=USER, data={**BUDGET_DATA, **data})


def maintenance(**data) -> dict:
    return welcome(kind="maintenance_reminder", user_id=USER,
                   data={"title": "Oil", "vehicle": None, "due_date": "2026-12-05", "days_left": 5, **data})


def digest(**data) -> dict:
    return welcome(kind="daily_digest", user_id=USER, data={"day": "2026-11-29", "spending": [], "budgets": [],
                                                            "maintenance": [], "pam": {"messages": 1}, **data})


def without(message: dict, key: str) -> dict:
    return {k: v for k, v in message.items() if k != key}


# (message, a part of the reason its dead letter must give)
MALFORMED = [
    (Text(DEEP), "is nested too deeply to decode"),
    (Text('{"v": 1, "kind": "welcome", "intent_id": 900001, "to": "a@example.com", "data": {"x": ' + DEEP + "}}"),
     "is nested too deeply to decode"),
    (Text('{"v": 1, "kind": "welcome", "intent_id": 900001, "to": "a@example.com", "data": {"n": 1e5000}}'),
     "cannot be decoded: Exceeds the limit (4300 digits)"),
    (welcome(name="x" * MAX_INTENT_BYTES), f"bytes, over the {MAX_INTENT_BYTES} limit"),
    (welcome(intent_id=2**63), "intent_id 9223372036854775808 out of range"),
    (welcome(intent_id=10**30), "intent_id 1000000000000000000000000000000 out of range"),
    (welcome(intent_id=-1), "invalid intent_id -1"),
    (welcome(intent_id=0), "invalid intent_id 0"),
    (welcome(intent_id=1.5), "invalid intent_id 1.5"),
    (welcome(intent_id="12"), "invalid intent_id '12'"),
    (welcome(intent_id=True), "invalid intent_id True"),
    (welcome(intent_id=None), "message has no intent_id"),
    ([1, 2, 3], "not a JSON object (got array)"),
    ("hello", "not a JSON object (got string)"),
    (42, "not a JSON object (got number)"),
    (None, "not a JSON object (got null)"),
    (True, "not a JSON object (got boolean)"),
    ({}, "message has no intent_id"),
    (welcome(v=2), "unsupported version 2"),
    (welcome(v="1"), "unsupported version '1'"),
    (without(welcome(), "v"), "missing field 'v'"),
    (welcome(kind="postcard"), "unknown kind 'postcard'"),
    (welcome(kind=7), "unknown kind 7"),
    ({**budget(), "user_id": "not-a-uuid"}, "user_id 'not-a-uuid' is not a UUID"),
    ({**budget(), "user_id": 12345}, "user_id 12345 is not a UUID"),
    ({**budget(), "user_id": USER[:-1]}, "is not a UUID"),
    ({**budget(), "user_id": None}, "needs a user_id"),
    (welcome(to=12), "invalid recipient address 12 (must be a string, got number)"),
    (welcome(to="x" * 10_000 + "@example.com"), "(longer than 254 characters)"),
    (welcome(to="a@example.com\r\nBcc: all@example.com"), "(contains control characters)"),
    (welcome(to=["a@example.com"]), "(must be a string, got array)"),
    (without(welcome(), "to"), "missing field 'to'"),
    (welcome(name={"first": "A"}), "field 'name' must be a string, got object"),
    (welcome(data="nope"), "field 'data' must be an object, got string"),
    (welcome(data=[]), "field 'data' must be an object, got array"),
    (without(welcome(), "data"), "missing field 'data'"),
    (budget(category=None), "field 'data.category' must be a string, got null"),
    (budget(spent="412"), "field 'data.spent' must be a number, got '412'"),
    (budget(spent=10**400), "field 'data.spent' must be a finite number"),
    (budget(month="2026-13"), "field 'data.month' must be a month YYYY-MM"),
    (maintenance(due_date="2026-02-30"), "field 'data.due_date' must be a date YYYY-MM-DD"),
    (maintenance(days_left=10**12), "put the intent's date out of range"),
    (maintenance(days_left=2**63), "field 'data.days_left' is out of range (a bigint)"),
    (maintenance(days_left=2.5), "field 'data.days_left' must be an integer"),
    (digest(spending=[1, 2]), "field 'data.spending[0]' must be an object, got number"),
    (digest(pam=[]), "field 'data.pam' must be an object, got array"),
    (digest(pam={"messages": 1.5}), "field 'data.pam.messages' must be an integer"),
    (welcome(intent_id=999_999), "intent_id 999999 is not in wheels.email_ledger"),
]


def send(url: str, message: object) -> int:
    return send_json_text(url, message.json) if isinstance(message, Text) else send_raw(url, message)


def letters(url: str) -> list[dict]:
    """The dead letters without their payloads (psycopg could not decode the deep one either)."""
    return rows(url, "SELECT msg_id, intent_id, reason FROM wheels.dead_letters ORDER BY id")


def archived(url: str) -> int:
    return rows(url, "SELECT count(*) AS n FROM pgmq.a_email_intents")[0]["n"]


def test_the_malformed_list_is_long_enough():
    assert len(MALFORMED) >= 30


@pytest.mark.parametrize("message", [Text(DEEP), welcome(intent_id=2**63)], ids=["nested-1000-deep", "intent_id-2**63"])
def test_the_two_messages_of_issue_11_are_dead_lettered_and_the_rest_delivered(db_url, resend_stub, message):
    before = enqueue_welcomes(db_url, 2, prefix="before")
    msg_id = send(db_url, message)
    after = enqueue_welcomes(db_url, 2, prefix="after")
    drain_once(db_url, resend(resend_stub))
    assert accepted_intents(resend_stub) == before + after
    [letter] = letters(db_url)
    assert letter["msg_id"] == msg_id and letter["intent_id"] is None
    assert queue_length(db_url) == 0


def test_malformed_messages_among_good_ones_never_stop_the_sender_through_restarts(db_url, resend_stub, tmp_path):
    good, bad = [], {}
    for i, (message, reason) in enumerate(MALFORMED):
        good.append(enqueue(db_url, to=f"good{i}@example.com"))
        bad[send(db_url, message)] = reason
    good.append(enqueue(db_url, to="last@example.com"))
    args = ("--rate-limit", "5", "--batch-size", "5", "--visibility-timeout", "2", "--poll-interval", "0.3")
    log = tmp_path / "sender.log"
    codes = []
    with open(log, "a") as err:
        # Killed or stopped mid-drain, restarted; the last one drains the rest.
        for stop in (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL, signal.SIGTERM, None):
            sender = start_sender(db_url, *args, stub=resend_stub, stderr=err)
            target = archived(db_url) + 12
            wait_for(lambda: sender.poll() is not None or not queue_length(db_url)
                     or (stop is not None and archived(db_url) >= target), timeout_s=90)
            assert sender.poll() is None, f"sender exited {sender.returncode}: {log.read_text()[-3000:]}"
            sender.send_signal(stop or signal.SIGTERM)
            codes.append(sender.wait(timeout=30))
    assert set(codes) <= {0, -signal.SIGKILL}, codes
    assert codes[-1] == 0
    counts = Counter(a.intent_id for a in resend_stub.accepted)
    assert sorted(counts) == good and set(counts.values()) == {1}  # every good one, exactly once
    dead = letters(db_url)
    assert Counter(x["msg_id"] for x in dead) == dict.fromkeys(bad, 1)  # every bad one, once; nothing else
    for letter in dead:
        assert "\n" not in letter["reason"] and bad[letter["msg_id"]] in letter["reason"], letter
    # Nothing lost: each dead letter keeps its message exactly as it was queued.
    assert rows(db_url, "SELECT count(*) AS n FROM wheels.dead_letters d JOIN pgmq.a_email_intents a "
                        "USING (msg_id) WHERE d.payload = a.message")[0]["n"] == len(bad)
    assert queue_length(db_url) == 0
    assert "Traceback" not in log.read_text()  # every bad input had a reason, none tripped a bug
