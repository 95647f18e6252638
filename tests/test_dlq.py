"""`cli.py dlq list|show|replay|purge` against real dead letters made by the real sender.

The replay rule under test: a letter that never reached the provider goes back
with attempts reset and a fresh idempotency key; one that died with a batch the
provider may have taken is kept unless --force.
"""

from __future__ import annotations

import json

import psycopg

from sender.transports import OutboxTransport
from tests.conftest import run_cli
from tests.resend_stub import Fault
from tests.sender_support import accepted_intents, dead_letters, deliveries, enqueue_welcomes, rows, send_raw
from tests.test_sender_drain import drain_once, resend

WIDE = {"COLUMNS": "250"}


def dlq(url: str, *args: str):
    return run_cli("dlq", *args, env={"DATABASE_URL": url, **WIDE})


def batch_keys(url: str) -> list[str]:
    return [r["idempotency_key"] for r in rows(url, "SELECT idempotency_key FROM wheels.send_batches ORDER BY id")]


def test_replay_of_a_rejected_batch_resets_attempts_and_sends_under_a_fresh_key(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 2)
    resend_stub.script([Fault(422, "validation_error", "Invalid `from` field.")])  # a definite "not sent"
    drain_once(db_url, resend(resend_stub))
    assert accepted_intents(resend_stub) == []
    listed = json.loads(dlq(db_url, "list", "--json").stdout)
    assert sorted(x["intent_id"] for x in listed) == ids
    assert not any(x["maybe_delivered"] for x in listed)
    old_key = batch_keys(db_url)[0]

    replayed = dlq(db_url, "replay", *(str(x["id"]) for x in listed))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "2 replayed, 0 not" in replayed.stdout
    assert dead_letters(db_url) == []
    assert {(d["status"], d["attempts"], d["batch_id"]) for d in deliveries(db_url).values()} == {("dead", 0, None)}

    drain_once(db_url, resend(resend_stub))
    assert accepted_intents(resend_stub) == ids
    assert {d["status"] for d in deliveries(db_url).values()} == {"sent"}
    keys = batch_keys(db_url)
    assert len(keys) == 2 and keys[1] != old_key
    assert {r.idempotency_key for r in resend_stub.requests[1:]} == {keys[1]}


def test_a_batch_that_may_have_reached_the_provider_is_kept_unless_forced(db_url, resend_stub):
    [intent] = enqueue_welcomes(db_url, 1)
    # The provider took the batch but the answer was lost; the next call fails too, by
    # when the batch has been failing for longer than the (tiny) give-up age.
    resend_stub.script([Fault(502, processed=True), Fault(500)])
    drain_once(db_url, resend(resend_stub), give_up_after_s=0.01)
    assert accepted_intents(resend_stub) == [intent]
    [letter] = dead_letters(db_url)

    listed = dlq(db_url, "list")
    row = next(line for line in listed.stdout.splitlines() if line.startswith(f"│ {letter['id']} "))
    assert "yes" in row and "welcome" in row and "gave up after 2 attempts" in row

    kept = dlq(db_url, "replay", str(letter["id"]))
    assert kept.returncode == 1
    assert "may have reached the provider" in kept.stdout and "--force" in kept.stdout
    assert len(dead_letters(db_url)) == 1
    assert rows(db_url, "SELECT count(*) AS n FROM pgmq.q_email_intents")[0]["n"] == 0

    forced = dlq(db_url, "replay", "--force", str(letter["id"]))
    assert forced.returncode == 0, forced.stdout
    drain_once(db_url, resend(resend_stub))
    # The documented risk of --force: a fresh key, so the provider sends it again.
    assert accepted_intents(resend_stub) == [intent, intent]
    assert len(set(batch_keys(db_url))) == 2


def test_letters_of_a_provider_that_was_unreachable_are_replayed_under_a_fresh_key(db_url, resend_stub):
    ids = enqueue_welcomes(db_url, 3)
    resend_stub.go_down()  # connection refused: no request ever left the machine
    drain_once(db_url, resend(resend_stub), retry_initial_s=0.2, give_up_after_s=0.5)
    letters = json.loads(dlq(db_url, "list", "--json").stdout)
    assert sorted(x["intent_id"] for x in letters) == ids
    assert all(x["reason"].startswith("gave up after 2 attempts in 1 s: Resend unreachable") for x in letters)
    assert not any(x["maybe_delivered"] for x in letters)
    resend_stub.come_back()
    replayed = dlq(db_url, "replay", "--all")
    assert replayed.returncode == 0 and "3 replayed, 0 not" in replayed.stdout, replayed.stdout
    drain_once(db_url, resend(resend_stub))  # the breaker's next probe finds the provider back
    assert accepted_intents(resend_stub) == ids
    assert len(set(batch_keys(db_url))) == 2


def test_replay_all_of_one_kind_and_show(db_url, tmp_path):
    poison = send_raw(db_url, {"v": 1, "kind": "nope", "intent_id": 10**9, "to": "x@example.com"})
    drain_once(db_url, OutboxTransport(tmp_path))  # a poison message never reaches it
    [letter] = dead_letters(db_url)
    assert letter["msg_id"] == poison

    shown = json.loads(dlq(db_url, "show", str(letter["id"])).stdout)
    assert shown["payload"]["kind"] == "nope" and shown["batch_id"] is None and shown["maybe_delivered"] is False
    missing = dlq(db_url, "show", "999999")
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no dead letter 999999"

    assert "0 replayed" in dlq(db_url, "replay", "--all", "--kind", "welcome").stdout
    replayed = dlq(db_url, "replay", "--all", "--kind", "nope")
    assert replayed.returncode == 0 and "1 replayed" in replayed.stdout
    assert [r["message"]["kind"] for r in rows(db_url, "SELECT message FROM pgmq.q_email_intents")] == ["nope"]
    assert dlq(db_url, "replay").returncode == 2  # ids or --all


def test_purge_needs_yes_and_deletes_only_older_letters(db_url):
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO wheels.dead_letters (reason, created_at) VALUES "
                     "('old', now() - interval '31 days'), ('new', now() - interval '1 day')")
    refused = dlq(db_url, "purge", "--older-than", "30d")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert len(dead_letters(db_url)) == 2
    assert dlq(db_url, "purge", "--older-than", "soon", "--yes").returncode == 2
    purged = dlq(db_url, "purge", "--older-than", "30d", "--yes")
    assert purged.returncode == 0 and "purged 1 dead letter(s)" in purged.stdout
    assert [x["reason"] for x in dead_letters(db_url)] == ["new"]
    assert "no dead letters" in dlq(db_url, "list", "--kind", "welcome").stdout
